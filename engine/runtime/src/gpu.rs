//! What the process knows of its GPU, for the server's health output. Opening a device
//! takes from milliseconds to a second or so (a software adapter compiles its pipeline
//! cache), so it happens on a thread of its own and callers see `None` until it is known.

use std::sync::OnceLock;

use serde::Serialize;

/// The GPU the GPU ops run on, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GpuStatus {
    pub available: bool,
    /// The adapter's name (`NVIDIA H100 …`, `llvmpipe (LLVM 15.0.6, 256 bits)`).
    pub adapter: Option<String>,
    /// `discrete`, `integrated`, `virtual`, `cpu` (a software rasteriser) or `other`.
    pub kind: Option<String>,
    /// `vulkan`, `gl`, …
    pub backend: Option<String>,
    /// Why no GPU could be opened.
    pub error: Option<String>,
}

static STATUS: OnceLock<GpuStatus> = OnceLock::new();

/// Starts opening the shared GPU in the background (once per process).
pub fn probe_gpu() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let spawned = std::thread::Builder::new().name("gpu-probe".into()).spawn(|| {
            let _ = STATUS.set(open_status());
        });
        if let Err(e) = spawned {
            let _ = STATUS.set(GpuStatus { error: Some(format!("cannot start the GPU probe: {e}")), ..unknown() });
        }
    });
}

/// The GPU's status once the probe has finished.
pub fn gpu_status() -> Option<GpuStatus> {
    STATUS.get().cloned()
}

fn unknown() -> GpuStatus {
    GpuStatus { available: false, adapter: None, kind: None, backend: None, error: None }
}

fn open_status() -> GpuStatus {
    match reelflow_gpu::Gpu::shared() {
        Ok(gpu) => {
            let info = gpu.info();
            GpuStatus {
                available: true,
                adapter: Some(info.name.clone()),
                kind: Some(info.kind.clone()),
                backend: Some(info.backend.clone()),
                error: None,
            }
        }
        Err(e) => GpuStatus { error: Some(e.to_string()), ..unknown() },
    }
}
