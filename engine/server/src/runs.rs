//! `/api/v1/runs`: submit, inspect, list, cancel and retry runs.

use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use indexmap::IndexMap;
use reelflow_core::{EventKind, Value};
use reelflow_store::{NewRun, NodeRunState, RunFilter, RunRecord, RunState};
use reelflow_worker::{ARTIFACT_KEY, INLINE_PREFIX, Prepared, workflow_base_dir};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::state::AppState;

/// A run to start: a workflow by name, or inline as text or as a JSON object.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRun {
    /// A workflow from the server's workflows directory, e.g. `examples/demo`.
    pub workflow: Option<String>,
    /// Inline workflow text (YAML or JSON).
    pub source: Option<String>,
    /// Inline workflow as a JSON object.
    pub definition: Option<serde_json::Value>,
    /// A name for an inline workflow (shown in listings and events).
    pub name: Option<String>,
    /// Input values by name. File inputs take `upload:<id>` (from `POST /api/v1/uploads`) or
    /// a server path inside the configured input roots.
    #[serde(default)]
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// Higher runs start first.
    #[serde(default)]
    pub priority: i64,
}

/// The answer to a submission or a state change.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub id: String,
    pub status: String,
    pub links: RunLinks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunLinks {
    #[serde(rename = "self")]
    pub this: String,
    pub events: String,
}

impl RunLinks {
    fn of(id: &str) -> Self {
        RunLinks { this: format!("/api/v1/runs/{id}"), events: format!("/api/v1/runs/{id}/events") }
    }
}

/// A run as clients see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub workflow: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    pub priority: i64,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    /// How many times a worker claimed the run (more than one: it was resumed or retried).
    pub claims: u32,
    /// The worker executing the run (while `running`).
    pub worker: Option<String>,
    pub cancel_requested: bool,
    pub progress: Progress,
    /// Per-node state, including nodes inside `map` bodies (`map[2].inner`).
    pub nodes: IndexMap<String, NodeView>,
    pub inputs: serde_json::Value,
    /// Output values; files carry `artifact` and `url` to download them.
    pub outputs: Option<serde_json::Value>,
    /// `message`, and for failures the failed `nodes` with their error chains (outermost first).
    pub error: Option<serde_json::Value>,
    pub links: RunLinks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    /// Top-level nodes in the workflow (0 until the run starts).
    pub total: usize,
    /// Top-level nodes that reached a final state.
    pub done: usize,
    pub running: usize,
    /// `done / total`, 1 when the run finished.
    pub fraction: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NodeView {
    /// `running`, `succeeded`, `cached`, `failed`, `skipped` or `cancelled`.
    pub state: String,
    pub attempts: u32,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Vec<String>>,
}

/// A run in a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunSummary {
    pub id: String,
    pub workflow: String,
    pub status: String,
    pub priority: i64,
    pub created_at: u64,
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunPage {
    pub runs: Vec<RunSummary>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only runs in this state.
    pub status: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Starts a run. Validation happens here: an invalid workflow or inputs never enters the queue.
#[utoipa::path(post, path = "/api/v1/runs", tag = "runs", request_body = SubmitRun,
    responses(
        (status = 202, description = "Accepted and queued", body = Accepted),
        (status = 404, description = "No such workflow", body = ErrorBody),
        (status = 422, description = "Invalid workflow (located errors, as `reelflow validate --json`) or inputs", body = ErrorBody),
    ))]
pub async fn submit(State(state): State<AppState>, ApiJson(body): ApiJson<SubmitRun>) -> ApiResult<Response> {
    let run = create_run(&state, body).await?;
    let location = format!("/api/v1/runs/{}", run.id);
    let accepted = Accepted { status: run.status.to_string(), links: RunLinks::of(&run.id), id: run.id };
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(accepted)).into_response())
}

