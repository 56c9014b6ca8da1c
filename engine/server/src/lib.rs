//! Reelflow's HTTP server: the generic workflow API over the durable run store.
//!
//! [`app`] builds the router (tests call `app(state).oneshot(request)` without a socket);
//! [`Server`] binds it, runs the embedded worker, and shuts both down gracefully.
//!
//! | Route | |
//! |---|---|
//! | `POST /api/v1/runs` | submit a workflow (by name or inline) with inputs → 202 + run id; 422 with located errors |
//! | `GET /api/v1/runs`, `GET /api/v1/runs/{id}` | list (status filter, cursor pages); one run with progress, nodes, outputs, error |
//! | `DELETE /api/v1/runs/{id}`, `POST /api/v1/runs/{id}/retry` | cancel; re-run a failed run (finished nodes come from the cache) |
//! | `GET /api/v1/runs/{id}/events` | WebSocket or SSE, replay from `?after=`/`Last-Event-ID`, then live |
//! | `GET /api/v1/workflows[/{name}]`, `POST /api/v1/workflows/validate`, `GET /api/v1/nodes` | what can run |
//! | `POST /api/v1/uploads`, `GET /api/v1/artifacts/{id}` | inputs in (multipart, sha256-deduplicated), outputs out (Range) |
//! | `GET /health`, `GET /metrics`, `GET /openapi.json`, `GET /docs` | operations |
//! | `POST /api/v1/generate`, `POST /api/v1/batch`, `GET /api/v1/status`, `GET /api/v1/models`, `GET /api/v1/report`, `GET /api/v1/monitoring/metrics`, `GET /reports/{file}` | the clipsmaster document's API, in its own shapes |
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = reelflow_runtime::Config::load(None)?;
//! let server = reelflow_server::Server::start(config).await?;
//! println!("listening on {}", server.local_addr());
//! server.run_until(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```

mod clipsmaster;
mod docs;
mod error;
mod events;
mod files;
mod guard;
mod influx;
mod monitor;
mod runs;
mod state;
/// Moved to the core so every crate measures memory the same way; kept here by its old path.
pub use reelflow_core::sysinfo;
mod system;
mod workflows;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use reelflow_runtime::{Config, Runtime};
use reelflow_store::{RunStore, SqliteStore};
use reelflow_worker::{RunHub, Worker, WorkerMetrics, WorkerOptions};
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

pub use docs::openapi;
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use monitor::{MonitoringConfig, Thresholds};
pub use runs::{SubmitRun, create_run, prepare_run, run_view};
pub use state::{AppParts, AppState};

/// The router with every route and middleware.
pub fn app(state: AppState) -> Router {
    let inner = &state.inner;
    let max_upload = usize::try_from(inner.max_upload).unwrap_or(usize::MAX);
    let api = Router::new()
        .route("/api/v1/runs", post(runs::submit).get(runs::list))
        .route("/api/v1/runs/{id}", get(runs::get).delete(runs::cancel))
        .route("/api/v1/runs/{id}/retry", post(runs::retry))
        .route("/api/v1/runs/{id}/events", get(events::events))
        .route("/api/v1/workflows", get(workflows::list))
        .route("/api/v1/workflows/validate", post(workflows::validate))
        .route("/api/v1/workflows/{*name}", get(workflows::get))
        .route("/api/v1/nodes", get(workflows::nodes))
        .route(
            "/api/v1/uploads",
            post(files::upload).layer(DefaultBodyLimit::max(max_upload.saturating_add(64 * 1024))),
        )
        .route("/api/v1/artifacts/{id}", get(files::artifact))
        // The clipsmaster document's API (../shared/spec/clipsmaster-api.md).
        .route("/api/v1/generate", post(clipsmaster::generate))
        .route("/api/v1/status", get(clipsmaster::status))
        .route("/api/v1/models", get(clipsmaster::models))
        .route("/api/v1/batch", post(clipsmaster::batch))
        .route("/api/v1/report", get(clipsmaster::report))
        .route("/api/v1/monitoring/metrics", get(clipsmaster::monitoring_metrics))
        .route("/reports/{name}", get(clipsmaster::serve_report))
        .route("/health", get(system::health))
        .route("/metrics", get(system::metrics))
        .route("/openapi.json", get(docs::openapi_json))
        .route("/docs", get(docs::index))
        .route("/docs/", get(docs::index))
        .route("/docs/swagger-ui-bundle.js", get(docs::script))
        .route("/docs/swagger-ui.css", get(docs::stylesheet))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
        })
        .layer(DefaultBodyLimit::max(inner.max_body));
    // Outermost last: metrics see every request (even refused ones), then CORS answers
    // preflights, then the rate limit, then auth.
    let cors = cors_layer(&state.runtime().config().server.cors_origins);
    let router = api
        .layer(from_fn_with_state(state.clone(), guard::require_token))
        .layer(from_fn_with_state(state.clone(), guard::rate_limit));
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.layer(from_fn_with_state(state.clone(), guard::observe)).with_state(state)
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
            .allow_headers(Any),
    )
}

