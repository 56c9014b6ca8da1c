//! 3D colour lookup tables from `.cube` files (the Adobe / DaVinci Resolve format every
//! grading tool exports), applied on the GPU with trilinear interpolation.

use std::path::Path;

use wgpu::util::DeviceExt;

use super::{Step, dispatch, pack_unorm, same_size, uniform, unpack_unorm};
use crate::{Gpu, GpuError, GpuFrame};

const SOURCE: &str = include_str!("lut.wgsl");

/// The largest table accepted (256³ entries is 268 MB of floats on the GPU).
pub const MAX_SIZE: u32 = 256;

/// A parsed `.cube` 3D LUT.
#[derive(Clone, Debug, PartialEq)]
pub struct CubeLut {
    pub title: Option<String>,
    /// Entries per axis.
    pub size: u32,
    pub domain_min: [f32; 3],
    pub domain_max: [f32; 3],
    /// `size³` output colours, red index fastest, then green, then blue.
    pub table: Vec<[f32; 3]>,
}

impl CubeLut {
    /// The table that changes nothing.
    pub fn identity(size: u32) -> CubeLut {
        let size = size.clamp(2, MAX_SIZE);
        let last = (size - 1) as f32;
        let mut table = Vec::with_capacity((size * size * size) as usize);
        for b in 0..size {
            for g in 0..size {
                for r in 0..size {
                    table.push([r as f32 / last, g as f32 / last, b as f32 / last]);
                }
            }
        }
        CubeLut { title: None, size, domain_min: [0.0; 3], domain_max: [1.0; 3], table }
    }

    /// Reads a `.cube` file; errors name the file and the line.
    pub fn load(path: &Path) -> Result<CubeLut, GpuError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GpuError::Invalid(format!("{}: cannot read the LUT: {e}", path.display())))?;
        CubeLut::parse(&text).map_err(|e| GpuError::Invalid(format!("{}: {}", path.display(), invalid_text(e))))
    }

    /// Parses the text of a `.cube` file.
    pub fn parse(text: &str) -> Result<CubeLut, GpuError> {
        let fail = |line: usize, what: String| GpuError::Invalid(format!("line {line}: {what}"));
        let (mut title, mut size, mut domain_min, mut domain_max) = (None, None, [0.0; 3], [1.0; 3]);
        let mut table = Vec::new();
        let triple = |line: usize, words: &[&str]| -> Result<[f32; 3], GpuError> {
            if words.len() != 3 {
                return Err(fail(line, format!("expected three numbers, found {}", words.len())));
            }
            let mut out = [0f32; 3];
            for (o, w) in out.iter_mut().zip(words) {
                *o = w
                    .parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| fail(line, format!("`{w}` is not a number")))?;
            }
            Ok(out)
        };
        // Editors on Windows write a byte-order mark; `lines` already drops CR before LF.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let words: Vec<&str> = content.split_whitespace().collect();
            match words[0] {
                "TITLE" => title = Some(content["TITLE".len()..].trim().trim_matches('"').to_owned()),
                "LUT_3D_SIZE" => {
                    let n = words.get(1).and_then(|w| w.parse::<u32>().ok()).filter(|n| (2..=MAX_SIZE).contains(n));
                    size = Some(n.ok_or_else(|| fail(line, format!("LUT_3D_SIZE must be 2 to {MAX_SIZE}")))?);
                }
                "LUT_1D_SIZE" => {
                    return Err(fail(line, "this is a 1D LUT; only 3D LUTs (LUT_3D_SIZE) are supported".into()));
                }
                "DOMAIN_MIN" => domain_min = triple(line, &words[1..])?,
                "DOMAIN_MAX" => domain_max = triple(line, &words[1..])?,
                "LUT_3D_INPUT_RANGE" => {
                    let range: Vec<f32> = words[1..].iter().filter_map(|w| w.parse().ok()).collect();
                    let [low, high] = range[..] else {
                        return Err(fail(line, "LUT_3D_INPUT_RANGE needs two numbers".into()));
                    };
                    domain_min = [low; 3];
                    domain_max = [high; 3];
                }
                word if word.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.' || c == '+') => {
                    if size.is_none() {
                        return Err(fail(line, "table data before LUT_3D_SIZE".into()));
                    }
                    table.push(triple(line, &words)?);
                }
                other => return Err(fail(line, format!("unknown keyword `{other}`"))),
            }
        }
        let size = size.ok_or_else(|| GpuError::Invalid("no LUT_3D_SIZE line: not a 3D .cube LUT".into()))?;
        let expected = (size as usize).pow(3);
        if table.len() != expected {
            return Err(GpuError::Invalid(format!(
                "LUT_3D_SIZE {size} needs {expected} entries, the file has {}",
                table.len()
            )));
        }
        if (0..3).any(|k| domain_max[k] <= domain_min[k]) {
            return Err(GpuError::Invalid(format!("DOMAIN_MAX {domain_max:?} must exceed DOMAIN_MIN {domain_min:?}")));
        }
        Ok(CubeLut { title, size, domain_min, domain_max, table })
    }
}

