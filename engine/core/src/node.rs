//! The node contract: every operator (native, WASM plugin, rhai script) implements [`Node`].

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::events::{EventBus, EventKind, LogLevel};
use crate::value::{Value, ValueType};

/// Named output values of one node run.
pub type Outputs = IndexMap<String, Value>;

/// Which limited resource a node uses while it runs; each class has its own concurrency limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceClass {
    Cpu,
    Gpu,
    Llm,
    Io,
}

impl ResourceClass {
    pub const ALL: [ResourceClass; 4] = [ResourceClass::Cpu, ResourceClass::Gpu, ResourceClass::Llm, ResourceClass::Io];
}

/// A typed input or output port.
#[derive(Clone, Debug, Serialize)]
pub struct PortSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ValueType,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// What an operator is: its name, version, ports, params schema and how it may be run.
#[derive(Clone, Debug, Serialize)]
pub struct NodeSpec {
    pub op: String,
    /// Bumped when the operator's results change for the same inputs; part of the cache key.
    pub version: u32,
    pub description: String,
    pub inputs: Vec<PortSpec>,
    pub outputs: Vec<PortSpec>,
    /// JSON Schema of `params`.
    pub params: serde_json::Value,
    pub resource: ResourceClass,
    /// Non-deterministic operators are never cached.
    pub deterministic: bool,
    /// Accepts inputs under any port name (type `any`), as script nodes do.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub variadic_inputs: bool,
    /// A quick, non-blocking operator (microseconds, no I/O): the executor runs it on the
    /// scheduler's own task instead of spawning one, which is most of the cost of such a node.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub inline: bool,
}

impl NodeSpec {
    pub fn new(op: &str, version: u32, description: &str) -> Self {
        NodeSpec {
            op: op.into(),
            version,
            description: description.into(),
            inputs: vec![],
            outputs: vec![],
            params: serde_json::json!({"type": "object", "additionalProperties": false}),
            resource: ResourceClass::Cpu,
            deterministic: true,
            variadic_inputs: false,
            inline: false,
        }
    }

    pub fn input(mut self, name: &str, ty: ValueType, description: &str) -> Self {
        self.inputs.push(PortSpec { name: name.into(), ty, optional: false, description: description.into() });
        self
    }

    pub fn optional_input(mut self, name: &str, ty: ValueType, description: &str) -> Self {
        self.inputs.push(PortSpec { name: name.into(), ty, optional: true, description: description.into() });
        self
    }

    pub fn output(mut self, name: &str, ty: ValueType, description: &str) -> Self {
        self.outputs.push(PortSpec { name: name.into(), ty, optional: false, description: description.into() });
        self
    }

    /// Uses the JSON Schema of `P` (a serde params struct) as the params schema.
    pub fn params<P: JsonSchema>(mut self) -> Self {
        let mut schema = serde_json::to_value(schemars::schema_for!(P)).expect("schema serializes");
        if let Some(obj) = schema.as_object_mut() {
            obj.remove("$schema");
        }
        self.params = schema;
        self
    }

    pub fn resource(mut self, class: ResourceClass) -> Self {
        self.resource = class;
        self
    }

    pub fn nondeterministic(mut self) -> Self {
        self.deterministic = false;
        self
    }

    pub fn inline(mut self) -> Self {
        self.inline = true;
        self
    }

    pub fn variadic(mut self) -> Self {
        self.variadic_inputs = true;
        self
    }
}

/// Ports of a node whose ports depend on its params (script nodes declare their outputs).
#[derive(Clone, Debug, Default)]
pub struct NodePorts {
    pub inputs: Vec<PortSpec>,
    pub outputs: Vec<PortSpec>,
}

