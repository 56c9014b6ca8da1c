//! Errors of the run store. Backend errors are boxed so that callers (the server, the
//! worker) never name `rusqlite` and a PostgreSQL backend can report through the same enum.

use std::path::PathBuf;

use crate::model::RunState;

/// The boxed cause of a backend failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be opened or configured.
    #[error("opening the run store at {path}")]
    Open { path: PathBuf, source: BoxError },
    /// The database was written by a newer Reelflow; this build must not touch it.
    #[error(
        "the run store at {path} has schema version {found}, newer than the {known} this build of Reelflow knows; \
         upgrade Reelflow or point it at another database"
    )]
    SchemaTooNew { path: PathBuf, found: i64, known: i64 },
    /// A migration failed; its transaction was rolled back, so the database is unchanged.
    #[error("migrating the run store at {path} to schema version {version}")]
    Migrate { path: PathBuf, version: u32, source: BoxError },
    /// A query or transaction failed in the backend.
    #[error("run store: {op} failed")]
    Backend { op: &'static str, source: BoxError },
    /// No run has this id.
    #[error("run `{0}` not found")]
    RunNotFound(String),
    /// The run is in a state that does not allow the action (e.g. requeueing a running run).
    #[error("run `{id}` is {state}; cannot {action} it")]
    Conflict { id: String, state: RunState, action: &'static str },
    /// A request the store cannot carry out as asked (a batch with `parallel: 0`, an
    /// unknown batch).
    #[error("{0}")]
    Invalid(String),
    /// A `list_runs` cursor that this store did not hand out.
    #[error("invalid run list cursor `{0}`")]
    InvalidCursor(String),
    /// An event passed to `append_events` names another run.
    #[error("event {seq} belongs to run `{found}`, not `{expected}`")]
    EventRunMismatch { seq: u64, expected: String, found: String },
    /// A JSON value could not be written or a stored one could not be read back.
    #[error("JSON of {what}")]
    Json { what: &'static str, source: serde_json::Error },
    /// A stored value that no version of this code writes.
    #[error("corrupt value `{value}` in column `{column}`")]
    Corrupt { column: &'static str, value: String },
    /// The blocking task that ran the query panicked or was cancelled.
    #[error("run store task failed")]
    Task(#[from] tokio::task::JoinError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
