//! Reelflow's WebAssembly plugin host.
//!
//! Plugins are WebAssembly components built against the `reelflow:plugin` WIT package in
//! `wit/`: **node** plugins (ops with typed ports), **effects** (a frame in, a frame out),
//! **templates** (a spec in, scene and layout instructions out) and **generators**
//! (pictures and sound from params and time). Their ops join the engine's registry beside
//! the native ones.
//!
//! Every plugin runs sandboxed on wasmtime: no files, network, environment, clock or
//! randomness unless the operator grants them (see [`Grant`]); each call has a time budget
//! (epoch interruption, checked every 10 ms, which also stops a cancelled run) and each
//! instance a memory cap. A plugin that traps, loops, recurses without end or balloons fails
//! only its own node, with an error that says which of these happened. Compiled code is
//! cached on disk, keyed by the component's hash and the engine, so a plugin starts in
//! milliseconds.
//!
//! ```no_run
//! use reelflow_wasm_host::{HostSettings, PluginHost};
//!
//! let mut settings = HostSettings::new(".reelflow/plugins");
//! settings.cache_dir = Some(".reelflow/cache/plugins".into());
//! let mut host = PluginHost::new(settings)?;
//! host.load_installed();
//! let mut registry = reelflow_core::Registry::with_builtins();
//! for (plugin, problem) in reelflow_wasm_host::register(&mut registry, &host) {
//!     eprintln!("{plugin}: {problem}");
//! }
//! # Ok::<(), reelflow_wasm_host::Error>(())
//! ```

mod bindings;
mod engine;
mod error;
mod host;
pub mod install;
mod manifest;
mod ops;
mod plugin;
mod sandbox;

pub use engine::{HostSettings, LoadFailure, PluginHost};
pub use error::{CallFailure, Error, Result};
pub use manifest::{Capability, MANIFEST_FILE, Manifest, PluginKind, RequestedLimits, sha256_hex};
pub use ops::{EffectSession, register};
pub use plugin::{CodeSource, Offer, Plugin};
pub use sandbox::{Effective, Grant};
