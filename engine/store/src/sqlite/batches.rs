//! Batches in SQLite: creation with their runs, the claim-time parallelism bound (in
//! [`CLAIMABLE`]), the stop policy (in [`STOP_BATCH_AFTER_FAILURE`]) and notifications.

use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::{
    Fail, RUN_COLUMNS, SqliteStore, conversion_error, db_int, get_json, get_opt_u64, get_u64, new_run_id, run_from_row,
    to_json,
};
use crate::batch::{BatchRecord, Delivery, ErrorPolicy, NewBatch, NotificationState};
use crate::error::{Error, Result};
use crate::model::{NewRun, RunRecord};

/// The runs a worker may claim now (`?1` is the time): queued runs outside a batch or in a
/// batch with a free slot, and running runs whose worker's lease has expired. A batch's
/// slots are counted over its `running` runs, expired ones included, so a run being taken
/// over never lets one more start beside it.
pub(super) const CLAIMABLE: &str = "SELECT r.id FROM runs r
     WHERE (r.status = 'queued' AND (r.batch_id IS NULL OR
              (SELECT COUNT(*) FROM runs x WHERE x.batch_id = r.batch_id AND x.status = 'running')
              < (SELECT b.parallel FROM batches b WHERE b.id = r.batch_id)))
        OR (r.status = 'running' AND r.lease_expires_at <= ?1 AND r.cancel_requested = 0)
     ORDER BY r.priority DESC, r.created_at, r.batch_index, r.id
     LIMIT 1";

/// After run `?1` failed (at time `?2`): if its batch stops on errors, the batch's runs
/// that have not started are cancelled, with an error saying why.
pub(super) const STOP_BATCH_AFTER_FAILURE: &str = "UPDATE runs SET status = 'cancelled', finished_at = ?2, error = ?3
     WHERE status = 'queued'
       AND batch_id = (SELECT batch_id FROM runs WHERE id = ?1)
       AND EXISTS (SELECT 1 FROM batches b WHERE b.id = runs.batch_id AND b.error_policy = 'stop')";

const BATCH_COLUMNS: &str = "id, parallel, error_policy, notification_url, request, created_at, notify_attempts, \
     notify_next_at, notify_delivered_at, notify_error";

fn batch_from_row(row: &Row<'_>) -> rusqlite::Result<BatchRecord> {
    let policy: String = row.get(2)?;
    let parallel: i64 = row.get(1)?;
    let attempts: i64 = row.get(6)?;
    Ok(BatchRecord {
        id: row.get(0)?,
        parallel: u32::try_from(parallel).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(1, parallel))?,
        error_policy: match policy.as_str() {
            "stop" => ErrorPolicy::Stop,
            "continue" => ErrorPolicy::Continue,
            _ => return Err(conversion_error(2, Error::Corrupt { column: "batches.error_policy", value: policy })),
        },
        notification_url: row.get(3)?,
        request: get_json(row, 4)?,
        created_at: get_u64(row, 5)?,
        notification: NotificationState {
            attempts: u32::try_from(attempts).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(6, attempts))?,
            next_at: get_opt_u64(row, 7)?,
            delivered_at: get_opt_u64(row, 8)?,
            last_error: row.get(9)?,
        },
    })
}

/// `batch-<ms>-<8 hex>`, like run ids.
fn new_batch_id(now_ms: u64) -> String {
    format!("batch-{now_ms:013}-{:08x}", rand::random::<u32>())
}

