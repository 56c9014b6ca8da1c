//! `reelflow-gpu`: GPU work on wgpu for Reelflow's video operators.
//!
//! - [`Gpu`]: one device per process, on the best adapter present (discrete, then
//!   integrated, then a software one such as Mesa's lavapipe), overridable with
//!   `REELFLOW_GPU_ADAPTER`; a clear [`GpuError::NoAdapter`] when there is none.
//! - [`GpuFrame`]: an RGBA8 frame resident on the GPU, one packed `u32` per pixel (red in
//!   the low byte, as the bytes lie in memory), uploaded from and downloaded to plain bytes.
//! - [`kernels`]: WGSL compute kernels, each `.wgsl` beside the Rust that drives it, each
//!   with a plain-Rust CPU reference that the tests compare it with.
//!
//! Kernels compile once per device and are reused; every GPU call checks its errors in an
//! error scope and returns them as [`GpuError`] rather than letting wgpu's default handler
//! panic.

mod device;
pub mod filters;
mod frame;
pub mod kernels;
mod ops;
pub mod stream;

pub use device::{AdapterChoice, Gpu, GpuError, GpuInfo};
pub use frame::GpuFrame;
pub use ops::register;
