//! Assembles a working Reelflow engine: every operator crate's ops in one [`Registry`], the
//! rhai expression language, the on-disk cache and the executor, configured from
//! `reelflow.toml` and the environment. The CLI and the server both start from a [`Runtime`].

mod config;
mod error;
mod gpu;
mod paths;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use reelflow_core::{Cache, Executor, Plan, Registry, SourceFile, load_workflow};
use reelflow_llm::Llm;
use reelflow_script::RhaiExpressions;
use reelflow_wasm_host::PluginHost;

pub use config::{
    AuthMode, CONFIG_FILE, CacheConfig, Config, LlmSection, PluginGrant, PluginsSection, ServerConfig, WorkerConfig,
    parse_size,
};
pub use error::{Error, Result};
pub use gpu::{GpuStatus, gpu_status, probe_gpu};
pub use paths::InputRoots;

/// The engine, ready to load and run workflows.
pub struct Runtime {
    config: Config,
    registry: Arc<Registry>,
    expressions: Arc<RhaiExpressions>,
    executor: Arc<Executor>,
    llm: Arc<Llm>,
    plugins: Arc<PluginHost>,
}

impl Runtime {
    pub fn new(mut config: Config) -> Result<Runtime> {
        // File values carry absolute paths; a relative data directory would leak into them.
        if config.data_dir.is_relative() {
            let cwd =
                std::env::current_dir().map_err(|source| Error::Read { path: config.data_dir.clone(), source })?;
            config.data_dir = cwd.join(&config.data_dir);
        }
        let cwd = std::env::current_dir().map_err(|source| Error::Read { path: ".".into(), source })?;
        let llm = Llm::new(config.llm_config(&cwd)?);
        let mut plugins = PluginHost::new(config.plugin_settings(&cwd)?)?;
        plugins.load_installed();
        let mut registry = build_registry(llm.clone());
        for (plugin, problem) in reelflow_wasm_host::register(&mut registry, &plugins) {
            tracing::warn!(plugin, "plugin ops not registered: {problem}");
        }
        let registry = Arc::new(registry);
        let plugins = Arc::new(plugins);
        let cache = if config.cache.enabled {
            Some(Arc::new(Cache::open(config.cache_dir(), config.cache_max_bytes()?)?))
        } else {
            None
        };
        let executor = Arc::new(Executor::new(config.limits.clone(), cache));
        Ok(Runtime { config, registry, expressions: Arc::new(RhaiExpressions::new()), executor, llm, plugins })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    pub fn executor(&self) -> &Arc<Executor> {
        &self.executor
    }

    /// The model registry and pool behind the `llm.*` ops.
    pub fn llm(&self) -> &Arc<Llm> {
        &self.llm
    }

    /// The WebAssembly plugins: loaded ones, and those that failed to load with why.
    pub fn plugins(&self) -> &Arc<PluginHost> {
        &self.plugins
    }

    /// Parses and validates workflow text; relative paths in it resolve against `base_dir`.
    pub fn load_source(&self, name: &str, text: &str, base_dir: &Path) -> Result<Plan, reelflow_core::Diagnostics> {
        load_workflow(SourceFile::in_dir(name, text, base_dir), &self.registry, self.expressions.as_ref())
    }

    /// Reads, parses and validates a workflow file.
    pub fn load_file(&self, path: &Path) -> Result<Plan> {
        let read_err = |source| Error::Read { path: path.to_path_buf(), source };
        // Read at most one byte past the limit, so a huge file is refused without loading it.
        let limit = reelflow_core::MAX_SOURCE_BYTES as u64;
        let mut text = String::new();
        std::fs::File::open(path).and_then(|f| f.take(limit + 1).read_to_string(&mut text)).map_err(read_err)?;
        if text.len() as u64 > limit {
            return Err(Error::TooLarge { path: path.to_path_buf(), limit });
        }
        let base_dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Ok(self.load_source(&path.display().to_string(), &text, base_dir)?)
    }

    /// Finds a workflow by name (`clipsmaster/generate` → `workflows/clipsmaster/generate.yaml`).
    pub fn find_workflow(&self, name: &str) -> Result<PathBuf> {
        let dir = &self.config.workflows_dir;
        let unknown = || Error::UnknownWorkflow { name: name.into(), dir: dir.clone() };
        // Names are relative paths without `..`; anything else could escape the directory.
        if name.is_empty() || name.split('/').any(|p| p.is_empty() || p == "." || p == "..") || name.contains('\\') {
            return Err(unknown());
        }
        ["yaml", "yml", "json"]
            .iter()
            .map(|ext| dir.join(format!("{name}.{ext}")))
            .find(|p| p.is_file())
            .ok_or_else(unknown)
    }

    /// A fresh workspace directory for a run.
    pub fn workspace_for(&self, run_id: &str) -> PathBuf {
        self.config.runs_dir().join(run_id)
    }
}

/// Every operator this build knows: the core's built-ins, the `script` op, the media ops,
/// the GPU ops, subtitles, the timeline export, the LLM ops served by `llm`, and the clip-remix planner.
pub fn build_registry(llm: Arc<Llm>) -> Registry {
    let mut reg = Registry::with_builtins();
    reelflow_script::register(&mut reg).expect("op names are unique");
    reelflow_media::register(&mut reg).expect("op names are unique");
    reelflow_gpu::register(&mut reg).expect("op names are unique");
    reelflow_subtitles::register(&mut reg).expect("op names are unique");
    reelflow_timeline::register(&mut reg).expect("op names are unique");
    reelflow_llm::register(&mut reg, llm).expect("op names are unique");
    reelflow_remix::register(&mut reg).expect("op names are unique");
    reg
}

/// A new run id: time-ordered and unique within and across processes.
pub fn new_run_id() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("run-{}-{:08x}", now.as_millis(), rand::random::<u32>())
}
