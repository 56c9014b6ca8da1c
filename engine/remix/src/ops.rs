//! The ops `remix.prompt` and `remix.assemble`, between `subtitles.parse`, `llm.json`,
//! `media.cut` and `timeline.export` in the clip-remix workflows.

use std::sync::Arc;

use async_trait::async_trait;
use reelflow_core::{
    ErrorKind, FileKind, Node, NodeCtx, NodeError, NodeInputs, NodeSpec, Outputs, Registry, ResourceClass, Value,
    ValueType,
};
use reelflow_subtitles::{SUBTITLES_TYPE, Subtitles};
use reelflow_timeline::{Clip, MediaRef, Rational, RationalTime, TIMELINE_TYPE, Timeline, Track, TrackItem, TrackKind};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::{AssembleOptions, Cue, Pick, PromptOptions, Range, assemble, check_preserve, planner_prompt};

/// Registers `remix.prompt` and `remix.assemble`.
pub fn register(reg: &mut Registry) -> reelflow_core::Result<()> {
    reg.register_type(SUBTITLES_TYPE);
    reg.register_type(TIMELINE_TYPE);
    reg.register_type("media_info");
    reg.register(Arc::new(PromptOp::new()))?;
    reg.register(Arc::new(AssembleOp::new()))
}

fn cues_of(inputs: &NodeInputs) -> Result<Vec<Cue>, NodeError> {
    let subs: Subtitles = serde_json::from_value(inputs.require("subtitles")?.to_json())
        .map_err(|e| NodeError::Input { port: "subtitles".into(), message: format!("not subtitles: {e}") })?;
    let mut cues: Vec<Cue> = subs
        .cues
        .iter()
        .filter(|c| c.end_ms > c.start_ms && !c.text.trim().is_empty())
        .map(|c| Cue {
            index: 0,
            start: c.start_ms as f64 / 1000.0,
            end: c.end_ms as f64 / 1000.0,
            text: c.text.clone(),
        })
        .collect();
    cues.sort_by(|a, b| a.start.total_cmp(&b.start));
    for (i, c) in cues.iter_mut().enumerate() {
        c.index = i as u32 + 1;
    }
    if cues.is_empty() {
        return Err(NodeError::of_kind(ErrorKind::UnsupportedFormat, "the subtitles hold no timed text to plan from"));
    }
    Ok(cues)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PromptParams {
    /// Keywords the story should revolve around.
    #[serde(default)]
    focus: Vec<String>,
    /// The remix's length budget, seconds (0 or absent: none).
    #[serde(default)]
    max_duration: Option<f64>,
    /// Most cues shown to the planner (small models have small contexts).
    #[serde(default = "default_max_cues")]
    max_cues: usize,
    /// Language of the instructions: `zh` or `en`.
    #[serde(default = "default_language")]
    language: String,
    /// Estimated tokens the cue lines may take, so a long episode fits the planner's
    /// context (the default suits an 8k-token model with room for the answer; 0: no limit).
    #[serde(default = "default_max_prompt_tokens")]
    max_prompt_tokens: usize,
}

fn default_max_prompt_tokens() -> usize {
    5000
}

fn default_max_cues() -> usize {
    300
}
fn default_language() -> String {
    "zh".into()
}

struct PromptOp {
    spec: NodeSpec,
}

impl PromptOp {
    fn new() -> Self {
        PromptOp {
            spec: NodeSpec::new(
                "remix.prompt",
                1,
                "The clip-remix planner's prompt: numbered cues with times, the focus keywords and the duration \
                 budget, and a JSON Schema whose cue numbers can only name real cues (for `llm.json`).",
            )
            .input("subtitles", ValueType::Named(SUBTITLES_TYPE.into()), "Parsed subtitles.")
            .optional_input(
                "info",
                ValueType::Named("media_info".into()),
                "`media.probe` of the source: with `preserve`, ranges outside it are refused before planning.",
            )
            .optional_input("preserve", ValueType::Json, "`[{start, end}]` ranges that must be in the remix.")
            .output("messages", ValueType::Json, "`[{role: system, …}, {role: user, …}]` for `llm.json`.")
            .output("schema", ValueType::Json, "`{moments: [{first, last, why}]}` with bounded cue numbers.")
            .params::<PromptParams>()
            .resource(ResourceClass::Cpu)
            .inline(),
        }
    }
}

#[async_trait]
impl Node for PromptOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, _ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: PromptParams = inputs.params()?;
        let cues = cues_of(&inputs)?;
        // A preserved range outside the video is the client's mistake: say so now, not
        // after the (slow) plan.
        let preserve: Vec<Range> = json_input(&inputs, "preserve", "a list of {start, end}")?.unwrap_or_default();
        if let Some(info) = json_input::<Probed>(&inputs, "info", "media info")? {
            check_preserve(&preserve, info.duration)
                .map_err(|e| NodeError::of_kind(ErrorKind::InvalidInput, e.to_string()))?;
        }
        let prompt = planner_prompt(
            &cues,
            &PromptOptions {
                focus: params.focus,
                max_duration: params.max_duration.filter(|d| *d > 0.0),
                max_cues: params.max_cues,
                language: params.language,
                max_tokens: params.max_prompt_tokens,
            },
        );
        let mut out = Outputs::default();
        let messages = serde_json::json!([
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ]);
        out.insert("messages".into(), Value::from_json(&messages));
        out.insert("schema".into(), Value::from_json(&prompt.schema));
        Ok(out)
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Order {
    /// Source order: the story as it happened.
    Chronological,
    /// The planner's order of importance.
    Planned,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AssembleParams {
    #[serde(default)]
    max_duration: Option<f64>,
    /// Seconds of breathing room around the cues (never into a neighbouring cue).
    #[serde(default = "default_pad")]
    pad: f64,
    /// How far a cut may move to land in silence, seconds.
    #[serde(default = "default_snap")]
    snap: f64,
    /// Segments closer than this are joined, seconds.
    #[serde(default = "default_merge_gap")]
    merge_gap: f64,
    #[serde(default)]
    focus: Vec<String>,
    #[serde(default = "default_order")]
    order: Order,
    /// The timeline's (project's) name.
    #[serde(default = "default_name")]
    name: String,
}

fn default_pad() -> f64 {
    0.25
}
fn default_snap() -> f64 {
    0.5
}
fn default_merge_gap() -> f64 {
    0.5
}
fn default_order() -> Order {
    Order::Chronological
}
fn default_name() -> String {
    "Remix".into()
}

/// What `remix.assemble` reads from `media.probe`'s info.
#[derive(Debug, Deserialize)]
struct ProbedStream {
    kind: String,
    frame_rate: Option<ProbedRatio>,
    width: Option<u32>,
    height: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct ProbedRatio {
    num: i64,
    den: i64,
}

#[derive(Debug, Deserialize)]
struct Probed {
    duration: f64,
    streams: Vec<ProbedStream>,
}

struct AssembleOp {
    spec: NodeSpec,
}

impl AssembleOp {
    fn new() -> Self {
        AssembleOp {
            spec: NodeSpec::new(
                "remix.assemble",
                1,
                "Turns the planner's picks into frame-exact segments: whole cues (never mid-word), padded, snapped \
                 into nearby silence, merged, trimmed to max_duration by the planner's priority, with every \
                 preserved range kept; also the timeline (one clip per segment) and honest quality numbers.",
            )
            .input("video", ValueType::File(FileKind::Video), "The source video (the timeline references it).")
            .input("info", ValueType::Named("media_info".into()), "`media.probe` of the source.")
            .input("subtitles", ValueType::Named(SUBTITLES_TYPE.into()), "Parsed subtitles.")
            .input("plan", ValueType::Json, "`{moments: [{first, last, why}]}` from the planner.")
            .optional_input("silences", ValueType::Json, "`[{start, end}]` from `media.detect_silence`.")
            .optional_input("preserve", ValueType::Json, "`[{start, end}]` ranges that must be in the remix.")
            .output("segments", ValueType::Json, "`[{start, end}]` seconds, on frames, for `media.cut`.")
            .output("timeline", ValueType::Named(TIMELINE_TYPE.into()), "One clip per segment, for `timeline.export`.")
            .output(
                "quality",
                ValueType::Json,
                "Segment count and lengths, target fit, focus coverage, cuts in silence, …",
            )
            .output("duration", ValueType::Float, "The remix's length, seconds.")
            .params::<AssembleParams>()
            .resource(ResourceClass::Cpu),
        }
    }
}

fn json_input<T: serde::de::DeserializeOwned>(
    inputs: &NodeInputs,
    port: &str,
    what: &str,
) -> Result<Option<T>, NodeError> {
    inputs
        .get(port)
        .map(|v| {
            serde_json::from_value(v.to_json())
                .map_err(|e| NodeError::Input { port: port.into(), message: format!("not {what}: {e}") })
        })
        .transpose()
}

#[async_trait]
impl Node for AssembleOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: AssembleParams = inputs.params()?;
        let Value::File(video) = inputs.require("video")? else {
            return Err(NodeError::Input { port: "video".into(), message: "not a file".into() });
        };
        let info: Probed = json_input(&inputs, "info", "media info")?
            .ok_or_else(|| NodeError::Input { port: "info".into(), message: "no value".into() })?;
        let Some(picture) = info.streams.iter().find(|s| s.kind == "video") else {
            return Err(NodeError::of_kind(
                ErrorKind::UnsupportedFormat,
                format!("{}: no video stream", video.path.display()),
            ));
        };
        let rate = picture.frame_rate.as_ref().filter(|r| r.num > 0 && r.den > 0).ok_or_else(|| {
            NodeError::of_kind(ErrorKind::UnsupportedFormat, format!("{}: no frame rate", video.path.display()))
        })?;
        #[derive(Deserialize)]
        struct Plan {
            moments: Vec<Pick>,
        }
        let plan: Plan = json_input(&inputs, "plan", "a plan `{moments: [...]}`")?
            .ok_or_else(|| NodeError::Input { port: "plan".into(), message: "no value".into() })?;
        let silences: Vec<Range> = json_input(&inputs, "silences", "a list of {start, end}")?.unwrap_or_default();
        let preserve: Vec<Range> = json_input(&inputs, "preserve", "a list of {start, end}")?.unwrap_or_default();
        let cues = cues_of(&inputs)?;
        let opts = AssembleOptions {
            duration: info.duration,
            frame_rate: (rate.num, rate.den),
            max_duration: params.max_duration.filter(|d| *d > 0.0),
            pad: params.pad.max(0.0),
            snap: params.snap.max(0.0),
            merge_gap: params.merge_gap.max(0.0),
            focus: params.focus,
            chronological: matches!(params.order, Order::Chronological),
        };
        let assembly = assemble(&cues, &plan.moments, &preserve, &silences, &opts)
            .map_err(|e| NodeError::of_kind(ErrorKind::InvalidInput, e.to_string()))?;
        for w in &assembly.quality.warnings {
            ctx.log(reelflow_core::LogLevel::Warn, w.clone());
        }
        let timeline = timeline_of(&params.name, &video.path, &info, picture, rate, &assembly.segments)
            .map_err(|e| NodeError::failed(format!("building the timeline: {e}")))?;
        let segments: Vec<serde_json::Value> =
            assembly.segments.iter().map(|s| serde_json::json!({"start": s.start, "end": s.end})).collect();
        let mut quality = serde_json::to_value(&assembly.quality).unwrap_or_default();
        quality["plan"] = serde_json::to_value(&assembly.segments).unwrap_or_default();
        let mut out = Outputs::default();
        out.insert("segments".into(), Value::from_json(&serde_json::Value::Array(segments)));
        out.insert(
            "timeline".into(),
            Value::from_json(
                &serde_json::to_value(&timeline).map_err(|e| NodeError::context("serializing the timeline", e))?,
            ),
        );
        out.insert("quality".into(), Value::from_json(&quality));
        out.insert("duration".into(), Value::Float(assembly.quality.output_duration));
        Ok(out)
    }
}

fn timeline_of(
    name: &str,
    path: &std::path::Path,
    info: &Probed,
    picture: &ProbedStream,
    rate: &ProbedRatio,
    segments: &[crate::plan::Segment],
) -> reelflow_timeline::Result<Timeline> {
    let frame_rate = Rational::new(rate.num, rate.den)?;
    let (width, height) = (picture.width.unwrap_or(1920), picture.height.unwrap_or(1080));
    let source_frames = (info.duration * rate.num as f64 / rate.den as f64).round() as i64;
    let source = MediaRef {
        path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        duration: RationalTime::from_frames(source_frames.max(1), frame_rate)?,
        frame_rate: Some(frame_rate),
        has_video: true,
        has_audio: info.streams.iter().any(|s| s.kind == "audio"),
        width: Some(width),
        height: Some(height),
    };
    let mut timeline = Timeline::new(name, frame_rate, width, height);
    let items = segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Ok(TrackItem::Clip(Clip {
                name: format!("Segment {}", i + 1),
                source: source.clone(),
                source_in: RationalTime::from_frames(s.start_frame, frame_rate)?,
                source_out: RationalTime::from_frames(s.end_frame, frame_rate)?,
                markers: vec![],
            }))
        })
        .collect::<reelflow_timeline::Result<Vec<_>>>()?;
    timeline.tracks.push(Track { kind: TrackKind::Video, name: Some("V1".into()), items });
    Ok(timeline)
}
