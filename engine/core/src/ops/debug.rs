//! `debug.noop`, `debug.sleep`, `debug.busy`, `debug.fail`, `debug.random`: operators for
//! trying out workflows, testing the executor and benchmarking its overhead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{PureOp, one};
use crate::node::{Node, NodeCtx, NodeError, NodeInputs, NodeSpec, Outputs, ResourceClass};
use crate::value::{Value, ValueType};

pub(super) fn nodes() -> Vec<Arc<dyn Node>> {
    vec![
        PureOp::arc(
            NodeSpec::new("debug.noop", 1, "Passes `value` through unchanged (null when not wired); other inputs, under any name, are waited for and ignored.")
                .optional_input("value", ValueType::Any, "Anything.")
                .variadic()
                .output("value", ValueType::Any, "The same value."),
            |inputs| Ok(one("value", inputs.values.get("value").cloned().unwrap_or(Value::Null))),
        ),
        Arc::new(Sleep {
            spec: NodeSpec::new("debug.sleep", 1, "Waits `ms` milliseconds (cancellable; 0 just yields), then passes `value` through.")
                .optional_input("value", ValueType::Any, "Anything.")
                .output("value", ValueType::Any, "The same value.")
                .params::<SleepParams>()
                .resource(ResourceClass::Io),
        }),
        Arc::new(Busy {
            spec: NodeSpec::new("debug.busy", 1, "Keeps one CPU core busy for `ms` milliseconds on the blocking pool, polling cancellation.")
                .optional_input("value", ValueType::Any, "Anything.")
                .output("value", ValueType::Any, "The same value.")
                .params::<SleepParams>(),
        }),
        Arc::new(Fail {
            spec: NodeSpec::new("debug.fail", 1, "Fails its first `times` attempts with `message` (all of them when `times` is absent), then passes `value` through.")
                .optional_input("value", ValueType::Any, "Anything.")
                .output("value", ValueType::Any, "The same value.")
                .params::<FailParams>(),
        }),
        PureOp::arc(
            NodeSpec::new("debug.random", 1, "A random float in [0, 1); never cached.")
                .output("value", ValueType::Float, "The number.")
                .nondeterministic(),
            |_| Ok(one("value", Value::Float(rand::random::<f64>()))),
        ),
    ]
}

/// Params of `debug.sleep` and `debug.busy`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SleepParams {
    /// Milliseconds.
    ms: u64,
}

/// Params of `debug.fail`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FailParams {
    #[serde(default = "default_message")]
    message: String,
    /// Fail only attempts 1..=times.
    #[serde(default)]
    times: Option<u32>,
}

fn default_message() -> String {
    "failed on purpose".into()
}

fn passthrough(inputs: &NodeInputs) -> Outputs {
    one("value", inputs.values.get("value").cloned().unwrap_or(Value::Null))
}

struct Sleep {
    spec: NodeSpec,
}

#[async_trait]
impl Node for Sleep {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let p: SleepParams = inputs.params()?;
        if p.ms == 0 {
            // The timer wheel has millisecond ticks; a zero wait is just a yield.
            tokio::task::yield_now().await;
            return Ok(passthrough(&inputs));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(p.ms)) => Ok(passthrough(&inputs)),
            _ = ctx.cancelled() => Err(NodeError::Cancelled),
        }
    }
}

struct Busy {
    spec: NodeSpec,
}

#[async_trait]
impl Node for Busy {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let p: SleepParams = inputs.params()?;
        let total = Duration::from_millis(p.ms);
        ctx.blocking(move |cancel| {
            let start = Instant::now();
            let mut x: u64 = 1;
            while start.elapsed() < total {
                if cancel.is_cancelled() {
                    return Err(NodeError::Cancelled);
                }
                for _ in 0..10_000 {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                }
            }
            std::hint::black_box(x);
            Ok(())
        })
        .await?;
        Ok(passthrough(&inputs))
    }
}

struct Fail {
    spec: NodeSpec,
}

#[async_trait]
impl Node for Fail {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let p: FailParams = inputs.params()?;
        if p.times.is_none_or(|t| ctx.attempt() <= t) {
            return Err(NodeError::failed(format!("{} (attempt {})", p.message, ctx.attempt())));
        }
        Ok(passthrough(&inputs))
    }
}
