//! The store trait the server and workers program against. It names no SQL types, so a
//! PostgreSQL backend can implement it without touching callers.

use std::time::Duration;

use async_trait::async_trait;
use reelflow_core::Event;

use crate::batch::{BatchRecord, Delivery, NewBatch};
use crate::error::Result;
use crate::model::{
    ArtifactRecord, Lease, NewRun, NodeRunRecord, Page, RunFilter, RunOutcome, RunRecord, RunState, UploadRecord,
};

/// Durable runs and the work queue. Every method that changes something has committed the
/// change when it returns, so whatever a caller then tells a client ("accepted",
/// "finished") survives a crash of the process.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Queues a new run and returns it (`queued`, with a fresh time-ordered id).
    async fn create_run(&self, run: NewRun) -> Result<RunRecord>;

    /// Creates a run already claimed by `worker` (a worker with a free slot in the
    /// submitting process starts it without a trip through the queue) — unless a run with at
    /// least its priority is waiting, in which case it is queued like [`RunStore::create_run`].
    async fn create_claimed_run(&self, run: NewRun, worker: &str, lease: Duration) -> Result<RunRecord>;

    /// Atomically claims the next run for `worker`: the highest-priority, oldest run that is
    /// `queued`, or `running` under an expired lease (its worker died) without a cancel
    /// request. No two callers, in this process or another on the same database, get the same
    /// claim. `None` when there is nothing to do.
    async fn claim_next(&self, worker: &str, lease: Duration) -> Result<Option<RunRecord>>;

    /// Extends `worker`'s lease on the run to `lease` from now, if it still holds it (a lease
    /// that expired stays with its owner until another worker claims the run), and reports
    /// whether a client asked to cancel.
    async fn heartbeat(&self, run_id: &str, worker: &str, lease: Duration) -> Result<Lease>;

    /// Ends a run `worker` holds, storing `outcome.events` with it; clears the lease. False: the worker no longer holds it and
    /// nothing changed.
    async fn finish_run(&self, run_id: &str, worker: &str, outcome: RunOutcome) -> Result<bool>;

    /// Queued runs are cancelled at once; running runs are marked `cancel_requested` for
    /// their worker to see on its next heartbeat; finished runs are left as they are.
    /// `None` if there is no such run.
    async fn request_cancel(&self, run_id: &str) -> Result<Option<RunRecord>>;

    /// Puts a failed or cancelled run back in the queue (a retry). `None` if there is no such
    /// run; [`crate::Error::Conflict`] if it is not failed or cancelled.
    async fn requeue(&self, run_id: &str) -> Result<Option<RunRecord>>;

    async fn get_run(&self, run_id: &str) -> Result<Option<RunRecord>>;

    /// Runs newest first, by `(created_at, id)`, in pages that neither overlap nor skip runs
    /// even while new runs are created.
    async fn list_runs(&self, filter: RunFilter) -> Result<Page>;

    /// Stores events (all or none). Each event's `run_id` must be `run_id` and its `seq`
    /// unused in the run.
    async fn append_events(&self, run_id: &str, events: &[Event]) -> Result<()>;

    /// Stores events and node states together, in one transaction, so a reader never sees a
    /// node's `node_finished` event without its finished state, or the other way round.
    async fn record_progress(&self, run_id: &str, events: &[Event], nodes: &[(String, NodeRunRecord)]) -> Result<()>;

    /// Gives a run back to the queue without finishing it (a worker shutting down): it is
    /// `queued` again, for any worker, and keeps its events, node states and claim count.
    /// False: `worker` does not hold it and nothing changed.
    async fn release_run(&self, run_id: &str, worker: &str) -> Result<bool>;

    /// Up to `limit` events with `seq > after_seq`, in `seq` order.
    async fn events_after(&self, run_id: &str, after_seq: u64, limit: u32) -> Result<Vec<Event>>;

    /// The highest stored `seq` of the run, 0 if none (a resumed run continues after it).
    async fn last_event_seq(&self, run_id: &str) -> Result<u64>;

    async fn upsert_node_run(&self, run_id: &str, node_id: &str, node: NodeRunRecord) -> Result<()>;

    /// The run's nodes in the order they were first stored.
    async fn node_runs(&self, run_id: &str) -> Result<Vec<(String, NodeRunRecord)>>;

    /// Stores an upload (replacing one with the same id).
    async fn put_upload(&self, upload: UploadRecord) -> Result<()>;

    async fn get_upload(&self, id: &str) -> Result<Option<UploadRecord>>;

    /// The oldest upload with these bytes, so a client's second upload can reuse the file.
    async fn find_upload_by_sha256(&self, sha256: &str) -> Result<Option<UploadRecord>>;

    /// Stores an artifact of an existing run (replacing one with the same id).
    async fn put_artifact(&self, artifact: ArtifactRecord) -> Result<()>;

    async fn get_artifact(&self, id: &str) -> Result<Option<ArtifactRecord>>;

    async fn artifacts_of_run(&self, run_id: &str) -> Result<Vec<ArtifactRecord>>;

    /// How many runs are in each state, every state listed (queue depth, metrics).
    async fn counts_by_state(&self) -> Result<Vec<(RunState, u64)>>;

    /// Creates a batch and queues its runs, in order, in one transaction. A worker claims a
    /// batch's run only while fewer than `parallel` of the batch's runs are running; when a
    /// run of an `error_policy: stop` batch fails, the batch's queued runs are cancelled.
    async fn create_batch(&self, batch: NewBatch, runs: Vec<NewRun>) -> Result<(BatchRecord, Vec<RunRecord>)>;

    async fn get_batch(&self, batch_id: &str) -> Result<Option<BatchRecord>>;

    /// The batch's runs in submission order.
    async fn batch_runs(&self, batch_id: &str) -> Result<Vec<RunRecord>>;

    /// The batch a run belongs to, if any.
    async fn batch_of_run(&self, run_id: &str) -> Result<Option<String>>;

    /// Batches whose runs have all finished and whose notification is due now.
    async fn due_notifications(&self) -> Result<Vec<BatchRecord>>;

    /// Records a delivery attempt of a batch's notification.
    async fn record_delivery(&self, batch_id: &str, delivery: Delivery) -> Result<()>;
}