fn invalid_text(e: GpuError) -> String {
    match e {
        GpuError::Invalid(text) => text,
        other => other.to_string(),
    }
}

/// A LUT uploaded once, applied to many frames.
#[derive(Debug)]
pub struct GpuLut {
    table: wgpu::Buffer,
    size: u32,
    domain_min: [f32; 3],
    domain_scale: [f32; 3],
}

impl GpuLut {
    pub fn new(gpu: &Gpu, lut: &CubeLut) -> Result<GpuLut, GpuError> {
        let padded: Vec<[f32; 4]> = lut.table.iter().map(|c| [c[0], c[1], c[2], 0.0]).collect();
        let table = gpu.checked("uploading a LUT", || {
            gpu.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("lut"),
                contents: bytemuck::cast_slice(&padded),
                usage: wgpu::BufferUsages::STORAGE,
            })
        })?;
        Ok(GpuLut { table, size: lut.size, domain_min: lut.domain_min, domain_scale: scale(lut) })
    }
}

fn scale(lut: &CubeLut) -> [f32; 3] {
    [0, 1, 2].map(|k| 1.0 / (lut.domain_max[k] - lut.domain_min[k]))
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    size: u32,
    strength: f32,
    domain_min: [f32; 4],
    domain_scale: [f32; 4],
}

fn check_strength(strength: f32) -> Result<(), GpuError> {
    if (0.0..=1.0).contains(&strength) {
        Ok(())
    } else {
        Err(GpuError::Invalid(format!("LUT strength {strength} must lie in 0..=1")))
    }
}

/// Grades `src` through `lut` into `out` (same size), mixed with the original by
/// `strength` (0..=1).
pub fn apply_lut(gpu: &Gpu, src: &GpuFrame, lut: &GpuLut, strength: f32, out: &GpuFrame) -> Result<(), GpuError> {
    check_strength(strength)?;
    same_size(&[src, out])?;
    let kernel = gpu.kernel("lut", SOURCE, "main")?;
    let [a, b, c] = lut.domain_min;
    let [x, y, z] = lut.domain_scale;
    let uniforms = uniform(
        gpu,
        &Params {
            width: out.width,
            height: out.height,
            size: lut.size,
            strength,
            domain_min: [a, b, c, 0.0],
            domain_scale: [x, y, z, 0.0],
        },
    );
    let step = Step {
        kernel: &kernel,
        bindings: vec![(0, &src.buffer), (1, &lut.table), (2, &out.buffer), (3, &uniforms)],
        width: out.width,
        height: out.height,
    };
    dispatch(gpu, "applying a LUT", &[step])
}

/// The CPU reference of [`apply_lut`].
pub fn cpu(src: &[u8], lut: &CubeLut, strength: f32) -> Result<Vec<u8>, GpuError> {
    check_strength(strength)?;
    let n = lut.size as usize;
    let last = (lut.size - 1) as f32;
    let domain_scale = scale(lut);
    let entry = |r: usize, g: usize, b: usize| lut.table[(b * n + g) * n + r];
    let lerp = |a: [f32; 3], b: [f32; 3], t: f32| [0, 1, 2].map(|k| a[k] * (1.0 - t) + b[k] * t);
    let mut out = src.to_vec();
    for px in out.chunks_exact_mut(4) {
        let c = [unpack_unorm(px[0]), unpack_unorm(px[1]), unpack_unorm(px[2])];
        let p = [0, 1, 2].map(|k| ((c[k] - lut.domain_min[k]) * domain_scale[k]).clamp(0.0, 1.0) * last);
        let lo = p.map(|v| (v.floor() as usize).min(n - 2));
        let f = [0, 1, 2].map(|k| p[k] - lo[k] as f32);
        let hi = lo.map(|v| v + 1);
        let c00 = lerp(entry(lo[0], lo[1], lo[2]), entry(hi[0], lo[1], lo[2]), f[0]);
        let c10 = lerp(entry(lo[0], hi[1], lo[2]), entry(hi[0], hi[1], lo[2]), f[0]);
        let c01 = lerp(entry(lo[0], lo[1], hi[2]), entry(hi[0], lo[1], hi[2]), f[0]);
        let c11 = lerp(entry(lo[0], hi[1], hi[2]), entry(hi[0], hi[1], hi[2]), f[0]);
        let graded = lerp(lerp(c00, c10, f[1]), lerp(c01, c11, f[1]), f[2]);
        for k in 0..3 {
            px[k] = pack_unorm(c[k] * (1.0 - strength) + graded[k] * strength);
        }
    }
    Ok(out)
}
