//! The embedded backend: one SQLite file in WAL mode.
//!
//! Each store handle has one connection for writes and one for reads (WAL lets reads run
//! beside a write). Every call runs on `spawn_blocking`, because SQLite calls block.
//! Several handles, in one process or many, may share a file: writes that read before they
//! write take SQLite's write lock up front (`BEGIN IMMEDIATE`), so two claimers never see the
//! same queued run, and `busy_timeout` makes the loser wait instead of failing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use reelflow_core::Event;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::batch::{BatchRecord, Delivery, NewBatch};
use crate::error::{Error, Result};
use crate::migrations;
use crate::model::{
    ArtifactRecord, Lease, MAX_PAGE, NewRun, NodeRunRecord, NodeRunState, Page, RunFilter, RunOutcome, RunRecord,
    RunState, UploadRecord,
};
use crate::run_store::RunStore;

mod batches;

/// The most events one `events_after` call returns.
pub const MAX_EVENTS_PAGE: u32 = 10_000;

/// How long a connection waits for another's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Milliseconds since the Unix epoch. The store reads time only through this, so tests can
/// expire leases by moving a [`ManualClock`] instead of sleeping.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    })
}

/// A clock that moves only when told to (tests).
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn new(now_ms: u64) -> Self {
        ManualClock(Arc::new(AtomicU64::new(now_ms)))
    }

    pub fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    pub fn set(&self, now_ms: u64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(millis(by), Ordering::SeqCst);
    }

    /// A [`Clock`] that reads this one.
    pub fn clock(&self) -> Clock {
        let inner = self.0.clone();
        Arc::new(move || inner.load(Ordering::SeqCst))
    }
}

struct Connections {
    path: PathBuf,
    writer: Mutex<Connection>,
    /// Readers, so status reads do not queue behind each other or behind writes (WAL lets
    /// them run beside the writer). Empty for an in-memory database, which other
    /// connections could not see: it reads through the writer.
    readers: Vec<Mutex<Connection>>,
    next_reader: std::sync::atomic::AtomicUsize,
}

/// Reader connections per store.
const READERS: usize = 4;

impl Connections {
    /// A free reader if there is one, else the next in turn (waiting for it).
    fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        if self.readers.is_empty() {
            return self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        }
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..self.readers.len() {
            if let Ok(conn) = self.readers[(start + i) % self.readers.len()].try_lock() {
                return conn;
            }
        }
        self.readers[start % self.readers.len()].lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The SQLite [`RunStore`]. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct SqliteStore {
    conns: Arc<Connections>,
    clock: Clock,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.conns.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, whose directory must exist, and
    /// migrates it to the current schema. Blocks: call it at startup or on `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_owned();
        let mut writer = connect(&path)?;
        migrations::migrate(&mut writer, &path)?;
        // Opened after migrating, so they never see a half-made schema.
        let readers = (0..READERS).map(|_| connect(&path).map(Mutex::new)).collect::<Result<Vec<_>>>()?;
        Ok(SqliteStore {
            conns: Arc::new(Connections { path, writer: Mutex::new(writer), readers, next_reader: Default::default() }),
            clock: system_clock(),
        })
    }

    /// A private database that lives as long as this store (and its clones).
    pub fn open_in_memory() -> Result<Self> {
        let path = PathBuf::from(":memory:");
        let mut conn = Connection::open_in_memory().map_err(|e| open_error(&path, e))?;
        configure(&conn, &path)?;
        migrations::migrate(&mut conn, &path)?;
        Ok(SqliteStore {
            conns: Arc::new(Connections {
                path,
                writer: Mutex::new(conn),
                readers: Vec::new(),
                next_reader: Default::default(),
            }),
            clock: system_clock(),
        })
    }

