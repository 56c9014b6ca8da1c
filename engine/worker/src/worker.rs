//! The worker loop: claim a run under a lease, execute it, keep the lease alive, persist its
//! events and node states as they happen, keep its output files, and finish it in the store.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indexmap::IndexMap;
use reelflow_core::{Event, EventKind, EventSink, NodeState, Plan, RunReport, RunRequest, RunStatus, Value};
use reelflow_runtime::{Config, Runtime};
use reelflow_store::{NewRun, NodeRunRecord, NodeRunState, RunOutcome, RunRecord, RunState, RunStore};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info, info_span, warn};

use crate::artifacts::keep_outputs;
use crate::hub::RunHub;
use crate::metrics::{OpLabel, StatusLabel, WorkerMetrics};

/// The workflow name prefix of runs submitted as inline text rather than by name.
pub const INLINE_PREFIX: &str = "inline:";

/// Most events written in one transaction.
const EVENT_BATCH: usize = 512;

/// How a worker behaves; see `[worker]` in the config.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Unique among the workers sharing a database.
    pub id: String,
    pub slots: usize,
    pub lease: Duration,
    pub heartbeat: Duration,
    pub poll: Duration,
    /// On shutdown, how long running runs may take before they are handed back.
    pub shutdown_grace: Duration,
}

impl WorkerOptions {
    pub fn from_config(config: &Config) -> reelflow_runtime::Result<Self> {
        Ok(WorkerOptions {
            id: default_worker_id(),
            slots: config.worker.slots,
            lease: config.lease()?,
            heartbeat: config.heartbeat()?,
            poll: config.poll()?,
            shutdown_grace: config.shutdown_grace()?,
        })
    }
}

/// `<host>-<pid>-<random>`: unique per process, and says where a run is being executed.
pub fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "worker".into());
    format!("{host}-{}-{:04x}", std::process::id(), rand::random::<u16>())
}

/// Executes queued runs. Cheap to clone.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn RunStore>,
    runtime: Arc<Runtime>,
    hub: Arc<RunHub>,
    metrics: WorkerMetrics,
    opts: WorkerOptions,
    /// One permit per run executing; shared by the claim loop and direct submissions.
    slots: Arc<Semaphore>,
    /// Every run task, so shutdown can wait for them.
    tasks: TaskTracker,
    /// Fires when the grace period is over: running runs are handed back.
    release: CancellationToken,
    /// False once shutdown began: no new runs start here.
    accepting: AtomicBool,
}

/// A free slot of the worker, held while a submission is stored.
#[derive(Debug)]
pub struct Reservation {
    _slot: OwnedSemaphorePermit,
}

/// A validated run to start: the plan and bound inputs the submitter already has.
pub struct Prepared {
    pub plan: Arc<Plan>,
    pub inputs: IndexMap<String, Value>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("id", &self.inner.opts.id).finish_non_exhaustive()
    }
}

/// Where a run is executed from: a named workflow's directory, or the empty directory
/// inline workflows get (so their relative paths resolve to nothing).
pub fn workflow_base_dir(runtime: &Runtime, workflow: &str) -> PathBuf {
    match workflow.strip_prefix(INLINE_PREFIX) {
        Some(_) => runtime.config().data_dir.join("inline"),
        None => {
            let path = runtime.config().workflows_dir.join(workflow);
            path.parent().map(PathBuf::from).unwrap_or_else(|| runtime.config().workflows_dir.clone())
        }
    }
}

