//! Compositing: an overlay (a logo, a title card, a picture-in-picture) scaled, placed and
//! faded over a base frame with Porter-Duff source-over. Frames carry straight
//! (non-premultiplied) alpha; the kernel premultiplies only while it works.

use super::{Step, dispatch, pack_unorm, same_size, uniform, unpack_unorm};
use crate::frame::frame_bytes;
use crate::{Gpu, GpuError, GpuFrame};

const SOURCE: &str = include_str!("composite.wgsl");

/// The largest overlay scale: beyond 64x an overlay is a few blurry pixels.
pub const MAX_SCALE: f32 = 64.0;

/// How far outside the base an overlay's corner may be, in pixels: far enough for any
/// real frame, near enough that pixel positions keep sub-pixel precision in f32.
pub const MAX_OFFSET: f32 = 65536.0;

/// Where and how strongly the overlay lands on the base.
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Placement {
    /// Left edge of the scaled overlay, in base pixels from the base's left edge
    /// (fractions allowed; negative or past the base puts part of it outside): -65536 to
    /// 65536; default 0.
    pub x: f32,
    /// Top edge of the scaled overlay, in base pixels from the base's top edge: -65536 to
    /// 65536; default 0.
    pub y: f32,
    /// Size of the overlay on the base relative to its own pixels: above 0 up to 64 (1 is
    /// pixel for pixel); default 1.
    pub scale: f32,
    /// How opaque the overlay is, multiplying its own alpha: 0 (invisible) to 1; default 1.
    pub opacity: f32,
}

impl Default for Placement {
    fn default() -> Placement {
        Placement { x: 0.0, y: 0.0, scale: 1.0, opacity: 1.0 }
    }
}

