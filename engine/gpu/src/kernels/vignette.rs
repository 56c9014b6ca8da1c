//! Vignette: a round, soft darkening toward the corners.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Step, dispatch, pack_unorm, same_size, uniform, unpack_unorm};
use crate::{Gpu, GpuError, GpuFrame};

const SOURCE: &str = include_str!("vignette.wgsl");

#[derive(Clone, Copy, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Vignette {
    /// How dark the corners get, 0 to 1 (0: no vignette; 1: black).
    pub strength: f32,
    /// Where the darkening starts, 0 to 2, as a fraction of the half-diagonal (the corners
    /// are at 1).
    pub radius: f32,
    /// How far the darkening takes to reach full strength, 0.01 to 2 (same unit).
    pub softness: f32,
}

impl Default for Vignette {
    fn default() -> Self {
        Vignette { strength: 0.5, radius: 0.5, softness: 0.6 }
    }
}

impl Vignette {
    pub fn validate(&self) -> Result<(), GpuError> {
        let ok = (0.0..=1.0).contains(&self.strength)
            && (0.0..=2.0).contains(&self.radius)
            && (0.01..=2.0).contains(&self.softness);
        if ok {
            Ok(())
        } else {
            Err(GpuError::Invalid(format!(
                "vignette {self:?} is out of range: strength 0..=1, radius 0..=2, softness 0.01..=2"
            )))
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    strength: f32,
    radius: f32,
    softness: f32,
    _pad: [u32; 3],
}

/// Darkens `src` toward its corners into `out` (same size).
pub fn vignette(gpu: &Gpu, src: &GpuFrame, params: &Vignette, out: &GpuFrame) -> Result<(), GpuError> {
    params.validate()?;
    same_size(&[src, out])?;
    let kernel = gpu.kernel("vignette", SOURCE, "main")?;
    let uniforms = uniform(
        gpu,
        &Params {
            width: out.width,
            height: out.height,
            strength: params.strength,
            radius: params.radius,
            softness: params.softness,
            _pad: [0; 3],
        },
    );
    let step = Step {
        kernel: &kernel,
        bindings: vec![(0, &src.buffer), (1, &out.buffer), (2, &uniforms)],
        width: out.width,
        height: out.height,
    };
    dispatch(gpu, "vignette", &[step])
}

/// The CPU reference of [`vignette`].
pub fn cpu(src: &[u8], width: u32, height: u32, params: &Vignette) -> Result<Vec<u8>, GpuError> {
    params.validate()?;
    let (hx, hy) = (width as f32 * 0.5, height as f32 * 0.5);
    let diagonal = (hx * hx + hy * hy).sqrt();
    let mut out = src.to_vec();
    for y in 0..height {
        for x in 0..width {
            let (px, py) = (x as f32 + 0.5 - hx, y as f32 + 0.5 - hy);
            let d = (px * px + py * py).sqrt() / diagonal;
            let t = ((d - params.radius) / params.softness).clamp(0.0, 1.0);
            let gain = 1.0 - params.strength * (t * t * (3.0 - 2.0 * t));
            let i = ((y * width + x) * 4) as usize;
            for c in 0..3 {
                out[i + c] = pack_unorm(unpack_unorm(src[i + c]) * gain);
            }
        }
    }
    Ok(out)
}
