//! Reelflow's queue worker. `reelflow serve` runs one inside the server; `reelflow worker`
//! runs one on its own; any number may share one database.
//!
//! A worker claims the next queued run under a lease, renews the lease while it executes
//! the run, stores the run's events and node states as they happen (so event streams can
//! replay them), keeps its output files as artifacts, and finishes it in the store. A worker
//! that dies stops renewing; once its lease expires another worker claims the run and runs
//! it again, and the nodes that had finished come from the cache.
//!
//! ```no_run
//! use std::sync::Arc;
//! use reelflow_runtime::{Config, Runtime};
//! use reelflow_store::SqliteStore;
//! use reelflow_worker::{RunHub, Worker, WorkerMetrics, WorkerOptions};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::load(None)?;
//! let store = Arc::new(SqliteStore::open(config.db_path())?);
//! let opts = WorkerOptions::from_config(&config)?;
//! let runtime = Arc::new(Runtime::new(config)?);
//! let worker = Worker::new(store, runtime, RunHub::new(), WorkerMetrics::default(), opts);
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! worker.run(shutdown).await;
//! # Ok(()) }
//! ```

mod artifacts;
mod error;
mod hub;
mod metrics;
mod worker;

pub use artifacts::{ARTIFACT_KEY, hex, sha256_file};
pub use error::{Error, Result};
pub use hub::RunHub;
pub use metrics::{OpLabel, StatusLabel, WorkerMetrics};
pub use worker::{INLINE_PREFIX, Prepared, Reservation, Worker, WorkerOptions, default_worker_id, workflow_base_dir};
