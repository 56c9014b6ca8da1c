//! Resize, crop, fit (letterbox into a frame of another aspect) and fill (crop to the
//! target's aspect): one resampling kernel, bilinear or bicubic.

use super::{Step, dispatch, pack_unorm, uniform, unpack_unorm};
use crate::{Gpu, GpuError, GpuFrame};

const SOURCE: &str = include_str!("resize.wgsl");

/// How a source pixel grid becomes another.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// 2 x 2 taps: fast, slightly soft.
    Bilinear,
    /// 4 x 4 taps, Catmull-Rom (Keys a = -0.5): sharper; may ring a little at hard edges.
    #[default]
    Bicubic,
}

/// How a source of one aspect fills an output of another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// Scale each axis on its own: the picture is distorted when the aspects differ.
    Stretch,
    /// Scale to fit inside, centred, and pad the rest with this RGBA colour (letterbox or
    /// pillarbox).
    Pad([u8; 4]),
    /// Scale to cover the output, centred, cropping what falls outside.
    Fill,
}

/// A source rectangle in source pixels (fractions allowed).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

/// Everything the kernel needs; also what the CPU reference runs on.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    src_width: u32,
    src_height: u32,
    dst_width: u32,
    dst_height: u32,
    origin_x: f32,
    origin_y: f32,
    scale_x: f32,
    scale_y: f32,
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
    pad: u32,
    filter: u32,
    _pad0: u32,
    _pad1: u32,
}

fn params(
    (src_width, src_height): (u32, u32),
    (dst_width, dst_height): (u32, u32),
    source: Rect,
    (x0, y0, x1, y1): (u32, u32, u32, u32),
    pad: [u8; 4],
    filter: Filter,
) -> Params {
    Params {
        src_width,
        src_height,
        dst_width,
        dst_height,
        origin_x: source.x,
        origin_y: source.y,
        scale_x: source.width / (x1 - x0) as f32,
        scale_y: source.height / (y1 - y0) as f32,
        x0,
        y0,
        x1,
        y1,
        pad: u32::from_le_bytes(pad),
        filter: match filter {
            Filter::Bilinear => 0,
            Filter::Bicubic => 1,
        },
        _pad0: 0,
        _pad1: 0,
    }
}

/// The kernel's parameters for scaling a `src` frame into a `dst` frame with `fit`.
fn fit_params(src: (u32, u32), dst: (u32, u32), fit: Fit, filter: Filter) -> Params {
    let (sw, sh) = (src.0 as f32, src.1 as f32);
    let (dw, dh) = (dst.0 as f32, dst.1 as f32);
    let whole = Rect { x: 0.0, y: 0.0, width: sw, height: sh };
    match fit {
        Fit::Stretch => params(src, dst, whole, (0, 0, dst.0, dst.1), [0; 4], filter),
        Fit::Pad(colour) => {
            let scale = (dw / sw).min(dh / sh);
            // At least one pixel, at most the frame; centred (an odd leftover goes right/down).
            let w = ((sw * scale).round() as u32).clamp(1, dst.0);
            let h = ((sh * scale).round() as u32).clamp(1, dst.1);
            let (x0, y0) = ((dst.0 - w) / 2, (dst.1 - h) / 2);
            params(src, dst, whole, (x0, y0, x0 + w, y0 + h), colour, filter)
        }
        Fit::Fill => {
            let scale = (dw / sw).max(dh / sh);
            let (vw, vh) = (dw / scale, dh / scale);
            let visible = Rect { x: (sw - vw) / 2.0, y: (sh - vh) / 2.0, width: vw, height: vh };
            params(src, dst, visible, (0, 0, dst.0, dst.1), [0; 4], filter)
        }
    }
}

/// Scales `src` into `out` (any size) with `fit` and `filter`.
pub fn resize(gpu: &Gpu, src: &GpuFrame, out: &GpuFrame, fit: Fit, filter: Filter) -> Result<(), GpuError> {
    let p = fit_params((src.width, src.height), (out.width, out.height), fit, filter);
    run(gpu, src, out, &p)
}

/// Resamples the `source` rectangle of `src` onto all of `out`: a crop (and scale).
pub fn crop(gpu: &Gpu, src: &GpuFrame, source: Rect, out: &GpuFrame, filter: Filter) -> Result<(), GpuError> {
    check_rect(source, src.width, src.height)?;
    let p =
        params((src.width, src.height), (out.width, out.height), source, (0, 0, out.width, out.height), [0; 4], filter);
    run(gpu, src, out, &p)
}

fn check_rect(r: Rect, width: u32, height: u32) -> Result<(), GpuError> {
    let inside = r.x >= 0.0
        && r.y >= 0.0
        && r.width > 0.0
        && r.height > 0.0
        && r.x + r.width <= width as f32
        && r.y + r.height <= height as f32;
    if inside { Ok(()) } else { Err(GpuError::Invalid(format!("crop {r:?} is not inside the {width}x{height} frame"))) }
}

