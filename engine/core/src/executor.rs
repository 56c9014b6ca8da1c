//! The executor: runs a [`Plan`] on tokio.
//!
//! Ready nodes run concurrently, each as its own task; a node waits for a permit of its
//! resource class (`cpu`, `gpu`, `llm`, `io`) before it runs. Per-node timeouts, retries
//! with exponential backoff and jitter, and cancellation all live here. A failed node fails
//! only what depends on it; with `fail_fast`, the first failure cancels the run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use std::panic::AssertUnwindSafe;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use indexmap::IndexMap;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::cache::Cache;
use crate::events::{EventBus, EventKind, EventSink, RunStatus};
use crate::expr::ExprScope;
use crate::node::{ErrorKind, NodeCtx, NodeError, NodeInputs, Outputs, ResourceClass};
use crate::plan::{Binding, Plan, PlanKind, PlanNode};
use crate::source::{PathSeg, path_text};
use crate::value::Value;

/// Concurrency limits per resource class; classes not given keep their defaults.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceLimits {
    pub cpu: usize,
    pub gpu: usize,
    pub llm: usize,
    pub io: usize,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ResourceLimits { cpu: cores, gpu: 1, llm: 1, io: 32 }
    }
}

impl ResourceLimits {
    fn get(&self, class: ResourceClass) -> usize {
        match class {
            ResourceClass::Cpu => self.cpu,
            ResourceClass::Gpu => self.gpu,
            ResourceClass::Llm => self.llm,
            ResourceClass::Io => self.io,
        }
        .max(1)
    }
}

/// Runs plans. One executor is shared by every run of a process, so resource limits hold
/// across runs.
pub struct Executor {
    cache: Option<Arc<Cache>>,
    semaphores: HashMap<ResourceClass, Arc<Semaphore>>,
}

/// One run's settings.
pub struct RunRequest {
    pub run_id: String,
    /// Inputs already bound with [`Plan::bind_inputs`].
    pub inputs: IndexMap<String, Value>,
    /// Where nodes write their files (`<workspace>/<node id>/`).
    pub workspace: PathBuf,
    pub events: Arc<dyn EventSink>,
    pub cancel: CancellationToken,
    /// Cancel everything at the first failure instead of finishing what does not depend on it.
    pub fail_fast: bool,
    /// Read and write the cache (when the executor has one).
    pub use_cache: bool,
    /// Continue the event numbering after this sequence number (a resumed run).
    pub first_seq: u64,
}

impl RunRequest {
    pub fn new(run_id: impl Into<String>, workspace: impl Into<PathBuf>) -> Self {
        RunRequest {
            run_id: run_id.into(),
            inputs: IndexMap::new(),
            workspace: workspace.into(),
            events: Arc::new(crate::events::NullSink),
            cancel: CancellationToken::new(),
            fail_fast: false,
            use_cache: true,
            first_seq: 0,
        }
    }
}

/// The final state of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    Succeeded,
    Cached,
    Failed,
    Skipped,
    Cancelled,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct NodeReport {
    pub state: NodeState,
    pub attempts: u32,
    pub duration_ms: u64,
    /// The error chain (failed) or the reason (skipped, cancelled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Vec<String>>,
    /// What kind of failure, when the node failed with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
}

/// What a run produced.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub status: RunStatus,
    pub duration_ms: u64,
    /// Workflow outputs that could be computed (all of them when the run succeeded).
    pub outputs: IndexMap<String, Value>,
    pub nodes: IndexMap<String, NodeReport>,
}

impl RunReport {
    /// The first failure, for one-line messages.
    pub fn first_error(&self) -> Option<(String, Vec<String>)> {
        self.first_failure().map(|(id, r)| (id.to_string(), r.error.clone().unwrap_or_default()))
    }

    /// The first failed node's report (its error chain and kind).
    pub fn first_failure(&self) -> Option<(&str, &NodeReport)> {
        self.nodes.iter().find(|(_, r)| r.state == NodeState::Failed).map(|(id, r)| (id.as_str(), r))
    }
}

/// Shared by every task of one run.
struct RunShared {
    bus: EventBus,
    cancel: CancellationToken,
    workspace: PathBuf,
    fail_fast: bool,
    cache: Option<Arc<Cache>>,
    semaphores: HashMap<ResourceClass, Arc<Semaphore>>,
}

