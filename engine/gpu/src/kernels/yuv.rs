//! YUV 4:2:0 ↔ RGBA on the GPU. Decoders hand out planar YUV (or NV12), encoders take
//! planar YUV: converting on the GPU means a 1080p picture crosses the bus as 3 MB of planes
//! rather than 8 MB of RGBA, and the CPU does no per-pixel colour maths at all.
//!
//! The matrices are BT.601 and BT.709, in limited (video, 16–235) or full (0–255) range.
//! Chroma is upsampled bilinearly from MPEG-2/H.264 siting (co-sited left, centred between
//! rows) and downsampled as the mean of each 2 × 2 block.

use std::sync::mpsc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Step, dispatch, pack_unorm, uniform, unpack_unorm};
use crate::frame::checked_size;
use crate::{Gpu, GpuError, GpuFrame};

const SOURCE: &str = include_str!("yuv.wgsl");

/// The YUV ↔ RGB matrix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Matrix {
    /// Standard definition (ITU-R BT.601).
    Bt601,
    /// High definition (ITU-R BT.709): what H.264 at 720p and above normally means.
    #[default]
    Bt709,
}

impl Matrix {
    /// (Kr, Kb).
    fn coefficients(self) -> (f32, f32) {
        match self {
            Matrix::Bt601 => (0.299, 0.114),
            Matrix::Bt709 => (0.2126, 0.0722),
        }
    }
}

/// The code range of the samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Range {
    /// Video range: luma 16–235, chroma 16–240 (broadcast and nearly every H.264 file).
    #[default]
    Limited,
    /// Full range: 0–255 (JPEG, some phone footage).
    Full,
}

/// How YUV samples map to R'G'B'.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ColorSpace {
    pub matrix: Matrix,
    pub range: Range,
}

/// How a 4:2:0 picture's chroma is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YuvFormat {
    /// Three planes: Y, U (Cb), V (Cr).
    Yuv420p,
    /// Two planes: Y, then U and V interleaved.
    Nv12,
}

/// A 4:2:0 picture in CPU memory: its planes with their row strides (as a decoder hands
/// them out; rows may be padded).
#[derive(Clone, Copy, Debug)]
pub struct YuvPlanes<'a> {
    pub format: YuvFormat,
    pub width: u32,
    pub height: u32,
    /// `(bytes, stride)` per plane: three for [`YuvFormat::Yuv420p`], two for NV12.
    pub planes: &'a [(&'a [u8], usize)],
}

/// Where the planes lie in a [`GpuYuv`] buffer (bytes; every offset and stride a multiple
/// of 4, since the kernels address the buffer in `u32` words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    y_stride: u32,
    u_offset: u32,
    v_offset: u32,
    c_stride: u32,
    chroma_step: u32,
    size: u32,
}

impl Layout {
    fn new(format: YuvFormat, width: u32, height: u32) -> Layout {
        // Strides of whole words of four samples, chroma included (the writers emit words).
        let y_stride = width.div_ceil(8) * 8;
        let luma = y_stride * height;
        let chroma_rows = height.div_ceil(2);
        match format {
            YuvFormat::Yuv420p => {
                let c_stride = y_stride / 2;
                let plane = c_stride * chroma_rows;
                Layout {
                    y_stride,
                    u_offset: luma,
                    v_offset: luma + plane,
                    c_stride,
                    chroma_step: 1,
                    size: luma + 2 * plane,
                }
            }
            YuvFormat::Nv12 => Layout {
                y_stride,
                u_offset: luma,
                v_offset: luma + 1,
                c_stride: y_stride,
                chroma_step: 2,
                size: luma + y_stride * chroma_rows,
            },
        }
    }

    /// Rows of plane `index`: (offset, stride, bytes of picture per row, rows).
    fn planes(&self, format: YuvFormat, width: u32, height: u32) -> Vec<(usize, usize, usize, usize)> {
        let (cw, ch) = (width.div_ceil(2) as usize, height.div_ceil(2) as usize);
        let luma = (0, self.y_stride as usize, width as usize, height as usize);
        match format {
            YuvFormat::Yuv420p => vec![
                luma,
                (self.u_offset as usize, self.c_stride as usize, cw, ch),
                (self.v_offset as usize, self.c_stride as usize, cw, ch),
            ],
            YuvFormat::Nv12 => vec![luma, (self.u_offset as usize, self.c_stride as usize, 2 * cw, ch)],
        }
    }
}

