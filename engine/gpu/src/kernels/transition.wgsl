// Transitions from frame `a` to frame `b` (same size) at progress t, one entry point for
// every kind. The Rust side turns (kind, t) into the few numbers below, so this shader and
// the CPU reference share them bit for bit: hard decisions (which side of a wipe's edge,
// which frame a slide shows) then agree exactly, and only smooth arithmetic can differ.

struct Params {
    width: u32,
    height: u32,
    // 0 crossfade, 1 fade through black, 2 wipe, 3 slide, 4 zoom.
    kind: u32,
    // 0 left, 1 right, 2 up, 3 down: where the wipe's edge or the slide's pictures move.
    direction: u32,
    // Crossfade and zoom: b's weight.
    mix: f32,
    // Fade through black: the factor on the colour of the frame showing.
    fade: f32,
    // Wipe: the edge's distance in pixels from the side it starts at.
    edge: f32,
    // Wipe: 1 / feather width in pixels; 0 for a hard edge.
    inv_feather: f32,
    // Slide: how far both pictures have moved, in whole pixels.
    shift: u32,
    // Fade through black: 1 once the fade has reached black and shows b.
    from_b: u32,
    // Zoom: output pixels per source pixel, inverted, for a and for b.
    inv_scale_a: f32,
    inv_scale_b: f32,
}

@group(0) @binding(0) var<storage, read> a: array<u32>;
@group(0) @binding(1) var<storage, read> b: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

// Written out rather than `mix`, so the rounding matches the CPU reference's (drivers may
// compute `mix` as x + w * (y - x), which is not exact at w = 0 or 1).
fn blend(x: vec4<f32>, y: vec4<f32>, w: f32) -> vec4<f32> {
    return x * (1.0 - w) + y * w;
}

// A pixel of a or b; coordinates past the edges repeat the edge pixel.
fn texel(from_b: bool, x: i32, y: i32) -> vec4<f32> {
    let cx = u32(clamp(x, 0, i32(params.width) - 1));
    let cy = u32(clamp(y, 0, i32(params.height) - 1));
    let i = cy * params.width + cx;
    if from_b {
        return unpack4x8unorm(b[i]);
    }
    return unpack4x8unorm(a[i]);
}

// Output pixel (x, y) of a or b scaled by 1 / inv_scale about the frame's centre, sampled
// bilinearly (pixel centres map to pixel centres).
fn zoomed(from_b: bool, inv_scale: f32, x: u32, y: u32) -> vec4<f32> {
    let cx = f32(params.width) * 0.5;
    let cy = f32(params.height) * 0.5;
    let u = (f32(x) + 0.5 - cx) * inv_scale + cx - 0.5;
    let v = (f32(y) + 0.5 - cy) * inv_scale + cy - 0.5;
    let fu = floor(u);
    let fv = floor(v);
    let tx = u - fu;
    let ty = v - fv;
    let ix = i32(fu);
    let iy = i32(fv);
    let top = texel(from_b, ix, iy) * (1.0 - tx) + texel(from_b, ix + 1, iy) * tx;
    let bottom = texel(from_b, ix, iy + 1) * (1.0 - tx) + texel(from_b, ix + 1, iy + 1) * tx;
    return top * (1.0 - ty) + bottom * ty;
}

// Wipe: how far the pixel's centre lies from the side the edge starts at, in pixels. Whole
// numbers plus a half, so exact in f32 on both sides.
fn along(x: u32, y: u32) -> f32 {
    switch params.direction {
        case 0u: { return f32(params.width) - (f32(x) + 0.5); }
        case 1u: { return f32(x) + 0.5; }
        case 2u: { return f32(params.height) - (f32(y) + 0.5); }
        default: { return f32(y) + 0.5; }
    }
}

// Slide: the packed pixel that has moved to (x, y); a leaves on one side as b comes in on
// the other, butted together.
fn slid(x: u32, y: u32) -> u32 {
    let w = params.width;
    let h = params.height;
    let s = params.shift;
    switch params.direction {
        case 0u: {
            if x + s < w {
                return a[y * w + x + s];
            }
            return b[y * w + x + s - w];
        }
        case 1u: {
            if x >= s {
                return a[y * w + x - s];
            }
            return b[y * w + x + w - s];
        }
        case 2u: {
            if y + s < h {
                return a[(y + s) * w + x];
            }
            return b[(y + s - h) * w + x];
        }
        default: {
            if y >= s {
                return a[(y - s) * w + x];
            }
            return b[(y + h - s) * w + x];
        }
    }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= params.width || id.y >= params.height {
        return;
    }
    let i = id.y * params.width + id.x;
    switch params.kind {
        case 0u: {
            dst[i] = pack4x8unorm(blend(unpack4x8unorm(a[i]), unpack4x8unorm(b[i]), params.mix));
        }
        case 1u: {
            var c = unpack4x8unorm(a[i]);
            if params.from_b == 1u {
                c = unpack4x8unorm(b[i]);
            }
            dst[i] = pack4x8unorm(vec4<f32>(c.rgb * params.fade, c.a));
        }
        case 2u: {
            let p = along(id.x, id.y);
            var w: f32;
            if params.inv_feather == 0.0 {
                w = select(0.0, 1.0, p < params.edge);
            } else {
                w = clamp((params.edge - p) * params.inv_feather + 0.5, 0.0, 1.0);
            }
            dst[i] = pack4x8unorm(blend(unpack4x8unorm(a[i]), unpack4x8unorm(b[i]), w));
        }
        case 3u: {
            // A slide moves whole pixels, so it copies them untouched.
            dst[i] = slid(id.x, id.y);
        }
        default: {
            let from_a = zoomed(false, params.inv_scale_a, id.x, id.y);
            let from_b = zoomed(true, params.inv_scale_b, id.x, id.y);
            dst[i] = pack4x8unorm(blend(from_a, from_b, params.mix));
        }
    }
}
