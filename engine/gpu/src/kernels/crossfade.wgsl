// Crossfade: out = a * (1 - t) + b * t per channel (alpha too), on packed RGBA8 pixels.

struct Params {
    width: u32,
    height: u32,
    t: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> a: array<u32>;
@group(0) @binding(1) var<storage, read> b: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= params.width || id.y >= params.height {
        return;
    }
    let i = id.y * params.width + id.x;
    let t = params.t;
    // Written out rather than `mix`, so the rounding matches the CPU reference's exactly
    // (drivers may compute `mix` as a + t * (b - a)).
    dst[i] = pack4x8unorm(unpack4x8unorm(a[i]) * (1.0 - t) + unpack4x8unorm(b[i]) * t);
}
