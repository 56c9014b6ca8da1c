//! `reelflow.toml`, environment variables, and the data directory layout.
//!
//! Precedence: command-line flags (applied by the caller) > environment > file > defaults.
//!
//! The data directory holds everything a Reelflow process writes:
//! ```text
//! <data_dir>/reelflow.db      the run store (SQLite, WAL: also reelflow.db-wal, -shm)
//! <data_dir>/cache/           content-addressed node cache (entries/, blobs/, tmp/)
//! <data_dir>/runs/<id>/       per-run workspaces: files the nodes of a run wrote
//! <data_dir>/artifacts/<id>/  the output files of finished runs, kept for download
//! <data_dir>/uploads/         files clients uploaded (by sha256), usable as inputs
//! <data_dir>/logs/            server and worker logs (reelflow.log)
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reelflow_core::ResourceLimits;
use reelflow_core::workflow::DurationSpec;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Name of the config file looked up in the working directory.
pub const CONFIG_FILE: &str = "reelflow.toml";

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where runs, the cache and (later) the database live. Env: `REELFLOW_DATA_DIR`.
    pub data_dir: PathBuf,
    /// Where named workflows are looked up. Env: `REELFLOW_WORKFLOWS_DIR`.
    pub workflows_dir: PathBuf,
    pub cache: CacheConfig,
    /// Concurrency per resource class.
    pub limits: ResourceLimits,
    pub server: ServerConfig,
    pub worker: WorkerConfig,
    pub llm: LlmSection,
    pub plugins: PluginsSection,
}

/// `[plugins]`: sandboxed WebAssembly plugins and what they are granted.
///
/// ```toml
/// [plugins]
/// max_memory = "128MiB"
/// [plugins.grants.filmlook]
/// capabilities = ["assets"]
/// assets = "assets/luts"
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsSection {
    /// Installed plugins, one directory each (`reelflow plugin build` puts them there);
    /// unset: `<data_dir>/plugins`. Env: `REELFLOW_PLUGINS_DIR`.
    pub dir: Option<PathBuf>,
    /// The most memory one plugin instance may use; a manifest may ask for less.
    pub max_memory: String,
    /// Wall-clock budget of one call into a plugin (one frame, one template render).
    pub call_timeout: DurationSpec,
    /// The largest text, JSON or sound a plugin may return from one call.
    pub max_output: String,
    /// Per plugin name: the capabilities granted (`assets`, `clock`, `random`) and the
    /// asset directory. A plugin gets only what its manifest asks for *and* is granted here.
    pub grants: std::collections::BTreeMap<String, PluginGrant>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginGrant {
    #[serde(default)]
    pub capabilities: Vec<reelflow_wasm_host::Capability>,
    /// The directory `read-asset` reads from (relative to the working directory).
    #[serde(default)]
    pub assets: Option<PathBuf>,
}

impl Default for PluginsSection {
    fn default() -> Self {
        PluginsSection {
            dir: None,
            max_memory: "256MiB".into(),
            call_timeout: DurationSpec::Text("10s".into()),
            max_output: "64MiB".into(),
            grants: Default::default(),
        }
    }
}

/// `[llm]`: local models for the `llm.*` ops.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSection {
    /// Holds `models.yaml` and the model files. Env: `REELFLOW_MODELS_DIR`.
    pub models_dir: PathBuf,
    /// The operator's active-model config (language → model); the shipped
    /// `<models_dir>/active_model.yaml` is used while this file does not exist.
    pub active_config: PathBuf,
    /// Memory all loaded models may take together (`8GiB`), or `auto`: half of the
    /// machine's RAM. Env: `REELFLOW_LLM_MEMORY`.
    pub memory_budget: String,
    /// Requests one model generates at once; mistral.rs batches them.
    pub max_concurrent: usize,
    /// The language used when a request names none (`zh`, `en`); unset: the active-model
    /// config's `default_language`. Env: `REELFLOW_LANG`; `reelflow serve --lang`.
    pub default_language: Option<String>,
}

impl Default for LlmSection {
    fn default() -> Self {
        LlmSection {
            models_dir: PathBuf::from("models"),
            active_config: PathBuf::from(reelflow_llm::ACTIVE_CONFIG),
            memory_budget: "auto".into(),
            max_concurrent: 8,
            default_language: None,
        }
    }
}

