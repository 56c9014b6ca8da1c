//! The process's GPU: adapter choice, the device and queue, and how GPU errors become
//! [`GpuError`]s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::kernels::Kernel;

/// What went wrong on the GPU side. Cloneable, because the shared device's opening error is
/// kept and handed to every caller.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GpuError {
    /// No adapter at all: no GPU driver and no software one.
    #[error(
        "no GPU adapter found (backends {backends}): install a GPU driver, or Mesa's software Vulkan \
         (Debian: apt-get install mesa-vulkan-drivers)"
    )]
    NoAdapter { backends: String },
    /// `REELFLOW_GPU_ADAPTER` names no adapter that is present.
    #[error("REELFLOW_GPU_ADAPTER={wanted:?} matches none of the adapters present: {present}")]
    NoMatch { wanted: String, present: String },
    /// The adapter is there but would not give a device.
    #[error("opening a device on {adapter}: {message}")]
    Device { adapter: String, message: String },
    /// A frame or parameter the kernels cannot take.
    #[error("{0}")]
    Invalid(String),
    /// wgpu reported an error (validation, out of memory, a lost device) during GPU work.
    #[error("GPU {doing}: {message}")]
    Failed { doing: String, message: String },
}

/// Which adapter to use, from `REELFLOW_GPU_ADAPTER` (or config): `auto` (the default: the
/// best kind present), `discrete`, `integrated`, `cpu` (a software rasteriser such as
/// lavapipe), or any other text to match case-insensitively in the adapter's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdapterChoice {
    Auto,
    Kind(wgpu::DeviceType),
    Name(String),
}

impl AdapterChoice {
    pub fn parse(text: &str) -> AdapterChoice {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => AdapterChoice::Auto,
            "discrete" => AdapterChoice::Kind(wgpu::DeviceType::DiscreteGpu),
            "integrated" => AdapterChoice::Kind(wgpu::DeviceType::IntegratedGpu),
            "cpu" | "software" => AdapterChoice::Kind(wgpu::DeviceType::Cpu),
            _ => AdapterChoice::Name(text.trim().to_owned()),
        }
    }

    /// From `REELFLOW_GPU_ADAPTER`, `auto` when it is unset.
    pub fn from_env() -> AdapterChoice {
        AdapterChoice::parse(&std::env::var("REELFLOW_GPU_ADAPTER").unwrap_or_default())
    }
}

/// The adapter a [`Gpu`] runs on, for `reelflow gpu` and the server's health output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuInfo {
    pub name: String,
    /// `vulkan`, `gl`, …
    pub backend: String,
    /// `discrete`, `integrated`, `virtual`, `cpu` or `other`.
    pub kind: String,
    pub driver: String,
}

impl GpuInfo {
    fn of(info: &wgpu::AdapterInfo) -> GpuInfo {
        let driver = [info.driver.as_str(), info.driver_info.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        GpuInfo {
            name: info.name.clone(),
            backend: info.backend.to_string().to_ascii_lowercase(),
            kind: kind_name(info.device_type).to_owned(),
            driver,
        }
    }

    /// Whether this is a software rasteriser (lavapipe, llvmpipe) rather than a GPU.
    pub fn is_software(&self) -> bool {
        self.kind == "cpu"
    }
}

impl std::fmt::Display for GpuInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {}", self.name, self.kind, self.backend)?;
        if !self.driver.is_empty() {
            write!(f, ", {}", self.driver)?;
        }
        write!(f, ")")
    }
}

fn kind_name(kind: wgpu::DeviceType) -> &'static str {
    match kind {
        wgpu::DeviceType::DiscreteGpu => "discrete",
        wgpu::DeviceType::IntegratedGpu => "integrated",
        wgpu::DeviceType::VirtualGpu => "virtual",
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::Other => "other",
    }
}

/// Lower is better: real GPUs first, then virtual ones, then software; Vulkan before GL
/// (wgpu's compute path is most complete there, and lavapipe is faster than llvmpipe-on-GL).
fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    rank_of(info.device_type, info.backend)
}

