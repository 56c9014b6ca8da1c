//! Separable Gaussian blur: a horizontal pass into a float intermediate, then a vertical
//! pass, so a radius-r blur costs 2(2r + 1) taps a pixel rather than (2r + 1)².

use super::{Step, dispatch, pack_unorm, same_size, storage, uniform, unpack_unorm};
use crate::frame::checked_size;
use crate::{Gpu, GpuError, GpuFrame};

const SOURCE: &str = include_str!("blur.wgsl");

/// The widest blur: sigma 40 (a radius of 120 pixels) is already a heavy defocus at 1080p.
pub const MAX_SIGMA: f32 = 40.0;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    radius: u32,
    _pad: u32,
}

/// The normalised Gaussian taps for `sigma`: radius `ceil(3 sigma)` (at least 1), so the
/// cut-off tails hold under 0.3 % of the weight.
pub fn weights(sigma: f32) -> Result<Vec<f32>, GpuError> {
    if !(sigma > 0.0 && sigma <= MAX_SIGMA) {
        return Err(GpuError::Invalid(format!("blur sigma {sigma} is outside 0 (exclusive) to {MAX_SIGMA}")));
    }
    let radius = (3.0 * sigma).ceil().max(1.0) as i32;
    let raw: Vec<f32> = (-radius..=radius).map(|k| (-((k * k) as f32) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f32 = raw.iter().sum();
    Ok(raw.into_iter().map(|w| w / total).collect())
}

/// Blurs `src` into `out` (same size) with a Gaussian of `sigma` pixels.
pub fn gaussian_blur(gpu: &Gpu, src: &GpuFrame, sigma: f32, out: &GpuFrame) -> Result<(), GpuError> {
    same_size(&[src, out])?;
    let taps = weights(sigma)?;
    let radius = (taps.len() / 2) as u32;
    // The float intermediate: 16 bytes a pixel.
    let mid_size = checked_size(gpu, src.width, src.height, 16)?;
    let horizontal = gpu.kernel_sized("blur.horizontal", SOURCE, "horizontal", (256, 1))?;
    let vertical = gpu.kernel_sized("blur.vertical", SOURCE, "vertical", (1, 256))?;
    let mid = gpu.checked("allocating the blur's intermediate", || {
        gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("blur intermediate"),
            size: mid_size,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        })
    })?;
    let weights = storage(gpu, &taps);
    let params = uniform(gpu, &Params { width: src.width, height: src.height, radius, _pad: 0 });
    let (width, height) = (src.width, src.height);
    let steps = [
        Step {
            kernel: &horizontal,
            bindings: vec![(0, &src.buffer), (1, &mid), (2, &weights), (3, &params)],
            width,
            height,
        },
        Step {
            kernel: &vertical,
            bindings: vec![(1, &mid), (2, &weights), (3, &params), (4, &out.buffer)],
            width,
            height,
        },
    ];
    dispatch(gpu, "gaussian blur", &steps)
}

/// The CPU reference of [`gaussian_blur`] on RGBA8 bytes.
pub fn cpu(src: &[u8], width: u32, height: u32, sigma: f32) -> Result<Vec<u8>, GpuError> {
    let taps = weights(sigma)?;
    let r = (taps.len() / 2) as i64;
    let (w, h) = (i64::from(width), i64::from(height));
    let mut mid = vec![[0f32; 4]; (w * h) as usize];
    for y in 0..h {
        for x in 0..w {
            let mut sum = [0f32; 4];
            for k in -r..=r {
                let sx = (x + k).clamp(0, w - 1);
                let p = ((y * w + sx) * 4) as usize;
                for (c, s) in sum.iter_mut().enumerate() {
                    *s += taps[(k + r) as usize] * unpack_unorm(src[p + c]);
                }
            }
            mid[(y * w + x) as usize] = sum;
        }
    }
    let mut out = vec![0u8; src.len()];
    for y in 0..h {
        for x in 0..w {
            let mut sum = [0f32; 4];
            for k in -r..=r {
                let sy = (y + k).clamp(0, h - 1);
                let m = mid[(sy * w + x) as usize];
                for (c, s) in sum.iter_mut().enumerate() {
                    *s += taps[(k + r) as usize] * m[c];
                }
            }
            let p = ((y * w + x) * 4) as usize;
            for (c, s) in sum.iter().enumerate() {
                out[p + c] = pack_unorm(*s);
            }
        }
    }
    Ok(out)
}
