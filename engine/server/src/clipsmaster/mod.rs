//! The clipsmaster API (`../shared/spec/clipsmaster-api.md`): a thin adapter that maps the
//! document's requests onto the `clipsmaster/generate` workflow and the run store back onto
//! its responses. No media or planning logic lives here.
//!
//! Its own conventions, which clients of the generic API never see:
//! - ids: `task_<run id without its "run-" prefix>`;
//! - errors: `{"code": 1002, "message": "file not found", "detail": "…", "task_id": …}` with
//!   the document's numeric codes (1001 invalid input, 1002 file not found, 1003 model not
//!   available, 1004 unsupported format, 2001 internal, 2002 memory, 3001 timeout, 3002
//!   rendering failed) and a matching HTTP status;
//! - `POST /api/v1/generate` waits for the result, as the document's example shows; with
//!   `?wait=false` (or the header `Prefer: respond-async`) it answers at once with
//!   `status: "processing"` and the client polls `GET /api/v1/status`;
//! - `video_path` and `srt_path` are paths on the server. They must lie inside the
//!   configured input roots (`server.input_roots`, or the uploads directory); relative ones
//!   resolve against the first input root (else the uploads directory);
//! - a request without `lang` uses the server's default language: `serve --lang`, else the
//!   active-model config's `default_language`.
//!
//! Batches are in [`batch`], reports and `/reports/` in [`report`].

mod batch;
mod report;

pub use batch::{batch, deliver_notifications};
pub use report::{report, serve_report};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use reelflow_core::{ErrorKind, Event, EventKind};
use reelflow_llm::{LlmError, ModelSelector, READING_PROMPT};
use reelflow_store::{RunFilter, RunRecord, RunState};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::monitor::{ErrorNote, rfc3339_s};
use crate::runs::{SubmitRun, create_run};
use crate::state::AppState;
use crate::sysinfo::rss_mb;

/// The workflow behind `generate` and each clip of `batch`.
const GENERATE_WORKFLOW: &str = "clipsmaster/generate";
/// How long `generate` waits before answering `processing` instead.
const WAIT_LIMIT: Duration = Duration::from_secs(3600);

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum QuantizationLevel {
    #[serde(rename = "Q2_K")]
    Q2K,
    #[serde(rename = "Q4_K_M")]
    Q4KM,
    #[serde(rename = "Q5_K_M")]
    Q5KM,
    #[serde(rename = "Q8_0")]
    Q80,
}

impl QuantizationLevel {
    fn as_str(self) -> &'static str {
        match self {
            QuantizationLevel::Q2K => "Q2_K",
            QuantizationLevel::Q4KM => "Q4_K_M",
            QuantizationLevel::Q5KM => "Q5_K_M",
            QuantizationLevel::Q80 => "Q8_0",
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Video,
    Project,
    Both,
}

/// The document's `ClipRequest`; unknown fields are ignored, as pydantic does.
#[derive(Clone, Debug, Deserialize)]
pub struct ClipRequest {
    pub video_path: String,
    pub srt_path: String,
    /// Absent: the configured level — the active-model config's `quant`, else the model's
    /// `default_quant` in `models/models.yaml` (Q4_K_M for the document's models).
    #[serde(default)]
    pub quant_level: Option<QuantizationLevel>,
    /// `zh` or `en`; absent: the server's default language.
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default = "default_export")]
    pub export_format: ExportFormat,
    #[serde(default)]
    pub max_duration: Option<f64>,
    #[serde(default)]
    pub narrative_focus: Option<Vec<String>>,
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    #[serde(default)]
    pub preserve_segments: Option<Vec<PreserveSegment>>,
    /// Not in the document: seconds the task may take before it is cancelled with 3001
    /// (the document's "adjust timeout parameter"). Absent: no limit.
    #[serde(default)]
    pub timeout: Option<f64>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
pub struct PreserveSegment {
    pub start: f64,
    pub end: f64,
}

fn default_export() -> ExportFormat {
    ExportFormat::Both
}
fn default_temperature() -> f64 {
    0.7
}