/// What kind of failure a node had, in words a caller can act on: API adapters map these onto
/// their documented error codes (a missing model is clipsmaster's 1003, say) without parsing
/// messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Params or inputs that are wrong in themselves.
    InvalidInput,
    /// A file the node was given does not exist or cannot be opened.
    FileNotFound,
    /// A file exists but is not in a format the node reads.
    UnsupportedFormat,
    /// A model the node needs is not installed where the manifest says it should be.
    ModelUnavailable,
    /// The work would not fit in the memory (or other budget) the node may use.
    ResourceExhausted,
    /// Encoding or rendering the output failed.
    RenderFailed,
    Timeout,
    Cancelled,
}

/// Why a node failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A failure with a [`ErrorKind`] callers may rely on.
    #[error("{message}")]
    Kind { kind: ErrorKind, message: String },
    #[error("{0}")]
    Failed(String),
    #[error("invalid params: {0}")]
    Params(String),
    #[error("input `{port}`: {message}")]
    Input { port: String, message: String },
    #[error("cancelled")]
    Cancelled,
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("{context}")]
    Source {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl NodeError {
    pub fn failed(message: impl Into<String>) -> Self {
        NodeError::Failed(message.into())
    }

    /// Wraps an error with what was being done.
    pub fn context(context: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        NodeError::Source { context: context.into(), source: Box::new(source) }
    }

    /// The error and its causes, outermost first.
    pub fn chain(&self) -> Vec<String> {
        let mut out = vec![self.to_string()];
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(e) = cur {
            out.push(e.to_string());
            cur = e.source();
        }
        out
    }

    /// A failure of a kind callers can map onto their own codes.
    pub fn of_kind(kind: ErrorKind, message: impl Into<String>) -> Self {
        NodeError::Kind { kind, message: message.into() }
    }

    /// The kind of failure, where there is a better word for it than "failed".
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            NodeError::Kind { kind, .. } => Some(*kind),
            NodeError::Params(_) | NodeError::Input { .. } => Some(ErrorKind::InvalidInput),
            NodeError::Cancelled => Some(ErrorKind::Cancelled),
            NodeError::Timeout(_) => Some(ErrorKind::Timeout),
            NodeError::Failed(_) | NodeError::Source { .. } => None,
        }
    }

    /// Bad params or inputs, missing files and models fail the same way every time;
    /// retrying them is pointless.
    pub fn is_retryable(&self) -> bool {
        match self {
            NodeError::Params(_) | NodeError::Input { .. } | NodeError::Cancelled => false,
            NodeError::Kind { kind, .. } => matches!(kind, ErrorKind::RenderFailed | ErrorKind::Timeout),
            _ => true,
        }
    }
}

/// What a node gets to run: its input values and its resolved params.
#[derive(Clone, Debug, Default)]
pub struct NodeInputs {
    pub values: IndexMap<String, Value>,
    /// Params with every expression evaluated (a JSON object).
    pub params: serde_json::Value,
}

impl NodeInputs {
    pub fn get(&self, port: &str) -> Option<&Value> {
        self.values.get(port).filter(|v| !matches!(v, Value::Null))
    }

    pub fn require(&self, port: &str) -> Result<&Value, NodeError> {
        self.get(port).ok_or_else(|| NodeError::Input { port: port.into(), message: "no value".into() })
    }

    pub fn take(&mut self, port: &str) -> Option<Value> {
        self.values.shift_remove(port).filter(|v| !matches!(v, Value::Null))
    }

    /// Deserializes the params into the operator's params struct.
    pub fn params<P: DeserializeOwned>(&self) -> Result<P, NodeError> {
        let params = if self.params.is_null() { serde_json::json!({}) } else { self.params.clone() };
        serde_path_to_error::deserialize(params).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                NodeError::Params(e.inner().to_string())
            } else {
                NodeError::Params(format!("{path}: {}", e.inner()))
            }
        })
    }
}

/// The running node's view of the engine: progress, logs, cancellation, a place for files.
pub struct NodeCtx {
    node_id: String,
    op: String,
    attempt: u32,
    cancel: CancellationToken,
    bus: EventBus,
    workspace: PathBuf,
    last_progress: Mutex<Option<Instant>>,
}

