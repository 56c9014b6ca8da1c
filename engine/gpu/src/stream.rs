//! Video through the GPU, picture by picture: decoded YUV planes are uploaded, converted to
//! RGBA on the GPU, run through a chain of [`GpuFilter`]s, converted back to planar YUV on
//! the GPU and handed to the encoder. The media crate's [`process_video`] runs this stage on
//! its own thread with a small ring of pictures in flight, so decoding, GPU work and
//! encoding overlap and no picture is held longer than it takes to pass through.
//!
//! Every buffer is allocated once, on the first picture, and reused: a clip of any length
//! needs the same GPU memory as one picture.

use std::path::Path;
use std::sync::Arc;

use ffmpeg_next::{format, frame, util::color};
use reelflow_media::{ClipShape, PictureStage, Progress, TranscodeOptions, process_video};

use crate::kernels::yuv::{self, ColorSpace, GpuYuv, Matrix, Range, YuvFormat, YuvPlanes};
use crate::{Gpu, GpuError, GpuFrame};

/// One step of picture processing on the GPU.
pub trait GpuFilter: Send {
    /// The size of this filter's output for an input of `input` (most keep it).
    fn output_size(&self, input: (u32, u32)) -> Result<(u32, u32), GpuError> {
        Ok(input)
    }

    /// Writes the picture shown at `time` seconds (frame number `index`) into `out`.
    fn apply(&mut self, gpu: &Gpu, src: &GpuFrame, time: f64, index: u64, out: &GpuFrame) -> Result<(), GpuError>;
}

/// A chain of filters as a [`PictureStage`].
pub struct GpuStage {
    gpu: Arc<Gpu>,
    filters: Vec<Box<dyn GpuFilter>>,
    /// The input picture's planes, made for the first picture's format.
    planes: Option<GpuYuv>,
    /// The converted input, then each filter's output.
    frames: Vec<GpuFrame>,
    output: Option<GpuYuv>,
    index: u64,
}

impl GpuStage {
    pub fn new(gpu: Arc<Gpu>, filters: Vec<Box<dyn GpuFilter>>) -> GpuStage {
        GpuStage { gpu, filters, planes: None, frames: Vec::new(), output: None, index: 0 }
    }

    /// Allocates the frames for input pictures of `size`; returns the output size.
    fn allocate(&mut self, size: (u32, u32)) -> Result<(u32, u32), GpuError> {
        let mut sizes = vec![size];
        for filter in &self.filters {
            let last = *sizes.last().unwrap_or(&size);
            sizes.push(filter.output_size(last)?);
        }
        let out = *sizes.last().unwrap_or(&size);
        // The encoder's 4:2:0 needs even sizes; the last filter renders straight into them.
        let even = (out.0 / 2 * 2, out.1 / 2 * 2);
        if even.0 == 0 || even.1 == 0 {
            return Err(GpuError::Invalid(format!(
                "the filters make a {}x{} picture, too small to encode",
                out.0, out.1
            )));
        }
        if let Some(last) = sizes.last_mut() {
            *last = even;
        }
        self.frames = sizes.iter().map(|&(w, h)| GpuFrame::new(&self.gpu, w, h)).collect::<Result<_, _>>()?;
        self.output = Some(GpuYuv::new(&self.gpu, YuvFormat::Yuv420p, even.0, even.1)?);
        Ok(even)
    }

