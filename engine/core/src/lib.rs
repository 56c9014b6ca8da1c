//! Reelflow's engine core: the workflow format, validation, the typed DAG executor, the
//! on-disk cache and the event stream. Operators live in other crates and plug in through
//! the [`Node`] trait and the [`Registry`].
//!
//! ```
//! use std::sync::Arc;
//! use reelflow_core::{Executor, Registry, RunRequest, SourceFile, load_workflow, NoExpressions};
//!
//! let src = SourceFile::new("hello.yaml", r#"
//! reelflow: 1
//! inputs:
//!   who: {type: string, default: world}
//! nodes:
//!   greet:
//!     op: text.template
//!     inputs: {who: inputs.who}
//!     params: {template: "hello {{who}}"}
//! outputs:
//!   text: greet.text
//! "#);
//! let registry = Registry::with_builtins();
//! let plan = Arc::new(load_workflow(src, &registry, &NoExpressions).unwrap());
//! let inputs = plan.bind_inputs(Default::default(), std::path::Path::new(".")).unwrap();
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let mut req = RunRequest::new("demo", std::env::temp_dir().join("reelflow-doc"));
//! req.inputs = inputs;
//! let report = rt.block_on(Executor::new(Default::default(), None).run(plan, req));
//! assert_eq!(report.outputs["text"].as_str(), Some("hello world"));
//! ```

mod diagnostics;
mod error;
mod events;
mod executor;
mod expr;
mod node;
mod plan;
mod registry;
mod source;
mod validate;
mod value;

pub mod benchmark;
pub mod cache;
pub mod ops;
pub mod sysinfo;
pub mod workflow;

pub use cache::{Cache, CacheKey, CacheStats};
pub use diagnostics::{Diagnostic, Diagnostics, LocatedError};
pub use error::{Error, Result};
pub use events::{ChannelSink, CollectSink, Event, EventBus, EventKind, EventSink, LogLevel, NullSink, RunStatus};
pub use executor::{Executor, NodeReport, NodeState, ResourceLimits, RunReport, RunRequest};
pub use expr::{CompiledExpr, ExprError, ExprScope, ExpressionEngine, NoExpressions, expression_in, referenced_nodes};
pub use node::{
    ErrorKind, Node, NodeCtx, NodeError, NodeInputs, NodePorts, NodeSpec, Outputs, PortSpec, ResourceClass,
};
pub use plan::{Binding, ParamTemplate, Plan, PlanInput, PlanKind, PlanNode, PlanOutput, Retry, value_from_text};
pub use registry::{MAP_OP, Registry, map_spec};
pub use source::{Doc, DocKind, MAX_SOURCE_BYTES, PathSeg, SourceFile, Span};
pub use validate::load_workflow;
pub use value::{FileKind, FileRef, Value, ValueType};
pub use workflow::{FORMAT_VERSION, Workflow, workflow_json_schema};