fn run(gpu: &Gpu, src: &GpuFrame, out: &GpuFrame, p: &Params) -> Result<(), GpuError> {
    let kernel = gpu.kernel("resize", SOURCE, "main")?;
    let params = uniform(gpu, p);
    let step = Step {
        kernel: &kernel,
        bindings: vec![(0, &src.buffer), (1, &out.buffer), (2, &params)],
        width: out.width,
        height: out.height,
    };
    dispatch(gpu, "resize", &[step])
}

/// The CPU reference of [`resize`] on RGBA8 bytes.
pub fn cpu_resize(src: &[u8], src_size: (u32, u32), dst_size: (u32, u32), fit: Fit, filter: Filter) -> Vec<u8> {
    cpu_run(src, &fit_params(src_size, dst_size, fit, filter))
}

/// The CPU reference of [`crop`] on RGBA8 bytes.
pub fn cpu_crop(src: &[u8], src_size: (u32, u32), source: Rect, dst_size: (u32, u32), filter: Filter) -> Vec<u8> {
    cpu_run(src, &params(src_size, dst_size, source, (0, 0, dst_size.0, dst_size.1), [0; 4], filter))
}

fn cubic(d: f32) -> f32 {
    let a = -0.5;
    let t = d.abs();
    if t <= 1.0 {
        ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0
    } else if t < 2.0 {
        ((a * t - 5.0 * a) * t + 8.0 * a) * t - 4.0 * a
    } else {
        0.0
    }
}

fn cpu_run(src: &[u8], p: &Params) -> Vec<u8> {
    let texel = |x: i32, y: i32| -> [f32; 4] {
        let cx = x.clamp(0, p.src_width as i32 - 1) as usize;
        let cy = y.clamp(0, p.src_height as i32 - 1) as usize;
        let i = (cy * p.src_width as usize + cx) * 4;
        [0, 1, 2, 3].map(|c| unpack_unorm(src[i + c]))
    };
    let mut out = Vec::with_capacity(p.dst_width as usize * p.dst_height as usize * 4);
    for y in 0..p.dst_height {
        for x in 0..p.dst_width {
            if x < p.x0 || x >= p.x1 || y < p.y0 || y >= p.y1 {
                out.extend_from_slice(&p.pad.to_le_bytes());
                continue;
            }
            let u = ((x - p.x0) as f32 + 0.5) * p.scale_x + p.origin_x - 0.5;
            let v = ((y - p.y0) as f32 + 0.5) * p.scale_y + p.origin_y - 0.5;
            let (fu, fv) = (u.floor(), v.floor());
            let (tx, ty) = (u - fu, v - fv);
            let (ix, iy) = (fu as i32, fv as i32);
            let mut colour = [0f32; 4];
            if p.filter == 0 {
                let (a, b, c, d) = (texel(ix, iy), texel(ix + 1, iy), texel(ix, iy + 1), texel(ix + 1, iy + 1));
                for ch in 0..4 {
                    let top = a[ch] * (1.0 - tx) + b[ch] * tx;
                    let bottom = c[ch] * (1.0 - tx) + d[ch] * tx;
                    colour[ch] = top * (1.0 - ty) + bottom * ty;
                }
            } else {
                for j in -1..=2 {
                    let mut row = [0f32; 4];
                    for k in -1..=2 {
                        let (w, t) = (cubic(tx - k as f32), texel(ix + k, iy + j));
                        for ch in 0..4 {
                            row[ch] += w * t[ch];
                        }
                    }
                    let w = cubic(ty - j as f32);
                    for ch in 0..4 {
                        colour[ch] += w * row[ch];
                    }
                }
            }
            out.extend(colour.map(pack_unorm));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_letterboxes_a_wide_source_into_a_tall_frame() {
        let p = fit_params((1920, 1080), (1080, 1920), Fit::Pad([0, 0, 0, 255]), Filter::Bilinear);
        // 1920x1080 scaled by 1080/1920 is 1080x607.5 → 608 rows, centred.
        assert_eq!((p.x0, p.x1), (0, 1080));
        assert_eq!(p.y1 - p.y0, 608);
        assert_eq!(p.y0, (1920 - 608) / 2);
    }

    #[test]
    fn fill_crops_the_sides_of_a_wide_source_for_a_square() {
        let p = fit_params((1920, 1080), (1080, 1080), Fit::Fill, Filter::Bilinear);
        assert_eq!((p.x0, p.y0, p.x1, p.y1), (0, 0, 1080, 1080));
        assert!((p.origin_x - 420.0).abs() < 1e-3, "{p:?}");
        assert!((p.scale_x - 1.0).abs() < 1e-6 && (p.scale_y - 1.0).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn a_crop_outside_the_frame_is_refused() {
        assert!(check_rect(Rect { x: 10.0, y: 0.0, width: 100.0, height: 10.0 }, 100, 100).is_err());
        assert!(check_rect(Rect { x: 0.0, y: 0.0, width: 100.0, height: 100.0 }, 100, 100).is_ok());
    }

    #[test]
    fn identity_resize_is_exact_on_the_cpu() {
        let src: Vec<u8> = (0..7 * 5 * 4).map(|i| (i * 37 % 256) as u8).collect();
        for filter in [Filter::Bilinear, Filter::Bicubic] {
            assert_eq!(cpu_resize(&src, (7, 5), (7, 5), Fit::Stretch, filter), src);
        }
    }
}