/// How one node ended, inside the scheduler.
#[derive(Clone)]
enum Outcome {
    Done(Arc<Outputs>),
    Failed(Vec<String>),
    Skipped(String),
    Cancelled,
}

struct Finished {
    index: usize,
    outcome: Outcome,
    report: NodeReport,
}

/// The result of running one graph (the workflow or one map item).
struct GraphResult {
    outcomes: Vec<Option<Outcome>>,
    reports: Vec<Option<NodeReport>>,
    outputs: IndexMap<String, Value>,
}

impl Executor {
    pub fn new(limits: ResourceLimits, cache: Option<Arc<Cache>>) -> Self {
        let semaphores = ResourceClass::ALL.into_iter().map(|c| (c, Arc::new(Semaphore::new(limits.get(c))))).collect();
        Executor { cache, semaphores }
    }

    pub fn cache(&self) -> Option<&Arc<Cache>> {
        self.cache.as_ref()
    }

    /// Runs a plan to the end (or to cancellation) and reports every node.
    pub async fn run(&self, plan: Arc<Plan>, req: RunRequest) -> RunReport {
        let started = Instant::now();
        let bus = EventBus::continuing_after(req.run_id.clone(), req.first_seq, req.events.clone());
        bus.emit(EventKind::RunStarted { workflow: plan.name.clone(), nodes: plan.nodes.len() });
        let shared = Arc::new(RunShared {
            bus: bus.clone(),
            cancel: req.cancel.clone(),
            workspace: req.workspace.clone(),
            fail_fast: req.fail_fast || plan.decl.as_ref().is_some_and(|w| w.fail_fast),
            cache: if req.use_cache { self.cache.clone() } else { None },
            semaphores: self.semaphores.clone(),
        });
        // The scheduler runs as a task of its own, so it lives on a runtime worker next to the
        // node tasks it spawns even when the caller is `block_on` on another thread: waking a
        // thread outside the pool on every node completion would cost more than the node.
        let scheduler = tokio::spawn(run_graph(shared.clone(), plan.clone(), Arc::new(req.inputs), String::new()));
        let result = match scheduler.await {
            Ok(result) => result,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        let mut nodes = IndexMap::new();
        let mut status = RunStatus::Succeeded;
        for (node, report) in plan.nodes.iter().zip(result.reports) {
            let report = report.unwrap_or(NodeReport {
                state: NodeState::Cancelled,
                attempts: 0,
                duration_ms: 0,
                error: Some(vec!["not run".into()]),
                kind: None,
            });
            match report.state {
                NodeState::Failed => status = RunStatus::Failed,
                NodeState::Cancelled if status == RunStatus::Succeeded => status = RunStatus::Cancelled,
                _ => {}
            }
            nodes.insert(node.id.clone(), report);
        }
        if req.cancel.is_cancelled() && status == RunStatus::Succeeded && result.outputs.len() < plan.outputs.len() {
            status = RunStatus::Cancelled;
        }
        let duration_ms = started.elapsed().as_millis() as u64;
        bus.emit(EventKind::RunFinished { status, duration_ms });
        if let Some(cache) = shared.cache.clone() {
            // Keep the cache under its cap; this reads the cache directory, so off the async threads.
            let evicted = tokio::task::spawn_blocking(move || cache.evict_if_needed()).await;
            if let Ok(Err(e)) = evicted {
                tracing::warn!("cache eviction failed: {e}");
            }
        }
        RunReport { run_id: req.run_id, status, duration_ms, outputs: result.outputs, nodes }
    }
}

/// Schedules one graph: spawns each node when its dependencies are done.
fn run_graph(
    shared: Arc<RunShared>,
    plan: Arc<Plan>,
    inputs: Arc<IndexMap<String, Value>>,
    prefix: String,
) -> BoxFuture<'static, GraphResult> {
    Box::pin(async move {
        let n = plan.nodes.len();
        let mut waiting: Vec<usize> = plan.nodes.iter().map(|p| p.deps.len()).collect();
        let mut outcomes: Vec<Option<Outcome>> = vec![None; n];
        let mut reports: Vec<Option<NodeReport>> = vec![None; n];
        let mut ready: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).rev().collect();
        let mut tasks: JoinSet<Finished> = JoinSet::new();

        loop {
            while let Some(i) = ready.pop() {
                let node = &plan.nodes[i];
                let blocked = node.deps.iter().find_map(|&d| match &outcomes[d] {
                    Some(Outcome::Done(_)) => None,
                    Some(Outcome::Cancelled) => Some(Outcome::Cancelled),
                    Some(_) => Some(Outcome::Skipped(format!("upstream node `{}` did not succeed", plan.nodes[d].id))),
                    None => unreachable!("a ready node's dependencies are finished"),
                });
                let blocked = blocked.or_else(|| shared.cancel.is_cancelled().then_some(Outcome::Cancelled));
                if let Some(outcome) = blocked {
                    let full_id = format!("{prefix}{}", node.id);
                    let reason = match &outcome {
                        Outcome::Skipped(r) => r.clone(),
                        _ => "run cancelled".into(),
                    };
                    match &outcome {
                        Outcome::Skipped(_) => {
                            shared.bus.emit(EventKind::NodeSkipped { node: full_id, reason: reason.clone() })
                        }
                        _ => shared.bus.emit(EventKind::NodeCancelled { node: full_id }),
                    }
                    let state =
                        if matches!(outcome, Outcome::Cancelled) { NodeState::Cancelled } else { NodeState::Skipped };
                    reports[i] =
                        Some(NodeReport { state, attempts: 0, duration_ms: 0, error: Some(vec![reason]), kind: None });
                    outcomes[i] = Some(outcome);
                    release(&plan.nodes[i], &mut waiting, &mut ready);
                    continue;
                }
                let values = gather_inputs(node, &outcomes, &inputs);
                let scope = expr_scope(node, &outcomes, &inputs);
                let task = run_node(shared.clone(), plan.clone(), i, values, scope, prefix.clone());
                if node.inline {
                    // Quick ops run right here: a spawned task would cost more than the op.
                    let finished = task.await;
                    record(&shared, &plan, finished, &mut outcomes, &mut reports, &mut waiting, &mut ready);
                } else {
                    tasks.spawn(task);
                }
            }
            let Some(joined) = tasks.join_next().await else { break };
            // Node tasks catch their operator's panics, so a join error means the runtime is
            // shutting down; the nodes left unfinished are reported as not run.
            let Ok(finished) = joined else { continue };
            record(&shared, &plan, finished, &mut outcomes, &mut reports, &mut waiting, &mut ready);
        }

        let mut outputs = IndexMap::new();
        for (name, out) in &plan.outputs {
            let value = match &out.binding {
                Binding::Input(n) => inputs.get(n).cloned(),
                Binding::Node { node, port } => match &outcomes[*node] {
                    Some(Outcome::Done(o)) => o.get(port).cloned(),
                    _ => None,
                },
            };
            if let Some(v) = value {
                outputs.insert(name.clone(), v);
            }
        }
        GraphResult { outcomes, reports, outputs }
    })
}

