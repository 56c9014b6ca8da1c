//! Sharpen: an unsharp mask (the picture plus `amount` times its difference from a
//! Gaussian-blurred copy of itself).

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Step, blur, dispatch, pack_unorm, same_size, uniform, unpack_unorm};
use crate::{Gpu, GpuError, GpuFrame};

const SOURCE: &str = include_str!("sharpen.wgsl");

#[derive(Clone, Copy, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Sharpen {
    /// Strength, 0 to 5 (0: unchanged; 1: a strong sharpen).
    pub amount: f32,
    /// Radius of the detail enhanced, as the blur's sigma in pixels (0.3 to 10).
    pub sigma: f32,
}

impl Default for Sharpen {
    fn default() -> Self {
        Sharpen { amount: 0.6, sigma: 1.0 }
    }
}

impl Sharpen {
    pub fn validate(&self) -> Result<(), GpuError> {
        if (0.0..=5.0).contains(&self.amount) && (0.3..=10.0).contains(&self.sigma) {
            Ok(())
        } else {
            Err(GpuError::Invalid(format!("sharpen {self:?} is out of range: amount 0..=5, sigma 0.3..=10")))
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    amount: f32,
    _pad: u32,
}

/// Sharpens `src` into `out`; `scratch` (same size) receives the blurred copy, so a caller
/// running this on every frame allocates it once.
pub fn sharpen(
    gpu: &Gpu,
    src: &GpuFrame,
    params: &Sharpen,
    scratch: &GpuFrame,
    out: &GpuFrame,
) -> Result<(), GpuError> {
    params.validate()?;
    same_size(&[src, scratch, out])?;
    blur::gaussian_blur(gpu, src, params.sigma, scratch)?;
    let kernel = gpu.kernel("sharpen", SOURCE, "main")?;
    let uniforms = uniform(gpu, &Params { width: out.width, height: out.height, amount: params.amount, _pad: 0 });
    let step = Step {
        kernel: &kernel,
        bindings: vec![(0, &src.buffer), (1, &scratch.buffer), (2, &out.buffer), (3, &uniforms)],
        width: out.width,
        height: out.height,
    };
    dispatch(gpu, "sharpening", &[step])
}

/// The CPU reference of [`sharpen`].
pub fn cpu(src: &[u8], width: u32, height: u32, params: &Sharpen) -> Result<Vec<u8>, GpuError> {
    params.validate()?;
    let blurred = blur::cpu(src, width, height, params.sigma)?;
    let mut out = src.to_vec();
    for (i, (s, b)) in src.iter().zip(&blurred).enumerate() {
        if i % 4 != 3 {
            let (c, d) = (unpack_unorm(*s), unpack_unorm(*b));
            out[i] = pack_unorm(c + (c - d) * params.amount);
        }
    }
    Ok(out)
}
