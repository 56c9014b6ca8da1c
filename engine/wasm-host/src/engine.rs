//! The plugin host: one wasmtime engine for every plugin, its epoch ticker, the linker with
//! the host and WASI imports, and the set of loaded plugins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, OptLevel};

use crate::bindings::{host, types};
use crate::error::{Error, Result};
use crate::manifest::MANIFEST_FILE;
use crate::plugin::Plugin;
use crate::sandbox::{Grant, PluginState};

/// How often the engine's epoch advances: the granularity of time budgets and of stopping a
/// cancelled plugin.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// The operator's settings for plugins.
#[derive(Clone, Debug)]
pub struct HostSettings {
    /// Installed plugins: one directory per plugin with its `plugin.toml` and component.
    pub plugins_dir: PathBuf,
    /// Compiled code, keyed by component hash and engine; `None` compiles on every start.
    pub cache_dir: Option<PathBuf>,
    /// The most linear memory any plugin instance may have, MiB (a manifest may ask for less).
    pub max_memory_mb: u64,
    /// Wall-clock budget of one call into a plugin (one frame, one template render).
    pub call_budget: Duration,
    /// The largest text, JSON or sound output a plugin may return, bytes.
    pub max_output_bytes: usize,
    /// What each plugin (by name) is granted; a plugin without an entry gets nothing.
    pub grants: BTreeMap<String, Grant>,
}

impl HostSettings {
    pub fn new(plugins_dir: impl Into<PathBuf>) -> HostSettings {
        HostSettings {
            plugins_dir: plugins_dir.into(),
            cache_dir: None,
            max_memory_mb: 256,
            call_budget: Duration::from_secs(10),
            max_output_bytes: 64 << 20,
            grants: BTreeMap::new(),
        }
    }
}

/// A plugin that could not be loaded, and why.
#[derive(Debug)]
pub struct LoadFailure {
    pub manifest: PathBuf,
    pub error: Error,
}

/// Loads plugins and hands out their ops.
pub struct PluginHost {
    engine: Engine,
    linker: Linker<PluginState>,
    settings: HostSettings,
    plugins: Vec<Arc<Plugin>>,
    failures: Vec<LoadFailure>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost").field("plugins", &self.plugins).field("failures", &self.failures).finish()
    }
}

impl PluginHost {
    /// A host with no plugins loaded yet.
    pub fn new(settings: HostSettings) -> Result<PluginHost> {
        let engine = shared_engine()?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| Error::Engine(format!("{e:#}")))?;
        host::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| Error::Engine(format!("{e:#}")))?;
        types::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| Error::Engine(format!("{e:#}")))?;
        Ok(PluginHost { engine, linker, settings, plugins: Vec::new(), failures: Vec::new() })
    }

    /// Loads every plugin installed in the plugins directory. A plugin that fails to load
    /// is recorded in [`failures`](Self::failures) and the others still load.
    pub fn load_installed(&mut self) -> &mut Self {
        let Ok(entries) = std::fs::read_dir(&self.settings.plugins_dir) else { return self };
        let mut manifests: Vec<PathBuf> =
            entries.flatten().map(|e| e.path().join(MANIFEST_FILE)).filter(|p| p.is_file()).collect();
        manifests.sort();
        for manifest in manifests {
            if let Err(error) = self.load(&manifest) {
                tracing::warn!(manifest = %manifest.display(), "plugin not loaded: {error}");
                self.failures.push(LoadFailure { manifest, error });
            }
        }
        self
    }

    /// Loads one installed plugin.
    pub fn load(&mut self, manifest: &Path) -> Result<Arc<Plugin>> {
        let plugin = Arc::new(Plugin::load(&self.engine, &self.linker, &self.settings, manifest)?);
        if self.plugins.iter().any(|p| p.name() == plugin.name()) {
            return Err(Error::Manifest {
                path: manifest.to_owned(),
                message: format!("a plugin named `{}` is already loaded", plugin.name()),
            });
        }
        self.plugins.push(plugin.clone());
        Ok(plugin)
    }

    pub fn plugins(&self) -> &[Arc<Plugin>] {
        &self.plugins
    }

    pub fn failures(&self) -> &[LoadFailure] {
        &self.failures
    }

    pub fn settings(&self) -> &HostSettings {
        &self.settings
    }
}

/// One engine per process: compiled code is tied to it, and its epoch ticker thread is
/// shared by every store.
fn shared_engine() -> Result<Engine> {
    static ENGINE: std::sync::OnceLock<std::result::Result<Engine, String>> = std::sync::OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = Config::new();
            config
                .wasm_component_model(true)
                .epoch_interruption(true)
                .cranelift_opt_level(OptLevel::Speed)
                // Relaxed SIMD (WebAssembly 3.0) lets effects use the host's native forms, such
                // as x86's `pmulhrsw` for `i16x8.relaxed_q15mulr_s`. Its operations may differ
                // between hosts on edge inputs (a plugin that uses them keeps its inputs away
                // from those, as filmlook does); it is on by default, and set here so that it
                // stays on.
                .wasm_relaxed_simd(true)
                // Deep recursion traps cleanly at this depth instead of taking the host's
                // thread down.
                .max_wasm_stack(1 << 20);
            let engine = Engine::new(&config).map_err(|e| format!("{e:#}"))?;
            let weak = engine.weak();
            std::thread::Builder::new()
                .name("wasm-epoch".into())
                .spawn(move || {
                    while let Some(engine) = weak.upgrade() {
                        engine.increment_epoch();
                        drop(engine);
                        std::thread::sleep(TICK);
                    }
                })
                .map_err(|e| format!("starting the epoch ticker: {e}"))?;
            Ok(engine)
        })
        .clone()
        .map_err(Error::Engine)
}
