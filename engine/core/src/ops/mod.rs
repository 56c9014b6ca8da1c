//! Built-in operators: constants, JSON, text, lists, and debugging helpers.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Result;
use crate::node::{Node, NodeCtx, NodeError, NodeInputs, NodeSpec, Outputs};
use crate::registry::Registry;

mod debug;
mod json;
mod list;
mod text;

/// Registers every built-in op.
pub fn register(reg: &mut Registry) -> Result<()> {
    for node in json::nodes().into_iter().chain(text::nodes()).chain(list::nodes()).chain(debug::nodes()) {
        reg.register(node)?;
    }
    Ok(())
}

/// An operator that is a quick pure function of its inputs and params; it runs inline
/// on the scheduler's task, since spawning it elsewhere would cost more than it does.
pub(crate) struct PureOp {
    spec: NodeSpec,
    run: fn(&NodeInputs) -> Result<Outputs, NodeError>,
}

impl PureOp {
    pub(crate) fn arc(spec: NodeSpec, run: fn(&NodeInputs) -> Result<Outputs, NodeError>) -> Arc<dyn Node> {
        Arc::new(PureOp { spec: spec.inline(), run })
    }
}

#[async_trait]
impl Node for PureOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, _ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        (self.run)(&inputs)
    }
}

pub(crate) fn one(port: &str, value: impl Into<crate::Value>) -> Outputs {
    Outputs::from([(port.to_owned(), value.into())])
}
