// Overlay: `top` (any size, straight alpha), scaled and placed, over `base` into `dst`
// (both base-sized), Porter-Duff source-over with the base's own alpha.

struct Params {
    base_width: u32,
    base_height: u32,
    top_width: u32,
    top_height: u32,
    // The scaled overlay's top-left corner in base pixels.
    x: f32,
    y: f32,
    // Overlay pixels per base pixel (1 / scale).
    inv_scale: f32,
    opacity: f32,
}

@group(0) @binding(0) var<storage, read> base: array<u32>;
@group(0) @binding(1) var<storage, read> top: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

// An overlay pixel, premultiplied; transparent outside the overlay, so its border is
// antialiased by the same bilinear weights as its inside.
fn premultiplied(x: i32, y: i32) -> vec4<f32> {
    if x < 0 || y < 0 || x >= i32(params.top_width) || y >= i32(params.top_height) {
        return vec4<f32>(0.0);
    }
    let c = unpack4x8unorm(top[u32(y) * params.top_width + u32(x)]);
    return vec4<f32>(c.rgb * c.a, c.a);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= params.base_width || id.y >= params.base_height {
        return;
    }
    let i = id.y * params.base_width + id.x;
    // The base pixel's centre in overlay pixels (centres map to centres).
    let u = (f32(id.x) + 0.5 - params.x) * params.inv_scale - 0.5;
    let v = (f32(id.y) + 0.5 - params.y) * params.inv_scale - 0.5;
    // Past one pixel beyond the overlay every tap is transparent: keep the base as it is
    // (and never turn a far-off coordinate into an integer).
    if !(u > -1.0 && v > -1.0 && u < f32(params.top_width) && v < f32(params.top_height)) {
        dst[i] = base[i];
        return;
    }
    let fu = floor(u);
    let fv = floor(v);
    let tx = u - fu;
    let ty = v - fv;
    let ix = i32(fu);
    let iy = i32(fv);
    // Bilinear on premultiplied colour: in straight alpha a transparent pixel's colour
    // (usually black) would bleed into its opaque neighbours at full weight, a dark fringe
    // round every cut-out; premultiplied, each pixel's colour counts by its coverage.
    let upper = premultiplied(ix, iy) * (1.0 - tx) + premultiplied(ix + 1, iy) * tx;
    let lower = premultiplied(ix, iy + 1) * (1.0 - tx) + premultiplied(ix + 1, iy + 1) * tx;
    let src = (upper * (1.0 - ty) + lower * ty) * params.opacity;
    let under = unpack4x8unorm(base[i]);
    if src.a == 0.0 {
        // Nothing on top: the base exactly, even the colour of its transparent pixels.
        dst[i] = base[i];
        return;
    }
    let keep = 1.0 - src.a;
    let alpha = src.a + under.a * keep;
    let colour = (src.rgb + under.rgb * under.a * keep) / alpha;
    dst[i] = pack4x8unorm(vec4<f32>(colour, alpha));
}