/// Validates and queues a run; used by the generic API and by product adapters.
pub async fn create_run(state: &AppState, body: SubmitRun) -> ApiResult<RunRecord> {
    let (new_run, prepared) = prepare_run(state, body).await?;
    // A free slot in this process's worker: start the run now, with the plan just validated.
    if let Some(worker) = &state.inner.worker
        && let Some(slot) = worker.try_reserve()
    {
        return Ok(worker.submit(slot, new_run, prepared).await?);
    }
    let run = state.store().create_run(new_run).await?;
    state.hub().run_queued();
    Ok(run)
}

/// Validates a submission (workflow, inputs, input confinement) into the run to store and
/// its checked plan, without queueing it.
pub async fn prepare_run(state: &AppState, body: SubmitRun) -> ApiResult<(NewRun, Prepared)> {
    let runtime = state.runtime().clone();
    let (name, source) = workflow_text(&runtime, &body)?;
    let inline = name.starts_with(INLINE_PREFIX);
    let base_dir = workflow_base_dir(&runtime, &name);
    if inline {
        std::fs::create_dir_all(&base_dir).map_err(|e| ApiError::internal("creating the inline directory", e))?;
    }
    let plan = {
        let (runtime, name, source, base_dir) = (runtime.clone(), name.clone(), source.clone(), base_dir.clone());
        tokio::task::spawn_blocking(move || runtime.load_source(&name, &source, &base_dir))
            .await
            .map_err(|e| ApiError::internal("validating a workflow", e))?
    };
    let plan = plan.map_err(|d| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_workflow", format!("{} is not a valid workflow", name))
            .with_details(serde_json::json!({"errors": d.located(), "rendered": d.render(false)}))
    })?;

    // Client paths: uploads by id; server paths relative to the first input root.
    let config = runtime.config();
    let relative_to = config.server.input_roots.first().cloned().unwrap_or_else(|| config.uploads_dir());
    let mut given = IndexMap::new();
    for (key, json) in &body.inputs {
        let mut value = Value::from_json(json);
        if plan.inputs.get(key).is_some_and(|decl| decl.ty.holds_files()) {
            value = resolve_uploads(state, value).await?;
        }
        given.insert(key.clone(), value);
    }
    let given_names: Vec<String> = given.keys().cloned().collect();
    let mut inputs = plan.bind_inputs(given, &relative_to).map_err(invalid_inputs)?;
    // Named workflows are the operator's: their own defaults may point anywhere. Inline
    // workflows and client-given values are confined to the input roots.
    let mut confined: IndexMap<String, Value> =
        inputs.iter().filter(|(k, _)| inline || given_names.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    state.inner.roots.confine_inputs(&mut confined).map_err(invalid_inputs)?;
    for (k, v) in confined {
        inputs.insert(k, v);
    }
    let inputs_json = serde_json::Value::Object(inputs.iter().map(|(k, v)| (k.clone(), v.to_json())).collect());

    let new_run = NewRun { workflow: name, source, inputs: inputs_json, priority: body.priority };
    Ok((new_run, Prepared { plan: Arc::new(plan), inputs }))
}

fn invalid_inputs(errors: Vec<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_inputs", errors.join("; "))
        .with_details(serde_json::json!({ "errors": errors }))
}

/// The workflow's name and text from whichever of `workflow`, `source`, `definition` was given.
fn workflow_text(runtime: &reelflow_runtime::Runtime, body: &SubmitRun) -> ApiResult<(String, String)> {
    let inline_name = || format!("{INLINE_PREFIX}{}", body.name.as_deref().unwrap_or("workflow"));
    match (&body.workflow, &body.source, &body.definition) {
        (Some(name), None, None) => {
            let path = runtime.find_workflow(name).map_err(|_| ApiError::not_found("workflow", name))?;
            let text = read_workflow(&path)?;
            Ok((name.clone(), text))
        }
        (None, Some(source), None) => {
            if source.len() > reelflow_core::MAX_SOURCE_BYTES {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "workflow text too large",
                ));
            }
            Ok((inline_name(), source.clone()))
        }
        (None, None, Some(definition)) => Ok((inline_name(), definition.to_string())),
        _ => Err(ApiError::bad_request(
            "give exactly one of `workflow` (a name), `source` (text) or `definition` (an object)",
        )),
    }
}

