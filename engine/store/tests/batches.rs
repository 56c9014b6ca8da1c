//! Batches: the parallelism bound holds at claim time, the stop policy cancels what has not
//! started, and notifications fall due only once every run has finished.

use std::time::Duration;

use anyhow::Result;
use reelflow_core::RunStatus;
use reelflow_store::{
    Delivery, ErrorPolicy, ManualClock, NewBatch, NewRun, RunOutcome, RunState, RunStore, SCHEMA_VERSION, SqliteStore,
};
use serde_json::json;

const LEASE: Duration = Duration::from_secs(30);
const START_MS: u64 = 1_700_000_000_000;

fn run(n: usize) -> NewRun {
    NewRun { workflow: "clip".into(), source: "reelflow: 1\n".into(), inputs: json!({"n": n}), priority: 0 }
}

fn batch(parallel: u32, error_policy: ErrorPolicy, url: Option<&str>) -> NewBatch {
    NewBatch { parallel, error_policy, notification_url: url.map(str::to_owned), request: json!({"clips": []}) }
}

fn store(clock: &ManualClock) -> Result<(tempfile::TempDir, SqliteStore)> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path().join("runs.db"))?.with_clock(clock.clock());
    Ok((dir, store))
}

fn outcome(status: RunStatus) -> RunOutcome {
    RunOutcome::new(status, json!({}), (status == RunStatus::Failed).then(|| json!({"message": "boom"})))
}

#[tokio::test]
async fn a_batch_never_runs_more_than_parallel_at_once_and_keeps_its_order() -> Result<()> {
    assert_eq!(SCHEMA_VERSION, 2);
    let clock = ManualClock::new(START_MS);
    let (_dir, store) = store(&clock)?;
    let (b, runs) = store.create_batch(batch(2, ErrorPolicy::Continue, None), (0..5).map(run).collect()).await?;
    assert!(b.id.starts_with("batch-"));
    assert_eq!(runs.len(), 5);
    // A run outside the batch (queued later) is not held back by it.
    clock.advance(Duration::from_millis(1));
    let outside = store.create_run(run(99)).await?;

    let first = store.claim_next("w1", LEASE).await?.expect("slot 1");
    let second = store.claim_next("w2", LEASE).await?.expect("slot 2");
    assert_eq!((first.id.as_str(), second.id.as_str()), (runs[0].id.as_str(), runs[1].id.as_str()));
    let third = store.claim_next("w3", LEASE).await?.expect("the run outside the batch");
    assert_eq!(third.id, outside.id);
    assert!(store.claim_next("w3", LEASE).await?.is_none(), "the batch's two slots are taken");

    assert!(store.finish_run(&first.id, "w1", outcome(RunStatus::Succeeded)).await?);
    let next = store.claim_next("w1", LEASE).await?.expect("a slot came free");
    assert_eq!(next.id, runs[2].id);
    assert!(store.claim_next("w1", LEASE).await?.is_none());

    let listed: Vec<String> = store.batch_runs(&b.id).await?.into_iter().map(|r| r.id).collect();
    assert_eq!(listed, runs.iter().map(|r| r.id.clone()).collect::<Vec<_>>());
    assert_eq!(store.batch_of_run(&runs[3].id).await?, Some(b.id.clone()));
    assert_eq!(store.batch_of_run(&outside.id).await?, None);
    assert_eq!(store.get_batch(&b.id).await?.map(|g| g.parallel), Some(2));
    Ok(())
}

#[tokio::test]
async fn a_failure_stops_a_stop_batch_but_not_a_continue_batch() -> Result<()> {
    let clock = ManualClock::new(START_MS);
    let (_dir, store) = store(&clock)?;
    let (stop, stop_runs) = store.create_batch(batch(1, ErrorPolicy::Stop, None), (0..3).map(run).collect()).await?;
    clock.advance(Duration::from_millis(1));
    let (_go, go_runs) = store.create_batch(batch(1, ErrorPolicy::Continue, None), (0..2).map(run).collect()).await?;

    let a = store.claim_next("w", LEASE).await?.expect("first of the stop batch");
    assert_eq!(a.id, stop_runs[0].id);
    let b = store.claim_next("w", LEASE).await?.expect("first of the continue batch");
    assert_eq!(b.id, go_runs[0].id);
    assert!(store.finish_run(&a.id, "w", outcome(RunStatus::Failed)).await?);
    assert!(store.finish_run(&b.id, "w", outcome(RunStatus::Failed)).await?);

    let states: Vec<RunState> = store.batch_runs(&stop.id).await?.iter().map(|r| r.status).collect();
    assert_eq!(states, [RunState::Failed, RunState::Cancelled, RunState::Cancelled]);
    let skipped = store.get_run(&stop_runs[2].id).await?.expect("run");
    let why = skipped.error.expect("an error")["message"].as_str().unwrap_or_default().to_owned();
    assert!(why.contains("error_policy"), "{why}");
    // The continue batch's second run still runs.
    let c = store.claim_next("w", LEASE).await?.expect("the continue batch goes on");
    assert_eq!(c.id, go_runs[1].id);
    Ok(())
}

#[tokio::test]
async fn notifications_fall_due_when_all_runs_finish_and_retries_wait_their_turn() -> Result<()> {
    let clock = ManualClock::new(START_MS);
    let (_dir, store) = store(&clock)?;
    let url = Some("http://127.0.0.1:9/hook");
    let (b, runs) = store.create_batch(batch(2, ErrorPolicy::Continue, url), (0..2).map(run).collect()).await?;
    clock.advance(Duration::from_millis(1));
    let (_quiet, _) = store.create_batch(batch(1, ErrorPolicy::Continue, None), vec![run(7)]).await?;
    assert!(store.due_notifications().await?.is_empty(), "runs are still queued");

    for r in &runs {
        let claimed = store.claim_next("w", LEASE).await?.expect("claim");
        assert_eq!(claimed.id, r.id);
    }
    store.finish_run(&runs[0].id, "w", outcome(RunStatus::Succeeded)).await?;
    assert!(store.due_notifications().await?.is_empty(), "one run is still running");
    store.finish_run(&runs[1].id, "w", outcome(RunStatus::Failed)).await?;
    let due = store.due_notifications().await?;
    assert_eq!(due.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), [b.id.as_str()]);

    store.record_delivery(&b.id, Delivery::RetryAt { error: "refused".into(), at: START_MS + 2_001 }).await?;
    assert!(store.due_notifications().await?.is_empty(), "the retry is not due yet");
    clock.advance(Duration::from_secs(2));
    assert_eq!(store.due_notifications().await?.len(), 1);
    store.record_delivery(&b.id, Delivery::Delivered).await?;
    assert!(store.due_notifications().await?.is_empty());
    let done = store.get_batch(&b.id).await?.expect("batch");
    assert_eq!(done.notification.attempts, 2);
    assert!(done.notification.delivered_at.is_some());
    assert!(store.record_delivery("batch-nope", Delivery::Delivered).await.is_err());
    assert!(store.create_batch(batch(0, ErrorPolicy::Continue, None), vec![run(1)]).await.is_err());
    Ok(())
}
