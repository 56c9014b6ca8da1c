// Brightness, contrast, saturation and gamma in one pass, in that order, on R'G'B' (alpha
// untouched): add brightness; scale around mid-grey by contrast; mix with the Rec. 709 luma
// by saturation; raise to 1/gamma.

struct Params {
    width: u32,
    height: u32,
    brightness: f32,
    contrast: f32,
    saturation: f32,
    gamma: f32,
    _pad0: u32,
    _pad1: u32,
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
    let c = unpack4x8unorm(src[i]);
    var rgb = c.rgb + vec3<f32>(params.brightness);
    rgb = (rgb - vec3<f32>(0.5)) * params.contrast + vec3<f32>(0.5);
    let luma = 0.2126 * rgb.r + 0.7152 * rgb.g + 0.0722 * rgb.b;
    rgb = vec3<f32>(luma) + (rgb - vec3<f32>(luma)) * params.saturation;
    // pow is exp2(log2(x) * y) on most drivers: skipped at gamma 1 so identity is exact.
    if params.gamma != 1.0 {
        rgb = pow(max(rgb, vec3<f32>(0.0)), vec3<f32>(1.0 / params.gamma));
    }
    dst[i] = pack4x8unorm(vec4<f32>(rgb, c.a));
}
