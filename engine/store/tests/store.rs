//! The store's public API against real SQLite files in a temporary directory.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use reelflow_core::{Event, EventKind, LogLevel, RunStatus};
use reelflow_store::{
    ArtifactRecord, Error, ManualClock, NewRun, NodeRunRecord, NodeRunState, RunFilter, RunOutcome, RunState, RunStore,
    SCHEMA_VERSION, SqliteStore, UploadRecord,
};
use serde_json::json;

const LEASE: Duration = Duration::from_secs(30);
const START_MS: u64 = 1_700_000_000_000;

fn new_run(workflow: &str, priority: i64) -> NewRun {
    NewRun {
        workflow: workflow.to_owned(),
        source: format!("reelflow: 1\n# {workflow}\n"),
        inputs: json!({"who": workflow, "n": [1, 2.5, null]}),
        priority,
    }
}

/// A store on `path` with a clock the test moves.
fn open(path: &Path, clock: &ManualClock) -> Result<SqliteStore> {
    Ok(SqliteStore::open(path)?.with_clock(clock.clock()))
}

fn succeeded() -> RunOutcome {
    RunOutcome::new(RunStatus::Succeeded, json!({"text": "hi"}), None)
}

#[tokio::test]
async fn created_runs_round_trip_and_survive_reopening() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("runs.db");
    let clock = ManualClock::new(START_MS);
    let store = open(&path, &clock)?;
    let run = store.create_run(new_run("hello", 3)).await?;
    assert!(run.id.starts_with(&format!("run-{START_MS:013}-")), "{}", run.id);
    assert_eq!(run.status, RunState::Queued);
    assert_eq!(run.created_at, START_MS);
    assert_eq!(run.priority, 3);
    assert_eq!(run.inputs, new_run("hello", 3).inputs);
    assert_eq!((run.claims, run.cancel_requested, run.lease_owner.as_deref()), (0, false, None));
    assert_eq!(store.get_run(&run.id).await?.as_ref(), Some(&run));
    assert_eq!(store.get_run("run-missing").await?, None);
    drop(store);

    let reopened = open(&path, &clock)?;
    assert_eq!(reopened.get_run(&run.id).await?, Some(run));
    Ok(())
}

