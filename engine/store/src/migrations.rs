//! The SQLite schema as an ordered list of migrations. Migration `i` (0-based) takes the
//! database from version `i` to `i + 1`; the version lives in `PRAGMA user_version`, which
//! SQLite keeps in the file header and changes inside the same transaction as the schema.
//!
//! Append new migrations; never edit one that has shipped. The column types and SQL are kept
//! to what PostgreSQL also has (`BIGINT` for milliseconds, `TEXT` for JSON and ids), so the
//! PostgreSQL backend can mirror this schema.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: runs, their node states and events, uploads and artifacts.
    r#"
    CREATE TABLE runs (
        id               TEXT PRIMARY KEY,
        workflow         TEXT NOT NULL,
        source           TEXT NOT NULL,
        inputs           TEXT NOT NULL,
        priority         INTEGER NOT NULL DEFAULT 0,
        status           TEXT NOT NULL
            CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
        created_at       INTEGER NOT NULL,
        started_at       INTEGER,
        finished_at      INTEGER,
        lease_owner      TEXT,
        lease_expires_at INTEGER,
        claims           INTEGER NOT NULL DEFAULT 0,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        outputs          TEXT,
        error            TEXT
    ) STRICT;
    -- The queue: claim_next scans queued/running runs by priority, then age.
    CREATE INDEX runs_by_queue_order ON runs (status, priority DESC, created_at, id);
    -- list_runs pages newest first, with and without a status filter.
    CREATE INDEX runs_by_age ON runs (created_at DESC, id DESC);
    CREATE INDEX runs_by_status_age ON runs (status, created_at DESC, id DESC);

    CREATE TABLE node_runs (
        run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        node_id     TEXT NOT NULL,
        state       TEXT NOT NULL,
        attempts    INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        error       TEXT,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (run_id, node_id)
    ) STRICT;

    CREATE TABLE events (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq    INTEGER NOT NULL,
        at_ms  INTEGER NOT NULL,
        kind   TEXT NOT NULL,
        body   TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) STRICT;

    CREATE TABLE uploads (
        id           TEXT PRIMARY KEY,
        sha256       TEXT NOT NULL,
        size         INTEGER NOT NULL,
        path         TEXT NOT NULL,
        filename     TEXT,
        content_type TEXT,
        created_at   INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX uploads_by_sha256 ON uploads (sha256, created_at);

    CREATE TABLE artifacts (
        id           TEXT PRIMARY KEY,
        run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        path         TEXT NOT NULL,
        sha256       TEXT NOT NULL,
        size         INTEGER NOT NULL,
        content_type TEXT,
        created_at   INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX artifacts_by_run ON artifacts (run_id, created_at);
    "#,
    // 2: batches. A run may belong to one; its place in the batch orders the batch's runs.
    r#"
    CREATE TABLE batches (
        id                  TEXT PRIMARY KEY,
        parallel            INTEGER NOT NULL CHECK (parallel >= 1),
        error_policy        TEXT NOT NULL CHECK (error_policy IN ('continue', 'stop')),
        notification_url    TEXT,
        request             TEXT NOT NULL,
        created_at          INTEGER NOT NULL,
        notify_attempts     INTEGER NOT NULL DEFAULT 0,
        notify_next_at      INTEGER,
        notify_delivered_at INTEGER,
        notify_error        TEXT
    ) STRICT;
    ALTER TABLE runs ADD COLUMN batch_id TEXT REFERENCES batches (id);
    ALTER TABLE runs ADD COLUMN batch_index INTEGER;
    -- claim_next counts each batch's running runs; batch_runs lists them in order.
    CREATE INDEX runs_by_batch ON runs (batch_id, status);
    CREATE INDEX batches_by_notify ON batches (notify_next_at);
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database up to [`SCHEMA_VERSION`], or refuses one that is newer.
/// `path` is only for error messages.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let open_err = |e: rusqlite::Error| Error::Open { path: path.to_owned(), source: Box::new(e) };
    // IMMEDIATE takes the write lock before reading the version, so two processes opening a
    // fresh file at once do not both run migration 1: the second waits, then sees version 1.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(open_err)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(open_err)?;
    if found > i64::from(SCHEMA_VERSION) {
        return Err(Error::SchemaTooNew { path: path.to_owned(), found, known: i64::from(SCHEMA_VERSION) });
    }
    // `found` is in 0..=SCHEMA_VERSION here unless someone wrote a negative version by hand.
    let done = usize::try_from(found).unwrap_or(0);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let version = index as u32 + 1;
        let migrate_err = |e: rusqlite::Error| Error::Migrate { path: path.to_owned(), version, source: Box::new(e) };
        tx.execute_batch(sql).map_err(migrate_err)?;
        // PRAGMA takes no bound parameters; `version` is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {version}")).map_err(migrate_err)?;
    }
    tx.commit().map_err(open_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |row| row.get(0)).expect("read user_version")
    }

    #[test]
    fn fresh_database_reaches_the_latest_version_and_reopening_is_a_no_op() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn, Path::new(":memory:")).expect("first migrate");
        assert_eq!(version(&conn), i64::from(SCHEMA_VERSION));
        migrate(&mut conn, Path::new(":memory:")).expect("second migrate");
        assert_eq!(version(&conn), i64::from(SCHEMA_VERSION));
    }

    #[test]
    fn newer_database_is_refused_and_left_alone() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("PRAGMA user_version = 42").expect("set version");
        let err = migrate(&mut conn, Path::new("x.db")).expect_err("must refuse");
        assert!(matches!(err, Error::SchemaTooNew { found: 42, .. }), "{err:?}");
        assert_eq!(version(&conn), 42);
    }
}
