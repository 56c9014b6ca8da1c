// YUV <-> RGBA colour conversion, so decoded pictures go to the GPU as planes (1.5 bytes a
// pixel instead of 4) and come back ready for the encoder.
//
// `to_rgba`: 4:2:0 planes (three planes, or NV12's interleaved chroma when chroma_step is 2)
// -> packed RGBA8, alpha 255. Chroma is sited as MPEG-2/H.264 do (left edge, vertically
// between two luma rows) and upsampled bilinearly, edges clamped.
// `planar`: packed RGBA8 -> planar 4:2:0 in one pass: each invocation converts an 8 x 2
// block, writing four luma words (two per row) and one word each of Cb and Cr; chroma is
// the average of each 2 x 2 block's R'G'B', converted.
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

fn rgb_at(x: u32, y: u32) -> vec3<f32> {
    let cx = min(x, params.width - 1u);
    let cy = min(y, params.height - 1u);
    return unpack4x8unorm(rgba[cy * params.width + cx]).xyz;
}

@compute @workgroup_size(16, 16)
fn planar(@builtin(global_invocation_id) id: vec3<u32>) {
    let groups = params.y_stride / 8u;
    let ch = (params.height + 1u) / 2u;
    if id.x >= groups || id.y >= ch {
        return;
    }
    var luma_words = array<u32, 4>(0u, 0u, 0u, 0u);
    var u_word = 0u;
    var v_word = 0u;
    for (var k = 0u; k < 4u; k++) {
        var sum = vec3<f32>(0.0);
        for (var dy = 0u; dy < 2u; dy++) {
            for (var dx = 0u; dx < 2u; dx++) {
                let x = id.x * 8u + k * 2u + dx;
                let rgb = rgb_at(x, id.y * 2u + dy);
                sum += rgb;
                // Luma word (row dy, word k / 2), byte (k * 2 + dx) % 4.
                let byte = (k * 2u + dx) % 4u;
                let w = dy * 2u + (k * 2u + dx) / 4u;
                luma_words[w] |= quantize(params.y_base + params.y_scale * luma_of(rgb)) << (8u * byte);
            }
        }
        let rgb = sum * 0.25;
        let l = luma_of(rgb);
        let pb = (rgb.z - l) / (2.0 * (1.0 - params.kb));
        let pr = (rgb.x - l) / (2.0 * (1.0 - params.kr));
        u_word |= quantize(128.0 + params.c_scale * pb) << (8u * k);
        v_word |= quantize(128.0 + params.c_scale * pr) << (8u * k);
    }
    for (var dy = 0u; dy < 2u; dy++) {
        let row = id.y * 2u + dy;
        if row < params.height {
            let base = (params.y_offset + row * params.y_stride) / 4u + id.x * 2u;
            yuv[base] = luma_words[dy * 2u];
            yuv[base + 1u] = luma_words[dy * 2u + 1u];
        }
    }
    let crow = id.y * params.c_stride;
    yuv[(params.u_offset + crow) / 4u + id.x] = u_word;
    yuv[(params.v_offset + crow) / 4u + id.x] = v_word;
}