/// `[server]`: the HTTP API of `reelflow serve`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on. Env: `REELFLOW_BIND`.
    pub bind: SocketAddr,
    /// Bearer token clients must send (`Authorization: Bearer …`). Env: `REELFLOW_TOKEN`.
    pub token: Option<String>,
    /// `auto`: a token is required when `bind` is not a loopback address; `required`;
    /// `disabled`: no auth even on a public address (say so explicitly). Env: `REELFLOW_AUTH`.
    pub auth: AuthMode,
    /// Origins allowed by CORS: empty (no CORS headers), `["*"]`, or a list of origins.
    pub cors_origins: Vec<String>,
    /// Largest JSON request body.
    pub max_body: String,
    /// Largest upload. Env: `REELFLOW_MAX_UPLOAD`.
    pub max_upload: String,
    /// Requests per second per client address (token bucket); 0 disables the limit.
    pub rate_limit: u32,
    /// How many requests a client may send in a burst above `rate_limit`.
    pub rate_burst: u32,
    /// Directories whose files clients may name as file inputs (besides their uploads).
    /// Anything else — `..`, other absolute paths, symlinks out of a root — is refused.
    pub input_roots: Vec<PathBuf>,
    /// On shutdown, how long running runs may take to finish before they are checkpointed
    /// (their finished nodes are in the cache) and handed back to the queue.
    pub shutdown_grace: DurationSpec,
    /// Run an embedded worker in the server process (`false`: only `reelflow worker`s run).
    pub embedded_worker: bool,
    /// The monitoring settings (sampling, thresholds, report retention), JSON; built-in
    /// defaults apply while the file does not exist. Relative to the working directory.
    pub monitoring_config: PathBuf,
    /// Hosts a batch's `notification_url` may name (exact names or IP literals). Empty:
    /// any host. Either way, addresses that are link-local (where cloud metadata services
    /// answer), unspecified, multicast or broadcast are refused.
    pub notify_hosts: Vec<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Auto,
    Required,
    Disabled,
}

/// `[worker]`: how workers take runs from the queue.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Runs one worker executes at once (their nodes share the `[limits]`).
    pub slots: usize,
    /// How long a claim lasts without a heartbeat. A dead worker's runs are taken over after
    /// this. Env: `REELFLOW_LEASE`.
    pub lease: DurationSpec,
    /// How often a worker renews its leases and looks for cancel requests.
    pub heartbeat: DurationSpec,
    /// How often an idle worker looks at the queue (new runs from this process wake it at once).
    pub poll: DurationSpec,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Env: `REELFLOW_CACHE=off` disables it.
    pub enabled: bool,
    /// Size cap: `10GiB`, `500MB`, or a number of bytes. Env: `REELFLOW_CACHE_MAX`.
    pub max_size: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from(".reelflow"),
            workflows_dir: PathBuf::from("workflows"),
            cache: CacheConfig::default(),
            limits: ResourceLimits::default(),
            server: ServerConfig::default(),
            worker: WorkerConfig::default(),
            llm: LlmSection::default(),
            plugins: PluginsSection::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: None,
            auth: AuthMode::Auto,
            cors_origins: Vec::new(),
            max_body: "16MiB".into(),
            max_upload: "4GiB".into(),
            rate_limit: 200,
            rate_burst: 400,
            input_roots: Vec::new(),
            shutdown_grace: DurationSpec::Text("30s".into()),
            embedded_worker: true,
            monitoring_config: PathBuf::from("configs/monitoring.json"),
            notify_hosts: Vec::new(),
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            slots: 16,
            lease: DurationSpec::Text("15s".into()),
            heartbeat: DurationSpec::Text("1s".into()),
            poll: DurationSpec::Text("500ms".into()),
        }
    }
}

impl ServerConfig {
    /// Whether requests must carry the token.
    pub fn auth_required(&self) -> bool {
        match self.auth {
            AuthMode::Required => true,
            AuthMode::Disabled => false,
            AuthMode::Auto => !self.bind.ip().is_loopback(),
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig { enabled: true, max_size: "10GiB".into() }
    }
}

impl Config {
    /// Reads `file` (or `./reelflow.toml` when present), then applies the environment.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None if Path::new(CONFIG_FILE).exists() => Self::from_file(Path::new(CONFIG_FILE))?,
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        config.check()?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
        toml::from_str(&text).map_err(|e| Error::Config { path: path.to_path_buf(), message: e.to_string() })
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(dir) = var("REELFLOW_DATA_DIR") {
            self.data_dir = dir.into();
        }
        if let Some(dir) = var("REELFLOW_WORKFLOWS_DIR") {
            self.workflows_dir = dir.into();
        }
        if let Some(v) = var("REELFLOW_CACHE") {
            self.cache.enabled = !matches!(v.as_str(), "off" | "0" | "false" | "no");
        }
        if let Some(v) = var("REELFLOW_CACHE_MAX") {
            self.cache.max_size = v;
        }
        let env_err = |name: &str, message: String| Error::Config { path: name.into(), message };
        if let Some(v) = var("REELFLOW_BIND") {
            self.server.bind = v.parse().map_err(|e| env_err("REELFLOW_BIND", format!("`{v}`: {e}")))?;
        }
        if let Some(v) = var("REELFLOW_TOKEN") {
            self.server.token = Some(v).filter(|t| !t.is_empty());
        }
        if let Some(v) = var("REELFLOW_AUTH") {
            self.server.auth = serde_json::from_value(serde_json::Value::String(v.clone()))
                .map_err(|_| env_err("REELFLOW_AUTH", format!("`{v}`: expected auto, required or disabled")))?;
        }
        if let Some(v) = var("REELFLOW_MAX_UPLOAD") {
            self.server.max_upload = v;
        }
        if let Some(dir) = var("REELFLOW_MODELS_DIR") {
            self.llm.models_dir = dir.into();
        }
        if let Some(v) = var("REELFLOW_LLM_MEMORY") {
            self.llm.memory_budget = v;
        }
        if let Some(v) = var("REELFLOW_LANG") {
            self.llm.default_language = Some(v);
        }
        if let Some(dir) = var("REELFLOW_PLUGINS_DIR") {
            self.plugins.dir = Some(dir.into());
        }
        if let Some(v) = var("REELFLOW_LEASE") {
            self.worker.lease = DurationSpec::Text(v);
        }
        Ok(())
    }