    /// Reads time from `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn path(&self) -> &Path {
        &self.conns.path
    }

    /// Inserts a run, `queued`, or when `claim` is given and no run with at least its priority
    /// is waiting, `running` under `claim`'s lease.
    async fn insert_run(&self, op: &'static str, run: NewRun, claim: Option<(String, u64)>) -> Result<RunRecord> {
        let inputs = to_json("run inputs", &run.inputs)?;
        self.call(op, true, move |conn, now| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Zero-padded milliseconds first, so ids sort by creation time.
            let id = new_run_id(now);
            let now_db = db_int(now);
            let claim = match claim {
                Some(claim) => {
                    // Fair to the queue: a run that was waiting first, or matters more, goes first.
                    let waiting = tx
                        .prepare_cached("SELECT 1 FROM runs WHERE status = 'queued' AND priority >= ?1 LIMIT 1")?
                        .exists([run.priority])?;
                    (!waiting).then_some(claim)
                }
                None => None,
            };
            let record = match claim {
                None => {
                    let sql = format!(
                        "INSERT INTO runs (id, workflow, source, inputs, priority, status, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6) RETURNING {RUN_COLUMNS}"
                    );
                    tx.query_row(
                        &sql,
                        params![id, run.workflow, run.source, inputs, run.priority, now_db],
                        run_from_row,
                    )?
                }
                Some((worker, lease)) => {
                    let sql = format!(
                        "INSERT INTO runs (id, workflow, source, inputs, priority, status, created_at, started_at,
                             lease_owner, lease_expires_at, claims)
                         VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6, ?6, ?7, ?8, 1) RETURNING {RUN_COLUMNS}"
                    );
                    let expires = db_int(now.saturating_add(lease));
                    tx.query_row(
                        &sql,
                        params![id, run.workflow, run.source, inputs, run.priority, now_db, worker, expires],
                        run_from_row,
                    )?
                }
            };
            tx.commit()?;
            Ok(record)
        })
        .await
    }

    /// Runs `job` on a blocking thread with the writer (or reader) connection and the time.
    async fn call<T, F>(&self, op: &'static str, write: bool, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, u64) -> Result<T, Fail> + Send + 'static,
    {
        let conns = self.conns.clone();
        let clock = self.clock.clone();
        tokio::task::spawn_blocking(move || {
            // A job that panicked dropped its transaction, which rolls it back, so the
            // connection behind a poisoned lock is still consistent and usable.
            let mut conn =
                if write { conns.writer.lock().unwrap_or_else(PoisonError::into_inner) } else { conns.reader() };
            // Read after taking the lock, so a lease runs from when it is granted.
            let now = clock();
            job(&mut conn, now).map_err(|fail| match fail {
                Fail::Sql(source) => Error::Backend { op, source: Box::new(source) },
                Fail::Store(e) => e,
            })
        })
        .await?
    }
}

fn open_error(path: &Path, e: rusqlite::Error) -> Error {
    Error::Open { path: path.to_owned(), source: Box::new(e) }
}

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| open_error(path, e))?;
    configure(&conn, path)?;
    Ok(conn)
}

fn configure(conn: &Connection, path: &Path) -> Result<()> {
    // First, so that the pragmas below wait for a process that is opening the same file.
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| open_error(path, e))?;
    let mode: String =
        conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).map_err(|e| open_error(path, e))?;
    // An in-memory database reports "memory"; a file that cannot use WAL (some network
    // filesystems) would lose the concurrent readers and durability model we rely on.
    if mode != "wal" && mode != "memory" {
        return Err(Error::Open { path: path.to_owned(), source: format!("journal_mode is `{mode}`, not WAL").into() });
    }
    // In WAL mode, NORMAL syncs the WAL at checkpoints rather than on every commit: a
    // committed transaction survives a crash of the process (what we promise clients), and
    // only an OS crash or power loss can lose the last commits. FULL would add an fsync per
    // commit for that last case only.
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;").map_err(|e| open_error(path, e))
}

/// Why a job failed: SQL errors get the operation's name in [`SqliteStore::call`].
enum Fail {
    Sql(rusqlite::Error),
    Store(Error),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Store(e)
    }
}

/// The error of a batch's runs cancelled because another run of the batch failed.
const STOPPED_ERROR: &str =
    r#"{"message":"not started: an earlier run of its batch failed and the batch's error_policy is `stop`"}"#;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// SQLite integers are signed; our times and sizes never come near 2^63.
/// `run-<ms>-<4 hex sequence><4 hex random>`: ids sort by creation time, and runs created in
/// the same millisecond by one process sort in creation order (the random half keeps ids of
/// different processes apart).
fn new_run_id(now_ms: u64) -> String {
    static SEQUENCE: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let seq = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("run-{now_ms:013}-{seq:04x}{:04x}", rand::random::<u16>())
}

