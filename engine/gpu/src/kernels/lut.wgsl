// A 3D colour lookup table (from a .cube file), trilinearly interpolated, mixed with the
// original by `strength`. The table holds size^3 entries, red index fastest.

struct Params {
    width: u32,
    height: u32,
    size: u32,
    strength: f32,
    domain_min: vec4<f32>,
    domain_scale: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read> table: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

fn entry(r: u32, g: u32, b: u32) -> vec3<f32> {
    return table[(b * params.size + g) * params.size + r].rgb;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= params.width || id.y >= params.height {
        return;
    }
    let i = id.y * params.width + id.x;
    let c = unpack4x8unorm(src[i]);
    let last = f32(params.size - 1u);
    let p = clamp((c.rgb - params.domain_min.xyz) * params.domain_scale.xyz, vec3<f32>(0.0), vec3<f32>(1.0)) * last;
    let lo = min(vec3<u32>(floor(p)), vec3<u32>(params.size - 2u));
    let f = p - vec3<f32>(lo);
    let hi = lo + vec3<u32>(1u);
    let c00 = entry(lo.x, lo.y, lo.z) * (1.0 - f.x) + entry(hi.x, lo.y, lo.z) * f.x;
    let c10 = entry(lo.x, hi.y, lo.z) * (1.0 - f.x) + entry(hi.x, hi.y, lo.z) * f.x;
    let c01 = entry(lo.x, lo.y, hi.z) * (1.0 - f.x) + entry(hi.x, lo.y, hi.z) * f.x;
    let c11 = entry(lo.x, hi.y, hi.z) * (1.0 - f.x) + entry(hi.x, hi.y, hi.z) * f.x;
    let c0 = c00 * (1.0 - f.y) + c10 * f.y;
    let c1 = c01 * (1.0 - f.y) + c11 * f.y;
    let graded = c0 * (1.0 - f.z) + c1 * f.z;
    let rgb = c.rgb * (1.0 - params.strength) + graded * params.strength;
    dst[i] = pack4x8unorm(vec4<f32>(rgb, c.a));
}
