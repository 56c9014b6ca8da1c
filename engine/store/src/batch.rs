//! Batches: runs submitted together that share a parallelism bound, an error policy and a
//! completion notification. The bound is enforced where runs are claimed, so it holds for
//! every worker sharing the database, and survives restarts like the runs themselves.

use serde::{Deserialize, Serialize};

/// What the rest of a batch does when one of its runs fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorPolicy {
    /// The other runs go on.
    #[default]
    Continue,
    /// Runs not yet started are cancelled; runs already running finish.
    Stop,
}

impl ErrorPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorPolicy::Continue => "continue",
            ErrorPolicy::Stop => "stop",
        }
    }
}

/// A batch to create, with its runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewBatch {
    /// At most this many of the batch's runs run at once (at least 1).
    pub parallel: u32,
    pub error_policy: ErrorPolicy,
    /// Where the batch's result is POSTed once every run has finished.
    pub notification_url: Option<String>,
    /// The client's request as given, for reports and the notification.
    pub request: serde_json::Value,
}

/// A batch as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchRecord {
    /// `batch-<13-digit ms>-<8 hex>`.
    pub id: String,
    pub parallel: u32,
    pub error_policy: ErrorPolicy,
    pub notification_url: Option<String>,
    pub request: serde_json::Value,
    pub created_at: u64,
    pub notification: NotificationState,
}

/// Where the completion notification stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationState {
    /// Deliveries tried so far.
    pub attempts: u32,
    /// When the next try is due (none: delivered, given up, or nothing to deliver).
    pub next_at: Option<u64>,
    /// When a delivery was acknowledged with a 2xx.
    pub delivered_at: Option<u64>,
    /// Why the last try failed.
    pub last_error: Option<String>,
}

/// The result of one delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Failed; try again at this time (ms since the epoch).
    RetryAt {
        error: String,
        at: u64,
    },
    /// Failed for the last time.
    GaveUp {
        error: String,
    },
}
