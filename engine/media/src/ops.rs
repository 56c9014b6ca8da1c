//! The media ops the engine runs.

use std::sync::Arc;

use async_trait::async_trait;
use reelflow_core::{
    Node, NodeCtx, NodeError, NodeInputs, NodeSpec, Outputs, Registry, ResourceClass, Value, ValueType,
};
use schemars::JsonSchema;
use serde::Deserialize;

/// Registers every media op.
pub fn register(reg: &mut Registry) -> reelflow_core::Result<()> {
    reg.register_type("media_info");
    reg.register(Arc::new(Probe::new()))
}

struct Probe {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ProbeParams {
    /// Also list keyframe times (reads every packet header; no decoding).
    #[serde(default)]
    keyframes: bool,
}

impl Probe {
    fn new() -> Self {
        Probe {
            spec: NodeSpec::new("media.probe", 1, "Reads a media file's container, duration and streams (codecs, exact frame rates, sizes, rotation, audio layout), optionally its keyframe times.")
                .input("file", ValueType::Any, "The media file.")
                .output("info", ValueType::Named("media_info".into()), "What the file holds.")
                .output("duration", ValueType::Float, "Seconds.")
                .params::<ProbeParams>()
                .resource(ResourceClass::Io),
        }
    }
}

#[async_trait]
impl Node for Probe {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: ProbeParams = inputs.params()?;
        let Some(Value::File(file)) = inputs.values.get("file") else {
            return Err(NodeError::failed("input `file` must be a file"));
        };
        let path = file.path.clone();
        let info = ctx
            .blocking(move |_| crate::probe(&path, params.keyframes).map_err(|e| NodeError::failed(e.to_string())))
            .await?;
        let duration = info.duration;
        let json = serde_json::to_value(&info).map_err(|e| NodeError::failed(e.to_string()))?;
        let mut out = Outputs::default();
        out.insert("info".into(), Value::from_json(&json));
        out.insert("duration".into(), Value::Float(duration));
        Ok(out)
    }
}
