//! What a plugin instance can reach: the store data behind every instance, the WASI context
//! built deny-by-default from the operator's grants, and the memory limiter.
//!
//! Rust guests built for `wasm32-wasip2` import WASI (their standard library needs it), so
//! the host links WASI, but with nothing behind it: no preopened directories, no
//! environment or arguments, no network (TCP, UDP and name lookup disabled), stdin closed,
//! stdout and stderr captured into small buffers (a panic message ends up there and is
//! quoted in the error). Clocks stand still and randomness is a fixed sequence unless the
//! operator granted `clock` or `random`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::manifest::{Capability, Manifest};

/// What the operator allows one plugin, beyond its own memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant {
    pub capabilities: BTreeSet<Capability>,
    /// The directory `host.read-asset` reads from (needs `assets`).
    pub assets: Option<PathBuf>,
}

/// The capabilities a plugin gets: those it asked for in its manifest *and* the operator
/// granted. Asking is not enough, and a grant for something not asked for is not used.
#[derive(Clone, Debug, Default)]
pub struct Effective {
    pub capabilities: BTreeSet<Capability>,
    pub assets: Option<PathBuf>,
}

impl Effective {
    pub fn new(manifest: &Manifest, grant: Option<&Grant>) -> Effective {
        let granted = grant.map(|g| &g.capabilities);
        let capabilities: BTreeSet<Capability> =
            manifest.capabilities.iter().copied().filter(|c| granted.is_some_and(|g| g.contains(c))).collect();
        let assets =
            if capabilities.contains(&Capability::Assets) { grant.and_then(|g| g.assets.clone()) } else { None };
        Effective { capabilities, assets }
    }

    pub fn has(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }
}

/// Where a plugin's log lines and progress go during one call.
pub(crate) trait CallEvents: Send + Sync {
    fn log(&self, level: reelflow_core::LogLevel, message: String);
    fn progress(&self, fraction: f32, message: String);
}

/// The call in flight on an instance: its deadline, its cancellation, where events go.
pub(crate) struct CallScope {
    pub started: Instant,
    pub budget: Duration,
    pub cancel: CancellationToken,
    pub events: Option<Arc<dyn CallEvents>>,
    /// Log lines this call has written; past the limit they are dropped (a plugin logging
    /// in a tight loop must not flood the run's event stream).
    pub log_lines: u32,
}

impl CallScope {
    pub fn idle() -> CallScope {
        CallScope {
            started: Instant::now(),
            budget: Duration::MAX,
            cancel: CancellationToken::new(),
            events: None,
            log_lines: 0,
        }
    }
}

/// Why the engine stopped a call (carried through wasmtime's error to the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Stopped {
    #[error("ran past its time budget")]
    Timeout,
    #[error("cancelled")]
    Cancelled,
    #[error("went over its memory cap")]
    MemoryCap,
}

/// The data of one plugin instance's store.
pub struct PluginState {
    pub(crate) plugin: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryCap,
    pub(crate) output: MemoryOutputPipe,
    pub(crate) effective: Arc<Effective>,
    pub(crate) scope: CallScope,
    /// The largest asset `read-asset` hands over (it has to fit in the instance's memory).
    pub(crate) max_asset_bytes: usize,
}

impl PluginState {
    pub(crate) fn new(plugin: Arc<str>, effective: Arc<Effective>, memory_cap: usize) -> PluginState {
        // Enough for a panic message and some diagnostics; the rest is dropped.
        let output = MemoryOutputPipe::new(64 * 1024);
        let wasi = wasi_context(&effective, &output);
        PluginState {
            plugin,
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryCap { cap: memory_cap, hit: false },
            output,
            effective,
            scope: CallScope::idle(),
            max_asset_bytes: memory_cap / 2,
        }
    }

    /// What the plugin wrote to stdout/stderr, last lines first trimmed to a readable tail.
    pub(crate) fn output_tail(&self) -> String {
        let bytes = self.output.contents();
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        let tail: Vec<&str> = text.lines().rev().take(6).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

fn wasi_context(effective: &Effective, output: &MemoryOutputPipe) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder.stdout(output.clone()).stderr(output.clone());
    builder.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    if !effective.has(Capability::Clock) {
        builder.wall_clock(FrozenClock).monotonic_clock(FrozenClock);
    }
    if !effective.has(Capability::Random) {
        // A fixed sequence, so an ungranted plugin cannot tell runs apart (and its results
        // stay cacheable); Rust's HashMap seeding still works.
        builder
            .secure_random(wasmtime_wasi::Deterministic::new(vec![0x5e, 0xed, 0x01, 0x23]))
            .insecure_random(wasmtime_wasi::Deterministic::new(vec![0x42]))
            .insecure_random_seed(0);
    }
    builder.build()
}

/// A clock that stands still at the epoch (wall) or at zero (monotonic).
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Caps an instance's linear memory (and tables). Growing past the cap traps, and `hit`
/// records why, so the error can say "memory cap" instead of a bare trap.
pub(crate) struct MemoryCap {
    pub cap: usize,
    pub hit: bool,
}

/// Table elements an instance may have (function tables of big guests have a few thousand).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.hit = true;
            return Err(wasmtime::Error::new(Stopped::MemoryCap));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// A throttle for log lines per call.
pub(crate) const MAX_LOG_LINES_PER_CALL: u32 = 1000;
/// Log lines are cut to this many bytes.
pub(crate) const MAX_LOG_LINE_BYTES: usize = 4096;