impl Worker {
    pub fn new(
        store: Arc<dyn RunStore>,
        runtime: Arc<Runtime>,
        hub: Arc<RunHub>,
        metrics: WorkerMetrics,
        opts: WorkerOptions,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(opts.slots));
        Worker {
            inner: Arc::new(Inner {
                store,
                runtime,
                hub,
                metrics,
                opts,
                slots,
                tasks: TaskTracker::new(),
                release: CancellationToken::new(),
                accepting: AtomicBool::new(true),
            }),
        }
    }

    /// A free slot, if the worker has one and is not shutting down: the submitter may then
    /// hand its run over directly ([`Worker::submit`]) instead of through the queue.
    pub fn try_reserve(&self) -> Option<Reservation> {
        if !self.inner.accepting.load(Ordering::SeqCst) {
            return None;
        }
        self.inner.slots.clone().try_acquire_owned().ok().map(|slot| Reservation { _slot: slot })
    }

    /// Stores the run already claimed by this worker and starts it at once, skipping the
    /// queue and a second validation. If runs with at least its priority are waiting, it is
    /// queued behind them instead (the store decides, atomically).
    pub async fn submit(
        &self,
        slot: Reservation,
        run: NewRun,
        prepared: Prepared,
    ) -> reelflow_store::Result<RunRecord> {
        let inner = &self.inner;
        let record = inner.store.create_claimed_run(run, &inner.opts.id, inner.opts.lease).await?;
        if record.status == RunState::Running {
            let (task_inner, task_record) = (inner.clone(), record.clone());
            inner.tasks.spawn(async move {
                task_inner.execute(task_record, Some(prepared)).await;
                drop(slot);
            });
        } else {
            drop(slot);
            inner.hub.run_queued();
        }
        Ok(record)
    }

    pub fn id(&self) -> &str {
        &self.inner.opts.id
    }

    /// Claims and executes runs until `shutdown` fires; then stops claiming, gives running
    /// runs `shutdown_grace` to finish, and hands the rest back to the queue (their finished
    /// nodes are in the cache, so whoever resumes them redoes nothing).
    pub async fn run(&self, shutdown: CancellationToken) {
        let inner = &self.inner;
        info!(worker = %inner.opts.id, slots = inner.opts.slots, "worker started");
        loop {
            let permit = tokio::select! {
                permit = inner.slots.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = shutdown.cancelled() => break,
            };
            match inner.store.claim_next(&inner.opts.id, inner.opts.lease).await {
                Ok(Some(run)) => {
                    let task_inner = self.inner.clone();
                    inner.tasks.spawn(async move {
                        task_inner.execute(run, None).await;
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        () = inner.hub.wait_for_queued() => {}
                        () = tokio::time::sleep(inner.opts.poll) => {}
                        () = shutdown.cancelled() => break,
                    }
                }
                Err(e) => {
                    drop(permit);
                    error!(error = %e, "claiming a run failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(inner.opts.poll) => {}
                        () = shutdown.cancelled() => break,
                    }
                }
            }
        }
        inner.accepting.store(false, Ordering::SeqCst);
        inner.tasks.close();
        let running = inner.tasks.len();
        if running > 0 {
            info!(running, grace = ?inner.opts.shutdown_grace, "waiting for running runs");
            if tokio::time::timeout(inner.opts.shutdown_grace, inner.tasks.wait()).await.is_err() {
                info!(running = inner.tasks.len(), "grace period over: handing the remaining runs back to the queue");
                inner.release.cancel();
                inner.tasks.wait().await;
            }
        }
        info!(worker = %inner.opts.id, "worker stopped");
    }
}

/// Why a run stopped without being finished by this worker.
#[derive(Default)]
struct StopFlags {
    /// Another worker took the run over (our lease expired): leave it alone.
    lost: AtomicBool,
    /// Shutting down: give it back to the queue.
    released: AtomicBool,
}

