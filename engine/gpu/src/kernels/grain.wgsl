// Film grain: monochrome noise added to R, G and B alike. The noise of a pixel comes from
// an integer hash of (x, y, frame, seed), so it is the same on every GPU and on the CPU,
// differs from frame to frame, and needs no random state. Two 16-bit halves of the hash sum
// to a triangular distribution on -0.5..0.5 (zero mean); it is weighted toward the
// mid-tones, where film grain shows, and scaled by `strength` / 4.

struct Params {
    width: u32,
    height: u32,
    strength: f32,
    key: u32,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= params.width || id.y >= params.height {
        return;
    }
    let i = id.y * params.width + id.x;
    let h = pcg(id.x ^ pcg(id.y ^ pcg(params.key)));
    let noise = f32((h & 0xffffu) + (h >> 16u)) / 131070.0 - 0.5;
    let c = unpack4x8unorm(src[i]);
    let luma = 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
    let weight = 1.0 - (2.0 * luma - 1.0) * (2.0 * luma - 1.0);
    let delta = noise * params.strength * 0.25 * (0.25 + 0.75 * weight);
    dst[i] = pack4x8unorm(vec4<f32>(c.rgb + vec3<f32>(delta), c.a));
}
