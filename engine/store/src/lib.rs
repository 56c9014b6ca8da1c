//! Reelflow's durable run store: runs, node runs, events, artifacts and uploads, and the
//! work queue that hands runs to workers.
//!
//! Callers program against the [`RunStore`] trait; [`SqliteStore`] is the embedded backend
//! (one SQLite file in WAL mode, migrated on open), and the trait names no SQL types so a
//! PostgreSQL backend can follow without touching callers.
//!
//! - Every change is committed before its method returns, so whatever a caller then tells a
//!   client ("accepted", "finished") survives a crash.
//! - Workers take runs with [`RunStore::claim_next`], which grants a lease; they keep it with
//!   [`RunStore::heartbeat`] (which also reports cancel requests) and end the run with
//!   [`RunStore::finish_run`]. A run whose lease expires (its worker died) is claimed again
//!   by the next worker. Several processes may share one database file.
//! - Times are milliseconds since the Unix epoch, read from a [`Clock`] that tests replace
//!   with a [`ManualClock`].
//!
//! ```
//! use std::time::Duration;
//! use reelflow_store::{NewRun, RunOutcome, RunState, RunStore, SqliteStore};
//! use reelflow_core::RunStatus;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rt = tokio::runtime::Runtime::new()?;
//! rt.block_on(async {
//!     let store = SqliteStore::open_in_memory()?;
//!     let run = store
//!         .create_run(NewRun {
//!             workflow: "hello".into(),
//!             source: "reelflow: 1\n".into(),
//!             inputs: serde_json::json!({"who": "world"}),
//!             priority: 0,
//!         })
//!         .await?;
//!     let claimed = store.claim_next("worker-1", Duration::from_secs(30)).await?.expect("a queued run");
//!     assert_eq!(claimed.id, run.id);
//!     assert!(store.heartbeat(&run.id, "worker-1", Duration::from_secs(30)).await?.held);
//!     let outcome = RunOutcome::new(RunStatus::Succeeded, serde_json::json!({}), None);
//!     assert!(store.finish_run(&run.id, "worker-1", outcome).await?);
//!     assert_eq!(store.get_run(&run.id).await?.map(|r| r.status), Some(RunState::Succeeded));
//!     Ok::<_, reelflow_store::Error>(())
//! })?;
//! # Ok(())
//! # }
//! ```

mod batch;
mod error;
mod migrations;
mod model;
mod run_store;
mod sqlite;

pub use batch::{BatchRecord, Delivery, ErrorPolicy, NewBatch, NotificationState};
pub use error::{BoxError, Error, Result};
pub use migrations::SCHEMA_VERSION;
pub use model::{
    ArtifactRecord, Lease, MAX_PAGE, NewRun, NodeRunRecord, NodeRunState, Page, RunFilter, RunOutcome, RunRecord,
    RunState, UnknownRunState, UploadRecord,
};
pub use run_store::RunStore;
pub use sqlite::{Clock, MAX_EVENTS_PAGE, ManualClock, SqliteStore, system_clock};