impl Inner {
    async fn execute(self: Arc<Self>, run: RunRecord, prepared: Option<Prepared>) {
        let span = info_span!("run", run = %run.id, workflow = %run.workflow, claim = run.claims);
        async move {
            let created = run.created_at;
            let wait = now_ms().saturating_sub(created);
            self.metrics.queue_wait.observe(wait as f64 / 1000.0);
            self.hub.run_changed(&run.id);
            let cancel = CancellationToken::new();
            self.hub.register(&run.id, cancel.clone());
            if run.cancel_requested {
                cancel.cancel();
            }
            let outcome = self.execute_claimed(&run, prepared, cancel).await;
            self.hub.unregister(&run.id);
            self.hub.run_changed(&run.id);
            if let Err(e) = outcome {
                error!(error = %e, "run could not be recorded; its lease will expire and another worker retries it");
            }
        }
        .instrument(span)
        .await
    }

    async fn execute_claimed(
        &self,
        run: &RunRecord,
        prepared: Option<Prepared>,
        cancel: CancellationToken,
    ) -> reelflow_store::Result<()> {
        let store = &self.store;
        // A run fresh from its submitter has no events yet.
        let first_seq = if run.claims <= 1 && prepared.is_some() { 0 } else { store.last_event_seq(&run.id).await? };
        let prepared = match prepared {
            Some(p) => Ok((p.plan, p.inputs)),
            None => self.prepare(run),
        };
        let (plan, inputs) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                // The run was valid when it was accepted; the workflow or ops changed since.
                warn!(?error, "run no longer validates");
                let mut outcome = RunOutcome::new(
                    RunStatus::Failed,
                    serde_json::json!({}),
                    Some(serde_json::json!({"message": "the workflow no longer validates", "errors": error})),
                );
                // Event streams end on `run_finished`; this run has no other events.
                outcome.events.push(Event {
                    seq: first_seq + 1,
                    at_ms: now_ms(),
                    run_id: run.id.clone(),
                    kind: EventKind::RunFinished { status: RunStatus::Failed, duration_ms: 0 },
                });
                store.finish_run(&run.id, &self.opts.id, outcome).await?;
                self.metrics.runs_finished.get_or_create(&StatusLabel { status: "failed".into() }).inc();
                return Ok(());
            }
        };

        let flags = Arc::new(StopFlags::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let persister = tokio::spawn(persist_events(
            store.clone(),
            self.hub.clone(),
            self.metrics.clone(),
            run.id.clone(),
            rx,
            flags.clone(),
        ));
        let heartbeat = tokio::spawn(keep_lease(
            store.clone(),
            run.id.clone(),
            self.opts.clone(),
            cancel.clone(),
            self.release.clone(),
            flags.clone(),
        ));

        let mut req = RunRequest::new(run.id.clone(), self.runtime.workspace_for(&run.id));
        req.inputs = inputs;
        req.events = Arc::new(HoldFinished(tx));
        req.cancel = cancel;
        req.first_seq = first_seq;
        let report = self.runtime.executor().run(plan, req).await;
        heartbeat.abort();
        // The sink was dropped with the run, so the persister drains and ends.
        let finished_event = persister.await.unwrap_or_default();

        if flags.lost.load(Ordering::SeqCst) {
            warn!("lease lost to another worker; leaving the run to it");
            return Ok(());
        }
        if flags.released.load(Ordering::SeqCst) {
            store.release_run(&run.id, &self.opts.id).await?;
            info!("handed back to the queue");
            return Ok(());
        }
        self.finish(run, report, finished_event).await
    }

    /// Loads the stored workflow text and binds the stored inputs.
    fn prepare(&self, run: &RunRecord) -> Result<(Arc<Plan>, IndexMap<String, Value>), serde_json::Value> {
        let base_dir = workflow_base_dir(&self.runtime, &run.workflow);
        let plan = self
            .runtime
            .load_source(&run.workflow, &run.source, &base_dir)
            .map_err(|d| serde_json::to_value(d.located()).unwrap_or_default())?;
        let given: IndexMap<String, Value> = match &run.inputs {
            serde_json::Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect(),
            _ => IndexMap::new(),
        };
        let inputs = plan.bind_inputs(given, &base_dir).map_err(|errors| serde_json::json!(errors))?;
        Ok((Arc::new(plan), inputs))
    }

    async fn finish(
        &self,
        run: &RunRecord,
        report: RunReport,
        finished_event: Option<Event>,
    ) -> reelflow_store::Result<()> {
        let store = &self.store;
        let dir = self.runtime.config().artifacts_dir().join(&run.id);
        let (run_id, outputs) = (run.id.clone(), report.outputs.clone());
        let kept = tokio::task::spawn_blocking(move || keep_outputs(&run_id, &outputs, &dir)).await;
        let (mut status, mut error) = (report.status, run_error(&report));
        let outputs = match kept {
            Ok(Ok((json, records))) => {
                for record in records {
                    store.put_artifact(record).await?;
                }
                json
            }
            Ok(Err(e)) => {
                status = RunStatus::Failed;
                error = Some(serde_json::json!({"message": e.to_string()}));
                serde_json::json!({})
            }
            Err(e) => {
                status = RunStatus::Failed;
                error = Some(serde_json::json!({"message": format!("keeping outputs panicked: {e}")}));
                serde_json::json!({})
            }
        };
        let mut outcome = RunOutcome::new(status, outputs, error);
        // Stored in the same transaction as the outcome, so a client that sees
        // `run_finished` and then asks for the run sees it finished.
        if let Some(mut event) = finished_event {
            if let EventKind::RunFinished { status: s, .. } = &mut event.kind {
                *s = status;
            }
            outcome.events.push(event);
        }
        if !store.finish_run(&run.id, &self.opts.id, outcome).await? {
            warn!("the run was taken over before it could be finished");
            return Ok(());
        }
        let status_name = reelflow_store::RunState::from(status).as_str();
        self.metrics.runs_finished.get_or_create(&StatusLabel { status: status_name.into() }).inc();
        info!(status = status_name, duration_ms = report.duration_ms, "run finished");
        if status == RunStatus::Succeeded {
            // Outputs are kept as artifacts and finished nodes are in the cache.
            let workspace = self.runtime.workspace_for(&run.id);
            let _ = tokio::fs::remove_dir_all(workspace).await;
        }
        Ok(())
    }
}