#[tokio::test]
async fn claims_take_priority_then_age_and_respect_leases() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(START_MS);
    let store = open(&dir.path().join("runs.db"), &clock)?;
    let old_low = store.create_run(new_run("old-low", 0)).await?;
    clock.advance(Duration::from_millis(1));
    let mid_high = store.create_run(new_run("mid-high", 5)).await?;
    clock.advance(Duration::from_millis(1));
    let new_low = store.create_run(new_run("new-low", 0)).await?;
    clock.advance(Duration::from_millis(1));
    let new_high = store.create_run(new_run("new-high", 5)).await?;

    let mut order = Vec::new();
    while let Some(run) = store.claim_next("w1", LEASE).await? {
        assert_eq!(run.status, RunState::Running);
        assert_eq!(run.lease_owner.as_deref(), Some("w1"));
        assert_eq!(run.lease_expires_at, Some(clock.now() + 30_000));
        assert_eq!(run.claims, 1);
        order.push(run.id);
    }
    assert_eq!(order, [mid_high.id, new_high.id, old_low.id, new_low.id]);

    // Leases hold until they expire, to the millisecond.
    clock.advance(LEASE - Duration::from_millis(1));
    assert_eq!(store.claim_next("w2", LEASE).await?, None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_on_two_handles_claim_each_run_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("runs.db");
    let first = SqliteStore::open(&path)?;
    let second = SqliteStore::open(&path)?;
    let mut created = HashSet::new();
    for i in 0..50 {
        created.insert(first.create_run(new_run(&format!("wf{i}"), i % 3)).await?.id);
    }

    let mut tasks = Vec::new();
    for claimer in 0..8 {
        let store = if claimer % 2 == 0 { first.clone() } else { second.clone() };
        tasks.push(tokio::spawn(async move {
            let worker = format!("worker-{claimer}");
            let mut mine = Vec::new();
            while let Some(run) = store.claim_next(&worker, LEASE).await? {
                assert_eq!(run.lease_owner.as_deref(), Some(worker.as_str()));
                mine.push(run.id);
            }
            Ok::<_, Error>(mine)
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await??);
    }
    let unique: HashSet<_> = claimed.iter().cloned().collect();
    assert_eq!(claimed.len(), 50, "some run was claimed twice or not at all");
    assert_eq!(unique, created);
    let counts = second.counts_by_state().await?;
    assert!(counts.contains(&(RunState::Running, 50)), "{counts:?}");
    assert!(counts.contains(&(RunState::Queued, 0)), "{counts:?}");
    Ok(())
}

#[tokio::test]
async fn an_expired_lease_passes_the_run_to_another_worker() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("runs.db");
    let clock = ManualClock::new(START_MS);
    // Two handles, as two worker processes would have.
    let a = open(&path, &clock)?;
    let b = open(&path, &clock)?;
    let run = a.create_run(new_run("slow", 0)).await?;

    assert_eq!(a.claim_next("A", LEASE).await?.map(|r| r.id), Some(run.id.clone()));
    clock.advance(Duration::from_secs(20));
    let lease = a.heartbeat(&run.id, "A", LEASE).await?;
    assert!(lease.held && !lease.cancel_requested);
    // The heartbeat moved the expiry: 20 s later the lease (renewed at +20 s) still holds.
    clock.advance(Duration::from_secs(20));
    assert_eq!(b.claim_next("B", LEASE).await?, None);
    assert!(!b.heartbeat(&run.id, "B", LEASE).await?.held, "B never held it");

    // A dies: no more heartbeats.
    clock.advance(Duration::from_secs(11));
    let taken = b.claim_next("B", LEASE).await?.context("B takes the expired run")?;
    assert_eq!(taken.id, run.id);
    assert_eq!(taken.lease_owner.as_deref(), Some("B"));
    assert_eq!(taken.claims, 2);

    assert!(!a.heartbeat(&run.id, "A", LEASE).await?.held);
    assert!(!a.finish_run(&run.id, "A", succeeded()).await?);
    assert_eq!(a.get_run(&run.id).await?.map(|r| r.status), Some(RunState::Running));

    assert!(b.finish_run(&run.id, "B", succeeded()).await?);
    let done = a.get_run(&run.id).await?.context("run")?;
    assert_eq!(done.status, RunState::Succeeded);
    assert_eq!(done.outputs, Some(json!({"text": "hi"})));
    assert_eq!(done.finished_at, Some(clock.now()));
    assert_eq!((done.lease_owner, done.lease_expires_at), (None, None));
    // A finished run is not claimed again, and cannot be finished twice.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(a.claim_next("A", LEASE).await?, None);
    assert!(!b.finish_run(&run.id, "B", succeeded()).await?);
    Ok(())
}

#[tokio::test]
async fn cancelling_queued_and_running_runs() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(START_MS);
    let store = open(&dir.path().join("runs.db"), &clock)?;
    let running = store.create_run(new_run("running", 1)).await?;
    let queued = store.create_run(new_run("queued", 0)).await?;
    assert_eq!(store.claim_next("w", LEASE).await?.map(|r| r.id), Some(running.id.clone()));

    let cancelled = store.request_cancel(&queued.id).await?.context("queued run")?;
    assert_eq!(cancelled.status, RunState::Cancelled);
    assert_eq!(cancelled.finished_at, Some(START_MS));
    assert_eq!(store.claim_next("w", LEASE).await?, None, "a cancelled run is not claimed");

    let marked = store.request_cancel(&running.id).await?.context("running run")?;
    assert_eq!((marked.status, marked.cancel_requested), (RunState::Running, true));
    let lease = store.heartbeat(&running.id, "w", LEASE).await?;
    assert!(lease.held && lease.cancel_requested);
    let outcome = RunOutcome::new(RunStatus::Cancelled, json!({}), None);
    assert!(store.finish_run(&running.id, "w", outcome).await?);
    assert_eq!(store.get_run(&running.id).await?.map(|r| r.status), Some(RunState::Cancelled));

    // Cancelling a finished run changes nothing; an unknown run is None.
    let again = store.request_cancel(&running.id).await?.context("finished run")?;
    assert_eq!(again.status, RunState::Cancelled);
    assert_eq!(store.request_cancel("run-missing").await?, None);
    Ok(())
}

#[tokio::test]
async fn a_cancel_requested_run_whose_worker_died_ends_cancelled() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(START_MS);
    let store = open(&dir.path().join("runs.db"), &clock)?;
    let run = store.create_run(new_run("doomed", 0)).await?;
    store.claim_next("dead", LEASE).await?.context("claim")?;
    store.request_cancel(&run.id).await?;
    clock.advance(LEASE);
    assert_eq!(store.claim_next("w", LEASE).await?, None, "not run again");
    let ended = store.get_run(&run.id).await?.context("run")?;
    assert_eq!((ended.status, ended.finished_at, ended.lease_owner), (RunState::Cancelled, Some(clock.now()), None));
    Ok(())
}

