//! Process-wide allocator settings for media work.
//!
//! Video frames are large (a 1080p RGBA frame is 8 MiB) and short-lived: every decoded frame,
//! every copy into and out of a WASM plugin, every encoder input is one such buffer. glibc's
//! malloc, left to itself, serves them from fresh `mmap`s or gives the top of the heap back to
//! the kernel as soon as 2 × the last freed size is free, so the next frame's buffer
//! page-faults all of its 2048 pages in again. Measured with `reelflow bench plugins` on a
//! 2-core VM, those faults were over half of a WASM effect's time per 1080p frame.
//!
//! Raising both thresholds keeps freed frame buffers in the heap for the next frame. The cost
//! is that up to [`TRIM_THRESHOLD`] of freed memory stays mapped to the process after a burst
//! of work instead of going back to the kernel; peak memory is unchanged.

/// Allocations up to this size come from the heap, not from a private `mmap` (glibc's ceiling
/// for this setting on 64-bit targets is 32 MiB).
const MMAP_THRESHOLD: i32 = 32 << 20;
/// Free memory at the top of the heap that is kept rather than returned to the kernel.
const TRIM_THRESHOLD: i32 = 256 << 20;

/// Applies the settings; call once, first thing in `main`, before threads start allocating.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn keep_frame_buffers() {
    // SAFETY: `mallopt` only changes malloc's tuning parameters; it takes plain integers and
    // is safe to call at any time (glibc takes the arena lock).
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// Other allocators (musl, macOS) have no such knobs; nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_frame_buffers() {}