/// Stores a finished node's outcome and readies the nodes that waited only for it.
fn record(
    shared: &RunShared,
    plan: &Plan,
    finished: Finished,
    outcomes: &mut [Option<Outcome>],
    reports: &mut [Option<NodeReport>],
    waiting: &mut [usize],
    ready: &mut Vec<usize>,
) {
    if matches!(finished.outcome, Outcome::Failed(_)) && shared.fail_fast {
        shared.cancel.cancel();
    }
    let i = finished.index;
    outcomes[i] = Some(finished.outcome);
    reports[i] = Some(finished.report);
    release(&plan.nodes[i], waiting, ready);
}

fn release(node: &PlanNode, waiting: &mut [usize], ready: &mut Vec<usize>) {
    for &d in &node.dependents {
        waiting[d] -= 1;
        if waiting[d] == 0 {
            ready.push(d);
        }
    }
}

fn binding_value(binding: &Binding, outcomes: &[Option<Outcome>], inputs: &IndexMap<String, Value>) -> Value {
    match binding {
        Binding::Input(name) => inputs.get(name).cloned().unwrap_or(Value::Null),
        Binding::Node { node, port } => match &outcomes[*node] {
            Some(Outcome::Done(o)) => o.get(port).cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        },
    }
}

fn gather_inputs(
    node: &PlanNode,
    outcomes: &[Option<Outcome>],
    inputs: &IndexMap<String, Value>,
) -> IndexMap<String, Value> {
    node.bindings.iter().map(|(port, b)| (port.clone(), binding_value(b, outcomes, inputs))).collect()
}

