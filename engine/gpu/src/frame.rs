//! RGBA8 frames resident on the GPU.

use std::sync::mpsc;

use crate::{Gpu, GpuError};

/// An RGBA8 frame in a GPU storage buffer: one `u32` per pixel, rows top to bottom without
/// padding, red in the low byte (the frame's bytes as they lie in memory), so an upload or
/// download is a plain copy.
#[derive(Debug)]
pub struct GpuFrame {
    pub(crate) buffer: wgpu::Buffer,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

impl GpuFrame {
    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Bytes of an RGBA8 frame of this size.
    pub fn byte_len(&self) -> u64 {
        frame_bytes(self.width, self.height)
    }

    /// A frame of `width` x `height` with undefined contents, for a kernel to write.
    pub fn new(gpu: &Gpu, width: u32, height: u32) -> Result<GpuFrame, GpuError> {
        let size = checked_size(gpu, width, height, 4)?;
        let buffer = gpu.checked("allocating a frame", || {
            gpu.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("frame"),
                size,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        Ok(GpuFrame { buffer, width, height })
    }

    /// Uploads `rgba` (`width * height * 4` bytes).
    pub fn upload(gpu: &Gpu, rgba: &[u8], width: u32, height: u32) -> Result<GpuFrame, GpuError> {
        if rgba.len() as u64 != frame_bytes(width, height) {
            return Err(GpuError::Invalid(format!(
                "an RGBA frame of {width}x{height} is {} bytes, got {}",
                frame_bytes(width, height),
                rgba.len()
            )));
        }
        let frame = GpuFrame::new(gpu, width, height)?;
        frame.write(gpu, rgba)?;
        Ok(frame)
    }

    /// Replaces the frame's pixels with `rgba` (same size), reusing the buffer.
    pub fn write(&self, gpu: &Gpu, rgba: &[u8]) -> Result<(), GpuError> {
        if rgba.len() as u64 != self.byte_len() {
            return Err(GpuError::Invalid(format!(
                "writing {} bytes into a {}x{} frame of {} bytes",
                rgba.len(),
                self.width,
                self.height,
                self.byte_len()
            )));
        }
        gpu.checked("uploading a frame", || gpu.queue().write_buffer(&self.buffer, 0, rgba))
    }

    /// Copies `src`'s pixels (same size) into this frame, on the GPU.
    pub fn copy_from(&self, gpu: &Gpu, src: &GpuFrame) -> Result<(), GpuError> {
        crate::kernels::same_size(&[self, src])?;
        gpu.checked("copying a frame", || {
            let mut encoder = gpu.device().create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
            encoder.copy_buffer_to_buffer(&src.buffer, 0, &self.buffer, 0, self.byte_len());
            gpu.queue().submit([encoder.finish()]);
        })
    }

    /// Downloads the pixels as RGBA8 bytes.
    pub fn download(&self, gpu: &Gpu) -> Result<Vec<u8>, GpuError> {
        let size = self.byte_len();
        let staging = gpu.checked("downloading a frame", || {
            let staging = gpu.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("frame download"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut encoder = gpu.device().create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
            encoder.copy_buffer_to_buffer(&self.buffer, 0, &staging, 0, size);
            gpu.queue().submit([encoder.finish()]);
            staging
        })?;
        let (sender, receiver) = mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |result| {
            let _ = sender.send(result);
        });
        gpu.wait("downloading a frame")?;
        receiver
            .recv()
            .map_err(|_| GpuError::Failed {
                doing: "downloading a frame".into(),
                message: "the map never finished".into(),
            })?
            .map_err(|e| GpuError::Failed { doing: "downloading a frame".into(), message: e.to_string() })?;
        let bytes = staging
            .get_mapped_range(..)
            .map_err(|e| GpuError::Failed { doing: "downloading a frame".into(), message: e.to_string() })?
            .to_vec();
        staging.unmap();
        Ok(bytes)
    }
}

pub(crate) fn frame_bytes(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height) * 4
}

/// The size of a `width` x `height` buffer of `bytes_per_pixel`, refused when empty or
/// larger than one storage binding of this device may be.
pub(crate) fn checked_size(gpu: &Gpu, width: u32, height: u32, bytes_per_pixel: u64) -> Result<u64, GpuError> {
    if width == 0 || height == 0 {
        return Err(GpuError::Invalid(format!("a {width}x{height} frame has no pixels")));
    }
    let size = u64::from(width) * u64::from(height) * bytes_per_pixel;
    if size > gpu.max_buffer_binding() {
        return Err(GpuError::Invalid(format!(
            "a {width}x{height} frame needs {size} bytes, over this GPU's {} byte limit for one buffer ({})",
            gpu.max_buffer_binding(),
            gpu.info()
        )));
    }
    Ok(size)
}