fn rank_of(device_type: wgpu::DeviceType, backend: wgpu::Backend) -> (u8, u8) {
    let kind = match device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    let backend = match backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    };
    (kind, backend)
}

/// A device and queue on one adapter, with the kernels compiled for it.
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: GpuInfo,
    limits: wgpu::Limits,
    kernels: Mutex<HashMap<&'static str, Arc<Kernel>>>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu").field("info", &self.info).finish_non_exhaustive()
    }
}

/// Every adapter of the first backends that have any: Vulkan (NVIDIA, AMD, Intel, lavapipe),
/// Metal and DX12 where they exist, and GL only when none of those has an adapter (probing
/// GL wakes EGL, which complains on headless machines). `WGPU_BACKEND` overrides.
fn enumerate() -> (Vec<wgpu::Adapter>, wgpu::Backends) {
    let tries = match wgpu::Backends::from_env() {
        Some(chosen) => vec![chosen],
        None => vec![wgpu::Backends::PRIMARY, wgpu::Backends::GL],
    };
    let mut tried = wgpu::Backends::empty();
    for backends in tries {
        tried |= backends;
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
        descriptor.backends = backends;
        let instance = wgpu::Instance::new(descriptor);
        let mut adapters = pollster::block_on(instance.enumerate_adapters(backends));
        if !adapters.is_empty() {
            adapters.sort_by_key(|a| rank(&a.get_info()));
            return (adapters, tried);
        }
    }
    (Vec::new(), tried)
}

impl Gpu {
    /// The process's shared GPU, opened on first use with [`AdapterChoice::from_env`]. An
    /// opening error is kept: every later call gets the same error without retrying.
    pub fn shared() -> Result<Arc<Gpu>, GpuError> {
        static SHARED: OnceLock<Result<Arc<Gpu>, GpuError>> = OnceLock::new();
        SHARED.get_or_init(|| Gpu::open(&AdapterChoice::from_env()).map(Arc::new)).clone()
    }

    /// The adapters present, best first, as [`GpuInfo`] (those of the first backends that
    /// have any).
    pub fn adapters() -> Vec<GpuInfo> {
        enumerate().0.iter().map(|a| GpuInfo::of(&a.get_info())).collect()
    }

