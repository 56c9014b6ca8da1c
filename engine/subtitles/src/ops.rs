//! `subtitles.parse` and `subtitles.write`.

use std::io::Read;
use std::sync::Arc;

use async_trait::async_trait;
use reelflow_core::{
    FileKind, FileRef, Node, NodeCtx, NodeError, NodeInputs, NodeSpec, Outputs, Registry, ResourceClass, Value,
    ValueType,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::{MAX_BYTES, ParseOptions, SubtitleFormat, Subtitles, parse, write};

/// The workflow type of parsed subtitles (their JSON form).
pub const SUBTITLES_TYPE: &str = "subtitles";

pub fn register(reg: &mut Registry) -> reelflow_core::Result<()> {
    reg.register_type(SUBTITLES_TYPE);
    reg.register(Arc::new(ParseOp::new()))?;
    reg.register(Arc::new(WriteOp::new()))
}

struct ParseOp {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ParseParams {
    /// `srt`, `ass` or `vtt`; detected from the content when absent.
    #[serde(default)]
    format: Option<SubtitleFormat>,
    /// Fail on any deviation from the format, listing every problem with its line number.
    #[serde(default)]
    strict: bool,
}

impl ParseOp {
    fn new() -> Self {
        ParseOp {
            spec: NodeSpec::new(
                "subtitles.parse",
                1,
                "Reads SRT, ASS/SSA or WebVTT in any common encoding (UTF-8/16, GB18030/GBK, Big5, Shift-JIS, Windows-1252), \\
                 tolerating real-world mess unless `strict`.",
            )
            .input("file", ValueType::Any, "The subtitle file.")
            .output("subtitles", ValueType::Named(SUBTITLES_TYPE.into()), "Cues with times in ms, text, styles.")
            .output("count", ValueType::Int, "How many cues.")
            .params::<ParseParams>()
            .resource(ResourceClass::Io),
        }
    }
}

#[async_trait]
impl Node for ParseOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: ParseParams = inputs.params()?;
        let Some(Value::File(file)) = inputs.get("file") else {
            return Err(NodeError::failed("input `file` must be a file"));
        };
        let path = file.path.clone();
        let subs = ctx
            .blocking(move |_| {
                let shown = path.display().to_string();
                let mut bytes = Vec::new();
                std::fs::File::open(&path)
                    .and_then(|f| f.take(MAX_BYTES as u64 + 1).read_to_end(&mut bytes))
                    .map_err(|e| NodeError::failed(format!("{shown}: {e}")))?;
                parse(&bytes, params.format, ParseOptions { strict: params.strict })
                    .map_err(|e| NodeError::failed(format!("{shown}: {e}")))
            })
            .await?;
        let count = subs.cues.len() as i64;
        let json = serde_json::to_value(&subs).map_err(|e| NodeError::failed(e.to_string()))?;
        let mut out = Outputs::default();
        out.insert("subtitles".into(), Value::from_json(&json));
        out.insert("count".into(), Value::Int(count));
        Ok(out)
    }
}

struct WriteOp {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WriteParams {
    format: SubtitleFormat,
    /// File name in the node's workspace (default `subtitles.<ext>`).
    #[serde(default)]
    name: Option<String>,
}

impl WriteOp {
    fn new() -> Self {
        WriteOp {
            spec: NodeSpec::new("subtitles.write", 1, "Writes subtitles as SRT, ASS or WebVTT (UTF-8).")
                .input(
                    "subtitles",
                    ValueType::Named(SUBTITLES_TYPE.into()),
                    "Subtitles from `subtitles.parse` (or built by a script).",
                )
                .output("file", ValueType::File(FileKind::Text), "The subtitle file.")
                .params::<WriteParams>()
                .resource(ResourceClass::Io),
        }
    }
}

#[async_trait]
impl Node for WriteOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: WriteParams = inputs.params()?;
        let subs: Subtitles = serde_json::from_value(inputs.require("subtitles")?.to_json())
            .map_err(|e| NodeError::failed(format!("input `subtitles` is not subtitles: {e}")))?;
        let default_name = format!("subtitles.{}", params.format.extension());
        let name = params.name.as_deref().unwrap_or(&default_name);
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(NodeError::Params(format!("`{name}` is not a plain file name")));
        }
        let path = ctx.workspace()?.join(name);
        tokio::fs::write(&path, write(&subs, params.format))
            .await
            .map_err(|e| NodeError::context(format!("writing {}", path.display()), e))?;
        let mut out = Outputs::default();
        out.insert("file".into(), Value::File(FileRef::new(path, FileKind::Text)));
        Ok(out)
    }
}
