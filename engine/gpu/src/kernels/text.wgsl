// Draws a prepared text block onto a frame: a shadow (the text's shape, outline included,
// offset by (dx, dy)), then the outline, then the fill, each laid over with Porter-Duff
// "source over". The block's coverage lies in `mask`: fill coverage in the low byte,
// outline coverage (the fill dilated by the outline width) in the next. Only the region
// the block and its shadow cover is dispatched (`origin`, `region`): the rest of the frame
// was copied beforehand, so a title costs its own pixels, not the frame's.

struct Params {
    width: u32,
    height: u32,
    block_width: u32,
    block_height: u32,
    x: i32,
    y: i32,
    shadow_dx: i32,
    shadow_dy: i32,
    fill: vec4<f32>,
    outline: vec4<f32>,
    shadow: vec4<f32>,
    opacity: f32,
    has_outline: u32,
    has_shadow: u32,
    origin_x: u32,
    origin_y: u32,
    region_width: u32,
    region_height: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

// (fill, outline) coverage of block pixel (bx, by); zero outside the block.
fn coverage(bx: i32, by: i32) -> vec2<f32> {
    if bx < 0 || by < 0 || bx >= i32(params.block_width) || by >= i32(params.block_height) {
        return vec2<f32>(0.0);
    }
    let m = mask[u32(by) * params.block_width + u32(bx)];
    return vec2<f32>(f32(m & 0xffu), f32((m >> 8u) & 0xffu)) / 255.0;
}

fn over(base: vec4<f32>, color: vec4<f32>, cover: f32) -> vec4<f32> {
    let a = color.a * cover * params.opacity;
    let out_a = a + base.a * (1.0 - a);
    if out_a <= 0.0 {
        return vec4<f32>(0.0);
    }
    let rgb = (color.rgb * a + base.rgb * base.a * (1.0 - a)) / out_a;
    return vec4<f32>(rgb, out_a);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= params.region_width || gid.y >= params.region_height {
        return;
    }
    let id = vec2<u32>(gid.x + params.origin_x, gid.y + params.origin_y);
    let i = id.y * params.width + id.x;
    let bx = i32(id.x) - params.x;
    let by = i32(id.y) - params.y;
    let here = coverage(bx, by);
    var shadow = 0.0;
    if params.has_shadow != 0u {
        let s = coverage(bx - params.shadow_dx, by - params.shadow_dy);
        shadow = max(s.x, s.y);
    }
    if here.x == 0.0 && here.y == 0.0 && shadow == 0.0 {
        dst[i] = src[i];
        return;
    }
    var c = unpack4x8unorm(src[i]);
    if params.has_shadow != 0u {
        c = over(c, params.shadow, shadow);
    }
    if params.has_outline != 0u {
        c = over(c, params.outline, here.y);
    }
    c = over(c, params.fill, here.x);
    dst[i] = pack4x8unorm(c);
}