fn expr_scope(node: &PlanNode, outcomes: &[Option<Outcome>], inputs: &IndexMap<String, Value>) -> Option<ExprScope> {
    if node.when.is_none() && node.params.exprs.is_empty() {
        return None;
    }
    let nodes = node
        .expr_nodes
        .iter()
        .map(|(id, i)| {
            let outs = match &outcomes[*i] {
                Some(Outcome::Done(o)) => (**o).clone(),
                _ => IndexMap::new(),
            };
            (id.clone(), outs)
        })
        .collect();
    Some(ExprScope { inputs: inputs.clone(), nodes })
}

/// Runs one node: condition, params, cache, then attempts with timeout and retry.
async fn run_node(
    shared: Arc<RunShared>,
    plan: Arc<Plan>,
    index: usize,
    values: IndexMap<String, Value>,
    scope: Option<ExprScope>,
    prefix: String,
) -> Finished {
    let node = &plan.nodes[index];
    let full_id = format!("{prefix}{}", node.id);
    let started = Instant::now();
    let finish = |outcome: Outcome, state: NodeState, attempts: u32, error: Option<Vec<String>>| Finished {
        index,
        outcome,
        report: NodeReport { state, attempts, duration_ms: started.elapsed().as_millis() as u64, error, kind: None },
    };
    let cancelled = |attempts: u32| {
        shared.bus.emit(EventKind::NodeCancelled { node: full_id.clone() });
        finish(Outcome::Cancelled, NodeState::Cancelled, attempts, Some(vec!["run cancelled".into()]))
    };
    let fail = |chain: Vec<String>, kind: Option<ErrorKind>, attempts: u32| {
        shared.bus.emit(EventKind::NodeFailed {
            node: full_id.clone(),
            error: chain.clone(),
            kind,
            attempt: attempts,
            will_retry: false,
        });
        let mut failed = finish(Outcome::Failed(chain.clone()), NodeState::Failed, attempts, Some(chain));
        failed.report.kind = kind;
        failed
    };

    if let (Some(when), Some(scope)) = (&node.when, &scope) {
        match when.eval(scope) {
            Ok(v) if v.is_truthy() => {}
            Ok(_) => {
                let reason = "condition `when` is false".to_owned();
                shared.bus.emit(EventKind::NodeSkipped { node: full_id.clone(), reason: reason.clone() });
                return finish(Outcome::Skipped(reason.clone()), NodeState::Skipped, 0, Some(vec![reason]));
            }
            Err(e) => return fail(vec![format!("evaluating `when`: {e}")], Some(ErrorKind::InvalidInput), 0),
        }
    }
    let params = match resolve_params(node, scope.as_ref()) {
        Ok(p) => p,
        Err(msg) => return fail(vec![msg], Some(ErrorKind::InvalidInput), 0),
    };
    let mut values = values;
    for (port, value) in values.iter_mut() {
        if let Some(ty) = node.input_types.get(port) {
            if !matches!(value, Value::Null) && !ty.check(value) {
                return fail(
                    vec![format!("input `{port}` must be {ty}, got {}", value.type_name())],
                    Some(ErrorKind::InvalidInput),
                    0,
                );
            }
            *value = ty.coerce(std::mem::take(value));
        }
    }

    let op = match &node.kind {
        PlanKind::Op(op) => op.clone(),
        PlanKind::Map { body, parallel } => {
            shared.bus.emit(EventKind::NodeStarted { node: full_id.clone(), op: node.op.clone(), attempt: 1 });
            return match run_map(&shared, node, body.clone(), *parallel, values, &full_id).await {
                Ok(outputs) => {
                    shared.bus.emit(EventKind::NodeFinished {
                        node: full_id.clone(),
                        duration_ms: started.elapsed().as_millis() as u64,
                    });
                    finish(Outcome::Done(Arc::new(outputs)), NodeState::Succeeded, 1, None)
                }
                Err(MapError::Cancelled) => {
                    finish(Outcome::Cancelled, NodeState::Cancelled, 1, Some(vec!["cancelled".into()]))
                }
                Err(MapError::Failed(chain)) => fail(chain, None, 1),
            };
        }
    };

    // The cache: the key covers op, version, params and input file contents. Hashing files
    // and reading the entry are blocking I/O, done in one hop off the async threads.
    let cache_key = match (&shared.cache, node.cacheable) {
        (Some(cache), true) => {
            let cache = cache.clone();
            let (op_name, version, p, v) = (node.op.clone(), node.version, params.clone(), values.clone());
            let lookup = tokio::task::spawn_blocking(move || {
                cache.key(&op_name, version, &p, &v).map(|key| {
                    let hit = cache.get(&key);
                    (key, hit)
                })
            });
            match lookup.await {
                Ok(Ok((_, Some(outputs)))) => {
                    shared.bus.emit(EventKind::NodeCached { node: full_id.clone() });
                    return finish(Outcome::Done(Arc::new(outputs)), NodeState::Cached, 0, None);
                }
                Ok(Ok((key, None))) => Some(key),
                Ok(Err(e)) => return fail(vec![format!("hashing inputs for the cache: {e}")], None, 0),
                Err(e) => return fail(vec![format!("hashing inputs for the cache: {e}")], None, 0),
            }
        }
        _ => None,
    };

    // Inline ops take no permit: they finish in microseconds, and waiting for one on the
    // scheduler's task would hold up every other node of the graph.
    let semaphore = (!node.inline).then(|| shared.semaphores[&node.resource].clone());
    let mut attempt = 0;
    loop {
        attempt += 1;
        let permit: Option<OwnedSemaphorePermit> = match &semaphore {
            None => None,
            Some(semaphore) => tokio::select! {
                p = semaphore.clone().acquire_owned() => Some(p.expect("semaphores are never closed")),
                _ = shared.cancel.cancelled() => return cancelled(attempt - 1),
            },
        };
        shared.bus.emit(EventKind::NodeStarted { node: full_id.clone(), op: node.op.clone(), attempt });
        let token = shared.cancel.child_token();
        let ctx = NodeCtx::new(
            full_id.clone(),
            node.op.clone(),
            attempt,
            token.clone(),
            shared.bus.clone(),
            shared.workspace.join(sanitize(&full_id)),
        );
        let inputs = NodeInputs { values: values.clone(), params: params.clone() };
        // A panicking operator fails its node, not the engine.
        let span = tracing::debug_span!("node", id = %full_id, op = %node.op, attempt);
        let call = AssertUnwindSafe(op.run(&ctx, inputs).instrument(span)).catch_unwind().map(|r| {
            r.unwrap_or_else(|panic| Err(NodeError::failed(format!("op panicked: {}", panic_message(&*panic)))))
        });
        let result = match node.timeout {
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(r) => r,
                Err(_) => {
                    // Stop blocking work the node started, then report the timeout.
                    token.cancel();
                    Err(NodeError::Timeout(limit))
                }
            },
            None => call.await,
        };
        drop(permit);
        let error = match result.and_then(|o| check_outputs(node, o)) {
            Ok(outputs) => {
                if let (Some(cache), Some(key)) = (&shared.cache, &cache_key) {
                    let (cache, key, op_name, version, outs) =
                        (cache.clone(), key.clone(), node.op.clone(), node.version, outputs.clone());
                    let stored = tokio::task::spawn_blocking(move || cache.put(&key, &op_name, version, &outs)).await;
                    if let Ok(Err(e)) = stored {
                        tracing::warn!(node = %full_id, "could not store the result in the cache: {e}");
                    }
                }
                shared.bus.emit(EventKind::NodeFinished {
                    node: full_id.clone(),
                    duration_ms: started.elapsed().as_millis() as u64,
                });
                return finish(Outcome::Done(Arc::new(outputs)), NodeState::Succeeded, attempt, None);
            }
            Err(e) => e,
        };
        if shared.cancel.is_cancelled() {
            return cancelled(attempt);
        }
        let chain = error.chain();
        let kind = error.kind();
        if !(error.is_retryable() && attempt < node.retry.attempts) {
            return fail(chain, kind, attempt);
        }
        shared.bus.emit(EventKind::NodeFailed { node: full_id.clone(), error: chain, kind, attempt, will_retry: true });
        let delay = node.retry.delay_before(attempt + 1, rand::random::<f64>());
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shared.cancel.cancelled() => return cancelled(attempt),
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Evaluates `${{ }}` params and checks the result against the op's schema.
fn resolve_params(node: &PlanNode, scope: Option<&ExprScope>) -> Result<serde_json::Value, String> {
    if node.params.exprs.is_empty() {
        return Ok(node.params.literal.clone());
    }
    let scope = scope.expect("nodes with expressions get a scope");
    let mut params = node.params.literal.clone();
    for (path, expr) in &node.params.exprs {
        let value = expr.eval(scope).map_err(|e| format!("evaluating params.{}: {e}", path_text(path)))?;
        set_at(&mut params, path, value.to_json());
    }
    if let Some(validator) = &node.params.validator
        && let Some(err) = validator.iter_errors(&params).next()
    {
        return Err(format!("params after evaluating expressions: {err} (at {})", err.instance_path()));
    }
    Ok(params)
}

fn set_at(root: &mut serde_json::Value, path: &[PathSeg], value: serde_json::Value) {
    let mut here = root;
    for seg in path {
        here = match seg {
            PathSeg::Key(k) => &mut here[k.as_str()],
            PathSeg::Index(i) => &mut here[*i],
        };
    }
    *here = value;
}

/// Every declared output present and of its type.
fn check_outputs(node: &PlanNode, mut outputs: Outputs) -> Result<Outputs, NodeError> {
    for (port, ty) in &node.output_types {
        match outputs.get_mut(port) {
            None => return Err(NodeError::failed(format!("op `{}` did not produce output `{port}`", node.op))),
            Some(v) if !ty.check(v) => {
                return Err(NodeError::failed(format!(
                    "op `{}` produced {} for output `{port}`, declared {ty}",
                    node.op,
                    v.type_name()
                )));
            }
            Some(v) => *v = ty.coerce(std::mem::take(v)),
        }
    }
    Ok(outputs)
}

enum MapError {
    Cancelled,
    Failed(Vec<String>),
}

/// Runs the body once per item, at most `parallel` at a time, and collects outputs in order.
async fn run_map(
    shared: &Arc<RunShared>,
    node: &PlanNode,
    body: Arc<Plan>,
    parallel: usize,
    mut values: IndexMap<String, Value>,
    full_id: &str,
) -> Result<Outputs, MapError> {
    let items = match values.shift_remove("items") {
        Some(Value::List(items)) => items,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => {
            return Err(MapError::Failed(vec![format!("`items` must be a list, got {}", other.type_name())]));
        }
    };
    let total = items.len();
    // Items start as slots free up (a slow item does not hold back later ones); results are
    // put back in item order afterwards.
    let mut results: Vec<(usize, GraphResult)> = futures::stream::iter(items.into_iter().enumerate())
        .map(|(index, item)| {
            let mut inputs = values.clone();
            inputs.insert("item".into(), item);
            inputs.insert("index".into(), Value::Int(index as i64));
            let prefix = format!("{full_id}[{index}].");
            run_graph(shared.clone(), body.clone(), Arc::new(inputs), prefix).map(move |r| (index, r))
        })
        .buffer_unordered(parallel)
        .enumerate()
        .map(|(done, r)| {
            shared.bus.emit(EventKind::NodeProgress {
                node: full_id.to_owned(),
                fraction: (done + 1) as f32 / total.max(1) as f32,
                message: format!("{} of {total} items", done + 1),
            });
            r
        })
        .collect()
        .await;
    results.sort_by_key(|(index, _)| *index);
    let results: Vec<GraphResult> = results.into_iter().map(|(_, r)| r).collect();

    let mut failures = Vec::new();
    let mut cancelled = false;
    for (index, r) in results.iter().enumerate() {
        for (i, outcome) in r.outcomes.iter().enumerate() {
            match outcome {
                Some(Outcome::Failed(chain)) => {
                    let mut c = vec![format!("item {index}: node `{}` failed", body.nodes[i].id)];
                    c.extend(chain.iter().cloned());
                    failures.push(c);
                }
                Some(Outcome::Cancelled) | None => cancelled = true,
                _ => {}
            }
        }
    }
    if let Some(first) = failures.into_iter().next() {
        return Err(MapError::Failed(first));
    }
    if cancelled {
        return Err(MapError::Cancelled);
    }
    let mut outputs = Outputs::new();
    for name in node.output_types.keys() {
        let mut list = Vec::with_capacity(results.len());
        for (index, r) in results.iter().enumerate() {
            match r.outputs.get(name) {
                Some(v) => list.push(v.clone()),
                None => {
                    return Err(MapError::Failed(vec![format!(
                        "item {index} produced no `{name}` (its node was skipped)"
                    )]));
                }
            }
        }
        outputs.insert(name.clone(), Value::List(list));
    }
    Ok(outputs)
}

/// Node ids become directory names; map item ids contain brackets and dots.
fn sanitize(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect()
}
