// Vignette: darkens toward the corners. d is the distance from the centre in pixels over
// the half-diagonal (so the falloff is round whatever the aspect); the picture is kept
// inside `radius` and darkened by up to `strength` over the next `softness`.

struct Params {
    width: u32,
    height: u32,
    strength: f32,
    radius: f32,
    softness: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= params.width || id.y >= params.height {
        return;
    }
    let i = id.y * params.width + id.x;
    let half = vec2<f32>(f32(params.width), f32(params.height)) * 0.5;
    let p = vec2<f32>(f32(id.x) + 0.5, f32(id.y) + 0.5) - half;
    let d = sqrt(p.x * p.x + p.y * p.y) / sqrt(half.x * half.x + half.y * half.y);
    let x = clamp((d - params.radius) / params.softness, 0.0, 1.0);
    let falloff = x * x * (3.0 - 2.0 * x);
    let c = unpack4x8unorm(src[i]);
    dst[i] = pack4x8unorm(vec4<f32>(c.rgb * (1.0 - params.strength * falloff), c.a));
}
