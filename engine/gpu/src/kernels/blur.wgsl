// Separable Gaussian blur in two passes over packed RGBA8 pixels (alpha is blurred too):
// `horizontal` reads the frame and writes unrounded floats to `mid`; `vertical` reads `mid`
// and writes the frame. Edges repeat the outermost pixel. `weights` holds 2 * radius + 1
// normalised taps.

struct Params {
    width: u32,
    height: u32,
    radius: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> mid: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(16, 16)
fn horizontal(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= params.width || id.y >= params.height {
        return;
    }
    let row = id.y * params.width;
    let last = i32(params.width) - 1;
    let r = i32(params.radius);
    var sum = vec4<f32>(0.0);
    for (var k = -r; k <= r; k++) {
        let x = u32(clamp(i32(id.x) + k, 0, last));
        sum += weights[u32(k + r)] * unpack4x8unorm(src[row + x]);
    }
    mid[row + id.x] = sum;
}

@compute @workgroup_size(16, 16)
fn vertical(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= params.width || id.y >= params.height {
        return;
    }
    let last = i32(params.height) - 1;
    let r = i32(params.radius);
    var sum = vec4<f32>(0.0);
    for (var k = -r; k <= r; k++) {
        let y = u32(clamp(i32(id.y) + k, 0, last));
        sum += weights[u32(k + r)] * mid[y * params.width + id.x];
    }
    dst[id.y * params.width + id.x] = pack4x8unorm(sum);
}