impl Placement {
    /// Refuses NaN and values outside the ranges above.
    pub fn validate(&self) -> Result<(), GpuError> {
        for (name, value) in [("x", self.x), ("y", self.y)] {
            if !(-MAX_OFFSET..=MAX_OFFSET).contains(&value) {
                return Err(GpuError::Invalid(format!(
                    "overlay {name} {value} is outside -{MAX_OFFSET} to {MAX_OFFSET} (base pixels)"
                )));
            }
        }
        if !(self.scale > 0.0 && self.scale <= MAX_SCALE) {
            return Err(GpuError::Invalid(format!(
                "overlay scale {} is outside 0 (exclusive) to {MAX_SCALE}",
                self.scale
            )));
        }
        if !(0.0..=1.0).contains(&self.opacity) {
            return Err(GpuError::Invalid(format!("overlay opacity {} is outside 0 to 1", self.opacity)));
        }
        Ok(())
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    base_width: u32,
    base_height: u32,
    top_width: u32,
    top_height: u32,
    x: f32,
    y: f32,
    inv_scale: f32,
    opacity: f32,
}

fn params(base: (u32, u32), top: (u32, u32), placement: &Placement) -> Params {
    Params {
        base_width: base.0,
        base_height: base.1,
        top_width: top.0,
        top_height: top.1,
        x: placement.x,
        y: placement.y,
        inv_scale: 1.0 / placement.scale,
        opacity: placement.opacity,
    }
}

/// Composites `top` (any size) over `base` at `placement` into `out` (the base's size).
/// The overlay is sampled bilinearly in premultiplied colour, and its outline is
/// antialiased; an opaque overlay at scale 1 on whole pixels lands pixel for pixel.
pub fn composite(
    gpu: &Gpu,
    base: &GpuFrame,
    top: &GpuFrame,
    placement: &Placement,
    out: &GpuFrame,
) -> Result<(), GpuError> {
    placement.validate()?;
    same_size(&[base, out])?;
    let kernel = gpu.kernel("composite", SOURCE, "main")?;
    let params = uniform(gpu, &params((base.width, base.height), (top.width, top.height), placement));
    let step = Step {
        kernel: &kernel,
        bindings: vec![(0, &base.buffer), (1, &top.buffer), (2, &out.buffer), (3, &params)],
        width: out.width,
        height: out.height,
    };
    dispatch(gpu, "composite", &[step])
}

/// The CPU reference of [`composite`] on RGBA8 bytes.
pub fn cpu(
    base: &[u8],
    base_size: (u32, u32),
    top: &[u8],
    top_size: (u32, u32),
    placement: &Placement,
) -> Result<Vec<u8>, GpuError> {
    placement.validate()?;
    for (what, bytes, (w, h)) in [("base", base, base_size), ("overlay", top, top_size)] {
        if w == 0 || h == 0 || bytes.len() as u64 != frame_bytes(w, h) {
            return Err(GpuError::Invalid(format!(
                "the {what} frame of {w}x{h} should be {} bytes, got {}",
                frame_bytes(w, h),
                bytes.len()
            )));
        }
    }
    let p = params(base_size, top_size, placement);
    let (tw, th) = (p.top_width as i32, p.top_height as i32);
    let premultiplied = |x: i32, y: i32| -> [f32; 4] {
        if x < 0 || y < 0 || x >= tw || y >= th {
            return [0.0; 4];
        }
        let i = (y * tw + x) as usize * 4;
        let c = [0, 1, 2, 3].map(|k| unpack_unorm(top[i + k]));
        [c[0] * c[3], c[1] * c[3], c[2] * c[3], c[3]]
    };
    let mut out = Vec::with_capacity(base.len());
    for y in 0..p.base_height {
        for x in 0..p.base_width {
            let i = (y * p.base_width + x) as usize * 4;
            let pixel = &base[i..i + 4];
            let u = (x as f32 + 0.5 - p.x) * p.inv_scale - 0.5;
            let v = (y as f32 + 0.5 - p.y) * p.inv_scale - 0.5;
            if !(u > -1.0 && v > -1.0 && u < tw as f32 && v < th as f32) {
                out.extend_from_slice(pixel);
                continue;
            }
            let (fu, fv) = (u.floor(), v.floor());
            let (tx, ty) = (u - fu, v - fv);
            let (ix, iy) = (fu as i32, fv as i32);
            let (t00, t10) = (premultiplied(ix, iy), premultiplied(ix + 1, iy));
            let (t01, t11) = (premultiplied(ix, iy + 1), premultiplied(ix + 1, iy + 1));
            let src = [0, 1, 2, 3].map(|c| {
                let upper = t00[c] * (1.0 - tx) + t10[c] * tx;
                let lower = t01[c] * (1.0 - tx) + t11[c] * tx;
                (upper * (1.0 - ty) + lower * ty) * p.opacity
            });
            if src[3] == 0.0 {
                out.extend_from_slice(pixel);
                continue;
            }
            let under = [0, 1, 2, 3].map(|c| unpack_unorm(pixel[c]));
            let keep = 1.0 - src[3];
            let alpha = src[3] + under[3] * keep;
            for c in 0..3 {
                out.push(pack_unorm((src[c] + under[c] * under[3] * keep) / alpha));
            }
            out.push(pack_unorm(alpha));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_out_of_range_are_refused() {
        let ok = Placement::default();
        assert_eq!(ok.validate(), Ok(()));
        for bad in [
            Placement { x: f32::NAN, ..ok },
            Placement { y: -1e9, ..ok },
            Placement { scale: 0.0, ..ok },
            Placement { scale: -1.0, ..ok },
            Placement { scale: f32::INFINITY, ..ok },
            Placement { opacity: 1.5, ..ok },
            Placement { opacity: f32::NAN, ..ok },
        ] {
            assert!(matches!(bad.validate(), Err(GpuError::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn half_covered_edges_blend_without_a_dark_fringe() {
        // A white opaque pixel beside a transparent black one, sampled halfway between them
        // over a transparent base: straight-alpha interpolation would give grey at half
        // alpha; premultiplied gives white at half alpha.
        let top = [255, 255, 255, 255, 0, 0, 0, 0];
        let base = [0u8; 4];
        let placement = Placement { x: -0.5, y: 0.0, scale: 1.0, opacity: 1.0 };
        let out = cpu(&base, (1, 1), &top, (2, 1), &placement).unwrap();
        assert_eq!(out, [255, 255, 255, 128]);
    }
}