pub(crate) fn read_workflow(path: &Path) -> ApiResult<String> {
    std::fs::read_to_string(path).map_err(|e| ApiError::internal("reading a workflow file", e))
}

/// Replaces `upload:<id>` strings and `{"upload": "<id>"}` objects with the upload's path.
async fn resolve_uploads(state: &AppState, value: Value) -> ApiResult<Value> {
    let mut ids = Vec::new();
    collect_upload_ids(&value, &mut ids);
    let mut paths = std::collections::HashMap::new();
    for id in ids {
        let upload = state.store().get_upload(&id).await?.ok_or_else(|| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_inputs", format!("no upload `{id}`"))
        })?;
        paths.insert(id, upload.path);
    }
    Ok(replace_uploads(value, &paths))
}

fn upload_id(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => s.strip_prefix("upload:"),
        Value::Map(m) if m.len() == 1 => m.get("upload").and_then(Value::as_str),
        _ => None,
    }
}

fn collect_upload_ids(value: &Value, ids: &mut Vec<String>) {
    if let Some(id) = upload_id(value) {
        ids.push(id.to_owned());
    } else if let Value::List(items) = value {
        items.iter().for_each(|v| collect_upload_ids(v, ids));
    }
}

fn replace_uploads(value: Value, paths: &std::collections::HashMap<String, String>) -> Value {
    if let Some(path) = upload_id(&value).and_then(|id| paths.get(id)) {
        return Value::String(path.clone());
    }
    match value {
        Value::List(items) => Value::List(items.into_iter().map(|v| replace_uploads(v, paths)).collect()),
        other => other,
    }
}

/// A run with its progress, nodes, outputs and error.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<RunView>> {
    Ok(Json(run_view(&state, &id).await?))
}

pub async fn run_view(state: &AppState, id: &str) -> ApiResult<RunView> {
    let store = state.store();
    let run = store.get_run(id).await?.ok_or_else(|| ApiError::not_found("run", id))?;
    let nodes = store.node_runs(id).await?;
    // The first event is `run_started`, which says how many nodes the workflow has.
    let total = match store.events_after(id, 0, 1).await?.first().map(|e| &e.kind) {
        Some(EventKind::RunStarted { nodes, .. }) => *nodes,
        _ => 0,
    };
    let top_level = nodes.iter().filter(|(id, _)| !id.contains('['));
    let done = top_level.clone().filter(|(_, n)| n.state.is_finished()).count();
    let running = top_level.filter(|(_, n)| n.state == NodeRunState::Running).count();
    let fraction = if run.status.is_finished() {
        1.0
    } else if total == 0 {
        0.0
    } else {
        done.min(total) as f64 / total as f64
    };
    Ok(RunView {
        links: RunLinks::of(&run.id),
        id: run.id,
        workflow: run.workflow,
        status: run.status.to_string(),
        priority: run.priority,
        created_at: run.created_at,
        started_at: run.started_at,
        finished_at: run.finished_at,
        claims: run.claims,
        worker: run.lease_owner,
        cancel_requested: run.cancel_requested,
        progress: Progress { total, done, running, fraction },
        nodes: nodes
            .into_iter()
            .map(|(id, n)| {
                let state = serde_json::to_value(n.state).ok().and_then(|v| v.as_str().map(str::to_owned));
                (
                    id,
                    NodeView {
                        state: state.unwrap_or_default(),
                        attempts: n.attempts,
                        duration_ms: n.duration_ms,
                        error: n.error,
                    },
                )
            })
            .collect(),
        inputs: run.inputs,
        outputs: run.outputs.map(add_artifact_urls),
        error: run.error,
    })
}

