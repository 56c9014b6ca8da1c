//! Helpers the GPU test files share: the device, random frames, and the ≤ 1/255 check of a
//! kernel against its CPU reference.
#![allow(dead_code)] // each test file uses its own subset

use std::sync::Arc;

use rand::{Rng, rngs::StdRng};
use reelflow_gpu::Gpu;

/// The process's GPU (lavapipe in CI).
pub fn gpu() -> Arc<Gpu> {
    let gpu = Gpu::shared().expect("a GPU adapter (CI installs mesa-vulkan-drivers for lavapipe)");
    eprintln!("adapter: {}", gpu.info());
    gpu
}

/// Random RGBA bytes, alpha included.
pub fn random_frame(rng: &mut StdRng, width: u32, height: u32) -> Vec<u8> {
    (0..width * height * 4).map(|_| rng.random()).collect()
}

/// The largest per-channel difference, and where.
pub fn max_diff(a: &[u8], b: &[u8]) -> (u8, usize) {
    assert_eq!(a.len(), b.len(), "frames of different lengths");
    a.iter().zip(b).enumerate().map(|(i, (x, y))| (x.abs_diff(*y), i)).max().unwrap_or((0, 0))
}

/// Fails unless the GPU's frame is within 1/255 of the CPU reference's in every channel.
pub fn assert_close(gpu_out: &[u8], cpu_out: &[u8], what: &str) {
    let (diff, at) = max_diff(gpu_out, cpu_out);
    assert!(diff <= 1, "{what}: GPU and CPU differ by {diff} at byte {at} ({} vs {})", gpu_out[at], cpu_out[at]);
}