/// The run's error for clients: the failed nodes and their error chains, outermost first.
fn run_error(report: &RunReport) -> Option<serde_json::Value> {
    match report.status {
        RunStatus::Succeeded => None,
        RunStatus::Cancelled => Some(serde_json::json!({"message": "the run was cancelled"})),
        RunStatus::Failed => {
            let nodes: Vec<serde_json::Value> = report
                .nodes
                .iter()
                .filter(|(_, n)| n.state == NodeState::Failed)
                .map(|(id, n)| {
                    let mut failure = serde_json::json!({"node": id, "error": n.error.clone().unwrap_or_default()});
                    if let Some(kind) = n.kind {
                        failure["kind"] = serde_json::to_value(kind).unwrap_or_default();
                    }
                    failure
                })
                .collect();
            let message = match report.first_error() {
                Some((node, chain)) => format!("node `{node}` failed: {}", chain.join(": ")),
                None => "the run failed".to_owned(),
            };
            Some(serde_json::json!({"message": message, "nodes": nodes}))
        }
    }
}

/// Forwards events to the persister. `run_finished` travels too, but the persister holds it
/// back for the worker to write after the run is finished in the store.
struct HoldFinished(mpsc::UnboundedSender<Event>);

impl EventSink for HoldFinished {
    fn emit(&self, event: Event) {
        // The receiver is gone only once the run's bookkeeping has ended.
        let _ = self.0.send(event);
    }
}