impl SqliteStore {
    pub(super) async fn insert_batch(
        &self,
        batch: NewBatch,
        runs: Vec<NewRun>,
    ) -> Result<(BatchRecord, Vec<RunRecord>)> {
        if batch.parallel == 0 {
            return Err(Error::Invalid("a batch's `parallel` must be at least 1".into()));
        }
        let request = to_json("batch request", &batch.request)?;
        let inputs = runs.iter().map(|r| to_json("run inputs", &r.inputs)).collect::<Result<Vec<_>>>()?;
        self.call("create_batch", true, move |conn, now| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now_db = db_int(now);
            let id = new_batch_id(now);
            // Nothing to notify yet: the first try is due when the last run finishes,
            // which `due_notifications` checks; `notify_next_at` only delays retries.
            let next_at = batch.notification_url.as_ref().map(|_| now_db);
            let sql = format!(
                "INSERT INTO batches (id, parallel, error_policy, notification_url, request, created_at, notify_next_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING {BATCH_COLUMNS}"
            );
            let record = tx.query_row(
                &sql,
                params![id, batch.parallel, batch.error_policy.as_str(), batch.notification_url, request, now_db, next_at],
                batch_from_row,
            )?;
            let mut created = Vec::with_capacity(runs.len());
            {
                let sql = format!(
                    "INSERT INTO runs (id, workflow, source, inputs, priority, status, created_at, batch_id, batch_index)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7, ?8) RETURNING {RUN_COLUMNS}"
                );
                let mut insert = tx.prepare_cached(&sql)?;
                for (index, (run, inputs)) in runs.into_iter().zip(inputs).enumerate() {
                    let run_id = new_run_id(now);
                    created.push(insert.query_row(
                        params![run_id, run.workflow, run.source, inputs, run.priority, now_db, id, index as i64],
                        run_from_row,
                    )?);
                }
            }
            tx.commit()?;
            Ok((record, created))
        })
        .await
    }

    pub(super) async fn select_batch(&self, batch_id: &str) -> Result<Option<BatchRecord>> {
        let batch_id = batch_id.to_owned();
        self.call("get_batch", false, move |conn, _now| {
            let sql = format!("SELECT {BATCH_COLUMNS} FROM batches WHERE id = ?1");
            Ok(conn.query_row(&sql, [batch_id], batch_from_row).optional()?)
        })
        .await
    }

    pub(super) async fn select_batch_runs(&self, batch_id: &str) -> Result<Vec<RunRecord>> {
        let batch_id = batch_id.to_owned();
        self.call("batch_runs", false, move |conn, _now| {
            let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE batch_id = ?1 ORDER BY batch_index");
            let mut stmt = conn.prepare_cached(&sql)?;
            let runs = stmt.query_map([batch_id], run_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(runs)
        })
        .await
    }

    pub(super) async fn select_batch_of_run(&self, run_id: &str) -> Result<Option<String>> {
        let run_id = run_id.to_owned();
        self.call("batch_of_run", false, move |conn, _now| {
            let found: Option<Option<String>> =
                conn.query_row("SELECT batch_id FROM runs WHERE id = ?1", [run_id], |row| row.get(0)).optional()?;
            Ok(found.flatten())
        })
        .await
    }

    pub(super) async fn select_due_notifications(&self) -> Result<Vec<BatchRecord>> {
        self.call("due_notifications", false, move |conn, now| {
            let sql = format!(
                "SELECT {BATCH_COLUMNS} FROM batches b
                 WHERE b.notify_next_at <= ?1
                   AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.batch_id = b.id AND r.status IN ('queued', 'running'))
                 ORDER BY b.notify_next_at"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let due = stmt.query_map([db_int(now)], batch_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(due)
        })
        .await
    }

    pub(super) async fn update_delivery(&self, batch_id: &str, delivery: Delivery) -> Result<()> {
        let batch_id = batch_id.to_owned();
        self.call("record_delivery", true, move |conn, now| {
            let (next_at, delivered_at, error) = match delivery {
                Delivery::Delivered => (None, Some(db_int(now)), None),
                Delivery::RetryAt { error, at } => (Some(db_int(at)), None, Some(error)),
                Delivery::GaveUp { error } => (None, None, Some(error)),
            };
            let changed = conn.execute(
                "UPDATE batches SET notify_attempts = notify_attempts + 1, notify_next_at = ?2,
                     notify_delivered_at = ?3, notify_error = ?4
                 WHERE id = ?1",
                params![batch_id, next_at, delivered_at, error],
            )?;
            if changed == 0 {
                return Err(Fail::Store(Error::Invalid(format!("no batch `{batch_id}`"))));
            }
            Ok(())
        })
        .await
    }
}