/// The document's `ClipResponse` (plus `code` when it failed).
#[derive(Debug, Serialize)]
pub struct ClipResponse {
    pub task_id: String,
    pub project_path: Option<String>,
    pub video_path: Option<String>,
    pub render_time: f64,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    pub message: Option<String>,
    pub metrics: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
}

/// A clipsmaster error: numeric code, the document's message, the specifics.
#[derive(Debug)]
pub struct ClipError {
    code: u32,
    detail: String,
    task_id: Option<String>,
}

impl ClipError {
    fn new(code: u32, detail: impl Into<String>) -> Self {
        ClipError { code, detail: detail.into(), task_id: None }
    }

    fn status(&self) -> StatusCode {
        match self.code {
            1001 => StatusCode::BAD_REQUEST,
            1002 => StatusCode::NOT_FOUND,
            1003 | 2002 => StatusCode::SERVICE_UNAVAILABLE,
            1004 => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            3001 => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The document's message for each code.
fn code_message(code: u32) -> &'static str {
    match code {
        0 => "success",
        1001 => "invalid input",
        1002 => "file not found",
        1003 => "model not available",
        1004 => "unsupported format",
        2002 => "memory limit exceeded",
        3001 => "task timeout",
        3002 => "rendering failed",
        _ => "internal error",
    }
}

impl IntoResponse for ClipError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "code": self.code,
            "message": code_message(self.code),
            "detail": self.detail,
            "task_id": self.task_id,
        });
        let mut response = (self.status(), Json(body)).into_response();
        response.extensions_mut().insert(ErrorNote { code: Some(self.code), message: self.detail });
        response
    }
}

impl From<crate::error::ApiError> for ClipError {
    fn from(e: crate::error::ApiError) -> Self {
        let status = e.status();
        let code = if status.is_client_error() { 1001 } else { 2001 };
        ClipError::new(code, e.message().to_string())
    }
}

impl From<reelflow_store::Error> for ClipError {
    fn from(e: reelflow_store::Error) -> Self {
        tracing::error!(error = %e, "clipsmaster: store failure");
        ClipError::new(2001, "the task store failed; see the server log")
    }
}

pub fn task_id(run_id: &str) -> String {
    format!("task_{}", run_id.strip_prefix("run-").unwrap_or(run_id))
}