#[tokio::test]
async fn a_failed_run_can_be_requeued_and_claimed_again() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(START_MS);
    let store = open(&dir.path().join("runs.db"), &clock)?;
    let run = store.create_run(new_run("flaky", 0)).await?;

    // Only failed or cancelled runs go back to the queue.
    assert!(matches!(
        store.requeue(&run.id).await,
        Err(Error::Conflict { state: RunState::Queued, action: "requeue", .. })
    ));
    store.claim_next("w", LEASE).await?.context("claim")?;
    assert!(matches!(store.requeue(&run.id).await, Err(Error::Conflict { state: RunState::Running, .. })));
    let failure =
        RunOutcome::new(RunStatus::Failed, json!({}), Some(json!({"node": "cut", "error": ["ffmpeg exited with 1"]})));
    assert!(store.finish_run(&run.id, "w", failure).await?);
    let failed = store.get_run(&run.id).await?.context("run")?;
    assert_eq!(failed.status, RunState::Failed);
    assert_eq!(failed.error, Some(json!({"node": "cut", "error": ["ffmpeg exited with 1"]})));

    let requeued = store.requeue(&run.id).await?.context("requeue")?;
    assert_eq!(requeued.status, RunState::Queued);
    assert_eq!((requeued.finished_at, requeued.error, requeued.outputs), (None, None, None));
    let again = store.claim_next("w2", LEASE).await?.context("claimed again")?;
    assert_eq!((again.id, again.claims), (run.id, 2));
    assert_eq!(store.requeue("run-missing").await?, None);
    Ok(())
}

fn event(run_id: &str, seq: u64) -> Event {
    let kind = match seq % 4 {
        0 => EventKind::RunStarted { workflow: "wf".into(), nodes: 3 },
        1 => EventKind::NodeProgress { node: "cut".into(), fraction: 0.5, message: "half".into() },
        2 => EventKind::NodeLog { node: "map[2].cut".into(), level: LogLevel::Warn, message: "slow".into() },
        _ => EventKind::NodeFailed {
            node: "cut".into(),
            error: vec!["outer".into(), "inner".into()],
            kind: Some(reelflow_core::ErrorKind::RenderFailed),
            attempt: 2,
            will_retry: true,
        },
    };
    Event { seq, at_ms: START_MS + seq, run_id: run_id.to_owned(), kind }
}

#[tokio::test]
async fn events_append_in_batches_and_replay_in_order() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path().join("runs.db"))?;
    let run = store.create_run(new_run("events", 0)).await?;
    let other = store.create_run(new_run("other", 0)).await?;
    assert_eq!(store.last_event_seq(&run.id).await?, 0);

    let all: Vec<Event> = (1..=25).map(|seq| event(&run.id, seq)).collect();
    for batch in all.chunks(7) {
        store.append_events(&run.id, batch).await?;
    }
    store.append_events(&other.id, &[event(&other.id, 1)]).await?;
    assert_eq!(store.last_event_seq(&run.id).await?, 25);

    assert_eq!(store.events_after(&run.id, 0, 1000).await?, all);
    for from in [0, 1, 12, 24, 25] {
        let replay = store.events_after(&run.id, from, 5).await?;
        let expected: Vec<Event> = all.iter().filter(|e| e.seq > from).take(5).cloned().collect();
        assert_eq!(replay, expected, "after {from}");
    }

    // A batch with a duplicate seq is refused whole.
    let bad = [event(&run.id, 26), event(&run.id, 3)];
    assert!(matches!(store.append_events(&run.id, &bad).await, Err(Error::Backend { .. })));
    assert_eq!(store.last_event_seq(&run.id).await?, 25);
    // Events must belong to the run, and the run must exist.
    assert!(matches!(store.append_events(&run.id, &[event(&other.id, 26)]).await, Err(Error::EventRunMismatch { .. })));
    assert!(matches!(store.append_events("run-missing", &[event("run-missing", 1)]).await, Err(Error::RunNotFound(_))));
    Ok(())
}

#[tokio::test]
async fn node_runs_upsert_in_first_seen_order() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path().join("runs.db"))?;
    let run = store.create_run(new_run("nodes", 0)).await?;
    let failed = NodeRunRecord {
        state: NodeRunState::Failed,
        attempts: 1,
        duration_ms: 40,
        error: Some(vec!["outer".into(), "inner".into()]),
    };
    store.upsert_node_run(&run.id, "decode", failed.clone()).await?;
    let cached = NodeRunRecord { state: NodeRunState::Cached, attempts: 0, duration_ms: 0, error: None };
    store.upsert_node_run(&run.id, "audio", cached.clone()).await?;
    let retried = NodeRunRecord { state: NodeRunState::Succeeded, attempts: 2, duration_ms: 90, error: None };
    store.upsert_node_run(&run.id, "decode", retried.clone()).await?;
    assert_eq!(store.node_runs(&run.id).await?, [("decode".to_owned(), retried), ("audio".to_owned(), cached)]);
    assert!(matches!(
        store.upsert_node_run("run-missing", "x", failed).await,
        Err(Error::RunNotFound(id)) if id == "run-missing"
    ));
    Ok(())
}