/// A bound server with its embedded worker.
pub struct Server {
    listener: tokio::net::TcpListener,
    state: AppState,
    worker: Option<(Worker, CancellationToken)>,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] reelflow_runtime::Error),
    #[error(transparent)]
    Store(#[from] reelflow_store::Error),
    #[error("binding {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

impl Server {
    /// Opens the store in the data directory, binds `server.bind`, and prepares the worker.
    pub async fn start(config: Config) -> Result<Server, StartError> {
        config.check_server()?;
        let bind = config.server.bind;
        let embedded = config.server.embedded_worker;
        let opts = WorkerOptions::from_config(&config)?;
        let runtime = Arc::new(Runtime::new(config)?);
        let data_dir = runtime.config().data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .map_err(|source| reelflow_runtime::Error::Read { path: data_dir, source })?;
        let db = runtime.config().db_path();
        let store: Arc<dyn RunStore> = Arc::new(
            tokio::task::spawn_blocking(move || SqliteStore::open(db))
                .await
                .map_err(|e| reelflow_store::Error::Backend { op: "open", source: Box::new(e) })??,
        );
        let hub = RunHub::new();
        let metrics = WorkerMetrics::default();
        let shutdown = CancellationToken::new();
        let worker = embedded.then(|| Worker::new(store.clone(), runtime.clone(), hub.clone(), metrics.clone(), opts));
        let state = AppState::new(AppParts {
            store,
            runtime,
            hub,
            worker_metrics: metrics,
            worker: worker.clone(),
            shutdown: shutdown.clone(),
        })?;
        let listener =
            tokio::net::TcpListener::bind(bind).await.map_err(|source| StartError::Bind { addr: bind, source })?;
        Ok(Server { listener, state, worker: worker.map(|w| (w, CancellationToken::new())), shutdown })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `signal` completes, then shuts down gracefully: stop accepting, end
    /// event streams, let in-flight requests finish, and give running runs the grace period
    /// before they are handed back to the queue (finished nodes are in the cache).
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()> + Send + 'static) {
        let Server { listener, state, worker, shutdown } = self;
        let worker_task = worker.map(|(worker, stop)| {
            let task_stop = stop.clone();
            (tokio::spawn(async move { worker.run(task_stop).await }), stop)
        });
        let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
        let http_shutdown = shutdown.clone();
        let served = axum::serve(listener, app).with_graceful_shutdown(async move {
            signal.await;
            tracing::info!("shutting down: no new requests; event streams end");
            http_shutdown.cancel();
        });
        if let Err(e) = served.await {
            tracing::error!(error = %e, "the HTTP server failed");
        }
        shutdown.cancel();
        if let Some((task, stop)) = worker_task {
            stop.cancel();
            let _ = task.await;
        }
        tracing::info!("stopped");
    }
}