fn run_id(task_id: &str) -> Option<String> {
    let rest = task_id.strip_prefix("task_")?;
    (!rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')).then(|| format!("run-{rest}"))
}

/// Where relative `video_path`/`srt_path` resolve: the first `server.input_roots` entry, or
/// the uploads directory when none is configured (the same base as the generic run API).
fn input_base(state: &AppState) -> PathBuf {
    let config = state.runtime().config();
    config.server.input_roots.first().cloned().unwrap_or_else(|| config.uploads_dir())
}

/// A client-named server file: it must exist (1002) and lie inside an input root (1001).
fn check_file(state: &AppState, field: &str, given: &str) -> Result<PathBuf, ClipError> {
    if given.trim().is_empty() {
        return Err(ClipError::new(1001, format!("`{field}` is empty")));
    }
    let path = Path::new(given);
    let path = if path.is_absolute() { path.to_path_buf() } else { input_base(state).join(path) };
    if !path.is_file() {
        return Err(ClipError::new(1002, format!("{field}: {} does not exist", path.display())));
    }
    state.inner.roots.confine(&path).map_err(|e| {
        let roots: Vec<String> = state.inner.roots.roots().iter().map(|r| r.display().to_string()).collect();
        ClipError::new(1001, format!("{field}: {e} (input roots: {})", roots.join(", ")))
    })
}

/// The request's language, or the server's default.
fn language(state: &AppState, req: &ClipRequest) -> String {
    if let Some(lang) = &req.lang {
        return lang.clone();
    }
    let llm = state.runtime().llm();
    state
        .runtime()
        .config()
        .llm
        .default_language
        .clone()
        .or_else(|| llm.registry().active().ok().map(|(a, _)| a.default_language))
        .unwrap_or_else(|| "zh".into())
}

/// Checks a request and turns it into the workflow's inputs.
pub fn workflow_inputs(
    state: &AppState,
    req: &ClipRequest,
) -> Result<serde_json::Map<String, serde_json::Value>, ClipError> {
    if !(0.1..=1.0).contains(&req.temperature) {
        return Err(ClipError::new(1001, format!("temperature {} is outside 0.1–1.0", req.temperature)));
    }
    let lang = language(state, req);
    if !matches!(lang.as_str(), "zh" | "en") {
        return Err(ClipError::new(1001, format!("lang `{lang}` is not one of zh, en")));
    }
    if let Some(d) = req.max_duration
        && !(d > 0.0 && d.is_finite())
    {
        return Err(ClipError::new(1001, format!("max_duration {d} must be a positive number of seconds")));
    }
    if let Some(t) = req.timeout
        && !(t > 0.0 && t.is_finite())
    {
        return Err(ClipError::new(1001, format!("timeout {t} must be a positive number of seconds")));
    }
    let preserve = req.preserve_segments.clone().unwrap_or_default();
    if let Some(bad) = preserve.iter().find(|p| !(p.start >= 0.0 && p.end > p.start && p.end.is_finite())) {
        return Err(ClipError::new(1001, format!("preserve_segments: {}..{} is not a range", bad.start, bad.end)));
    }
    let video = check_file(state, "video_path", &req.video_path)?;
    let subtitles = check_file(state, "srt_path", &req.srt_path)?;
    // The planner's model must be there before anything is queued (never another language's).
    let selector =
        ModelSelector { model: None, language: Some(lang.clone()), quant: req.quant_level.map(|q| q.as_str().into()) };
    if let Err(e) = state.runtime().llm().registry().resolve(&selector) {
        let code = match &e {
            LlmError::Config { .. } => 2001,
            _ => 1003,
        };
        return Err(ClipError::new(code, e.to_string()));
    }
    let name = video.file_stem().and_then(|s| s.to_str()).map_or("remix".to_string(), |s| format!("{s}_remix"));
    let mut inputs = serde_json::Map::new();
    inputs.insert("video".into(), video.display().to_string().into());
    inputs.insert("subtitles".into(), subtitles.display().to_string().into());
    inputs.insert("lang".into(), lang.into());
    inputs.insert("quant_level".into(), req.quant_level.map_or("", |q| q.as_str()).into());
    inputs.insert("export_format".into(), serde_json::to_value(req.export_format).unwrap_or_default());
    inputs.insert("max_duration".into(), req.max_duration.unwrap_or(0.0).into());
    inputs.insert("narrative_focus".into(), serde_json::json!(req.narrative_focus.clone().unwrap_or_default()));
    inputs.insert("temperature".into(), req.temperature.into());
    inputs.insert("preserve_segments".into(), serde_json::json!(preserve));
    inputs.insert("name".into(), name.into());
    inputs.insert("timeout".into(), req.timeout.unwrap_or(0.0).into());
    Ok(inputs)
}

/// Queues one clip; the request was checked by [`workflow_inputs`].
pub async fn submit_clip(
    state: &AppState,
    inputs: serde_json::Map<String, serde_json::Value>,
    priority: i64,
) -> Result<RunRecord, ClipError> {
    let body = SubmitRun {
        workflow: Some(GENERATE_WORKFLOW.into()),
        source: None,
        definition: None,
        name: None,
        inputs,
        priority,
    };
    Ok(create_run(state, body).await?)
}

#[derive(Debug, Deserialize)]
pub struct GenerateQuery {
    #[serde(default)]
    wait: Option<bool>,
}

/// `POST /api/v1/generate`.
pub async fn generate(
    State(state): State<AppState>,
    Query(query): Query<GenerateQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ClipError> {
    let req: ClipRequest =
        serde_json::from_slice(&body).map_err(|e| ClipError::new(1001, format!("the request body: {e}")))?;
    let inputs = workflow_inputs(&state, &req)?;
    let run = submit_clip(&state, inputs, 0).await?;
    let respond_async = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("respond-async")));
    let wait = query.wait.unwrap_or(!respond_async);
    let (record, memory_peak_mb) = if wait { wait_for(&state, &run.id, WAIT_LIMIT).await? } else { (run, rss_mb()) };
    let response = clip_response(&record, memory_peak_mb);
    let status = match (record.status, response.code) {
        (RunState::Succeeded, _) => StatusCode::OK,
        (s, _) if !s.is_finished() => StatusCode::ACCEPTED,
        (_, Some(code)) => ClipError::new(code, "").status(),
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    // A failed task is an error for the access log and the monitor too.
    let note =
        response.code.map(|code| ErrorNote { code: Some(code), message: response.message.clone().unwrap_or_default() });
    let mut http = (status, Json(response)).into_response();
    if let Some(note) = note {
        http.extensions_mut().insert(note);
    }
    Ok(http)
}

/// The task timeout, durably: each unfinished clip run's deadline is its stored creation
/// time plus its `timeout` input, so a restarted server still enforces it and batch clips
/// get theirs too. A run past its deadline is cancelled (its status then reads 3001, see
/// [`failure_of`]). Runs until `stop` fires.
pub async fn enforce_timeouts(state: AppState, stop: CancellationToken) {
    let mut changes = state.hub().subscribe();
    loop {
        let next_due = match cancel_overdue(&state).await {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(error = %e, "clipsmaster: checking task timeouts failed");
                None
            }
        };
        // Sleep until the next deadline, at most a few seconds (a new task may bring an
        // earlier one; run changes wake this loop, throttled, since progress is frequent).
        let wait = next_due.map_or(TIMEOUT_POLL, |due| {
            Duration::from_millis(due.saturating_sub(crate::monitor::now_ms())).min(TIMEOUT_POLL)
        });
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
            _ = changes.recv() => tokio::time::sleep(Duration::from_millis(200).min(wait)).await,
        }
    }
}

