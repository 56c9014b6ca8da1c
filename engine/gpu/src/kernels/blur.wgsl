// Separable Gaussian blur in two passes over packed RGBA8 pixels (alpha is blurred too):
// `horizontal` reads the frame and writes unrounded floats to `mid`; `vertical` reads `mid`
// and writes the frame. Edges repeat the outermost pixel. `weights` holds 2 * radius + 1
// normalised taps (radius at most 120).
//
// Each workgroup handles a strip of 256 pixels along the blur's direction: it first loads
// the strip and its 2 * radius neighbours into workgroup memory (about 8 KB, within the
// 16 KB every device offers), then each invocation sums its taps from there. Every source
// pixel is read from the buffer about once per pass instead of once per tap.

const STRIP: u32 = 256u;
const MAX_RADIUS: u32 = 120u;

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

var<workgroup> strip: array<vec4<f32>, 496>;
var<workgroup> taps: array<f32, 241>;

fn load_taps(lid: u32) {
    for (var k = lid; k < 2u * params.radius + 1u; k += STRIP) {
        taps[k] = weights[k];
    }
}

@compute @workgroup_size(256, 1)
fn horizontal(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let r = params.radius;
    let y = wid.y;
    let x0 = wid.x * STRIP;
    let last = i32(params.width) - 1;
    let row = min(y, params.height - 1u) * params.width;
    load_taps(lid.x);
    for (var i = lid.x; i < STRIP + 2u * r; i += STRIP) {
        let sx = u32(clamp(i32(x0 + i) - i32(r), 0, last));
        strip[i] = unpack4x8unorm(src[row + sx]);
    }
    workgroupBarrier();
    let x = x0 + lid.x;
    if x >= params.width || y >= params.height {
        return;
    }
    var sum = vec4<f32>(0.0);
    for (var k = 0u; k <= 2u * r; k++) {
        sum += taps[k] * strip[lid.x + k];
    }
    mid[row + x] = sum;
}

@compute @workgroup_size(1, 256)
fn vertical(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let r = params.radius;
    let x = min(wid.x, params.width - 1u);
    let y0 = wid.y * STRIP;
    let last = i32(params.height) - 1;
    load_taps(lid.y);
    for (var i = lid.y; i < STRIP + 2u * r; i += STRIP) {
        let sy = u32(clamp(i32(y0 + i) - i32(r), 0, last));
        strip[i] = mid[sy * params.width + x];
    }
    workgroupBarrier();
    let y = y0 + lid.y;
    if wid.x >= params.width || y >= params.height {
        return;
    }
    var sum = vec4<f32>(0.0);
    for (var k = 0u; k <= 2u * r; k++) {
        sum += taps[k] * strip[lid.y + k];
    }
    dst[y * params.width + x] = pack4x8unorm(sum);
}
