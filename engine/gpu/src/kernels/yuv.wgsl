// YUV <-> RGBA colour conversion, so decoded pictures go to the GPU as planes (1.5 bytes a
// pixel instead of 4) and come back ready for the encoder.
//
// `to_rgba`: 4:2:0 planes (three planes, or NV12's interleaved chroma when chroma_step is 2)
// -> packed RGBA8, alpha 255. Chroma is sited as MPEG-2/H.264 do (left edge, vertically
// between two luma rows) and upsampled bilinearly, edges clamped.
// `luma` and `chroma`: packed RGBA8 -> planar 4:2:0, written one u32 (four samples) per
// invocation; chroma is the average of each 2 x 2 block's R'G'B', converted.
//
// The YUV bytes live in one array<u32>: a byte at offset o is (yuv[o / 4] >> (8 * (o % 4))).

struct Params {
    width: u32,
    height: u32,
    y_offset: u32,
    y_stride: u32,
    u_offset: u32,
    v_offset: u32,
    c_stride: u32,
    chroma_step: u32,
    // Rows: Y from R'G'B' (kr, kg, kb); then the scales of the range.
    kr: f32,
    kb: f32,
    // Full range: 255 and 255; limited (video) range: 219 and 224.
    y_scale: f32,
    c_scale: f32,
    // Full range: 0; limited: 16.
    y_base: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> yuv: array<u32>;
@group(0) @binding(1) var<storage, read_write> rgba: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

fn byte_at(o: u32) -> f32 {
    return f32((yuv[o >> 2u] >> (8u * (o & 3u))) & 0xffu);
}

fn chroma_at(cx: u32, cy: u32) -> vec2<f32> {
    let o = cy * params.c_stride + cx * params.chroma_step;
    return vec2<f32>(byte_at(params.u_offset + o), byte_at(params.v_offset + o));
}

fn yuv_to_rgb(y: f32, cb: f32, cr: f32) -> vec3<f32> {
    let luma = (y - params.y_base) / params.y_scale;
    let pb = (cb - 128.0) / params.c_scale;
    let pr = (cr - 128.0) / params.c_scale;
    let kg = 1.0 - params.kr - params.kb;
    let r = luma + 2.0 * (1.0 - params.kr) * pr;
    let b = luma + 2.0 * (1.0 - params.kb) * pb;
    let g = (luma - params.kr * r - params.kb * b) / kg;
    return vec3<f32>(r, g, b);
}

@compute @workgroup_size(16, 16)
fn to_rgba(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= params.width || id.y >= params.height {
        return;
    }
    let cw = (params.width + 1u) / 2u;
    let ch = (params.height + 1u) / 2u;
    // Chroma sample positions in chroma pixels: x co-sited, y centred between two rows.
    let fx = f32(id.x) * 0.5;
    let fy = (f32(id.y) + 0.5) * 0.5 - 0.5;
    let x0 = u32(floor(fx));
    let y0f = floor(fy);
    let tx = fx - f32(x0);
    let ty = fy - y0f;
    let y0 = u32(clamp(i32(y0f), 0, i32(ch) - 1));
    let y1 = u32(clamp(i32(y0f) + 1, 0, i32(ch) - 1));
    let x1 = min(x0 + 1u, cw - 1u);
    let top = chroma_at(x0, y0) * (1.0 - tx) + chroma_at(x1, y0) * tx;
    let bottom = chroma_at(x0, y1) * (1.0 - tx) + chroma_at(x1, y1) * tx;
    let c = top * (1.0 - ty) + bottom * ty;
    let y = byte_at(params.y_offset + id.y * params.y_stride + id.x);
    let rgb = yuv_to_rgb(y, c.x, c.y);
    rgba[id.y * params.width + id.x] = pack4x8unorm(vec4<f32>(rgb, 1.0));
}

fn luma_of(rgb: vec3<f32>) -> f32 {
    return params.kr * rgb.x + (1.0 - params.kr - params.kb) * rgb.y + params.kb * rgb.z;
}

fn quantize(v: f32) -> u32 {
    return u32(clamp(floor(v + 0.5), 0.0, 255.0));
}

// One invocation: four luma samples of one row (id.x counts words).
@compute @workgroup_size(16, 16)
fn luma(@builtin(global_invocation_id) id: vec3<u32>) {
    let words = params.y_stride / 4u;
    if id.x >= words || id.y >= params.height {
        return;
    }
    var word = 0u;
    for (var k = 0u; k < 4u; k++) {
        let x = min(id.x * 4u + k, params.width - 1u);
        let rgb = unpack4x8unorm(rgba[id.y * params.width + x]).xyz;
        word |= quantize(params.y_base + params.y_scale * luma_of(rgb)) << (8u * k);
    }
    yuv[(params.y_offset + id.y * params.y_stride) / 4u + id.x] = word;
}

// One invocation: four chroma samples (U and V) of one chroma row.
@compute @workgroup_size(16, 16)
fn chroma(@builtin(global_invocation_id) id: vec3<u32>) {
    let words = params.c_stride / 4u;
    let ch = (params.height + 1u) / 2u;
    if id.x >= words || id.y >= ch {
        return;
    }
    var u_word = 0u;
    var v_word = 0u;
    for (var k = 0u; k < 4u; k++) {
        let cx = id.x * 4u + k;
        var sum = vec3<f32>(0.0);
        for (var dy = 0u; dy < 2u; dy++) {
            for (var dx = 0u; dx < 2u; dx++) {
                let x = min(cx * 2u + dx, params.width - 1u);
                let y = min(id.y * 2u + dy, params.height - 1u);
                sum += unpack4x8unorm(rgba[y * params.width + x]).xyz;
            }
        }
        let rgb = sum * 0.25;
        let l = luma_of(rgb);
        let pb = (rgb.z - l) / (2.0 * (1.0 - params.kb));
        let pr = (rgb.x - l) / (2.0 * (1.0 - params.kr));
        u_word |= quantize(128.0 + params.c_scale * pb) << (8u * k);
        v_word |= quantize(128.0 + params.c_scale * pr) << (8u * k);
    }
    let row = id.y * params.c_stride;
    yuv[(params.u_offset + row) / 4u + id.x] = u_word;
    yuv[(params.v_offset + row) / 4u + id.x] = v_word;
}