const TIMEOUT_POLL: Duration = Duration::from_secs(5);

/// Cancels the clip runs past their deadline; returns the earliest deadline still ahead.
async fn cancel_overdue(state: &AppState) -> Result<Option<u64>, reelflow_store::Error> {
    let now = crate::monitor::now_ms();
    let mut next_due: Option<u64> = None;
    for status in [RunState::Queued, RunState::Running] {
        let mut after = None;
        loop {
            let filter = RunFilter { status: Some(status), limit: reelflow_store::MAX_PAGE, after };
            let page = state.store().list_runs(filter).await?;
            for run in page.runs.iter().filter(|r| r.workflow == GENERATE_WORKFLOW && !r.cancel_requested) {
                let limit = run.inputs.get("timeout").and_then(serde_json::Value::as_f64).unwrap_or(0.0);
                if limit <= 0.0 {
                    continue;
                }
                let deadline = run.created_at + (limit * 1000.0) as u64;
                if deadline > now {
                    next_due = Some(next_due.map_or(deadline, |d| d.min(deadline)));
                    continue;
                }
                tracing::warn!(run = %run.id, limit_s = limit, "clipsmaster: task timed out; cancelling it");
                if let Some(cancelled) = state.store().request_cancel(&run.id).await? {
                    state.hub().cancel_local(&cancelled.id);
                    state.hub().run_changed(&cancelled.id);
                }
            }
            match page.next_cursor {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
    }
    Ok(next_due)
}

/// Whether a cancelled run was cancelled by its task timeout.
fn timed_out(run: &RunRecord) -> bool {
    let limit = run.inputs.get("timeout").and_then(|t| t.as_f64()).unwrap_or(0.0);
    let took = run.finished_at.unwrap_or(0).saturating_sub(run.created_at) as f64 / 1000.0;
    limit > 0.0 && took >= limit
}

/// Waits until the run finishes (or `limit` passes), sampling this process's RSS: the peak
/// is the `memory_peak_mb` the response reports (the whole server's, honestly measured).
pub async fn wait_for(state: &AppState, run_id: &str, limit: Duration) -> Result<(RunRecord, f64), ClipError> {
    let mut changes = state.hub().subscribe();
    let deadline = Instant::now() + limit;
    let mut peak = rss_mb();
    loop {
        let run = state.store().get_run(run_id).await?.ok_or_else(|| ClipError::new(2001, "the task vanished"))?;
        peak = peak.max(rss_mb());
        if run.status.is_finished() || Instant::now() >= deadline {
            return Ok((run, peak));
        }
        // Woken by any run's change; the poll covers runs finished by another process.
        let _ = tokio::time::timeout(Duration::from_millis(250), changes.recv()).await;
    }
}

fn file_path(outputs: &serde_json::Value, key: &str) -> Option<String> {
    outputs.get(key)?.get("$file")?.as_str().map(str::to_owned)
}

/// The run as a `ClipResponse`.
pub fn clip_response(run: &RunRecord, memory_peak_mb: f64) -> ClipResponse {
    let render_time = match (run.started_at, run.finished_at) {
        (Some(s), Some(f)) => (f.saturating_sub(s)) as f64 / 1000.0,
        _ => 0.0,
    };
    let task_id = task_id(&run.id);
    match run.status {
        RunState::Succeeded => {
            let outputs = run.outputs.clone().unwrap_or_default();
            let input = outputs.get("input_duration").and_then(|v| v.as_f64()).unwrap_or(0.0);
            let output = outputs.get("output_duration").and_then(|v| v.as_f64()).unwrap_or(0.0);
            ClipResponse {
                task_id,
                project_path: file_path(&outputs, "project"),
                video_path: file_path(&outputs, "video"),
                render_time,
                status: "success",
                progress: None,
                message: Some("Clip generated successfully".into()),
                metrics: Some(serde_json::json!({
                    "input_duration": input,
                    "output_duration": output,
                    "compression_ratio": if input > 0.0 { (output / input * 1000.0).round() / 1000.0 } else { 0.0 },
                    "memory_peak_mb": memory_peak_mb,
                    "segments": outputs.get("quality").and_then(|q| q.get("segments")).cloned(),
                })),
                code: None,
            }
        }
        RunState::Failed | RunState::Cancelled => {
            let (code, message) = failure_of(run);
            ClipResponse {
                task_id,
                project_path: None,
                video_path: None,
                render_time,
                status: "failed",
                progress: None,
                message: Some(message),
                metrics: None,
                code: Some(code),
            }
        }
        _ => ClipResponse {
            task_id,
            project_path: None,
            video_path: None,
            render_time,
            status: if run.status == RunState::Queued { "pending" } else { "processing" },
            progress: Some(0.0),
            message: Some("Task accepted".into()),
            metrics: None,
            code: None,
        },
    }
}

/// The clipsmaster code and message of a failed run, from its failed node's error kind.
fn failure_of(run: &RunRecord) -> (u32, String) {
    let error = run.error.clone().unwrap_or_default();
    let message = error.get("message").and_then(|m| m.as_str()).unwrap_or("the task failed").to_string();
    if run.status == RunState::Cancelled {
        if timed_out(run) {
            let limit = run.inputs.get("timeout").and_then(|t| t.as_f64()).unwrap_or(0.0);
            return (3001, format!("the task did not finish within its timeout of {limit} s and was cancelled"));
        }
        return (2001, "the task was cancelled".into());
    }
    let node = error.get("nodes").and_then(|n| n.as_array()).and_then(|n| n.first());
    let kind = node.and_then(|n| n.get("kind")).and_then(|k| serde_json::from_value::<ErrorKind>(k.clone()).ok());
    let node_id = node.and_then(|n| n.get("node")).and_then(|n| n.as_str()).unwrap_or("");
    let code = match kind {
        Some(ErrorKind::FileNotFound) => 1002,
        Some(ErrorKind::ModelUnavailable) => 1003,
        Some(ErrorKind::UnsupportedFormat) => 1004,
        Some(ErrorKind::ResourceExhausted) => 2002,
        Some(ErrorKind::Timeout) => 3001,
        Some(ErrorKind::RenderFailed) => 3002,
        Some(ErrorKind::InvalidInput) if matches!(node_id, "probe" | "subs" | "silences") => 1004,
        Some(ErrorKind::InvalidInput) => 1001,
        _ if matches!(node_id, "cut" | "project") => 3002,
        _ => 2001,
    };
    (code, message)
}

#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    task_id: Option<String>,
}

/// What a node is doing, in the document's words.
fn stage_message(node: &str) -> &'static str {
    match node {
        "probe" | "subs" | "silences" | "prompt" => "Processing: Reading the episode and its subtitles",
        "plan" => "Processing: Planning the story with the language model",
        "assemble" => "Processing: Assembling segments",
        "cut" => "Processing: Rendering final video",
        "project" => "Processing: Exporting the project file",
        _ => "Processing",
    }
}