/// Progress events closer together than this are dropped (the last one always goes out).
const PROGRESS_INTERVAL: Duration = Duration::from_millis(50);

impl NodeCtx {
    pub(crate) fn new(
        node_id: String,
        op: String,
        attempt: u32,
        cancel: CancellationToken,
        bus: EventBus,
        workspace: PathBuf,
    ) -> Self {
        NodeCtx { node_id, op, attempt, cancel, bus, workspace, last_progress: Mutex::new(None) }
    }

    /// A context for calling a node directly (tests, tools), with its own event bus.
    pub fn detached(node_id: &str, bus: EventBus, workspace: PathBuf, cancel: CancellationToken) -> Self {
        NodeCtx::new(node_id.into(), String::new(), 1, cancel, bus, workspace)
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn op(&self) -> &str {
        &self.op
    }

    pub fn run_id(&self) -> &str {
        self.bus.run_id()
    }

    /// 1 for the first attempt, 2 for the first retry ...
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Reports progress (0..=1). Throttled; safe to call per frame.
    pub fn progress(&self, fraction: f32, message: impl Into<String>) {
        let now = Instant::now();
        {
            let mut last = self.last_progress.lock().expect("progress lock poisoned");
            if fraction < 1.0 && last.is_some_and(|t| now.duration_since(t) < PROGRESS_INTERVAL) {
                return;
            }
            *last = Some(now);
        }
        self.bus.emit(EventKind::NodeProgress {
            node: self.node_id.clone(),
            fraction: fraction.clamp(0.0, 1.0),
            message: message.into(),
        });
    }

    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        self.bus.emit(EventKind::NodeLog { node: self.node_id.clone(), level, message: message.into() });
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// `Err(Cancelled)` once the run or this node was cancelled or timed out; long loops call
    /// this every iteration.
    pub fn check_cancelled(&self) -> Result<(), NodeError> {
        if self.cancel.is_cancelled() { Err(NodeError::Cancelled) } else { Ok(()) }
    }

    /// Resolves when the node is cancelled.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// A token to hand to blocking code or helper tasks.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// A directory for this node's output files, created on first use.
    pub fn workspace(&self) -> Result<&Path, NodeError> {
        std::fs::create_dir_all(&self.workspace)
            .map_err(|e| NodeError::context(format!("creating {}", self.workspace.display()), e))?;
        Ok(&self.workspace)
    }

    /// Runs CPU-heavy or blocking work on the blocking pool, so the async threads that
    /// schedule nodes never stall. The closure gets the cancellation token to poll.
    pub async fn blocking<T, F>(&self, work: F) -> Result<T, NodeError>
    where
        T: Send + 'static,
        F: FnOnce(CancellationToken) -> Result<T, NodeError> + Send + 'static,
    {
        let token = self.cancel.clone();
        tokio::task::spawn_blocking(move || work(token))
            .await
            .map_err(|e| NodeError::failed(format!("worker thread failed: {e}")))?
    }
}

/// An operator.
#[async_trait]
pub trait Node: Send + Sync {
    fn spec(&self) -> &NodeSpec;

    /// Ports that depend on params; `None` means the spec's ports. Called at validation.
    fn ports(&self, _params: &serde_json::Map<String, serde_json::Value>) -> Result<Option<NodePorts>, String> {
        Ok(None)
    }

    /// Rewrites literal params at validation, before ports and schema are checked: resolve
    /// a relative path against the workflow's directory, inline a referenced file so that
    /// its content (not its name) is part of the cache key. Errors are validation errors.
    fn prepare(
        &self,
        _params: &mut serde_json::Map<String, serde_json::Value>,
        _base_dir: &Path,
    ) -> Result<(), String> {
        Ok(())
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError>;
}