#[tokio::test]
async fn progress_stores_events_and_nodes_together_or_not_at_all() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path().join("runs.db"))?;
    let run = store.create_run(new_run("progress", 0)).await?;
    let running = NodeRunRecord { state: NodeRunState::Running, attempts: 1, duration_ms: 0, error: None };
    store.record_progress(&run.id, &[event(&run.id, 1), event(&run.id, 2)], &[("a".into(), running.clone())]).await?;
    assert_eq!(store.events_after(&run.id, 0, 10).await?.len(), 2);
    assert_eq!(store.node_runs(&run.id).await?, [("a".to_owned(), running.clone())]);

    // A duplicate sequence number fails the whole batch: the node update is not kept either.
    let done = NodeRunRecord { state: NodeRunState::Succeeded, attempts: 1, duration_ms: 5, error: None };
    let dup = store.record_progress(&run.id, &[event(&run.id, 3), event(&run.id, 2)], &[("a".into(), done)]).await;
    assert!(dup.is_err());
    assert_eq!(store.last_event_seq(&run.id).await?, 2);
    assert_eq!(store.node_runs(&run.id).await?, [("a".to_owned(), running)]);
    Ok(())
}

#[tokio::test]
async fn created_claimed_runs_start_at_once_unless_others_wait() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(START_MS);
    let store = open(&dir.path().join("runs.db"), &clock)?;
    let direct = store.create_claimed_run(new_run("direct", 0), "w1", LEASE).await?;
    assert_eq!((direct.status, direct.lease_owner.as_deref(), direct.claims), (RunState::Running, Some("w1"), 1));
    assert_eq!(direct.started_at, Some(START_MS));
    assert_eq!(direct.lease_expires_at, Some(START_MS + 30_000));
    assert!(store.heartbeat(&direct.id, "w1", LEASE).await?.held);

    // A queued run of the same or higher priority goes first: the new one is queued behind it.
    let waiting = store.create_run(new_run("waiting", 1)).await?;
    let behind = store.create_claimed_run(new_run("behind", 1), "w1", LEASE).await?;
    assert_eq!((behind.status, behind.lease_owner), (RunState::Queued, None));
    // A more urgent one still goes straight to the worker.
    let urgent = store.create_claimed_run(new_run("urgent", 5), "w1", LEASE).await?;
    assert_eq!(urgent.status, RunState::Running);
    assert_eq!(store.claim_next("w2", LEASE).await?.map(|r| r.id), Some(waiting.id));

    // An outcome's events are stored with it.
    let mut finished = succeeded();
    let event = Event {
        seq: 1,
        at_ms: START_MS,
        run_id: direct.id.clone(),
        kind: EventKind::RunFinished { status: RunStatus::Succeeded, duration_ms: 3 },
    };
    finished.events = vec![event.clone()];
    assert!(store.finish_run(&direct.id, "w1", finished.clone()).await?);
    assert_eq!(store.events_after(&direct.id, 0, 10).await?, std::slice::from_ref(&event));
    // ... and only when the worker still held the run.
    finished.events = vec![Event { run_id: urgent.id.clone(), ..event }];
    assert!(!store.finish_run(&urgent.id, "w2", finished).await?);
    assert_eq!(store.last_event_seq(&urgent.id).await?, 0);
    Ok(())
}

#[tokio::test]
async fn released_runs_go_back_to_the_queue_with_their_history() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path().join("runs.db"))?;
    let run = store.create_run(new_run("release", 0)).await?;
    assert_eq!(store.claim_next("w1", LEASE).await?.map(|r| r.id), Some(run.id.clone()));
    store.append_events(&run.id, &[event(&run.id, 1)]).await?;
    assert!(!store.release_run(&run.id, "w2").await?, "only the lease holder may release");
    assert!(store.release_run(&run.id, "w1").await?);
    let queued = store.get_run(&run.id).await?.context("the run")?;
    assert_eq!((queued.status, queued.lease_owner.as_deref()), (RunState::Queued, None));
    assert_eq!(store.last_event_seq(&run.id).await?, 1);
    let again = store.claim_next("w2", LEASE).await?.context("claimable again")?;
    assert_eq!((again.id, again.claims), (run.id.clone(), 2));
    assert!(!store.release_run(&run.id, "w1").await?);
    Ok(())
}

