// Resampling: the output pixels inside the destination rectangle sample a source rectangle
// (bilinear, or bicubic with the Catmull-Rom/Keys a = -0.5 kernel); the rest are the pad
// colour. Resize, crop, fit (letterbox) and fill (crop to the aspect) are all this kernel
// with different rectangles. Source coordinates past the edges repeat the edge pixel.

struct Params {
    src_width: u32,
    src_height: u32,
    dst_width: u32,
    dst_height: u32,
    // Source position of the destination rectangle's top-left corner, and source pixels
    // per destination pixel.
    origin_x: f32,
    origin_y: f32,
    scale_x: f32,
    scale_y: f32,
    // The destination rectangle, [x0, x1) x [y0, y1).
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
    pad: u32,
    // 0: bilinear, 1: bicubic.
    mode: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

fn texel(x: i32, y: i32) -> vec4<f32> {
    let cx = u32(clamp(x, 0, i32(params.src_width) - 1));
    let cy = u32(clamp(y, 0, i32(params.src_height) - 1));
    return unpack4x8unorm(src[cy * params.src_width + cx]);
}

fn cubic(d: f32) -> f32 {
    let a = -0.5;
    let t = abs(d);
    if t <= 1.0 {
        return ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
    }
    if t < 2.0 {
        return ((a * t - 5.0 * a) * t + 8.0 * a) * t - 4.0 * a;
    }
    return 0.0;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= params.dst_width || id.y >= params.dst_height {
        return;
    }
    let i = id.y * params.dst_width + id.x;
    if id.x < params.x0 || id.x >= params.x1 || id.y < params.y0 || id.y >= params.y1 {
        dst[i] = params.pad;
        return;
    }
    // Pixel centres map to pixel centres.
    let u = (f32(id.x - params.x0) + 0.5) * params.scale_x + params.origin_x - 0.5;
    let v = (f32(id.y - params.y0) + 0.5) * params.scale_y + params.origin_y - 0.5;
    let fu = floor(u);
    let fv = floor(v);
    let tx = u - fu;
    let ty = v - fv;
    let ix = i32(fu);
    let iy = i32(fv);
    var colour: vec4<f32>;
    if params.mode == 0u {
        let top = texel(ix, iy) * (1.0 - tx) + texel(ix + 1, iy) * tx;
        let bottom = texel(ix, iy + 1) * (1.0 - tx) + texel(ix + 1, iy + 1) * tx;
        colour = top * (1.0 - ty) + bottom * ty;
    } else {
        colour = vec4<f32>(0.0);
        for (var j = -1; j <= 2; j++) {
            var row = vec4<f32>(0.0);
            for (var k = -1; k <= 2; k++) {
                row += cubic(tx - f32(k)) * texel(ix + k, iy + j);
            }
            colour += cubic(ty - f32(j)) * row;
        }
    }
    dst[i] = pack4x8unorm(colour);
}
