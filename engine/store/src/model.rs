//! The records the store keeps. Timestamps are integer milliseconds since the Unix epoch.

use std::fmt;
use std::str::FromStr;

use reelflow_core::{NodeReport, NodeState, RunStatus};

use serde::{Deserialize, Serialize};

/// The most runs one `list_runs` page returns.
pub const MAX_PAGE: u32 = 500;

/// Where a run is in its life: `queued` → `running` → one of the finished states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunState {
    pub const ALL: [RunState; 5] =
        [RunState::Queued, RunState::Running, RunState::Succeeded, RunState::Failed, RunState::Cancelled];

    /// The name stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }

    /// Succeeded, failed or cancelled: the run will not change again unless requeued.
    pub fn is_finished(self) -> bool {
        self.finished_status().is_some()
    }

    /// The core's status for a finished state.
    pub fn finished_status(self) -> Option<RunStatus> {
        match self {
            RunState::Succeeded => Some(RunStatus::Succeeded),
            RunState::Failed => Some(RunStatus::Failed),
            RunState::Cancelled => Some(RunStatus::Cancelled),
            RunState::Queued | RunState::Running => None,
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of the five states.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown run state `{0}`")]
pub struct UnknownRunState(pub String);

impl FromStr for RunState {
    type Err = UnknownRunState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunState::ALL.into_iter().find(|state| state.as_str() == s).ok_or_else(|| UnknownRunState(s.to_owned()))
    }
}

impl From<RunStatus> for RunState {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Succeeded => RunState::Succeeded,
            RunStatus::Failed => RunState::Failed,
            RunStatus::Cancelled => RunState::Cancelled,
        }
    }
}

impl TryFrom<RunState> for RunStatus {
    type Error = RunState;
    /// Fails (giving the state back) for `queued` and `running`.
    fn try_from(state: RunState) -> Result<Self, Self::Error> {
        state.finished_status().ok_or(state)
    }
}

/// What a client submits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    /// The workflow's name.
    pub workflow: String,
    /// The workflow text, kept so the run can be executed (and re-executed) exactly as submitted.
    pub source: String,
    pub inputs: serde_json::Value,
    /// Higher runs first.
    #[serde(default)]
    pub priority: i64,
}

/// One run as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// `run-<13-digit ms>-<8 hex>`: sorts by creation time.
    pub id: String,
    pub workflow: String,
    pub source: String,
    pub inputs: serde_json::Value,
    pub priority: i64,
    pub status: RunState,
    pub created_at: u64,
    /// When a worker first claimed it.
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    /// The worker that holds the run (while `running`).
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<u64>,
    /// How many times a worker claimed it; more than one means a worker died or it was requeued.
    pub claims: u32,
    pub cancel_requested: bool,
    pub outputs: Option<serde_json::Value>,
    pub error: Option<serde_json::Value>,
}

/// How a worker ends a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub outputs: serde_json::Value,
    pub error: Option<serde_json::Value>,
    /// Events stored with the outcome, in the same transaction (`run_finished`), so a client
    /// that sees them also sees the run finished.
    #[serde(default)]
    pub events: Vec<reelflow_core::Event>,
}

impl RunOutcome {
    pub fn new(status: RunStatus, outputs: serde_json::Value, error: Option<serde_json::Value>) -> Self {
        RunOutcome { status, outputs, error, events: Vec::new() }
    }
}

/// What a heartbeat learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// False: another worker took the run (or it ended); stop working on it.
    pub held: bool,
    /// A client asked to cancel the run; the worker should cancel and finish it as `cancelled`.
    pub cancel_requested: bool,
}

/// Which runs `list_runs` returns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFilter {
    pub status: Option<RunState>,
    /// Page size, clamped to `1..=MAX_PAGE`.
    pub limit: u32,
    /// `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// One page of runs, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub runs: Vec<RunRecord>,
    /// Pass as `RunFilter::after` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Where one node of a run is: the executor's final [`NodeState`]s plus `running`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRunState {
    Running,
    Succeeded,
    Cached,
    Failed,
    Skipped,
    Cancelled,
}

impl NodeRunState {
    pub fn is_finished(self) -> bool {
        self != NodeRunState::Running
    }
}

impl From<NodeState> for NodeRunState {
    fn from(state: NodeState) -> Self {
        match state {
            NodeState::Succeeded => NodeRunState::Succeeded,
            NodeState::Cached => NodeRunState::Cached,
            NodeState::Failed => NodeRunState::Failed,
            NodeState::Skipped => NodeRunState::Skipped,
            NodeState::Cancelled => NodeRunState::Cancelled,
        }
    }
}

/// The stored state of one node of a run (the executor's `NodeReport`, or `running`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeRunRecord {
    pub state: NodeRunState,
    pub attempts: u32,
    pub duration_ms: u64,
    pub error: Option<Vec<String>>,
}

impl From<NodeReport> for NodeRunRecord {
    fn from(report: NodeReport) -> Self {
        NodeRunRecord {
            state: report.state.into(),
            attempts: report.attempts,
            duration_ms: report.duration_ms,
            error: report.error,
        }
    }
}

/// A file a client uploaded, stored at `path`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub id: String,
    /// Lowercase hex; the same bytes uploaded twice can reuse the first upload.
    pub sha256: String,
    pub size: u64,
    pub path: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
}

/// A file a run produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    pub id: String,
    pub run_id: String,
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub content_type: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_state_names_round_trip() {
        for state in RunState::ALL {
            assert_eq!(state.as_str().parse::<RunState>(), Ok(state));
            assert_eq!(serde_json::to_value(state).ok(), Some(serde_json::Value::from(state.as_str())));
        }
        assert!("done".parse::<RunState>().is_err());
        assert_eq!(RunStatus::try_from(RunState::Failed), Ok(RunStatus::Failed));
        assert_eq!(RunStatus::try_from(RunState::Running), Err(RunState::Running));
        assert_eq!(RunState::from(RunStatus::Cancelled), RunState::Cancelled);
    }
}