fn db_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn get_u64(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let v: i64 = row.get(idx)?;
    u64::try_from(v).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(idx, v))
}

fn get_opt_u64(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<u64>> {
    let v: Option<i64> = row.get(idx)?;
    v.map(|v| u64::try_from(v).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(idx, v))).transpose()
}

fn conversion_error(idx: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
}

fn get_json<T: serde::de::DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|e| conversion_error(idx, e))
}

fn get_opt_json<T: serde::de::DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>> {
    let text: Option<String> = row.get(idx)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| conversion_error(idx, e))).transpose()
}

fn to_json(what: &'static str, value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|source| Error::Json { what, source })
}

const RUN_COLUMNS: &str = "id, workflow, source, inputs, priority, status, created_at, started_at, finished_at, \
     lease_owner, lease_expires_at, claims, cancel_requested, outputs, error";

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    let status: String = row.get(5)?;
    let claims: i64 = row.get(11)?;
    Ok(RunRecord {
        id: row.get(0)?,
        workflow: row.get(1)?,
        source: row.get(2)?,
        inputs: get_json(row, 3)?,
        priority: row.get(4)?,
        status: status.parse().map_err(|e| conversion_error(5, e))?,
        created_at: get_u64(row, 6)?,
        started_at: get_opt_u64(row, 7)?,
        finished_at: get_opt_u64(row, 8)?,
        lease_owner: row.get(9)?,
        lease_expires_at: get_opt_u64(row, 10)?,
        claims: u32::try_from(claims).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(11, claims))?,
        cancel_requested: row.get(12)?,
        outputs: get_opt_json(row, 13)?,
        error: get_opt_json(row, 14)?,
    })
}

fn node_state_text(state: NodeRunState) -> Result<String> {
    match serde_json::to_value(state) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        Ok(other) => Err(Error::Corrupt { column: "node_runs.state", value: other.to_string() }),
        Err(source) => Err(Error::Json { what: "node state", source }),
    }
}

fn node_from_row(row: &Row<'_>) -> rusqlite::Result<(String, NodeRunRecord)> {
    let state: String = row.get(1)?;
    let attempts: i64 = row.get(2)?;
    let record = NodeRunRecord {
        state: serde_json::from_value(serde_json::Value::String(state)).map_err(|e| conversion_error(1, e))?,
        attempts: u32::try_from(attempts).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(2, attempts))?,
        duration_ms: get_u64(row, 3)?,
        error: get_opt_json(row, 4)?,
    };
    Ok((row.get(0)?, record))
}

const UPLOAD_COLUMNS: &str = "id, sha256, size, path, filename, content_type";

fn upload_from_row(row: &Row<'_>) -> rusqlite::Result<UploadRecord> {
    Ok(UploadRecord {
        id: row.get(0)?,
        sha256: row.get(1)?,
        size: get_u64(row, 2)?,
        path: row.get(3)?,
        filename: row.get(4)?,
        content_type: row.get(5)?,
    })
}

const ARTIFACT_COLUMNS: &str = "id, run_id, path, sha256, size, content_type";

fn artifact_from_row(row: &Row<'_>) -> rusqlite::Result<ArtifactRecord> {
    Ok(ArtifactRecord {
        id: row.get(0)?,
        run_id: row.get(1)?,
        path: row.get(2)?,
        sha256: row.get(3)?,
        size: get_u64(row, 4)?,
        content_type: row.get(5)?,
    })
}

/// Fails with [`Error::RunNotFound`] unless the run exists (clearer than a foreign-key error).
const INSERT_EVENT: &str = "INSERT INTO events (run_id, seq, at_ms, kind, body) VALUES (?1, ?2, ?3, ?4, ?5)";

const UPSERT_NODE_RUN: &str = "INSERT INTO node_runs (run_id, node_id, state, attempts, duration_ms, error, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
     ON CONFLICT (run_id, node_id) DO UPDATE SET
         state = excluded.state, attempts = excluded.attempts, duration_ms = excluded.duration_ms,
         error = excluded.error, updated_at = excluded.updated_at";