    /// Checks every value that is parsed later, so a bad config fails at startup.
    pub fn check(&self) -> Result<()> {
        self.cache_max_bytes()?;
        self.max_body_bytes()?;
        self.max_upload_bytes()?;
        self.shutdown_grace()?;
        let lease = self.lease()?;
        let heartbeat = self.heartbeat()?;
        self.poll()?;
        if heartbeat * 2 > lease {
            return Err(self.config_err(format!(
                "worker.heartbeat ({heartbeat:?}) must be at most half of worker.lease ({lease:?}), or live runs lose their lease"
            )));
        }
        self.llm_memory_budget_mb()?;
        if self.llm.max_concurrent == 0 {
            return Err(self.config_err("llm.max_concurrent must be at least 1".into()));
        }
        self.plugin_settings(Path::new("."))?;
        if self.worker.slots == 0 {
            return Err(self.config_err("worker.slots must be at least 1".into()));
        }
        Ok(())
    }

    /// What only a server needs on top of [`Config::check`]: a token when auth is required.
    pub fn check_server(&self) -> Result<()> {
        if self.server.auth_required() && self.server.token.is_none() {
            return Err(self.config_err(format!(
                "the server binds {} and requires a token: set REELFLOW_TOKEN (or server.token), \
                 or server.auth = \"disabled\" to serve without auth",
                self.server.bind
            )));
        }
        Ok(())
    }

    fn config_err(&self, message: String) -> Error {
        Error::Config { path: CONFIG_FILE.into(), message }
    }

    fn duration(&self, name: &str, spec: &DurationSpec) -> Result<Duration> {
        spec.to_duration().map_err(|e| self.config_err(format!("{name}: {e}")))
    }

    pub fn lease(&self) -> Result<Duration> {
        self.duration("worker.lease", &self.worker.lease)
    }

    pub fn heartbeat(&self) -> Result<Duration> {
        self.duration("worker.heartbeat", &self.worker.heartbeat)
    }

    pub fn poll(&self) -> Result<Duration> {
        self.duration("worker.poll", &self.worker.poll)
    }

    pub fn shutdown_grace(&self) -> Result<Duration> {
        self.duration("server.shutdown_grace", &self.server.shutdown_grace)
    }

    pub fn max_body_bytes(&self) -> Result<u64> {
        parse_size(&self.server.max_body).map_err(|m| self.config_err(format!("server.max_body: {m}")))
    }

    pub fn max_upload_bytes(&self) -> Result<u64> {
        parse_size(&self.server.max_upload).map_err(|m| self.config_err(format!("server.max_upload: {m}")))
    }

    /// `[llm] memory_budget` in MiB (`auto`: half of the RAM, or 8 GiB when it cannot be read).
    pub fn llm_memory_budget_mb(&self) -> Result<u64> {
        if self.llm.memory_budget.trim() == "auto" {
            return Ok(total_memory_bytes().map_or(8192, |b| b / 2 / (1024 * 1024)));
        }
        parse_size(&self.llm.memory_budget)
            .map(|b| b / (1024 * 1024))
            .map_err(|m| self.config_err(format!("llm.memory_budget: {m}")))
    }

    /// The LLM layer's settings, with relative paths made absolute against `base`.
    pub fn llm_config(&self, base: &Path) -> Result<reelflow_llm::LlmConfig> {
        Ok(reelflow_llm::LlmConfig {
            models_dir: base.join(&self.llm.models_dir),
            active_config: base.join(&self.llm.active_config),
            memory_budget_mb: self.llm_memory_budget_mb()?,
            max_concurrent: self.llm.max_concurrent,
        })
    }

