// Unsharp mask, the combining pass: out = src + amount * (src - blurred), on R'G'B' (alpha
// from src). The blurred copy comes from the Gaussian blur kernel.

struct Params {
    width: u32,
    height: u32,
    amount: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read> blurred: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= params.width || id.y >= params.height {
        return;
    }
    let i = id.y * params.width + id.x;
    let c = unpack4x8unorm(src[i]);
    let b = unpack4x8unorm(blurred[i]);
    dst[i] = pack4x8unorm(vec4<f32>(c.rgb + (c.rgb - b.rgb) * params.amount, c.a));
}
