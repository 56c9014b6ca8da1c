//! Film grain: deterministic per-pixel noise that changes every frame.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Step, dispatch, pack_unorm, same_size, uniform, unpack_unorm};
use crate::{Gpu, GpuError, GpuFrame};

const SOURCE: &str = include_str!("grain.wgsl");

#[derive(Clone, Copy, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Grain {
    /// Amount, 0 to 1 (1: mid-tones move by up to an eighth of full scale).
    pub strength: f32,
    /// Another seed gives another (equally random) grain.
    pub seed: u32,
}

impl Default for Grain {
    fn default() -> Self {
        Grain { strength: 0.3, seed: 0 }
    }
}

impl Grain {
    pub fn validate(&self) -> Result<(), GpuError> {
        if (0.0..=1.0).contains(&self.strength) {
            Ok(())
        } else {
            Err(GpuError::Invalid(format!("grain strength {} must lie in 0..=1", self.strength)))
        }
    }

    /// The hash key of one frame.
    fn key(&self, frame_index: u64) -> u32 {
        pcg((frame_index as u32) ^ pcg(((frame_index >> 32) as u32) ^ pcg(self.seed)))
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    strength: f32,
    key: u32,
}

/// The PCG hash (O'Neill's RXS-M-XS output on one LCG step), as in the shader.
fn pcg(v: u32) -> u32 {
    let state = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

/// Adds frame `frame_index`'s grain to `src` into `out` (same size).
pub fn grain(gpu: &Gpu, src: &GpuFrame, params: &Grain, frame_index: u64, out: &GpuFrame) -> Result<(), GpuError> {
    params.validate()?;
    same_size(&[src, out])?;
    let kernel = gpu.kernel("grain", SOURCE, "main")?;
    let uniforms = uniform(
        gpu,
        &Params { width: out.width, height: out.height, strength: params.strength, key: params.key(frame_index) },
    );
    let step = Step {
        kernel: &kernel,
        bindings: vec![(0, &src.buffer), (1, &out.buffer), (2, &uniforms)],
        width: out.width,
        height: out.height,
    };
    dispatch(gpu, "film grain", &[step])
}

/// The CPU reference of [`grain`].
pub fn cpu(src: &[u8], width: u32, height: u32, params: &Grain, frame_index: u64) -> Result<Vec<u8>, GpuError> {
    params.validate()?;
    let key = params.key(frame_index);
    let mut out = src.to_vec();
    for y in 0..height {
        for x in 0..width {
            let h = pcg(x ^ pcg(y ^ pcg(key)));
            let noise = ((h & 0xffff) + (h >> 16)) as f32 / 131_070.0 - 0.5;
            let i = ((y * width + x) * 4) as usize;
            let c = [unpack_unorm(src[i]), unpack_unorm(src[i + 1]), unpack_unorm(src[i + 2])];
            let luma = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
            let weight = 1.0 - (2.0 * luma - 1.0) * (2.0 * luma - 1.0);
            let delta = noise * params.strength * 0.25 * (0.25 + 0.75 * weight);
            for k in 0..3 {
                out[i + k] = pack_unorm(c[k] + delta);
            }
        }
    }
    Ok(out)
}