    /// Opens a device on the adapter `choice` picks.
    pub fn open(choice: &AdapterChoice) -> Result<Gpu, GpuError> {
        let (adapters, tried) = enumerate();
        if adapters.is_empty() {
            return Err(GpuError::NoAdapter { backends: format!("{tried:?}") });
        }
        let picked = match choice {
            AdapterChoice::Auto => adapters.first(),
            AdapterChoice::Kind(kind) => adapters.iter().find(|a| a.get_info().device_type == *kind),
            AdapterChoice::Name(name) => {
                let name = name.to_lowercase();
                adapters.iter().find(|a| a.get_info().name.to_lowercase().contains(&name))
            }
        };
        let Some(adapter) = picked else {
            let present: Vec<String> = adapters.iter().map(|a| GpuInfo::of(&a.get_info()).to_string()).collect();
            let wanted = match choice {
                AdapterChoice::Auto => "auto".to_owned(),
                AdapterChoice::Kind(kind) => kind_name(*kind).to_owned(),
                AdapterChoice::Name(name) => name.clone(),
            };
            return Err(GpuError::NoMatch { wanted, present: present.join("; ") });
        };
        let info = GpuInfo::of(&adapter.get_info());
        // The adapter's own limits: frames are large storage buffers (a 4K RGBA frame is
        // 33 MB, and the blur's float intermediate four times that), over the defaults.
        let limits = adapter.limits();
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("reelflow"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            memory_hints: wgpu::MemoryHints::Performance,
            ..Default::default()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&descriptor))
            .map_err(|e| GpuError::Device { adapter: info.to_string(), message: e.to_string() })?;
        // wgpu's default handler panics on an error nothing captured; every call here runs in
        // an error scope, so anything that still arrives is logged, never fatal.
        device.on_uncaptured_error(Arc::new(|error: wgpu::Error| {
            tracing::error!(%error, "uncaptured GPU error");
        }));
        tracing::info!(adapter = %info, "GPU device opened");
        Ok(Gpu { device, queue, info, limits, kernels: Mutex::new(HashMap::new()) })
    }

    pub fn info(&self) -> &GpuInfo {
        &self.info
    }

    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// The largest storage buffer one binding may hold, in bytes.
    pub fn max_buffer_binding(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    /// The kernel `name` (entry point `entry` of `source`), compiled on first use and shared
    /// afterwards.
    pub(crate) fn kernel(&self, name: &'static str, source: &str, entry: &str) -> Result<Arc<Kernel>, GpuError> {
        self.kernel_sized(name, source, entry, crate::kernels::WORKGROUP)
    }

    /// [`Gpu::kernel`] for an entry point whose `@workgroup_size` is `workgroup`.
    pub(crate) fn kernel_sized(
        &self,
        name: &'static str,
        source: &str,
        entry: &str,
        workgroup: (u32, u32),
    ) -> Result<Arc<Kernel>, GpuError> {
        if let Some(kernel) = self.kernels.lock().unwrap_or_else(PoisonError::into_inner).get(name) {
            return Ok(kernel.clone());
        }
        let kernel = Arc::new(
            self.checked(&format!("compiling {name}"), || Kernel::compile(self, name, source, entry, workgroup))?,
        );
        self.kernels.lock().unwrap_or_else(PoisonError::into_inner).insert(name, kernel.clone());
        Ok(kernel)
    }

    /// Runs `work` in an error scope: a validation or out-of-memory error it causes comes
    /// back as [`GpuError::Failed`] naming what was being done.
    pub(crate) fn checked<T>(&self, doing: &str, work: impl FnOnce() -> T) -> Result<T, GpuError> {
        let out_of_memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = work();
        let failed = |error: wgpu::Error| GpuError::Failed { doing: doing.to_owned(), message: error.to_string() };
        if let Some(error) = pollster::block_on(validation.pop()) {
            drop(out_of_memory);
            return Err(failed(error));
        }
        if let Some(error) = pollster::block_on(out_of_memory.pop()) {
            return Err(failed(error));
        }
        Ok(value)
    }

    /// Blocks until the GPU has finished everything submitted so far.
    pub(crate) fn wait(&self, doing: &str) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::Wait { submission_index: None, timeout: None })
            .map(|_| ())
            .map_err(|e| GpuError::Failed { doing: doing.to_owned(), message: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse() {
        assert_eq!(AdapterChoice::parse(""), AdapterChoice::Auto);
        assert_eq!(AdapterChoice::parse("Auto"), AdapterChoice::Auto);
        assert_eq!(AdapterChoice::parse("discrete"), AdapterChoice::Kind(wgpu::DeviceType::DiscreteGpu));
        assert_eq!(AdapterChoice::parse("CPU"), AdapterChoice::Kind(wgpu::DeviceType::Cpu));
        assert_eq!(AdapterChoice::parse(" llvmpipe "), AdapterChoice::Name("llvmpipe".into()));
    }

    #[test]
    fn real_gpus_rank_before_software_and_vulkan_before_gl() {
        use wgpu::{Backend, DeviceType};
        let mut all = [
            (DeviceType::Cpu, Backend::Gl),
            (DeviceType::Cpu, Backend::Vulkan),
            (DeviceType::IntegratedGpu, Backend::Vulkan),
            (DeviceType::DiscreteGpu, Backend::Vulkan),
        ];
        all.sort_by_key(|&(kind, backend)| rank_of(kind, backend));
        assert_eq!(
            all,
            [
                (DeviceType::DiscreteGpu, Backend::Vulkan),
                (DeviceType::IntegratedGpu, Backend::Vulkan),
                (DeviceType::Cpu, Backend::Vulkan),
                (DeviceType::Cpu, Backend::Gl),
            ]
        );
    }
}