/// Writes events in batches with the node states they imply, and tells the hub. Returns
/// the held-back `run_finished` event.
async fn persist_events(
    store: Arc<dyn RunStore>,
    hub: Arc<RunHub>,
    metrics: WorkerMetrics,
    run_id: String,
    mut rx: mpsc::UnboundedReceiver<Event>,
    flags: Arc<StopFlags>,
) -> Option<Event> {
    let mut finished = None;
    let mut ops: HashMap<String, String> = HashMap::new();
    let mut nodes: IndexMap<String, NodeRunRecord> = IndexMap::new();
    let mut batch = Vec::with_capacity(EVENT_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < EVENT_BATCH {
            match rx.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        // Once the run is handed back or taken over, what it says while stopping is not
        // part of its history (`node_cancelled` for a run that will resume).
        if flags.lost.load(Ordering::SeqCst) || flags.released.load(Ordering::SeqCst) {
            batch.clear();
            continue;
        }
        let mut events = Vec::with_capacity(batch.len());
        for event in batch.drain(..) {
            if matches!(event.kind, EventKind::RunFinished { .. }) {
                finished = Some(event);
                continue;
            }
            track_node(&event, &mut ops, &mut nodes, &metrics);
            events.push(event);
        }
        let changed: Vec<(String, NodeRunRecord)> = nodes.drain(..).collect();
        if events.is_empty() && changed.is_empty() {
            continue;
        }
        if let Err(e) = store.record_progress(&run_id, &events, &changed).await {
            error!(error = %e, run = %run_id, "storing events failed");
        }
        hub.run_changed(&run_id);
    }
    finished
}

/// The node state an event implies, if any.
fn track_node(
    event: &Event,
    ops: &mut HashMap<String, String>,
    nodes: &mut IndexMap<String, NodeRunRecord>,
    metrics: &WorkerMetrics,
) {
    let record = |state, attempts, duration_ms, error| NodeRunRecord { state, attempts, duration_ms, error };
    let (node, update) = match &event.kind {
        EventKind::NodeStarted { node, op, attempt } => {
            ops.insert(node.clone(), op.clone());
            (node, record(NodeRunState::Running, *attempt, 0, None))
        }
        EventKind::NodeFinished { node, duration_ms } => {
            let attempts = nodes.get(node).map_or(1, |n| n.attempts);
            if let Some(op) = ops.get(node) {
                metrics.node_duration.get_or_create(&OpLabel { op: op.clone() }).observe(*duration_ms as f64 / 1000.0);
            }
            (node, record(NodeRunState::Succeeded, attempts, *duration_ms, None))
        }
        EventKind::NodeCached { node } => (node, record(NodeRunState::Cached, 0, 0, None)),
        EventKind::NodeFailed { node, error, attempt, will_retry: false, .. } => {
            (node, record(NodeRunState::Failed, *attempt, 0, Some(error.clone())))
        }
        EventKind::NodeSkipped { node, reason } => {
            (node, record(NodeRunState::Skipped, 0, 0, Some(vec![reason.clone()])))
        }
        EventKind::NodeCancelled { node } => (node, record(NodeRunState::Cancelled, 0, 0, None)),
        _ => return,
    };
    nodes.insert(node.clone(), update);
}

/// Renews the lease every `heartbeat`; cancels the run when a client asked to, when the
/// lease is lost, or (as a hand-back) when the worker's grace period ends.
async fn keep_lease(
    store: Arc<dyn RunStore>,
    run_id: String,
    opts: WorkerOptions,
    cancel: CancellationToken,
    release: CancellationToken,
    flags: Arc<StopFlags>,
) {
    let mut ticker = tokio::time::interval(opts.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = release.cancelled() => {
                flags.released.store(true, Ordering::SeqCst);
                cancel.cancel();
                return;
            }
        }
        match store.heartbeat(&run_id, &opts.id, opts.lease).await {
            Ok(lease) if !lease.held => {
                flags.lost.store(true, Ordering::SeqCst);
                cancel.cancel();
                return;
            }
            Ok(lease) => {
                if lease.cancel_requested {
                    cancel.cancel();
                }
            }
            // A store hiccup: try again next beat; the lease outlives a few missed beats.
            Err(e) => warn!(error = %e, run = %run_id, "heartbeat failed"),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