/// Adds `url` next to every `artifact` id.
fn add_artifact_urls(mut json: serde_json::Value) -> serde_json::Value {
    match &mut json {
        serde_json::Value::Object(obj) => {
            if let Some(id) = obj.get(ARTIFACT_KEY).and_then(|v| v.as_str()).map(str::to_owned) {
                obj.insert("url".into(), serde_json::Value::String(format!("/api/v1/artifacts/{id}")));
            } else {
                for v in obj.values_mut() {
                    *v = add_artifact_urls(v.take());
                }
            }
        }
        serde_json::Value::Array(items) => {
            for v in items.iter_mut() {
                *v = add_artifact_urls(v.take());
            }
        }
        _ => {}
    }
    json
}

/// Runs newest first, optionally by state, in pages.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(ListQuery),
    responses((status = 200, body = RunPage), (status = 400, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Json<RunPage>> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(s.parse::<RunState>().map_err(|e| {
            ApiError::bad_request(format!("{e}; states: queued, running, succeeded, failed, cancelled"))
        })?),
    };
    let filter = RunFilter { status, limit: q.limit.unwrap_or(50), after: q.cursor };
    let page = state.store().list_runs(filter).await?;
    Ok(Json(RunPage {
        runs: page
            .runs
            .into_iter()
            .map(|r| RunSummary {
                status: r.status.to_string(),
                id: r.id,
                workflow: r.workflow,
                priority: r.priority,
                created_at: r.created_at,
                started_at: r.started_at,
                finished_at: r.finished_at,
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Cancels a run: a queued run at once, a running one as soon as its nodes notice (they
/// poll for it inside their loops).
#[utoipa::path(delete, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 202, body = Accepted), (status = 404, body = ErrorBody), (status = 409, description = "Already finished", body = ErrorBody)))]
pub async fn cancel(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Response> {
    let store = state.store();
    let before = store.get_run(&id).await?.ok_or_else(|| ApiError::not_found("run", &id))?;
    if before.status.is_finished() {
        return Err(ApiError::conflict(format!("run `{id}` already {}", before.status)));
    }
    let run = store.request_cancel(&id).await?.ok_or_else(|| ApiError::not_found("run", &id))?;
    if before.status == RunState::Queued && run.status == RunState::Cancelled {
        // No worker will ever announce the end of a run it never started.
        let seq = store.last_event_seq(&id).await? + 1;
        let event = reelflow_core::Event {
            seq,
            at_ms: run.finished_at.unwrap_or(run.created_at),
            run_id: id.clone(),
            kind: EventKind::RunFinished { status: reelflow_core::RunStatus::Cancelled, duration_ms: 0 },
        };
        store.append_events(&id, &[event]).await?;
    }
    state.hub().cancel_local(&id);
    state.hub().run_changed(&id);
    let accepted = Accepted { status: run.status.to_string(), links: RunLinks::of(&id), id };
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

/// Runs a failed or cancelled run again under the same id. Nodes that succeeded come from
/// the cache, so only the failed ones (and what depends on them) do work.
#[utoipa::path(post, path = "/api/v1/runs/{id}/retry", tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 202, body = Accepted), (status = 404, body = ErrorBody), (status = 409, description = "Not failed or cancelled", body = ErrorBody)))]
pub async fn retry(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Response> {
    let run = state.store().requeue(&id).await?.ok_or_else(|| ApiError::not_found("run", &id))?;
    state.hub().run_queued();
    state.hub().run_changed(&id);
    let accepted = Accepted { status: run.status.to_string(), links: RunLinks::of(&id), id };
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

/// The `Last-Event-ID` header or `?after=`, whichever is later.
pub(crate) fn replay_from(headers: &HeaderMap, after: Option<u64>) -> u64 {
    let header = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    header.max(after).unwrap_or(0)
}