    /// Where installed plugins live.
    pub fn plugins_dir(&self) -> PathBuf {
        self.plugins.dir.clone().unwrap_or_else(|| self.data_dir.join("plugins"))
    }

    /// The plugin host's settings, with relative paths made absolute against `base`.
    pub fn plugin_settings(&self, base: &Path) -> Result<reelflow_wasm_host::HostSettings> {
        let section = &self.plugins;
        let mut settings = reelflow_wasm_host::HostSettings::new(base.join(self.plugins_dir()));
        // Compiled plugin code, keyed by component hash and engine build.
        settings.cache_dir = Some(base.join(&self.data_dir).join("wasm-cache"));
        settings.max_memory_mb = parse_size(&section.max_memory)
            .map(|b| (b >> 20).max(1))
            .map_err(|m| self.config_err(format!("plugins.max_memory: {m}")))?;
        settings.call_budget = self.duration("plugins.call_timeout", &section.call_timeout)?;
        settings.max_output_bytes = parse_size(&section.max_output)
            .map(|b| b as usize)
            .map_err(|m| self.config_err(format!("plugins.max_output: {m}")))?;
        for (name, grant) in &section.grants {
            settings.grants.insert(
                name.clone(),
                reelflow_wasm_host::Grant {
                    capabilities: grant.capabilities.iter().copied().collect(),
                    assets: grant.assets.as_ref().map(|dir| base.join(dir)),
                },
            );
        }
        Ok(settings)
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("reelflow.db")
    }

    pub fn uploads_dir(&self) -> PathBuf {
        self.data_dir.join("uploads")
    }

    pub fn artifacts_dir(&self) -> PathBuf {
        self.data_dir.join("artifacts")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }

    /// Where `GET /api/v1/report` writes reports (served under `/reports/`).
    pub fn reports_dir(&self) -> PathBuf {
        self.data_dir.join("reports")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.data_dir.join("cache")
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.data_dir.join("runs")
    }

    pub fn cache_max_bytes(&self) -> Result<u64> {
        parse_size(&self.cache.max_size).map_err(|message| Error::Config { path: CONFIG_FILE.into(), message })
    }
}

/// `MemTotal` from /proc/meminfo.
fn total_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Parses `10GiB`, `1.5 GB`, `500M`, `4096` into bytes.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("`{text}` is not a size like `10GiB`"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        other => return Err(format!("unknown size unit `{other}` in `{text}`")),
    };
    Ok((n * scale) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("10GiB").unwrap(), 10 * 1024 * 1024 * 1024);
        assert_eq!(parse_size("1.5 kb").unwrap(), 1500);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }

    #[test]
    fn a_public_address_needs_a_token_unless_auth_is_disabled() {
        let mut c = Config::default();
        assert!(c.check_server().is_ok(), "loopback needs no token");
        c.apply_env(|k| (k == "REELFLOW_BIND").then(|| "0.0.0.0:8080".to_string())).unwrap();
        assert!(c.check_server().unwrap_err().to_string().contains("REELFLOW_TOKEN"));
        c.apply_env(|k| (k == "REELFLOW_TOKEN").then(|| "t".to_string())).unwrap();
        assert!(c.check_server().is_ok());
        c.server.token = None;
        c.apply_env(|k| (k == "REELFLOW_AUTH").then(|| "disabled".to_string())).unwrap();
        assert!(c.check_server().is_ok());
        assert!(c.apply_env(|k| (k == "REELFLOW_AUTH").then(|| "maybe".to_string())).is_err());
        assert!(c.apply_env(|k| (k == "REELFLOW_BIND").then(|| "nowhere".to_string())).is_err());
    }

    #[test]
    fn worker_timings_are_checked() {
        let mut c = Config::default();
        assert_eq!(c.lease().unwrap(), std::time::Duration::from_secs(15));
        c.worker.heartbeat = DurationSpec::Text("10s".into());
        assert!(c.check().unwrap_err().to_string().contains("half"));
        c.worker.heartbeat = DurationSpec::Text("soon".into());
        assert!(c.check().is_err());
    }

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reelflow.toml");
        std::fs::write(
            &path,
            "data_dir = \"/srv/rf\"\n[cache]\nmax_size = \"1GB\"\n[limits]\ncpu = 3\ngpu = 1\nllm = 1\nio = 8\n",
        )
        .unwrap();
        let mut c = Config::from_file(&path).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/rf"));
        assert_eq!(c.limits.cpu, 3);
        c.apply_env(|k| (k == "REELFLOW_CACHE_MAX").then(|| "2GB".to_string())).unwrap();
        assert_eq!(c.cache_max_bytes().unwrap(), 2_000_000_000);
        std::fs::write(&path, "datadir = 1\n").unwrap();
        assert!(Config::from_file(&path).unwrap_err().to_string().contains("datadir"));
    }
}
