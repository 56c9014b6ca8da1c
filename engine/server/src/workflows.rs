//! `/api/v1/workflows` and `/api/v1/nodes`: what this server can run.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::extract::State;
use indexmap::IndexMap;
use reelflow_core::{NodeSpec, Plan};
use reelflow_runtime::Runtime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiJson, ApiPath, ApiResult, ErrorBody};
use crate::runs::read_workflow;
use crate::state::AppState;

/// Deepest folder nesting searched under the workflows directory.
const MAX_DEPTH: usize = 8;

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowSummary {
    /// The name to submit it by (`clipsmaster/generate`).
    pub name: String,
    pub description: Option<String>,
    /// Whether it validates with the ops this server has.
    pub valid: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowList {
    pub workflows: Vec<WorkflowSummary>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowDetail {
    pub name: String,
    pub description: Option<String>,
    /// Inputs with their type (`string`, `video`, `list<int>`, …), default and description.
    pub inputs: IndexMap<String, InputView>,
    /// Output names and their types.
    pub outputs: IndexMap<String, String>,
    /// Node ids and their ops, in file order.
    pub nodes: Vec<NodeRef>,
    /// The workflow file's text.
    pub source: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InputView {
    #[serde(rename = "type")]
    pub ty: String,
    pub default: Option<serde_json::Value>,
    pub optional: bool,
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<serde_json::Value>>,
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NodeRef {
    pub id: String,
    pub op: String,
}

/// Workflow text to check, as submitted to `POST /api/v1/runs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// YAML or JSON text.
    pub source: Option<String>,
    /// Or the workflow as a JSON object.
    pub definition: Option<serde_json::Value>,
    /// Shown as the file name in located errors.
    pub name: Option<String>,
}

/// The same result as `reelflow validate --json`, plus the rendered report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidateResult {
    pub valid: bool,
    /// Located errors: `code`, `message`, `file`, `line`, `column`, `node`, `help`.
    pub errors: Vec<serde_json::Value>,
    /// The errors as the CLI prints them (no colour); empty when valid.
    pub rendered: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NodeList {
    /// Every op: name, version, typed ports, param schema, resource class.
    pub nodes: Vec<serde_json::Value>,
}

/// Workflows in the server's workflows directory.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows", responses((status = 200, body = WorkflowList)))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<WorkflowList>> {
    let runtime = state.runtime().clone();
    let workflows = tokio::task::spawn_blocking(move || {
        let dir = runtime.config().workflows_dir.clone();
        let mut files = Vec::new();
        collect_workflow_files(&dir, &dir, 0, &mut files);
        files.sort();
        files
            .into_iter()
            .map(|(name, path)| {
                let loaded = read_workflow(&path).ok().map(|text| load(&runtime, &name, &text, &path));
                let description = match &loaded {
                    Some(Ok(plan)) => plan.description.clone(),
                    _ => None,
                };
                WorkflowSummary { name, description, valid: matches!(loaded, Some(Ok(_))) }
            })
            .collect()
    })
    .await
    .map_err(|e| ApiError::internal("listing workflows", e))?;
    Ok(Json(WorkflowList { workflows }))
}

fn load(runtime: &Runtime, name: &str, text: &str, path: &Path) -> Result<Plan, reelflow_core::Diagnostics> {
    let base = path.parent().unwrap_or(Path::new("."));
    runtime.load_source(name, text, base)
}

fn collect_workflow_files(root: &Path, dir: &Path, depth: usize, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() && depth < MAX_DEPTH {
            collect_workflow_files(root, &path, depth + 1, out);
        } else if kind.is_file()
            && let Some(ext) = path.extension().and_then(|e| e.to_str())
            && matches!(ext, "yaml" | "yml" | "json")
            && let Ok(rel) = path.with_extension("").strip_prefix(root).map(Path::to_path_buf)
        {
            let name = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            out.push((name, path));
        }
    }
}

/// One workflow: its inputs, outputs, nodes and text.
#[utoipa::path(get, path = "/api/v1/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "Workflow name; may contain `/`")),
    responses((status = 200, body = WorkflowDetail), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<Json<WorkflowDetail>> {
    let runtime = state.runtime();
    let path = runtime.find_workflow(&name).map_err(|_| ApiError::not_found("workflow", &name))?;
    let source = read_workflow(&path)?;
    let plan = load(runtime, &name, &source, &path).map_err(|d| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_workflow",
            format!("{name} does not validate"),
        )
        .with_details(serde_json::json!({"errors": d.located(), "rendered": d.render(false)}))
    })?;
    Ok(Json(WorkflowDetail {
        name,
        description: plan.description.clone(),
        inputs: plan
            .inputs
            .iter()
            .map(|(k, i)| {
                let view = InputView {
                    ty: i.ty.to_string(),
                    default: i.default.as_ref().map(|v| v.to_json()),
                    optional: i.optional,
                    allowed: i.allowed.as_ref().map(|a| a.iter().map(|v| v.to_json()).collect()),
                    description: i.description.clone(),
                };
                (k.clone(), view)
            })
            .collect(),
        outputs: plan.outputs.iter().map(|(k, o)| (k.clone(), o.ty.to_string())).collect(),
        nodes: plan.nodes.iter().map(|n| NodeRef { id: n.id.clone(), op: n.op.clone() }).collect(),
        source,
    }))
}

/// Checks a workflow without running it.
#[utoipa::path(post, path = "/api/v1/workflows/validate", tag = "workflows", request_body = ValidateRequest,
    responses((status = 200, body = ValidateResult), (status = 400, body = ErrorBody)))]
pub async fn validate(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ValidateRequest>,
) -> ApiResult<Json<ValidateResult>> {
    let text = match (body.source, body.definition) {
        (Some(source), None) => source,
        (None, Some(definition)) => definition.to_string(),
        _ => return Err(ApiError::bad_request("give exactly one of `source` (text) or `definition` (an object)")),
    };
    let name = body.name.unwrap_or_else(|| "workflow".into());
    let runtime = state.runtime().clone();
    let base = runtime.config().data_dir.join("inline");
    let result = tokio::task::spawn_blocking(move || runtime.load_source(&name, &text, &base))
        .await
        .map_err(|e| ApiError::internal("validating a workflow", e))?;
    Ok(Json(match result {
        Ok(_) => ValidateResult { valid: true, errors: Vec::new(), rendered: String::new() },
        Err(d) => ValidateResult {
            valid: false,
            errors: d.located().iter().filter_map(|e| serde_json::to_value(e).ok()).collect(),
            rendered: d.render(false),
        },
    }))
}

/// Every op this server has, as `reelflow nodes --json` prints them.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "workflows", responses((status = 200, body = NodeList)))]
pub async fn nodes(State(state): State<AppState>) -> ApiResult<Json<NodeList>> {
    let specs: Vec<NodeSpec> = state.runtime().registry().specs();
    let nodes = specs.iter().filter_map(|s| serde_json::to_value(s).ok()).collect();
    Ok(Json(NodeList { nodes }))
}
