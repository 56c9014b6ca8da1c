//! The one event stream of a run: the CLI draws progress bars from it, the server stores
//! it and sends it over WebSocket/SSE.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::node::ErrorKind;

/// One event with its position in the run's stream.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// 1-based sequence number, increasing within a run.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub run_id: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. Node ids inside `map` bodies are written `map_node[index].inner`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    RunStarted {
        workflow: String,
        nodes: usize,
    },
    RunFinished {
        status: RunStatus,
        duration_ms: u64,
    },
    NodeStarted {
        node: String,
        op: String,
        attempt: u32,
    },
    NodeProgress {
        node: String,
        fraction: f32,
        message: String,
    },
    NodeLog {
        node: String,
        level: LogLevel,
        message: String,
    },
    NodeCached {
        node: String,
    },
    NodeFinished {
        node: String,
        duration_ms: u64,
    },
    /// `error` is the error chain, outermost first.
    NodeFailed {
        node: String,
        error: Vec<String>,
        /// What kind of failure, for callers that map failures onto their own codes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<ErrorKind>,
        attempt: u32,
        will_retry: bool,
    },
    NodeSkipped {
        node: String,
        reason: String,
    },
    /// The run was cancelled before or while this node ran.
    NodeCancelled {
        node: String,
    },
}

impl EventKind {
    pub fn node(&self) -> Option<&str> {
        match self {
            EventKind::NodeStarted { node, .. }
            | EventKind::NodeProgress { node, .. }
            | EventKind::NodeLog { node, .. }
            | EventKind::NodeCached { node }
            | EventKind::NodeFinished { node, .. }
            | EventKind::NodeFailed { node, .. }
            | EventKind::NodeSkipped { node, .. }
            | EventKind::NodeCancelled { node } => Some(node),
            EventKind::RunStarted { .. } | EventKind::RunFinished { .. } => None,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Where events go. Implementations must be cheap: they are called on the scheduler's path.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: Event);
}

/// Discards events.
pub struct NullSink;
impl EventSink for NullSink {
    fn emit(&self, _: Event) {}
}

/// Sends events into an unbounded tokio channel.
pub struct ChannelSink(pub tokio::sync::mpsc::UnboundedSender<Event>);
impl EventSink for ChannelSink {
    fn emit(&self, event: Event) {
        // A closed receiver means nobody is listening any more; that is not the run's problem.
        let _ = self.0.send(event);
    }
}

/// Keeps every event in memory (tests, small runs).
#[derive(Default)]
pub struct CollectSink(pub std::sync::Mutex<Vec<Event>>);
impl CollectSink {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().expect("event log poisoned").clone()
    }
}
impl EventSink for CollectSink {
    fn emit(&self, event: Event) {
        self.0.lock().expect("event log poisoned").push(event);
    }
}

/// Numbers and timestamps events for one run and hands them to its sink.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    run_id: String,
    seq: AtomicU64,
    sink: Arc<dyn EventSink>,
}

impl EventBus {
    pub fn new(run_id: impl Into<String>, sink: Arc<dyn EventSink>) -> Self {
        EventBus { inner: Arc::new(BusInner { run_id: run_id.into(), seq: AtomicU64::new(0), sink }) }
    }

    /// Starts numbering after `seq` (a resumed run continues its stream).
    pub fn continuing_after(run_id: impl Into<String>, seq: u64, sink: Arc<dyn EventSink>) -> Self {
        let bus = Self::new(run_id, sink);
        bus.inner.seq.store(seq, Ordering::Relaxed);
        bus
    }

    pub fn run_id(&self) -> &str {
        &self.inner.run_id
    }

    pub fn emit(&self, kind: EventKind) {
        let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        self.inner.sink.emit(Event { seq, at_ms, run_id: self.inner.run_id.clone(), kind });
    }
}
