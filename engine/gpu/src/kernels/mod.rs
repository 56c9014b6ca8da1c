//! WGSL compute kernels. Each kernel's `.wgsl` lies beside the Rust that drives it, and each
//! module has a `cpu` reference: the same arithmetic in plain Rust (in `f32`, in the same
//! order), which the tests compare the GPU with on random frames. Pixels are packed RGBA8
//! `u32`s, unpacked with `unpack4x8unorm` and packed with `pack4x8unorm`, which rounds
//! `v * 255` half up; the references do the same with [`pack_unorm`].

pub mod adjust;
pub mod blur;
pub mod composite;
pub mod crossfade;
pub mod easing;
pub mod grain;
pub mod kenburns;
pub mod lut;
pub mod resize;
pub mod sharpen;
pub mod text;
pub mod transition;
pub mod vignette;
pub mod yuv;

use wgpu::util::DeviceExt;

use crate::{Gpu, GpuError, GpuFrame};

/// Kernels run 16 x 16 invocations per workgroup (`@workgroup_size(16, 16)`) unless they
/// are compiled with another size.
pub(crate) const WORKGROUP: (u32, u32) = (16, 16);

/// A compiled compute pipeline (one entry point of one `.wgsl`).
pub(crate) struct Kernel {
    pipeline: wgpu::ComputePipeline,
    /// The entry point's `@workgroup_size` (x, y).
    workgroup: (u32, u32),
}

impl Kernel {
    /// Compiles `entry` of `source`; the bind group layout comes from what the entry point
    /// uses.
    pub(crate) fn compile(gpu: &Gpu, name: &str, source: &str, entry: &str, workgroup: (u32, u32)) -> Kernel {
        let module = gpu.device().create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = gpu.device().create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(name),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        Kernel { pipeline, workgroup }
    }
}

/// One dispatch: a kernel, its buffers in binding order (`(binding, buffer)`), and the
/// pixel grid it covers.
pub(crate) struct Step<'a> {
    pub kernel: &'a Kernel,
    pub bindings: Vec<(u32, &'a wgpu::Buffer)>,
    pub width: u32,
    pub height: u32,
}

/// Encodes `steps` in order into one command buffer and submits it; storage writes of one
/// step are visible to the next (wgpu inserts the barriers between compute passes). It does
/// not wait: the queue runs submissions in order, so a chain of kernels runs back to back
/// and only a download (which maps a buffer) waits for the GPU.
pub(crate) fn dispatch(gpu: &Gpu, doing: &str, steps: &[Step<'_>]) -> Result<(), GpuError> {
    gpu.checked(doing, || {
        let mut encoder = gpu.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(doing) });
        for step in steps {
            let entries: Vec<wgpu::BindGroupEntry<'_>> = step
                .bindings
                .iter()
                .map(|(binding, buffer)| wgpu::BindGroupEntry {
                    binding: *binding,
                    resource: buffer.as_entire_binding(),
                })
                .collect();
            let bind_group = gpu.device().create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(doing),
                layout: &step.kernel.pipeline.get_bind_group_layout(0),
                entries: &entries,
            });
            let mut pass =
                encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(doing), timestamp_writes: None });
            pass.set_pipeline(&step.kernel.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            let (wx, wy) = step.kernel.workgroup;
            pass.dispatch_workgroups(step.width.div_ceil(wx), step.height.div_ceil(wy), 1);
        }
        gpu.queue().submit([encoder.finish()]);
    })
}

/// A uniform buffer holding `params`.
pub(crate) fn uniform<T: bytemuck::Pod>(gpu: &Gpu, params: &T) -> wgpu::Buffer {
    gpu.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("params"),
        contents: bytemuck::bytes_of(params),
        usage: wgpu::BufferUsages::UNIFORM,
    })
}

/// A read-only storage buffer holding `data`.
pub(crate) fn storage<T: bytemuck::Pod>(gpu: &Gpu, data: &[T]) -> wgpu::Buffer {
    gpu.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("table"),
        contents: bytemuck::cast_slice(data),
        usage: wgpu::BufferUsages::STORAGE,
    })
}

/// `pack4x8unorm` for one channel: `v` clamped to 0..1, times 255, rounded half up.
pub fn pack_unorm(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0 + 0.5).floor() as u8
}

/// `unpack4x8unorm` for one channel.
pub fn unpack_unorm(v: u8) -> f32 {
    f32::from(v) / 255.0
}

/// Refuses frames of different sizes (a kernel would read past the smaller one's end).
pub(crate) fn same_size(frames: &[&GpuFrame]) -> Result<(), GpuError> {
    let first = frames[0];
    match frames.iter().find(|f| (f.width, f.height) != (first.width, first.height)) {
        Some(other) => Err(GpuError::Invalid(format!(
            "frames of different sizes: {}x{} and {}x{}",
            first.width, first.height, other.width, other.height
        ))),
        None => Ok(()),
    }
}