    fn run(&mut self, picture: &frame::Video, time: f64, out: &mut frame::Video) -> Result<(), GpuError> {
        let format = match picture.format() {
            format::Pixel::YUV420P => YuvFormat::Yuv420p,
            format::Pixel::NV12 => YuvFormat::Nv12,
            other => return Err(GpuError::Invalid(format!("pictures in {other:?} cannot go to the GPU"))),
        };
        let (w, h) = (picture.width(), picture.height());
        if self.frames.first().is_none_or(|f| (f.width(), f.height()) != (w, h)) {
            self.allocate((w, h))?;
        }
        let planes = match &self.planes {
            Some(p) if (p.format(), p.width(), p.height()) == (format, w, h) => p,
            _ => self.planes.insert(GpuYuv::new(&self.gpu, format, w, h)?),
        };
        upload(&self.gpu, planes, picture)?;
        yuv::to_rgba(&self.gpu, planes, color_of(picture), &self.frames[0])?;
        for (i, filter) in self.filters.iter_mut().enumerate() {
            filter.apply(&self.gpu, &self.frames[i], time, self.index, &self.frames[i + 1])?;
        }
        self.index += 1;
        let (Some(last), Some(output)) = (self.frames.last(), self.output.as_ref()) else {
            return Err(GpuError::Invalid("the stage was not prepared".into()));
        };
        let target = output_color(output.width(), output.height());
        yuv::from_rgba(&self.gpu, last, target, output)?;
        download(&self.gpu, output, out)?;
        out.set_color_space(if target.matrix == Matrix::Bt709 { color::Space::BT709 } else { color::Space::SMPTE170M });
        out.set_color_range(color::Range::MPEG);
        Ok(())
    }
}

impl PictureStage for GpuStage {
    fn prepare(&mut self, shape: &ClipShape) -> Result<(u32, u32), String> {
        self.allocate((shape.width, shape.height)).map_err(|e| e.to_string())
    }

    fn process(&mut self, picture: &frame::Video, time: f64, out: &mut frame::Video) -> Result<(), String> {
        self.run(picture, time, out).map_err(|e| e.to_string())
    }
}

/// Uploads a decoded picture (YUV420P or NV12, the format and size of `planes`).
pub(crate) fn upload(gpu: &Gpu, planes: &GpuYuv, picture: &frame::Video) -> Result<(), GpuError> {
    let count = if planes.format() == YuvFormat::Yuv420p { 3 } else { 2 };
    let views: Vec<(&[u8], usize)> = (0..count).map(|i| (picture.data(i), picture.stride(i))).collect();
    let (width, height) = (picture.width(), picture.height());
    planes.write(gpu, &YuvPlanes { format: planes.format(), width, height, planes: &views })
}

/// Downloads planar 4:2:0 `planes` into `out` (same size), row by row.
pub(crate) fn download(gpu: &Gpu, planes: &GpuYuv, out: &mut frame::Video) -> Result<(), GpuError> {
    let downloaded = planes.download(gpu)?;
    for plane in 0..3 {
        let (row, rows) = (out.plane_width(plane) as usize, out.plane_height(plane) as usize);
        let stride = out.stride(plane);
        let data = out.data_mut(plane);
        for r in 0..rows {
            data[r * stride..r * stride + row].copy_from_slice(downloaded.row(plane, r, row));
        }
    }
    Ok(())
}

/// How a decoded picture's samples are meant: its tags, or what players assume untagged
/// (BT.709 from 720 lines up, BT.601 below; limited range).
pub fn color_of(picture: &frame::Video) -> ColorSpace {
    let matrix = match picture.color_space() {
        color::Space::BT709 => Matrix::Bt709,
        color::Space::BT470BG | color::Space::SMPTE170M | color::Space::SMPTE240M | color::Space::FCC => Matrix::Bt601,
        _ if picture.height() >= 720 => Matrix::Bt709,
        _ => Matrix::Bt601,
    };
    let range = if picture.color_range() == color::Range::JPEG { Range::Full } else { Range::Limited };
    ColorSpace { matrix, range }
}

/// What the encoded output is written as (and tagged with): limited range, the matrix
/// players assume for its size.
fn output_color(_width: u32, height: u32) -> ColorSpace {
    ColorSpace { matrix: if height >= 720 { Matrix::Bt709 } else { Matrix::Bt601 }, range: Range::Limited }
}

/// Re-encodes `input` into `output` with every picture run through `filters` on the GPU.
/// Returns the number of frames written.
pub fn filter_video_on_gpu(
    gpu: Arc<Gpu>,
    input: &Path,
    output: &Path,
    opts: &TranscodeOptions,
    filters: Vec<Box<dyn GpuFilter>>,
    progress: Progress<'_>,
) -> reelflow_media::Result<u64> {
    let mut stage = GpuStage::new(gpu, filters);
    process_video(input, output, opts, &mut stage, progress)
}
