//! Crossfade between two frames: the simplest transition, and the measure of a per-pixel
//! kernel's memory-bound speed.

use super::{Step, dispatch, pack_unorm, same_size, uniform, unpack_unorm};
use crate::{Gpu, GpuError, GpuFrame};

const SOURCE: &str = include_str!("crossfade.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    t: f32,
    _pad: u32,
}

/// Writes `a * (1 - t) + b * t` into `out`; `t` is clamped to 0..1 (NaN counts as 0). The
/// three frames must have the same size.
pub fn crossfade(gpu: &Gpu, a: &GpuFrame, b: &GpuFrame, t: f32, out: &GpuFrame) -> Result<(), GpuError> {
    same_size(&[a, b, out])?;
    let kernel = gpu.kernel("crossfade", SOURCE, "main")?;
    let params = uniform(gpu, &Params { width: out.width, height: out.height, t: unit(t), _pad: 0 });
    let step = Step {
        kernel: &kernel,
        bindings: vec![(0, &a.buffer), (1, &b.buffer), (2, &out.buffer), (3, &params)],
        width: out.width,
        height: out.height,
    };
    dispatch(gpu, "crossfade", &[step])
}

/// The CPU reference of [`crossfade`] on RGBA8 bytes.
pub fn cpu(a: &[u8], b: &[u8], t: f32) -> Vec<u8> {
    let t = unit(t);
    a.iter().zip(b).map(|(&x, &y)| pack_unorm(unpack_unorm(x) * (1.0 - t) + unpack_unorm(y) * t)).collect()
}

fn unit(t: f32) -> f32 {
    if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) }
}
