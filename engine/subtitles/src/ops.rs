//! The workflow ops: `subtitles.parse` (a file in, the model out as the named JSON type
//! `subtitles`) and `subtitles.write` (the model in, a file out).

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use reelflow_core::{
    FileKind, FileRef, LogLevel, Node, NodeCtx, NodeError, NodeInputs, NodeSpec, Outputs, Registry, ResourceClass,
    Value, ValueType,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::codec::parse_with;
use crate::{Error, MAX_BYTES, MAX_CUES, ParseOptions, SubtitleFormat, Subtitles, write};

/// The workflow type of parsed subtitles (the JSON form of [`Subtitles`]).
pub const SUBTITLES_TYPE: &str = "subtitles";

/// Registers the `subtitles` type and the `subtitles.parse` and `subtitles.write` ops.
pub fn register(reg: &mut Registry) -> reelflow_core::Result<()> {
    reg.register_type(SUBTITLES_TYPE);
    reg.register(Arc::new(ParseOp::new()))?;
    reg.register(Arc::new(WriteOp::new()))
}

fn subtitles_type() -> ValueType {
    ValueType::Named(SUBTITLES_TYPE.into())
}

/// Params of `subtitles.parse`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ParseParams {
    /// `srt`, `ass` or `vtt`; detected from the content when absent.
    #[serde(default)]
    format: Option<SubtitleFormat>,
    /// Fail on any deviation from the format, listing every problem with its line number,
    /// instead of tolerating it with a warning.
    #[serde(default)]
    strict: bool,
}

struct ParseOp {
    spec: NodeSpec,
}

impl ParseOp {
    fn new() -> Self {
        ParseOp {
            spec: NodeSpec::new(
                "subtitles.parse",
                1,
                "Reads SRT, ASS/SSA or WebVTT (at most 64 MiB) in any common encoding (UTF-8/16, GB18030/GBK, Big5, Shift-JIS, Windows-1252), tolerating real-world mess with located warnings unless `strict`.",
            )
            .input("file", ValueType::File(FileKind::File), "The subtitle file.")
            .output("subtitles", subtitles_type(), "Cues (times in ms, plain and raw text), ASS styles, the encoding, warnings.")
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
        let Value::File(file) = inputs.require("file")? else {
            return Err(NodeError::Input { port: "file".into(), message: "not a file".into() });
        };
        let path = file.path.clone();
        let opts = ParseOptions { strict: params.strict };
        let subs =
            ctx.blocking(move |cancel| read_and_parse(&path, params.format, opts, &|| cancel.is_cancelled())).await?;
        if !subs.warnings.is_empty() {
            let shown: Vec<&str> = subs.warnings.iter().take(5).map(String::as_str).collect();
            let more = subs.warnings.len().saturating_sub(shown.len());
            let tail = if more > 0 { format!("; … and {more} more") } else { String::new() };
            ctx.log(
                LogLevel::Warn,
                format!("{}: {} warning(s): {}{tail}", file.path.display(), subs.warnings.len(), shown.join("; ")),
            );
        }
        let json = serde_json::to_value(&subs).map_err(|e| NodeError::context("serializing the subtitles", e))?;
        let mut out = Outputs::default();
        out.insert("subtitles".into(), Value::from_json(&json));
        out.insert("count".into(), Value::Int(subs.cues.len() as i64));
        Ok(out)
    }
}

/// Reads at most [`MAX_BYTES`] (plus one, to tell "exactly at the limit" from "over it")
/// and parses. A file that cannot be read is a retryable failure; bytes that are not good
/// subtitles are an input error, since they fail the same way every time.
fn read_and_parse(
    path: &Path,
    format: Option<SubtitleFormat>,
    opts: ParseOptions,
    cancelled: &dyn Fn() -> bool,
) -> Result<Subtitles, NodeError> {
    let shown = path.display();
    let bad_input = |e: Error| NodeError::Input { port: "file".into(), message: format!("{shown}: {e}") };
    let file = std::fs::File::open(path).map_err(|e| NodeError::context(format!("opening {shown}"), e))?;
    let size = file.metadata().map_err(|e| NodeError::context(format!("reading {shown}"), e))?.len();
    if size > MAX_BYTES as u64 {
        return Err(bad_input(Error::TooLarge { size, max: MAX_BYTES as u64 }));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| NodeError::context(format!("reading {shown}"), e))?;
    parse_with(&bytes, format, opts, MAX_CUES, cancelled).map_err(|e| match e {
        Error::Cancelled => NodeError::Cancelled,
        e => bad_input(e),
    })
}

/// Params of `subtitles.write`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WriteParams {
    /// `srt`, `ass` or `vtt`.
    format: SubtitleFormat,
    /// File name in the node's workspace, no directories (default `subtitles.<ext>`).
    #[serde(default)]
    name: Option<String>,
}

struct WriteOp {
    spec: NodeSpec,
}

impl WriteOp {
    fn new() -> Self {
        WriteOp {
            spec: NodeSpec::new("subtitles.write", 1, "Writes subtitles as SRT, ASS or WebVTT (UTF-8, no BOM).")
                .input("subtitles", subtitles_type(), "Subtitles from `subtitles.parse`, or built by a script.")
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
        let name = params.name.unwrap_or_else(|| format!("subtitles.{}", params.format.extension()));
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(NodeError::Params(format!("`{name}` is not a plain file name")));
        }
        let subs: Subtitles = serde_json::from_value(inputs.require("subtitles")?.to_json())
            .map_err(|e| NodeError::Input { port: "subtitles".into(), message: format!("not subtitles: {e}") })?;
        let path = ctx.workspace()?.join(&name);
        tokio::fs::write(&path, write(&subs, params.format))
            .await
            .map_err(|e| NodeError::context(format!("writing {}", path.display()), e))?;
        let mut out = Outputs::default();
        out.insert("file".into(), Value::File(FileRef::new(path, FileKind::Text)));
        Ok(out)
    }
}
