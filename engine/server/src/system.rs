//! `/health` and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use reelflow_store::RunState;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the store cannot be read.
    pub status: String,
    pub version: String,
    pub uptime_s: u64,
    /// Runs waiting in the queue.
    pub queued: u64,
    pub running: u64,
    /// This process's worker, if it runs one.
    pub worker: Option<WorkerHealth>,
    /// The GPU the GPU ops run on; `null` while it is still being opened.
    pub gpu: Option<GpuHealth>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GpuHealth {
    pub available: bool,
    /// The adapter's name.
    pub adapter: Option<String>,
    /// `discrete`, `integrated`, `virtual`, `cpu` (a software rasteriser) or `other`.
    pub kind: Option<String>,
    /// `vulkan`, `gl`, …
    pub backend: Option<String>,
    /// Why no GPU could be opened.
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerHealth {
    pub id: String,
    /// Runs it is executing now.
    pub running: usize,
}

/// Liveness and queue depth; needs no token. 503 when the store is unreadable.
#[utoipa::path(get, path = "/health", tag = "system",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Response {
    let counts = state.store().counts_by_state().await;
    let count = |s: RunState| counts.as_ref().ok().and_then(|c| c.iter().find(|(k, _)| *k == s).map(|(_, n)| *n));
    let health = Health {
        status: if counts.is_ok() { "ok" } else { "degraded" }.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_s: state.inner.started.elapsed().as_secs(),
        queued: count(RunState::Queued).unwrap_or(0),
        running: count(RunState::Running).unwrap_or(0),
        worker: state
            .inner
            .worker
            .as_ref()
            .map(|w| WorkerHealth { id: w.id().to_owned(), running: state.hub().running_count() }),
        gpu: reelflow_runtime::gpu_status().map(|g| GpuHealth {
            available: g.available,
            adapter: g.adapter,
            kind: g.kind,
            backend: g.backend,
            error: g.error,
        }),
    };
    let status = if counts.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(health)).into_response()
}

/// Prometheus text format: runs by state and queue depth (read from the store at scrape
/// time, so they count every worker's runs), node durations by op, queue wait, and HTTP
/// latency by route.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    let counts = state.store().counts_by_state().await?;
    let mut text = String::new();
    encode(&mut text, &state.inner.registry).map_err(|e| ApiError::internal("encoding metrics", e))?;
    // Gauges from the store, written by hand: they are read per scrape, not kept.
    let eof = text.rfind("# EOF").unwrap_or(text.len());
    let mut gauges = String::from("# HELP reelflow_runs Runs in the store by state.\n# TYPE reelflow_runs gauge\n");
    for (state_name, n) in &counts {
        gauges.push_str(&format!("reelflow_runs{{state=\"{state_name}\"}} {n}\n"));
    }
    let queued = counts.iter().find(|(s, _)| *s == RunState::Queued).map_or(0, |(_, n)| *n);
    gauges.push_str(&format!(
        "# HELP reelflow_queue_depth Runs waiting for a worker.\n# TYPE reelflow_queue_depth gauge\nreelflow_queue_depth {queued}\n"
    ));
    text.insert_str(eof, &gauges);
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response())
}