/// A 4:2:0 picture on the GPU, in the kernels' own layout. Reused frame after frame.
#[derive(Debug)]
pub struct GpuYuv {
    buffer: wgpu::Buffer,
    format: YuvFormat,
    width: u32,
    height: u32,
    layout: Layout,
}

impl GpuYuv {
    /// A picture of `width` x `height` with undefined contents.
    pub fn new(gpu: &Gpu, format: YuvFormat, width: u32, height: u32) -> Result<GpuYuv, GpuError> {
        // The planes total at most 1.5 bytes a pixel plus padding: 2 bounds them.
        checked_size(gpu, width, height, 2)?;
        let layout = Layout::new(format, width, height);
        let buffer = gpu.checked("allocating a YUV picture", || {
            gpu.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("yuv picture"),
                size: u64::from(layout.size),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        Ok(GpuYuv { buffer, format, width, height, layout })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn format(&self) -> YuvFormat {
        self.format
    }

    /// Uploads `planes` (same format and size), repacking their rows into this layout.
    pub fn write(&self, gpu: &Gpu, planes: &YuvPlanes<'_>) -> Result<(), GpuError> {
        self.check(planes)?;
        let mut packed = vec![0u8; self.layout.size as usize];
        for (&(src, src_stride), (offset, stride, row, rows)) in
            planes.planes.iter().zip(self.layout.planes(self.format, self.width, self.height))
        {
            for r in 0..rows {
                packed[offset + r * stride..offset + r * stride + row]
                    .copy_from_slice(&src[r * src_stride..r * src_stride + row]);
            }
        }
        gpu.checked("uploading a YUV picture", || gpu.queue().write_buffer(&self.buffer, 0, &packed))
    }

    /// Downloads the planes: `(bytes, stride)` for each, tightly packed in one vector.
    pub fn download(&self, gpu: &Gpu) -> Result<DownloadedYuv, GpuError> {
        let bytes = read_buffer(gpu, &self.buffer, u64::from(self.layout.size), "downloading a YUV picture")?;
        let planes = self.layout.planes(self.format, self.width, self.height);
        Ok(DownloadedYuv { bytes, planes: planes.into_iter().map(|(o, s, _, rows)| (o, s, rows)).collect() })
    }

    fn check(&self, planes: &YuvPlanes<'_>) -> Result<(), GpuError> {
        if (planes.format, planes.width, planes.height) != (self.format, self.width, self.height) {
            return Err(GpuError::Invalid(format!(
                "a {:?} picture of {}x{} given where {:?} {}x{} was expected",
                planes.format, planes.width, planes.height, self.format, self.width, self.height
            )));
        }
        for (i, ((data, stride), (_, _, row, rows))) in
            planes.planes.iter().zip(self.layout.planes(self.format, self.width, self.height)).enumerate()
        {
            if *stride < row || data.len() < stride * (rows - 1) + row {
                return Err(GpuError::Invalid(format!(
                    "plane {i} holds {} bytes with a stride of {stride}; {rows} rows of {row} are needed",
                    data.len()
                )));
            }
        }
        let expected = if self.format == YuvFormat::Yuv420p { 3 } else { 2 };
        if planes.planes.len() != expected {
            return Err(GpuError::Invalid(format!(
                "{:?} has {expected} planes, got {}",
                self.format,
                planes.planes.len()
            )));
        }
        Ok(())
    }
}

/// A downloaded 4:2:0 picture: all planes in `bytes`, each at `(offset, stride, rows)`.
#[derive(Clone, Debug)]
pub struct DownloadedYuv {
    pub bytes: Vec<u8>,
    pub planes: Vec<(usize, usize, usize)>,
}

impl DownloadedYuv {
    /// Row `row` of plane `plane`, `len` bytes long.
    pub fn row(&self, plane: usize, row: usize, len: usize) -> &[u8] {
        let (offset, stride, _) = self.planes[plane];
        &self.bytes[offset + row * stride..offset + row * stride + len]
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    y_offset: u32,
    y_stride: u32,
    u_offset: u32,
    v_offset: u32,
    c_stride: u32,
    chroma_step: u32,
    kr: f32,
    kb: f32,
    y_scale: f32,
    c_scale: f32,
    y_base: f32,
    _pad: [u32; 3],
}

fn params(layout: &Layout, width: u32, height: u32, color: ColorSpace) -> Params {
    let (kr, kb) = color.matrix.coefficients();
    let (y_scale, c_scale, y_base) = match color.range {
        Range::Limited => (219.0, 224.0, 16.0),
        Range::Full => (255.0, 255.0, 0.0),
    };
    Params {
        width,
        height,
        y_offset: 0,
        y_stride: layout.y_stride,
        u_offset: layout.u_offset,
        v_offset: layout.v_offset,
        c_stride: layout.c_stride,
        chroma_step: layout.chroma_step,
        kr,
        kb,
        y_scale,
        c_scale,
        y_base,
        _pad: [0; 3],
    }
}

/// Converts a YUV picture into an RGBA frame of the same size (alpha 255).
pub fn to_rgba(gpu: &Gpu, src: &GpuYuv, color: ColorSpace, out: &GpuFrame) -> Result<(), GpuError> {
    if (src.width, src.height) != (out.width, out.height) {
        return Err(GpuError::Invalid(format!(
            "converting a {}x{} picture into a {}x{} frame",
            src.width, src.height, out.width, out.height
        )));
    }
    let kernel = gpu.kernel("yuv.to_rgba", SOURCE, "to_rgba")?;
    let params = uniform(gpu, &params(&src.layout, src.width, src.height, color));
    let step = Step {
        kernel: &kernel,
        bindings: vec![(0, &src.buffer), (1, &out.buffer), (2, &params)],
        width: out.width,
        height: out.height,
    };
    dispatch(gpu, "converting YUV to RGBA", &[step])
}

/// Converts an RGBA frame into planar YUV 4:2:0 of the same size (alpha is dropped).
pub fn from_rgba(gpu: &Gpu, src: &GpuFrame, color: ColorSpace, out: &GpuYuv) -> Result<(), GpuError> {
    if (src.width, src.height) != (out.width, out.height) || out.format != YuvFormat::Yuv420p {
        return Err(GpuError::Invalid(format!(
            "converting a {}x{} frame into a {:?} {}x{} picture (planar 4:2:0 of the same size is needed)",
            src.width, src.height, out.format, out.width, out.height
        )));
    }
    let kernel = gpu.kernel("yuv.planar", SOURCE, "planar")?;
    let params = uniform(gpu, &params(&out.layout, out.width, out.height, color));
    let steps = [Step {
        kernel: &kernel,
        bindings: vec![(0, &out.buffer), (1, &src.buffer), (2, &params)],
        width: out.layout.y_stride / 8,
        height: out.height.div_ceil(2),
    }];
    dispatch(gpu, "converting RGBA to YUV", &steps)
}

/// Copies a GPU buffer into CPU memory.
pub(crate) fn read_buffer(gpu: &Gpu, buffer: &wgpu::Buffer, size: u64, doing: &str) -> Result<Vec<u8>, GpuError> {
    let staging = gpu.checked(doing, || {
        let staging = gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some(doing),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = gpu.device().create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, size);
        gpu.queue().submit([encoder.finish()]);
        staging
    })?;
    let (sender, receiver) = mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |result| {
        let _ = sender.send(result);
    });
    gpu.wait(doing)?;
    let failed = |message: String| GpuError::Failed { doing: doing.to_owned(), message };
    receiver.recv().map_err(|_| failed("the map never finished".into()))?.map_err(|e| failed(e.to_string()))?;
    let bytes = staging.get_mapped_range(..).map_err(|e| failed(e.to_string()))?.to_vec();
    staging.unmap();
    Ok(bytes)
}

/// The CPU reference of [`to_rgba`].
pub fn cpu_to_rgba(planes: &YuvPlanes<'_>, color: ColorSpace) -> Vec<u8> {
    let p = params(&Layout::new(planes.format, planes.width, planes.height), planes.width, planes.height, color);
    let (w, h) = (planes.width as usize, planes.height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let chroma_at = |cx: usize, cy: usize| -> (f32, f32) {
        match planes.format {
            YuvFormat::Yuv420p => {
                let ((u, us), (v, vs)) = (planes.planes[1], planes.planes[2]);
                (f32::from(u[cy * us + cx]), f32::from(v[cy * vs + cx]))
            }
            YuvFormat::Nv12 => {
                let (uv, s) = planes.planes[1];
                (f32::from(uv[cy * s + 2 * cx]), f32::from(uv[cy * s + 2 * cx + 1]))
            }
        }
    };
    let (luma, ls) = planes.planes[0];
    let mut out = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        for x in 0..w {
            let fx = x as f32 * 0.5;
            let fy = (y as f32 + 0.5) * 0.5 - 0.5;
            let x0 = fx.floor() as usize;
            let y0f = fy.floor();
            let (tx, ty) = (fx - x0 as f32, fy - y0f);
            let y0 = (y0f as i64).clamp(0, ch as i64 - 1) as usize;
            let y1 = (y0f as i64 + 1).clamp(0, ch as i64 - 1) as usize;
            let x1 = (x0 + 1).min(cw - 1);
            let lerp = |a: (f32, f32), b: (f32, f32), t: f32| (a.0 * (1.0 - t) + b.0 * t, a.1 * (1.0 - t) + b.1 * t);
            let top = lerp(chroma_at(x0, y0), chroma_at(x1, y0), tx);
            let bottom = lerp(chroma_at(x0, y1), chroma_at(x1, y1), tx);
            let (cb, cr) = lerp(top, bottom, ty);
            let l = (f32::from(luma[y * ls + x]) - p.y_base) / p.y_scale;
            let (pb, pr) = ((cb - 128.0) / p.c_scale, (cr - 128.0) / p.c_scale);
            let kg = 1.0 - p.kr - p.kb;
            let r = l + 2.0 * (1.0 - p.kr) * pr;
            let b = l + 2.0 * (1.0 - p.kb) * pb;
            let g = (l - p.kr * r - p.kb * b) / kg;
            out.extend([pack_unorm(r), pack_unorm(g), pack_unorm(b), 255]);
        }
    }
    out
}

/// The CPU reference of [`from_rgba`]: tight planes `(y, u, v)` of `width`, and
/// `ceil(width / 2)` x `ceil(height / 2)` chroma samples.
pub fn cpu_from_rgba(rgba: &[u8], width: u32, height: u32, color: ColorSpace) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let p = params(&Layout::new(YuvFormat::Yuv420p, width, height), width, height, color);
    let (w, h) = (width as usize, height as usize);
    let rgb = |x: usize, y: usize| {
        let i = (y * w + x) * 4;
        [unpack_unorm(rgba[i]), unpack_unorm(rgba[i + 1]), unpack_unorm(rgba[i + 2])]
    };
    let luma_of = |c: [f32; 3]| p.kr * c[0] + (1.0 - p.kr - p.kb) * c[1] + p.kb * c[2];
    let quantize = |v: f32| (v + 0.5).floor().clamp(0.0, 255.0) as u8;
    let luma = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| quantize(p.y_base + p.y_scale * luma_of(rgb(x, y))))
        .collect();
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (mut u, mut v) = (Vec::with_capacity(cw * ch), Vec::with_capacity(cw * ch));
    for cy in 0..ch {
        for cx in 0..cw {
            let mut sum = [0f32; 3];
            for dy in 0..2 {
                for dx in 0..2 {
                    let c = rgb((cx * 2 + dx).min(w - 1), (cy * 2 + dy).min(h - 1));
                    for k in 0..3 {
                        sum[k] += c[k];
                    }
                }
            }
            let c = sum.map(|s| s * 0.25);
            let l = luma_of(c);
            let pb = (c[2] - l) / (2.0 * (1.0 - p.kb));
            let pr = (c[0] - l) / (2.0 * (1.0 - p.kr));
            u.push(quantize(128.0 + p.c_scale * pb));
            v.push(quantize(128.0 + p.c_scale * pr));
        }
    }
    (luma, u, v)
}
