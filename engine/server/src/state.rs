//! What every handler shares.

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::registry::Registry;
use reelflow_runtime::{AuthMode, InputRoots, Runtime};
use reelflow_store::RunStore;
use reelflow_worker::{RunHub, Worker, WorkerMetrics};
use tokio_util::sync::CancellationToken;

use crate::guard::{HttpMetrics, RateLimiter};
use crate::monitor::{Monitor, MonitoringConfig};

/// The server's shared state. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub store: Arc<dyn RunStore>,
    pub runtime: Arc<Runtime>,
    pub hub: Arc<RunHub>,
    /// Where client-named input files may live: the uploads directory and `input_roots`.
    pub roots: InputRoots,
    pub token: Option<String>,
    pub max_body: usize,
    pub max_upload: u64,
    pub rate: Option<RateLimiter>,
    pub registry: Registry,
    pub http: HttpMetrics,
    /// The embedded worker, if this process runs one: submissions hand it runs directly
    /// when it has a free slot.
    pub worker: Option<Worker>,
    /// Fires on shutdown: event streams end so connections can drain.
    pub shutdown: CancellationToken,
    pub started: Instant,
    /// Request and memory/CPU samples for the monitoring API and reports.
    pub monitor: Arc<Monitor>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// How to build an [`AppState`].
pub struct AppParts {
    pub store: Arc<dyn RunStore>,
    pub runtime: Arc<Runtime>,
    pub hub: Arc<RunHub>,
    pub worker_metrics: WorkerMetrics,
    pub worker: Option<Worker>,
    pub shutdown: CancellationToken,
}

impl AppState {
    pub fn new(parts: AppParts) -> reelflow_runtime::Result<AppState> {
        let config = parts.runtime.config();
        config.check()?;
        let uploads = config.uploads_dir();
        std::fs::create_dir_all(&uploads)
            .map_err(|source| reelflow_runtime::Error::Read { path: uploads.clone(), source })?;
        let roots = InputRoots::new(std::iter::once(uploads).chain(config.server.input_roots.iter().cloned()));
        let mut registry = Registry::default();
        parts.worker_metrics.register(&mut registry);
        parts.runtime.llm().metrics().register(&mut registry);
        let http = HttpMetrics::default();
        http.register(&mut registry);
        let server = &config.server;
        let rate = (server.rate_limit > 0).then(|| RateLimiter::new(server.rate_limit, server.rate_burst));
        // A configured token is enforced even on loopback; only `auth = "disabled"` turns it off.
        let token = if server.auth == AuthMode::Disabled { None } else { server.token.clone() };
        let monitoring_path = &server.monitoring_config;
        let monitoring = MonitoringConfig::load(monitoring_path)
            .map_err(|message| reelflow_runtime::Error::Config { path: monitoring_path.clone(), message })?;
        let monitor = Arc::new(Monitor::new(monitoring, &config.logs_dir()));
        let state = AppState {
            inner: Arc::new(Inner {
                max_body: usize::try_from(config.max_body_bytes()?).unwrap_or(usize::MAX),
                max_upload: config.max_upload_bytes()?,
                store: parts.store,
                hub: parts.hub,
                roots,
                token,
                rate,
                registry,
                http,
                worker: parts.worker,
                shutdown: parts.shutdown,
                started: Instant::now(),
                monitor,
                runtime: parts.runtime,
            }),
        };
        state.spawn_background();
        // The health output names the GPU; opening it can take a moment, so it starts now.
        reelflow_runtime::probe_gpu();
        Ok(state)
    }

    /// The monitor's sampler (and InfluxDB exporter), the clip task timeouts and the batch
    /// notifier, until shutdown. Outside a tokio
    /// runtime (a state built for inspection) there is nothing to spawn them on.
    fn spawn_background(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let stop = self.inner.shutdown.clone();
        handle.spawn(self.inner.monitor.clone().sample_system(stop.clone()));
        if let Some(influx) = self.inner.monitor.config().influxdb.clone() {
            handle.spawn(crate::influx::export(self.inner.monitor.clone(), influx, stop.clone()));
        }
        handle.spawn(crate::clipsmaster::enforce_timeouts(self.clone(), stop.clone()));
        handle.spawn(crate::clipsmaster::deliver_notifications(self.clone(), stop));
    }

    pub fn hub(&self) -> &Arc<RunHub> {
        &self.inner.hub
    }

    pub fn store(&self) -> &Arc<dyn RunStore> {
        &self.inner.store
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.inner.runtime
    }
}