/// Events as `(seq, at_ms, kind, body)` rows, checked to belong to `run_id`.
fn event_rows(run_id: &str, events: &[Event]) -> Result<Vec<(i64, i64, String, String)>> {
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        if event.run_id != run_id {
            return Err(Error::EventRunMismatch {
                seq: event.seq,
                expected: run_id.to_owned(),
                found: event.run_id.clone(),
            });
        }
        let body = serde_json::to_value(event).map_err(|source| Error::Json { what: "event", source })?;
        let kind = body.get("type").and_then(|t| t.as_str()).unwrap_or("unknown").to_owned();
        rows.push((db_int(event.seq), db_int(event.at_ms), kind, body.to_string()));
    }
    Ok(rows)
}

fn ensure_run(conn: &Connection, run_id: &str) -> Result<(), Fail> {
    let found = conn.prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?.exists([run_id])?;
    if found { Ok(()) } else { Err(Error::RunNotFound(run_id.to_owned()).into()) }
}

/// A list cursor is `<created_at>:<id>` of the last run on the page.
fn parse_cursor(cursor: &str) -> Result<(i64, String)> {
    cursor
        .split_once(':')
        .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())))
        .filter(|(_, id)| !id.is_empty())
        .ok_or_else(|| Error::InvalidCursor(cursor.to_owned()))
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn create_run(&self, run: NewRun) -> Result<RunRecord> {
        self.insert_run("create_run", run, None).await
    }

    async fn create_claimed_run(&self, run: NewRun, worker: &str, lease: Duration) -> Result<RunRecord> {
        self.insert_run("create_claimed_run", run, Some((worker.to_owned(), millis(lease)))).await
    }

    async fn claim_next(&self, worker: &str, lease: Duration) -> Result<Option<RunRecord>> {
        let worker = worker.to_owned();
        let lease = millis(lease);
        self.call("claim_next", true, move |conn, now| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now_db = db_int(now);
            // A run whose worker died after a cancel request has nobody left to finish it:
            // it ends as cancelled rather than being run again.
            tx.execute(
                "UPDATE runs SET status = 'cancelled', finished_at = ?1, lease_owner = NULL, lease_expires_at = NULL
                 WHERE status = 'running' AND cancel_requested = 1 AND lease_expires_at <= ?1",
                [now_db],
            )?;
            let next: Option<String> = tx.query_row(batches::CLAIMABLE, [now_db], |row| row.get(0)).optional()?;
            let claimed = match next {
                Some(id) => {
                    let sql = format!(
                        "UPDATE runs SET status = 'running', lease_owner = ?2, lease_expires_at = ?3,
                             claims = claims + 1, started_at = COALESCE(started_at, ?4)
                         WHERE id = ?1 RETURNING {RUN_COLUMNS}"
                    );
                    let expires = db_int(now.saturating_add(lease));
                    Some(tx.query_row(&sql, params![id, worker, expires, now_db], run_from_row)?)
                }
                None => None,
            };
            tx.commit()?;
            Ok(claimed)
        })
        .await
    }

    async fn heartbeat(&self, run_id: &str, worker: &str, lease: Duration) -> Result<Lease> {
        let (run_id, worker) = (run_id.to_owned(), worker.to_owned());
        let lease = millis(lease);
        self.call("heartbeat", true, move |conn, now| {
            let cancel_requested: Option<bool> = conn
                .query_row(
                    "UPDATE runs SET lease_expires_at = ?3
                     WHERE id = ?1 AND status = 'running' AND lease_owner = ?2
                     RETURNING cancel_requested",
                    params![run_id, worker, db_int(now.saturating_add(lease))],
                    |row| row.get(0),
                )
                .optional()?;
            Ok(Lease { held: cancel_requested.is_some(), cancel_requested: cancel_requested.unwrap_or(false) })
        })
        .await
    }

    async fn finish_run(&self, run_id: &str, worker: &str, outcome: RunOutcome) -> Result<bool> {
        let (run_id, worker) = (run_id.to_owned(), worker.to_owned());
        let outputs = to_json("run outputs", &outcome.outputs)?;
        let error = outcome.error.as_ref().map(|e| to_json("run error", e)).transpose()?;
        let status = RunState::from(outcome.status).as_str();
        let events = event_rows(&run_id, &outcome.events)?;
        self.call("finish_run", true, move |conn, now| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let changed = tx.execute(
                "UPDATE runs SET status = ?3, outputs = ?4, error = ?5, finished_at = ?6,
                     lease_owner = NULL, lease_expires_at = NULL
                 WHERE id = ?1 AND status = 'running' AND lease_owner = ?2",
                params![run_id, worker, status, outputs, error, db_int(now)],
            )?;
            if changed == 1 {
                let mut insert = tx.prepare_cached(INSERT_EVENT)?;
                for (seq, at_ms, kind, body) in &events {
                    insert.execute(params![run_id, seq, at_ms, kind, body])?;
                }
                if status == "failed" {
                    tx.execute(batches::STOP_BATCH_AFTER_FAILURE, params![run_id, db_int(now), STOPPED_ERROR])?;
                }
            }
            tx.commit()?;
            Ok(changed == 1)
        })
        .await
    }

    async fn request_cancel(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let run_id = run_id.to_owned();
        self.call("request_cancel", true, move |conn, now| {
            // Every right-hand side sees the row as it was before this UPDATE.
            let sql = format!(
                "UPDATE runs SET
                     status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
                     finished_at = CASE WHEN status = 'queued' THEN ?2 ELSE finished_at END,
                     cancel_requested = CASE WHEN status IN ('queued', 'running') THEN 1 ELSE cancel_requested END
                 WHERE id = ?1 RETURNING {RUN_COLUMNS}"
            );
            Ok(conn.query_row(&sql, params![run_id, db_int(now)], run_from_row).optional()?)
        })
        .await
    }

    async fn requeue(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let run_id = run_id.to_owned();
        self.call("requeue", true, move |conn, _now| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let status: Option<String> =
                tx.query_row("SELECT status FROM runs WHERE id = ?1", [&run_id], |row| row.get(0)).optional()?;
            let Some(status) = status else { return Ok(None) };
            let state: RunState =
                status.parse().map_err(|_| Error::Corrupt { column: "runs.status", value: status.clone() })?;
            if !matches!(state, RunState::Failed | RunState::Cancelled) {
                return Err(Error::Conflict { id: run_id, state, action: "requeue" }.into());
            }
            let sql = format!(
                "UPDATE runs SET status = 'queued', started_at = NULL, finished_at = NULL, lease_owner = NULL,
                     lease_expires_at = NULL, cancel_requested = 0, outputs = NULL, error = NULL
                 WHERE id = ?1 RETURNING {RUN_COLUMNS}"
            );
            let run = tx.query_row(&sql, [&run_id], run_from_row)?;
            tx.commit()?;
            Ok(Some(run))
        })
        .await
    }

    async fn get_run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let run_id = run_id.to_owned();
        self.call("get_run", false, move |conn, _now| {
            let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1");
            Ok(conn.prepare_cached(&sql)?.query_row([run_id], run_from_row).optional()?)
        })
        .await
    }

    async fn list_runs(&self, filter: RunFilter) -> Result<Page> {
        let after = filter.after.as_deref().map(parse_cursor).transpose()?;
        let limit = filter.limit.clamp(1, MAX_PAGE);
        let status = filter.status.map(RunState::as_str);
        self.call("list_runs", false, move |conn, _now| {
            let (after_at, after_id) = after.unzip();
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM runs
                 WHERE (?1 IS NULL OR status = ?1)
                   AND (?2 IS NULL OR (created_at, id) < (?2, ?3))
                 ORDER BY created_at DESC, id DESC
                 LIMIT ?4"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            // One more than the page, to learn whether there is a next page.
            let mut runs = stmt
                .query_map(params![status, after_at, after_id, i64::from(limit) + 1], run_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let more = runs.len() > limit as usize;
            runs.truncate(limit as usize);
            let next_cursor = if more { runs.last().map(|r| format!("{}:{}", r.created_at, r.id)) } else { None };
            Ok(Page { runs, next_cursor })
        })
        .await
    }

    async fn append_events(&self, run_id: &str, events: &[Event]) -> Result<()> {
        self.record_progress(run_id, events, &[]).await
    }

    async fn record_progress(&self, run_id: &str, events: &[Event], nodes: &[(String, NodeRunRecord)]) -> Result<()> {
        let event_rows = event_rows(run_id, events)?;
        let node_rows = nodes
            .iter()
            .map(|(id, node)| {
                let error = node.error.as_ref().map(|e| to_json("node error", e)).transpose()?;
                Ok((id.clone(), node_state_text(node.state)?, node.attempts, db_int(node.duration_ms), error))
            })
            .collect::<Result<Vec<_>>>()?;
        let run_id = run_id.to_owned();
        self.call("record_progress", true, move |conn, now| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            ensure_run(&tx, &run_id)?;
            {
                let mut insert = tx.prepare_cached(INSERT_EVENT)?;
                for (seq, at_ms, kind, body) in &event_rows {
                    insert.execute(params![run_id, seq, at_ms, kind, body])?;
                }
                let mut upsert = tx.prepare_cached(UPSERT_NODE_RUN)?;
                for (node_id, state, attempts, duration_ms, error) in &node_rows {
                    upsert.execute(params![run_id, node_id, state, attempts, duration_ms, error, db_int(now)])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn release_run(&self, run_id: &str, worker: &str) -> Result<bool> {
        let (run_id, worker) = (run_id.to_owned(), worker.to_owned());
        self.call("release_run", true, move |conn, _now| {
            let changed = conn.execute(
                "UPDATE runs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL
                 WHERE id = ?1 AND status = 'running' AND lease_owner = ?2",
                params![run_id, worker],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn events_after(&self, run_id: &str, after_seq: u64, limit: u32) -> Result<Vec<Event>> {
        let run_id = run_id.to_owned();
        let limit = limit.clamp(1, MAX_EVENTS_PAGE);
        self.call("events_after", false, move |conn, _now| {
            let mut stmt =
                conn.prepare_cached("SELECT body FROM events WHERE run_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")?;
            let events = stmt
                .query_map(params![run_id, db_int(after_seq), i64::from(limit)], |row| get_json::<Event>(row, 0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(events)
        })
        .await
    }

    async fn last_event_seq(&self, run_id: &str) -> Result<u64> {
        let run_id = run_id.to_owned();
        self.call("last_event_seq", false, move |conn, _now| {
            let seq: Option<i64> =
                conn.query_row("SELECT MAX(seq) FROM events WHERE run_id = ?1", [run_id], |row| row.get(0))?;
            Ok(seq.map_or(0, |s| u64::try_from(s).unwrap_or(0)))
        })
        .await
    }

    async fn upsert_node_run(&self, run_id: &str, node_id: &str, node: NodeRunRecord) -> Result<()> {
        let (run_id, node_id) = (run_id.to_owned(), node_id.to_owned());
        let state = node_state_text(node.state)?;
        let error = node.error.as_ref().map(|e| to_json("node error", e)).transpose()?;
        self.call("upsert_node_run", true, move |conn, now| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            ensure_run(&tx, &run_id)?;
            tx.execute(
                UPSERT_NODE_RUN,
                params![run_id, node_id, state, node.attempts, db_int(node.duration_ms), error, db_int(now)],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn node_runs(&self, run_id: &str) -> Result<Vec<(String, NodeRunRecord)>> {
        let run_id = run_id.to_owned();
        self.call("node_runs", false, move |conn, _now| {
            // rowid survives an upsert's UPDATE, so this is the order nodes were first stored.
            let mut stmt = conn.prepare_cached(
                "SELECT node_id, state, attempts, duration_ms, error FROM node_runs WHERE run_id = ?1 ORDER BY rowid",
            )?;
            let nodes = stmt.query_map([run_id], node_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(nodes)
        })
        .await
    }

    async fn put_upload(&self, upload: UploadRecord) -> Result<()> {
        self.call("put_upload", true, move |conn, now| {
            conn.execute(
                "INSERT INTO uploads (id, sha256, size, path, filename, content_type, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET
                     sha256 = excluded.sha256, size = excluded.size, path = excluded.path,
                     filename = excluded.filename, content_type = excluded.content_type",
                params![
                    upload.id,
                    upload.sha256,
                    db_int(upload.size),
                    upload.path,
                    upload.filename,
                    upload.content_type,
                    db_int(now)
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_upload(&self, id: &str) -> Result<Option<UploadRecord>> {
        let id = id.to_owned();
        self.call("get_upload", false, move |conn, _now| {
            let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = ?1");
            Ok(conn.prepare_cached(&sql)?.query_row([id], upload_from_row).optional()?)
        })
        .await
    }

    async fn find_upload_by_sha256(&self, sha256: &str) -> Result<Option<UploadRecord>> {
        let sha256 = sha256.to_owned();
        self.call("find_upload_by_sha256", false, move |conn, _now| {
            let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE sha256 = ?1 ORDER BY created_at, id LIMIT 1");
            Ok(conn.prepare_cached(&sql)?.query_row([sha256], upload_from_row).optional()?)
        })
        .await
    }

    async fn put_artifact(&self, artifact: ArtifactRecord) -> Result<()> {
        self.call("put_artifact", true, move |conn, now| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            ensure_run(&tx, &artifact.run_id)?;
            tx.execute(
                "INSERT INTO artifacts (id, run_id, path, sha256, size, content_type, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET
                     run_id = excluded.run_id, path = excluded.path, sha256 = excluded.sha256,
                     size = excluded.size, content_type = excluded.content_type",
                params![
                    artifact.id,
                    artifact.run_id,
                    artifact.path,
                    artifact.sha256,
                    db_int(artifact.size),
                    artifact.content_type,
                    db_int(now)
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn get_artifact(&self, id: &str) -> Result<Option<ArtifactRecord>> {
        let id = id.to_owned();
        self.call("get_artifact", false, move |conn, _now| {
            let sql = format!("SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE id = ?1");
            Ok(conn.prepare_cached(&sql)?.query_row([id], artifact_from_row).optional()?)
        })
        .await
    }

    async fn artifacts_of_run(&self, run_id: &str) -> Result<Vec<ArtifactRecord>> {
        let run_id = run_id.to_owned();
        self.call("artifacts_of_run", false, move |conn, _now| {
            let sql = format!("SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE run_id = ?1 ORDER BY created_at, id");
            let mut stmt = conn.prepare_cached(&sql)?;
            let artifacts = stmt.query_map([run_id], artifact_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(artifacts)
        })
        .await
    }

    async fn create_batch(&self, batch: NewBatch, runs: Vec<NewRun>) -> Result<(BatchRecord, Vec<RunRecord>)> {
        self.insert_batch(batch, runs).await
    }

    async fn get_batch(&self, batch_id: &str) -> Result<Option<BatchRecord>> {
        self.select_batch(batch_id).await
    }

    async fn batch_runs(&self, batch_id: &str) -> Result<Vec<RunRecord>> {
        self.select_batch_runs(batch_id).await
    }

    async fn batch_of_run(&self, run_id: &str) -> Result<Option<String>> {
        self.select_batch_of_run(run_id).await
    }

    async fn due_notifications(&self) -> Result<Vec<BatchRecord>> {
        self.select_due_notifications().await
    }

    async fn record_delivery(&self, batch_id: &str, delivery: Delivery) -> Result<()> {
        self.update_delivery(batch_id, delivery).await
    }

    async fn counts_by_state(&self) -> Result<Vec<(RunState, u64)>> {
        self.call("counts_by_state", false, move |conn, _now| {
            let mut stmt = conn.prepare_cached("SELECT status, COUNT(*) FROM runs GROUP BY status")?;
            let found = stmt
                .query_map([], |row| Ok((row.get::<_, String>(0)?, get_u64(row, 1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut counts: Vec<(RunState, u64)> = RunState::ALL.iter().map(|&state| (state, 0)).collect();
            for (status, n) in found {
                let state: RunState =
                    status.parse().map_err(|_| Error::Corrupt { column: "runs.status", value: status.clone() })?;
                if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == state) {
                    slot.1 = n;
                }
            }
            Ok(counts)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_only_in_their_own_format() {
        assert_eq!(parse_cursor("1700000000000:run-1-ab").ok(), Some((1_700_000_000_000, "run-1-ab".to_owned())));
        for bad in ["", "run-1", "x:run-1", "12:"] {
            assert!(matches!(parse_cursor(bad), Err(Error::InvalidCursor(_))), "{bad}");
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        let read = clock.clock();
        assert_eq!(read(), 1_000);
        clock.advance(Duration::from_millis(250));
        assert_eq!(read(), 1_250);
        clock.set(5);
        assert_eq!(clock.now(), 5);
    }
}