/// How many of a run's latest events `/status` looks through for the planner's own progress.
const RECENT_EVENTS: u32 = 64;

/// What the planner last said while reading its prompt (`reading the prompt (N tokens): T s`):
/// on a CPU that takes minutes in which nothing else about the task changes. `None` once it
/// writes, whose progress messages are the answer's text.
fn prompt_reading(events: &[Event], node: &str) -> Option<String> {
    let message = events.iter().rev().find_map(|e| match &e.kind {
        EventKind::NodeProgress { node: n, message, .. } if n == node => Some(message),
        _ => None,
    })?;
    message.find(READING_PROMPT).map(|at| message[at..].to_string())
}

/// `GET /api/v1/status?task_id=…`.
pub async fn status(State(state): State<AppState>, Query(q): Query<StatusQuery>) -> Result<Response, ClipError> {
    let task = q.task_id.filter(|t| !t.is_empty()).ok_or_else(|| ClipError::new(1001, "task_id is required"))?;
    if task.starts_with("batch_") {
        return batch::batch_status(&state, &task).await;
    }
    let not_found = || ClipError { code: 1001, detail: format!("no task `{task}`"), task_id: Some(task.clone()) };
    let id = run_id(&task).ok_or_else(not_found)?;
    let run = state.store().get_run(&id).await?.ok_or_else(not_found)?;
    let view = crate::runs::run_view(&state, &id).await?;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let elapsed = run.started_at.map_or(0.0, |s| (run.finished_at.unwrap_or(now_ms).saturating_sub(s)) as f64 / 1000.0);
    let running = view.nodes.iter().find(|(_, n)| n.state == "running").map(|(id, _)| id.as_str());
    let mut stage = stage_message(running.unwrap_or("")).to_string();
    if running == Some("plan") {
        let last = state.store().last_event_seq(&id).await?;
        let recent =
            state.store().events_after(&id, last.saturating_sub(u64::from(RECENT_EVENTS)), RECENT_EVENTS).await?;
        if let Some(reading) = prompt_reading(&recent, "plan") {
            stage = format!("{stage} — {reading}");
        }
    }
    let (status, message) = match run.status {
        RunState::Queued => ("pending", "Waiting for a free worker".to_string()),
        RunState::Running => ("processing", stage),
        RunState::Succeeded => ("success", "Clip generated successfully".to_string()),
        _ => ("failed", failure_of(&run).1),
    };
    let mut body = serde_json::json!({
        "task_id": task,
        "status": status,
        "progress": (view.progress.fraction * 1000.0).round() / 1000.0,
        "message": message,
        "metrics": {"memory_usage_mb": rss_mb(), "elapsed_time": elapsed},
    });
    if run.status == RunState::Succeeded {
        let r = clip_response(&run, rss_mb());
        body["video_path"] = serde_json::json!(r.video_path);
        body["project_path"] = serde_json::json!(r.project_path);
    } else if matches!(run.status, RunState::Failed | RunState::Cancelled) {
        body["code"] = failure_of(&run).0.into();
    }
    Ok(Json(body).into_response())
}

