//! The `timeline.export` op and the `timeline` structure type.

use std::sync::Arc;

use async_trait::async_trait;
use reelflow_core::{
    FileKind, FileRef, Node, NodeCtx, NodeError, NodeInputs, NodeSpec, Outputs, Registry, ResourceClass, Value,
    ValueType,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::edl::{EdlOptions, to_edl};
use crate::fcpxml::{FcpxmlOptions, FcpxmlVersion, to_fcpxml_with};
use crate::model::Timeline;
use crate::otio::to_otio;

/// The workflow type name of a [`Timeline`] value (JSON underneath).
pub const TIMELINE_TYPE: &str = "timeline";

/// Registers the `timeline` type and the `timeline.export` op.
pub fn register(reg: &mut Registry) -> reelflow_core::Result<()> {
    reg.register_type(TIMELINE_TYPE);
    reg.register(Arc::new(Export::new()))
}

/// Interchange formats `timeline.export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Format {
    /// Final Cut Pro XML (`.fcpxml`).
    Fcpxml,
    /// OpenTimelineIO JSON (`.otio`).
    Otio,
    /// CMX3600 edit decision list (`.edl`).
    Edl,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Fcpxml => "fcpxml",
            Format::Otio => "otio",
            Format::Edl => "edl",
        }
    }
}

/// Params of `timeline.export`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    format: Format,
    /// FCPXML version, `"1.10"` or `"1.11"` (quote it in YAML, where 1.10 is a number); `fcpxml`
    /// only; default 1.11.
    #[serde(default)]
    version: Option<FcpxmlVersion>,
    /// File name inside the node's workspace (no directories); default `timeline.<format>`.
    #[serde(default)]
    name: Option<String>,
    /// Drop-frame timecode (`fcpxml` and `edl`; 29.97 and 59.94 only).
    #[serde(default)]
    drop_frame: bool,
}

struct Export {
    spec: NodeSpec,
}

impl Export {
    fn new() -> Self {
        Export {
            spec: NodeSpec::new(
                "timeline.export",
                1,
                "Writes a timeline as FCPXML 1.10/1.11, OpenTimelineIO JSON or a CMX3600 EDL in the run's workspace.",
            )
            .input("timeline", ValueType::Named(TIMELINE_TYPE.into()), "The timeline to export.")
            .output("file", ValueType::File(FileKind::Text), "The written file.")
            .params::<ExportParams>()
            .resource(ResourceClass::Io),
        }
    }
}

#[async_trait]
impl Node for Export {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let p: ExportParams = inputs.params()?;
        if p.version.is_some() && p.format != Format::Fcpxml {
            return Err(NodeError::Params("`version` applies to the fcpxml format only".into()));
        }
        if p.drop_frame && p.format == Format::Otio {
            return Err(NodeError::Params("`drop_frame` applies to the fcpxml and edl formats only".into()));
        }
        let name = p.name.unwrap_or_else(|| format!("timeline.{}", p.format.extension()));
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(NodeError::Params(format!("`{name}` is not a plain file name")));
        }
        let input = |message: String| NodeError::Input { port: "timeline".into(), message };
        let timeline: Timeline = serde_json::from_value(inputs.require("timeline")?.to_json())
            .map_err(|e| input(format!("not a timeline: {e}")))?;
        let text = match p.format {
            Format::Fcpxml => to_fcpxml_with(
                &timeline,
                &FcpxmlOptions { version: p.version.unwrap_or_default(), drop_frame: p.drop_frame },
            ),
            Format::Otio => to_otio(&timeline),
            Format::Edl => to_edl(&timeline, &EdlOptions { drop_frame: p.drop_frame }),
        }
        // Exports are pure functions of the timeline: any failure repeats on retry, so it is an
        // input error (not retried) whatever its kind.
        .map_err(|e| input(e.to_string()))?;
        let path = ctx.workspace()?.join(&name);
        let target = path.clone();
        ctx.blocking(move |_| {
            std::fs::write(&target, text).map_err(|e| NodeError::context(format!("writing {}", target.display()), e))
        })
        .await?;
        Ok(Outputs::from([("file".to_owned(), Value::File(FileRef::new(path, FileKind::Text)))]))
    }
}
