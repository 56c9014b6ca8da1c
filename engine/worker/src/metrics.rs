//! What a worker measures, in Prometheus form. The server registers these next to its own.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabel {
    pub op: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

#[derive(Clone, Debug)]
pub struct WorkerMetrics {
    /// How long each node took, by op (cache hits are not counted: they did no work).
    pub node_duration: Family<OpLabel, Histogram, fn() -> Histogram>,
    /// Runs this process finished, by final status.
    pub runs_finished: Family<StatusLabel, Counter>,
    /// From a run's creation to its claim by a worker: the queue wait.
    pub queue_wait: Histogram,
}

fn duration_histogram() -> Histogram {
    // 1 ms to ~9 hours.
    Histogram::new(exponential_buckets(0.001, 2.5, 20))
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        WorkerMetrics {
            node_duration: Family::new_with_constructor(duration_histogram),
            runs_finished: Family::default(),
            queue_wait: Histogram::new(exponential_buckets(0.0005, 2.0, 20)),
        }
    }
}

impl WorkerMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register("reelflow_node_duration_seconds", "How long nodes ran, by op", self.node_duration.clone());
        registry.register(
            "reelflow_runs_finished",
            "Runs finished by this process, by status",
            self.runs_finished.clone(),
        );
        registry.register(
            "reelflow_queue_wait_seconds",
            "Time from a run's submission to its claim by a worker",
            self.queue_wait.clone(),
        );
    }
}