/// `GET /api/v1/models`: every model the manifest lists, as the document's model section
/// describes them (language, path, quantization levels present, memory).
pub async fn models(State(state): State<AppState>) -> Result<Response, ClipError> {
    let registry = state.runtime().llm().registry();
    let statuses = registry.list().map_err(|e| ClipError::new(2001, e.to_string()))?;
    let (active, active_path) = registry.active().map_err(|e| ClipError::new(2001, e.to_string()))?;
    let loaded = state.runtime().llm().pool().entries();
    let models: Vec<serde_json::Value> = statuses
        .iter()
        .map(|s| {
            let present: Vec<&str> = s.levels.iter().filter(|l| l.available).map(|l| l.quant.as_str()).collect();
            let default = s.levels.iter().find(|l| l.quant == s.entry.default_quant);
            serde_json::json!({
                "name": s.entry.id,
                "description": s.entry.name,
                "language": s.entry.languages.first(),
                "languages": s.entry.languages,
                "status": if s.available() { "available" } else { "missing" },
                "path": default.map(|l| l.path.display().to_string()),
                "default_quantization": s.entry.default_quant,
                "quantization_levels": present,
                "missing_levels": s.levels.iter().filter(|l| !l.available).map(|l| l.quant.as_str()).collect::<Vec<_>>(),
                "memory_requirement_mb": s.levels.iter().map(|l| (l.quant.clone(), serde_json::Value::from(l.memory_mb))).collect::<serde_json::Map<_, _>>(),
                "active_for": s.active_for,
                "loaded": loaded.iter().any(|e| e.id == s.entry.id),
                "licence": s.entry.licence,
                "install": (!s.available()).then_some(&s.entry.install),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "models": models,
        "default_language": active.default_language,
        "active_config": active_path.display().to_string(),
        "memory_budget_mb": state.runtime().llm().pool().budget_mb(),
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct MetricsQuery {
    time_window: Option<f64>,
}

/// `GET /api/v1/monitoring/metrics?time_window=<minutes>`: per-endpoint requests and
/// latency (ms), and this process's memory (bytes) and CPU (% of the machine), as measured
/// by the server's monitor over the window (or everything it keeps).
pub async fn monitoring_metrics(
    State(state): State<AppState>,
    Query(q): Query<MetricsQuery>,
) -> Result<Response, ClipError> {
    let window = match q.time_window {
        None => None,
        Some(m) if m > 0.0 && m.is_finite() => Some(Duration::from_secs_f64(m * 60.0)),
        Some(m) => return Err(ClipError::new(1001, format!("time_window {m} must be a positive number of minutes"))),
    };
    let snapshot = state.inner.monitor.snapshot(window);
    let (memory, cpu) = (snapshot.memory(), snapshot.cpu());
    Ok(Json(serde_json::json!({
        "timestamp": rfc3339_s(snapshot.timestamp_ms),
        "uptime": (snapshot.uptime_s * 10.0).round() / 10.0,
        "time_window": q.time_window,
        "endpoints": snapshot.endpoints,
        "system": {
            "memory": {"current": memory.current as u64, "peak": memory.peak as u64, "average": memory.average as u64},
            "cpu": cpu,
        },
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(seq: u64, node: &str, message: &str) -> Event {
        Event {
            seq,
            at_ms: seq,
            run_id: "r".into(),
            kind: EventKind::NodeProgress { node: node.into(), fraction: 0.0, message: message.into() },
        }
    }

    #[test]
    fn status_shows_how_long_the_planner_has_been_reading_its_prompt() {
        let ready = progress(1, "plan", "smollm2-135m-instruct (Q8_0) ready; reading the prompt (5120 tokens)");
        assert_eq!(
            prompt_reading(std::slice::from_ref(&ready), "plan").as_deref(),
            Some("reading the prompt (5120 tokens)")
        );
        // The latest report of that node counts, whatever other nodes said after it.
        let later = progress(2, "plan", "reading the prompt (5120 tokens): 84 s");
        let other = progress(3, "silences", "reading the prompt of something else");
        assert_eq!(
            prompt_reading(&[ready.clone(), later.clone(), other], "plan").as_deref(),
            Some("reading the prompt (5120 tokens): 84 s")
        );
        // Once tokens flow, the messages are the answer's text: nothing is added.
        let writing = progress(4, "plan", "{\"moments\":[{\"first\":3");
        assert_eq!(prompt_reading(&[ready, later, writing], "plan"), None);
        assert_eq!(prompt_reading(&[], "plan"), None);
    }
}
