//! Brightness, contrast, saturation and gamma: the basic grade, in one pass.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Step, dispatch, pack_unorm, same_size, uniform, unpack_unorm};
use crate::{Gpu, GpuError, GpuFrame};

const SOURCE: &str = include_str!("adjust.wgsl");

/// A colour adjustment; the default changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Adjust {
    /// Added to R, G and B, -1 to 1 (0: unchanged).
    pub brightness: f32,
    /// Scale around mid-grey, 0 to 4 (1: unchanged; 0: flat grey).
    pub contrast: f32,
    /// Colourfulness, 0 to 4 (1: unchanged; 0: greyscale by Rec. 709 luma).
    pub saturation: f32,
    /// Gamma, 0.1 to 10 (1: unchanged; above 1 brightens the mid-tones).
    pub gamma: f32,
}

impl Default for Adjust {
    fn default() -> Self {
        Adjust { brightness: 0.0, contrast: 1.0, saturation: 1.0, gamma: 1.0 }
    }
}

impl Adjust {
    pub fn validate(&self) -> Result<(), GpuError> {
        let check = |name: &str, v: f32, lo: f32, hi: f32| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(GpuError::Invalid(format!("adjust `{name}` is {v}; it must lie in {lo}..={hi}")))
            }
        };
        check("brightness", self.brightness, -1.0, 1.0)?;
        check("contrast", self.contrast, 0.0, 4.0)?;
        check("saturation", self.saturation, 0.0, 4.0)?;
        check("gamma", self.gamma, 0.1, 10.0)
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    brightness: f32,
    contrast: f32,
    saturation: f32,
    gamma: f32,
    _pad: [u32; 2],
}

/// Applies `params` to `src` into `out` (same size).
pub fn adjust(gpu: &Gpu, src: &GpuFrame, params: &Adjust, out: &GpuFrame) -> Result<(), GpuError> {
    params.validate()?;
    same_size(&[src, out])?;
    let kernel = gpu.kernel("adjust", SOURCE, "main")?;
    let uniforms = uniform(
        gpu,
        &Params {
            width: out.width,
            height: out.height,
            brightness: params.brightness,
            contrast: params.contrast,
            saturation: params.saturation,
            gamma: params.gamma,
            _pad: [0; 2],
        },
    );
    let step = Step {
        kernel: &kernel,
        bindings: vec![(0, &src.buffer), (1, &out.buffer), (2, &uniforms)],
        width: out.width,
        height: out.height,
    };
    dispatch(gpu, "adjusting colour", &[step])
}

/// The CPU reference of [`adjust`] on RGBA8 bytes.
pub fn cpu(src: &[u8], params: &Adjust) -> Result<Vec<u8>, GpuError> {
    params.validate()?;
    let mut out = Vec::with_capacity(src.len());
    for px in src.chunks_exact(4) {
        let mut rgb = [0f32; 3];
        for c in 0..3 {
            rgb[c] = (unpack_unorm(px[c]) + params.brightness - 0.5) * params.contrast + 0.5;
        }
        let luma = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
        for v in &mut rgb {
            *v = luma + (*v - luma) * params.saturation;
            if params.gamma != 1.0 {
                *v = v.max(0.0).powf(1.0 / params.gamma);
            }
        }
        out.extend([pack_unorm(rgb[0]), pack_unorm(rgb[1]), pack_unorm(rgb[2]), px[3]]);
    }
    Ok(out)
}