#[tokio::test]
async fn list_runs_pages_by_status_without_overlap_or_gaps() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(START_MS);
    let store = open(&dir.path().join("runs.db"), &clock)?;
    let mut queued = Vec::new();
    for i in 0..23 {
        // Several runs share a millisecond, so the id must break ties.
        if i % 3 == 0 {
            clock.advance(Duration::from_millis(1));
        }
        let run = store.create_run(new_run(&format!("wf{i}"), 0)).await?;
        if i % 4 == 0 {
            store.request_cancel(&run.id).await?;
        } else {
            queued.push(run.id);
        }
    }
    // Newest first by (created_at, id); ids sort like creation within a millisecond too,
    // except for the random tail, so order the expectation the way the store does.
    let mut expected = Vec::new();
    for id in &queued {
        let run = store.get_run(id).await?.context("run")?;
        expected.push((run.created_at, run.id));
    }
    expected.sort_by(|a, b| b.cmp(a));
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store.list_runs(RunFilter { status: Some(RunState::Queued), limit: 5, after }).await?;
        assert!(page.runs.len() <= 5);
        assert!(page.runs.iter().all(|r| r.status == RunState::Queued));
        seen.extend(page.runs.into_iter().map(|r| r.id));
        pages += 1;
        // A run created between pages is newer than the cursor and does not shift later pages.
        if pages == 2 {
            clock.advance(Duration::from_millis(5));
            store.create_run(new_run("late", 0)).await?;
        }
        match page.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 4, "17 queued runs in pages of 5");

    let all = store.list_runs(RunFilter { status: None, limit: 500, after: None }).await?;
    assert_eq!((all.runs.len(), all.next_cursor), (24, None));
    assert!(matches!(
        store.list_runs(RunFilter { status: None, limit: 5, after: Some("nonsense".into()) }).await,
        Err(Error::InvalidCursor(_))
    ));
    Ok(())
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("runs.db");
    drop(SqliteStore::open(&path)?);
    {
        let conn = rusqlite::Connection::open(&path)?;
        let version: u32 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        assert_eq!(version, SCHEMA_VERSION);
        conn.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))?;
    }
    let err = SqliteStore::open(&path).expect_err("a newer schema must be refused");
    assert!(
        matches!(err, Error::SchemaTooNew { found, known, .. } if found == i64::from(SCHEMA_VERSION) + 1 && known == i64::from(SCHEMA_VERSION))
    );
    let message = err.to_string();
    assert!(message.contains("newer") && message.contains("runs.db"), "{message}");
    Ok(())
}

#[tokio::test]
async fn uploads_dedupe_by_sha256_and_artifacts_round_trip() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(START_MS);
    let store = open(&dir.path().join("runs.db"), &clock)?;
    let first = UploadRecord {
        id: "up-1".into(),
        sha256: "ab".repeat(32),
        size: 1234,
        path: "uploads/up-1".into(),
        filename: Some("clip.mp4".into()),
        content_type: Some("video/mp4".into()),
    };
    store.put_upload(first.clone()).await?;
    clock.advance(Duration::from_millis(1));
    let second = UploadRecord { id: "up-2".into(), path: "uploads/up-2".into(), filename: None, ..first.clone() };
    store.put_upload(second.clone()).await?;
    assert_eq!(store.find_upload_by_sha256(&first.sha256).await?, Some(first.clone()), "the oldest wins");
    assert_eq!(store.find_upload_by_sha256(&"cd".repeat(32)).await?, None);
    assert_eq!(store.get_upload("up-2").await?, Some(second));

    let run = store.create_run(new_run("render", 0)).await?;
    let artifact = ArtifactRecord {
        id: "art-1".into(),
        run_id: run.id.clone(),
        path: format!("artifacts/{}/out.mp4", run.id),
        sha256: "ef".repeat(32),
        size: 99,
        content_type: None,
    };
    store.put_artifact(artifact.clone()).await?;
    assert_eq!(store.get_artifact("art-1").await?, Some(artifact.clone()));
    assert_eq!(store.artifacts_of_run(&run.id).await?, std::slice::from_ref(&artifact));
    assert_eq!(store.get_artifact("art-2").await?, None);
    let orphan = ArtifactRecord { id: "art-3".into(), run_id: "run-missing".into(), ..artifact };
    assert!(matches!(store.put_artifact(orphan).await, Err(Error::RunNotFound(_))));
    Ok(())
}
