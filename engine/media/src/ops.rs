//! The media ops the engine runs.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use reelflow_core::{
    FileKind, FileRef, Node, NodeCtx, NodeError, NodeInputs, NodeSpec, Outputs, Registry, ResourceClass, Value,
    ValueType,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::{CutOptions, Span};

/// Registers every media op.
pub fn register(reg: &mut Registry) -> reelflow_core::Result<()> {
    reg.register_type("media_info");
    reg.register(Arc::new(Probe::new()))?;
    reg.register(Arc::new(Cut::new()))?;
    reg.register(Arc::new(Transcode::new(false)))?;
    reg.register(Arc::new(Transcode::new(true)))?;
    reg.register(Arc::new(DetectSilence::new()))?;
    reg.register(Arc::new(Thumbnail::new()))?;
    reg.register(Arc::new(Concat::new()))?;
    reg.register(Arc::new(ExtractAudio::new()))?;
    reg.register(Arc::new(MixAudio::new()))?;
    reg.register(Arc::new(Mux::new()))?;
    reg.register(Arc::new(ImagesToVideo::new()))?;
    reg.register_type(reelflow_timeline::TIMELINE_TYPE);
    reg.register(Arc::new(Render::new()))
}

/// Runs blocking media work on the blocking pool, turning its progress callbacks into
/// progress events and the run's cancellation into `false` from the callback. Other
/// operator crates whose work is media work (the GPU's) run theirs through it too.
pub async fn with_progress<T: Send + 'static>(
    ctx: &NodeCtx,
    label: &'static str,
    work: impl FnOnce(&mut dyn FnMut(f32) -> bool) -> crate::Result<T> + Send + 'static,
) -> Result<T, NodeError> {
    let (tx, mut rx) = tokio::sync::watch::channel(0.0f32);
    let cancel = ctx.cancel_token();
    let mut task = tokio::task::spawn_blocking(move || {
        let mut report = |fraction: f32| {
            let _ = tx.send(fraction);
            !cancel.is_cancelled()
        };
        work(&mut report)
    });
    let mut reported = 0.0f32;
    loop {
        tokio::select! {
            joined = &mut task => {
                // The last fraction (1.0) may have been sent after the previous `changed()`,
                // and `select!` may see the finished task first: report it here, or a finished
                // op's progress would stop short of its end.
                let last = *rx.borrow();
                if last != reported {
                    ctx.progress(last, label);
                }
                return match joined {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(crate::Error::Cancelled)) => Err(NodeError::Cancelled),
                    Ok(Err(e)) => Err(NodeError::from(e)),
                    Err(e) => Err(NodeError::failed(format!("{label} panicked: {e}"))),
                };
            }
            changed = rx.changed() => {
                if changed.is_ok() {
                    let fraction = *rx.borrow_and_update();
                    reported = fraction;
                    ctx.progress(fraction, label);
                }
            }
        }
    }
}

/// The media file a port holds.
pub fn media_path(inputs: &NodeInputs, port: &str) -> Result<PathBuf, NodeError> {
    match inputs.get(port) {
        Some(Value::File(file)) => Ok(file.path.clone()),
        Some(other) => Err(NodeError::failed(format!("input `{port}` must be a file, got {}", other.type_name()))),
        None => Err(NodeError::failed(format!("input `{port}` is missing"))),
    }
}

/// A plain file name for an output in the node's workspace.
pub fn output_name(name: &str) -> Result<&str, NodeError> {
    if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(NodeError::Params(format!("`{name}` is not a plain file name")));
    }
    Ok(name)
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
        let info = ctx.blocking(move |_| crate::probe(&path, params.keyframes).map_err(NodeError::from)).await?;
        let duration = info.duration;
        let json = serde_json::to_value(&info).map_err(|e| NodeError::failed(e.to_string()))?;
        let mut out = Outputs::default();
        out.insert("info".into(), Value::from_json(&json));
        out.insert("duration".into(), Value::Float(duration));
        Ok(out)
    }
}

struct Cut {
    spec: NodeSpec,
}

/// A segment of the source, in seconds.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SegmentParam {
    start: f64,
    end: f64,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum CutMode {
    /// Copy whole GOPs, re-encode only the edges (falls back to `reencode` by itself
    /// when the source cannot be joined that way).
    #[default]
    Smart,
    /// Decode and re-encode everything.
    Reencode,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CutParams {
    /// The segments to keep, in output order (the `segments` input replaces them).
    #[serde(default)]
    segments: Vec<SegmentParam>,
    #[serde(default)]
    mode: CutMode,
    /// libx264 preset for re-encoded frames.
    #[serde(default = "default_preset")]
    preset: String,
    /// libx264 constant rate factor for re-encoded frames.
    #[serde(default = "default_crf")]
    crf: u8,
    /// Output file name.
    #[serde(default = "default_cut_name")]
    name: String,
}

fn default_preset() -> String {
    "veryfast".into()
}
fn default_crf() -> u8 {
    20
}
fn default_cut_name() -> String {
    "cut.mp4".into()
}

impl Cut {
    fn new() -> Self {
        Cut {
            spec: NodeSpec::new(
                "media.cut",
                1,
                "Cuts segments out of a video and joins them, in order, into one MP4 (H.264 + AAC), frame-accurately. \
                 `smart` copies whole GOPs and re-encodes only the partial GOPs at the edges.",
            )
            .input("video", ValueType::File(FileKind::Video), "The source video.")
            .optional_input(
                "segments",
                ValueType::Json,
                "A list of `{start, end}` in seconds; replaces the `segments` param.",
            )
            .output("video", ValueType::File(FileKind::Video), "The joined segments.")
            .output("report", ValueType::Json, "`{copied_packets, reencoded_frames, fell_back}`.")
            .params::<CutParams>()
            .resource(ResourceClass::Cpu),
        }
    }
}

#[async_trait]
impl Node for Cut {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: CutParams = inputs.params()?;
        let source = media_path(&inputs, "video")?;
        let segments: Vec<SegmentParam> = match inputs.get("segments") {
            Some(Value::Null) | None => params.segments.clone(),
            Some(value) => serde_json::from_value(value.to_json())
                .map_err(|e| NodeError::failed(format!("input `segments` must be a list of {{start, end}}: {e}")))?,
        };
        if segments.is_empty() {
            return Err(NodeError::Params("no segments to cut".into()));
        }
        let spans: Vec<Span> = segments.iter().map(|s| Span { start: s.start, end: s.end }).collect();
        let output = ctx.workspace()?.join(output_name(&params.name)?);
        let opts = CutOptions { preset: params.preset.clone(), crf: params.crf };
        let (out, mode) = (output.clone(), params.mode);
        let report = with_progress(ctx, "cutting", move |progress| match mode {
            CutMode::Smart => crate::smart_cut_spans(&source, &out, &spans, &opts, progress),
            CutMode::Reencode => crate::cut_reencode_spans(&source, &out, &spans, &opts, progress)
                .map(|frames| crate::SmartCutReport { reencoded_frames: frames, copied_packets: 0, fell_back: false }),
        })
        .await?;
        let mut outputs = Outputs::default();
        outputs.insert("video".into(), Value::File(FileRef::new(output, FileKind::Video)));
        outputs.insert(
            "report".into(),
            Value::from_json(&serde_json::json!({
                "copied_packets": report.copied_packets,
                "reencoded_frames": report.reencoded_frames,
                "fell_back": report.fell_back,
            })),
        );
        Ok(outputs)
    }
}

/// `media.transcode` (size optional) and `media.fit` (a target frame required).
struct Transcode {
    spec: NodeSpec,
    needs_frame: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TranscodeParams {
    /// A platform frame: `9:16` (1080×1920), `16:9` (1920×1080), `1:1` (1080×1080), `4:5` (1080×1350).
    #[serde(default)]
    aspect: Option<String>,
    /// An explicit frame size (both or neither; even numbers).
    #[serde(default)]
    width: Option<u32>,
    #[serde(default)]
    height: Option<u32>,
    /// `contain` (pad), `cover` (crop) or `stretch`.
    #[serde(default)]
    fit: crate::Fit,
    /// libx264 preset.
    #[serde(default = "default_preset")]
    speed: String,
    #[serde(default = "default_crf")]
    crf: u8,
    #[serde(default = "default_transcode_name")]
    name: String,
}

fn default_transcode_name() -> String {
    "video.mp4".into()
}

impl Transcode {
    fn new(needs_frame: bool) -> Self {
        let (op, doc) = if needs_frame {
            (
                "media.fit",
                "Fits a video into a platform frame (`aspect: 9:16` …, or `width`/`height`) by padding, cropping or stretching; H.264 + AAC MP4.",
            )
        } else {
            ("media.transcode", "Re-encodes a video to H.264 + AAC MP4 (faststart), optionally to another frame size.")
        };
        Transcode {
            spec: NodeSpec::new(op, 1, doc)
                .input("video", ValueType::File(FileKind::Video), "The source video.")
                .output("video", ValueType::File(FileKind::Video), "The re-encoded video.")
                .params::<TranscodeParams>()
                .resource(ResourceClass::Cpu),
            needs_frame,
        }
    }
}

#[async_trait]
impl Node for Transcode {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: TranscodeParams = inputs.params()?;
        let size =
            match (&params.aspect, params.width, params.height) {
                (Some(aspect), None, None) => Some(crate::preset_size(aspect).ok_or_else(|| {
                    NodeError::Params(format!("unknown aspect `{aspect}`; use 9:16, 16:9, 1:1 or 4:5"))
                })?),
                (None, Some(w), Some(h)) if w >= 2 && h >= 2 && w <= 8192 && h <= 8192 => Some((w, h)),
                (None, None, None) => None,
                _ => return Err(NodeError::Params("give `aspect`, or both `width` and `height` (2–8192)".into())),
            };
        if self.needs_frame && size.is_none() {
            return Err(NodeError::Params("media.fit needs `aspect` or `width` and `height`".into()));
        }
        let source = media_path(&inputs, "video")?;
        let output = ctx.workspace()?.join(output_name(&params.name)?);
        let opts = crate::TranscodeOptions { size, fit: params.fit, preset: params.speed.clone(), crf: params.crf };
        let out = output.clone();
        with_progress(ctx, "transcoding", move |progress| crate::transcode(&source, &out, &opts, progress)).await?;
        let mut outputs = Outputs::default();
        outputs.insert("video".into(), Value::File(FileRef::new(output, FileKind::Video)));
        Ok(outputs)
    }
}

/// `media.detect_silence`: the quiet stretches of a file's audio.
struct DetectSilence {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SilenceParams {
    /// Level below which audio is silent, dBFS.
    #[serde(default = "default_threshold")]
    threshold_db: f64,
    /// Shortest silence reported, seconds.
    #[serde(default = "default_min_silence")]
    min_duration: f64,
}

fn default_threshold() -> f64 {
    -40.0
}
fn default_min_silence() -> f64 {
    0.2
}

impl DetectSilence {
    fn new() -> Self {
        DetectSilence {
            spec: NodeSpec::new(
                "media.detect_silence",
                1,
                "Finds the silences (RMS below `threshold_db` for at least `min_duration` s) in a file's audio: \
                 the pauses cuts can snap to so they never land mid-word.",
            )
            .input("media", ValueType::Any, "A video or audio file.")
            .output("silences", ValueType::Json, "`[{start, end}]` in seconds, in order.")
            .params::<SilenceParams>()
            .resource(ResourceClass::Cpu),
        }
    }
}

#[async_trait]
impl Node for DetectSilence {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: SilenceParams = inputs.params()?;
        if !(params.threshold_db < 0.0 && params.min_duration >= 0.0) {
            return Err(NodeError::Params("threshold_db must be negative and min_duration at least 0".into()));
        }
        let source = media_path(&inputs, "media")?;
        let opts = crate::SilenceOptions {
            threshold_db: params.threshold_db,
            min_duration: params.min_duration,
            ..Default::default()
        };
        let silences = with_progress(ctx, "listening for silence", move |progress| {
            crate::detect_silence(&source, &opts, progress)
        })
        .await?;
        let json = serde_json::to_value(&silences).map_err(|e| NodeError::failed(e.to_string()))?;
        let mut outputs = Outputs::default();
        outputs.insert("silences".into(), Value::from_json(&json));
        Ok(outputs)
    }
}

/// `media.thumbnail`: stills at given times.
struct Thumbnail {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ThumbnailParams {
    /// Seconds into the video; one image each.
    times: Vec<f64>,
    /// Width in pixels (height keeps the aspect); the video's size when absent.
    #[serde(default)]
    width: Option<u32>,
    #[serde(default)]
    format: crate::ImageFormat,
}

impl Thumbnail {
    fn new() -> Self {
        Thumbnail {
            spec: NodeSpec::new("media.thumbnail", 1, "Stills of a video at the given times, as JPEG or PNG files.")
                .input("video", ValueType::File(FileKind::Video), "The video.")
                .output(
                    "images",
                    ValueType::List(Box::new(ValueType::File(FileKind::Image))),
                    "One image per time, in order.",
                )
                .params::<ThumbnailParams>()
                .resource(ResourceClass::Cpu),
        }
    }
}

#[async_trait]
impl Node for Thumbnail {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: ThumbnailParams = inputs.params()?;
        if params.times.is_empty() || params.times.len() > 1000 {
            return Err(NodeError::Params("give 1 to 1000 `times`".into()));
        }
        if params.width.is_some_and(|w| !(2..=8192).contains(&w)) {
            return Err(NodeError::Params("`width` must be 2–8192".into()));
        }
        let source = media_path(&inputs, "video")?;
        let dir = ctx.workspace()?.to_path_buf();
        let (times, width, format) = (params.times, params.width, params.format);
        let files = with_progress(ctx, "taking stills", move |progress| {
            crate::thumbnails(&source, &times, width, format, &dir, "still", progress)
        })
        .await?;
        let images = files.into_iter().map(|p| Value::File(FileRef::new(p, FileKind::Image))).collect();
        let mut outputs = Outputs::default();
        outputs.insert("images".into(), Value::List(images));
        Ok(outputs)
    }
}

/// `media.concat`: whole files end to end.
struct Concat {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ConcatParams {
    #[serde(default = "default_concat_name")]
    name: String,
}

fn default_concat_name() -> String {
    "joined.mp4".into()
}

impl Concat {
    fn new() -> Self {
        Concat {
            spec: NodeSpec::new(
                "media.concat",
                1,
                "Joins videos end to end into one MP4: video packets copied when every file has the same H.264 \
                 parameters, else re-encoded to the first file's frame; audio re-encoded per file to its video's length.",
            )
            .input("videos", ValueType::List(Box::new(ValueType::File(FileKind::Video))), "The videos, in order.")
            .output("video", ValueType::File(FileKind::Video), "The joined video.")
            .output("copied", ValueType::Bool, "Whether video was copied rather than re-encoded.")
            .params::<ConcatParams>()
            .resource(ResourceClass::Cpu),
        }
    }
}

#[async_trait]
impl Node for Concat {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: ConcatParams = inputs.params()?;
        let files: Vec<PathBuf> = match inputs.get("videos") {
            Some(Value::List(items)) => items
                .iter()
                .map(|v| match v {
                    Value::File(f) => Ok(f.path.clone()),
                    other => Err(NodeError::failed(format!("`videos` must hold files, found {}", other.type_name()))),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(NodeError::failed("input `videos` must be a list of videos")),
        };
        if files.is_empty() {
            return Err(NodeError::failed("input `videos` is empty"));
        }
        let output = ctx.workspace()?.join(output_name(&params.name)?);
        let out = output.clone();
        let report = with_progress(ctx, "joining", move |progress| {
            let paths: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
            crate::concat(&paths, &out, progress)
        })
        .await?;
        let mut outputs = Outputs::default();
        outputs.insert("video".into(), Value::File(FileRef::new(output, FileKind::Video)));
        outputs.insert("copied".into(), Value::Bool(report.copied));
        Ok(outputs)
    }
}

/// `media.extract_audio`: a file's sound as M4A (AAC) or WAV.
struct ExtractAudio {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExtractParams {
    #[serde(default)]
    format: crate::AudioFormat,
    /// Output file name (default `audio.m4a` or `audio.wav`).
    #[serde(default)]
    name: Option<String>,
}

impl ExtractAudio {
    fn new() -> Self {
        ExtractAudio {
            spec: NodeSpec::new(
                "media.extract_audio",
                1,
                "Extracts a file's first audio stream, resampled to 48 kHz stereo, as M4A (AAC) or 16-bit WAV.",
            )
            .input("media", ValueType::Any, "A video or audio file.")
            .output("audio", ValueType::File(FileKind::Audio), "The extracted audio.")
            .params::<ExtractParams>()
            .resource(ResourceClass::Cpu),
        }
    }
}

#[async_trait]
impl Node for ExtractAudio {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: ExtractParams = inputs.params()?;
        let default_name = match params.format {
            crate::AudioFormat::M4a => "audio.m4a",
            crate::AudioFormat::Wav => "audio.wav",
        };
        let name = params.name.as_deref().unwrap_or(default_name);
        let source = media_path(&inputs, "media")?;
        let output = ctx.workspace()?.join(output_name(name)?);
        let (out, format) = (output.clone(), params.format);
        with_progress(ctx, "extracting audio", move |progress| crate::extract_audio(&source, &out, format, progress))
            .await?;
        let mut outputs = Outputs::default();
        outputs.insert("audio".into(), Value::File(FileRef::new(output, FileKind::Audio)));
        Ok(outputs)
    }
}

/// `media.mix_audio`: tracks mixed with gains, ducking, fades and loudness normalisation.
struct MixAudio {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TrackParam {
    /// Gain in dB.
    #[serde(default)]
    gain_db: f64,
    #[serde(default)]
    role: crate::TrackRole,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct MixParams {
    /// Per input, in order: gain and role (`speech`, `music`, `other`). Missing entries: 0 dB, `other`.
    #[serde(default)]
    tracks: Vec<TrackParam>,
    /// How far music drops under speech, dB (for example 12).
    #[serde(default)]
    duck_db: Option<f64>,
    #[serde(default)]
    fade_in: f64,
    #[serde(default)]
    fade_out: f64,
    /// EBU R128 target, LUFS (for example -16 for web, -23 for broadcast).
    #[serde(default)]
    loudness: Option<f64>,
    #[serde(default = "default_mix_name")]
    name: String,
}

fn default_mix_name() -> String {
    "mix.m4a".into()
}

impl MixAudio {
    fn new() -> Self {
        MixAudio {
            spec: NodeSpec::new(
                "media.mix_audio",
                1,
                "Mixes audio tracks (from audio or video files) with per-track gain, music ducked under speech, \
                 fades and EBU R128 loudness normalisation; AAC in M4A.",
            )
            .input(
                "tracks",
                ValueType::List(Box::new(ValueType::File(FileKind::File))),
                "Files whose first audio streams are mixed.",
            )
            .output("audio", ValueType::File(FileKind::Audio), "The mix.")
            .params::<MixParams>()
            .resource(ResourceClass::Cpu),
        }
    }
}

#[async_trait]
impl Node for MixAudio {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: MixParams = inputs.params()?;
        let files: Vec<PathBuf> = match inputs.get("tracks") {
            Some(Value::List(items)) => items
                .iter()
                .map(|v| match v {
                    Value::File(f) => Ok(f.path.clone()),
                    other => Err(NodeError::failed(format!("`tracks` must hold files, found {}", other.type_name()))),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(NodeError::failed("input `tracks` must be a list of files")),
        };
        if files.is_empty() || params.tracks.len() > files.len() {
            return Err(NodeError::Params(format!("{} track settings for {} files", params.tracks.len(), files.len())));
        }
        if params.fade_in < 0.0 || params.fade_out < 0.0 || params.duck_db.is_some_and(|d| d <= 0.0) {
            return Err(NodeError::Params("fades must be at least 0 and duck_db above 0".into()));
        }
        let tracks: Vec<crate::MixTrack> = files
            .into_iter()
            .enumerate()
            .map(|(i, path)| {
                let t = params.tracks.get(i);
                crate::MixTrack {
                    path,
                    gain_db: t.map_or(0.0, |t| t.gain_db),
                    role: t.map_or_else(Default::default, |t| t.role),
                }
            })
            .collect();
        let opts = crate::MixOptions {
            duck_db: params.duck_db,
            fade_in: params.fade_in,
            fade_out: params.fade_out,
            loudness: params.loudness,
        };
        let output = ctx.workspace()?.join(output_name(&params.name)?);
        let out = output.clone();
        with_progress(ctx, "mixing", move |progress| crate::mix_audio(&tracks, &out, &opts, progress)).await?;
        let mut outputs = Outputs::default();
        outputs.insert("audio".into(), Value::File(FileRef::new(output, FileKind::Audio)));
        Ok(outputs)
    }
}

/// `media.mux`: a video's picture with another file's sound.
struct Mux {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct MuxParams {
    #[serde(default = "default_mux_name")]
    name: String,
}

fn default_mux_name() -> String {
    "muxed.mp4".into()
}

impl Mux {
    fn new() -> Self {
        Mux {
            spec: NodeSpec::new(
                "media.mux",
                1,
                "Puts `audio`'s sound under `video`'s picture: video packets copied, audio re-encoded (AAC) to exactly the video's length.",
            )
            .input("video", ValueType::File(FileKind::Video), "The picture.")
            .input("audio", ValueType::Any, "A file whose first audio stream is the sound.")
            .output("video", ValueType::File(FileKind::Video), "The muxed video.")
            .params::<MuxParams>()
            .resource(ResourceClass::Cpu),
        }
    }
}

#[async_trait]
impl Node for Mux {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: MuxParams = inputs.params()?;
        let (video, audio) = (media_path(&inputs, "video")?, media_path(&inputs, "audio")?);
        let output = ctx.workspace()?.join(output_name(&params.name)?);
        let out = output.clone();
        with_progress(ctx, "muxing", move |progress| crate::mux(&video, &audio, &out, progress)).await?;
        let mut outputs = Outputs::default();
        outputs.insert("video".into(), Value::File(FileRef::new(output, FileKind::Video)));
        Ok(outputs)
    }
}

/// `timeline.render`: a timeline's video track as one MP4.
struct Render {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RenderParams {
    #[serde(default = "default_preset")]
    preset: String,
    #[serde(default = "default_crf")]
    crf: u8,
    #[serde(default = "default_render_name")]
    name: String,
}

fn default_render_name() -> String {
    "render.mp4".into()
}

impl Render {
    fn new() -> Self {
        Render {
            spec: NodeSpec::new(
                "timeline.render",
                1,
                "Renders a timeline's first video track to MP4: clips are frame-accurate smart cuts of their sources \
                 (with their sound), gaps black and silent. A track with transitions (cross dissolve, dip to black, wipe) \
                 is blended on the CPU and re-encoded whole, its sound crossfaded.",
            )
            .input("timeline", ValueType::Named(reelflow_timeline::TIMELINE_TYPE.into()), "The timeline.")
            .output("video", ValueType::File(FileKind::Video), "The rendered video.")
            .output("report", ValueType::Json, "`{clips, gaps, transitions, copied_packets}`.")
            .params::<RenderParams>()
            .resource(ResourceClass::Cpu),
        }
    }
}

#[async_trait]
impl Node for Render {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: RenderParams = inputs.params()?;
        let timeline: reelflow_timeline::Timeline = serde_json::from_value(inputs.require("timeline")?.to_json())
            .map_err(|e| NodeError::failed(format!("input `timeline` is not a timeline: {e}")))?;
        let workspace = ctx.workspace()?.to_path_buf();
        let output = workspace.join(output_name(&params.name)?);
        let work = workspace.join("pieces");
        let opts = CutOptions { preset: params.preset.clone(), crf: params.crf };
        let out = output.clone();
        let report = with_progress(ctx, "rendering", move |progress| {
            crate::render_timeline(&timeline, &out, &work, &opts, progress)
        })
        .await?;
        let mut outputs = Outputs::default();
        outputs.insert("video".into(), Value::File(FileRef::new(output, FileKind::Video)));
        outputs.insert(
            "report".into(),
            Value::from_json(&serde_json::json!({
                "clips": report.clips,
                "gaps": report.gaps,
                "transitions": report.transitions,
                "copied_packets": report.copied_packets,
            })),
        );
        Ok(outputs)
    }
}

/// `media.images_to_video`: a held still or an image sequence as video.
struct ImagesToVideo {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ImagesParams {
    /// Frames per second of the video.
    #[serde(default = "default_fps")]
    fps: u32,
    /// How long each image shows, in seconds (default: one frame).
    #[serde(default)]
    seconds_each: Option<f64>,
    /// Frame size (both or neither); default the first image's size.
    #[serde(default)]
    width: Option<u32>,
    #[serde(default)]
    height: Option<u32>,
    #[serde(default = "default_images_name")]
    name: String,
}

fn default_fps() -> u32 {
    25
}
fn default_images_name() -> String {
    "stills.mp4".into()
}

impl ImagesToVideo {
    fn new() -> Self {
        ImagesToVideo {
            spec: NodeSpec::new(
                "media.images_to_video",
                1,
                "Makes a video of still images, each shown `seconds_each` (one image held, or a sequence at `fps`), \
                 fitted into the frame, with a silent track.",
            )
            .input("images", ValueType::List(Box::new(ValueType::File(FileKind::Image))), "The images, in order.")
            .output("video", ValueType::File(FileKind::Video), "The video.")
            .params::<ImagesParams>()
            .resource(ResourceClass::Cpu),
        }
    }
}

#[async_trait]
impl Node for ImagesToVideo {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: ImagesParams = inputs.params()?;
        if !(1..=240).contains(&params.fps) {
            return Err(NodeError::Params("`fps` must be 1–240".into()));
        }
        let size = match (params.width, params.height) {
            (Some(w), Some(h)) if (2..=8192).contains(&w) && (2..=8192).contains(&h) => Some((w, h)),
            (None, None) => None,
            _ => return Err(NodeError::Params("give both `width` and `height` (2–8192), or neither".into())),
        };
        let seconds_each = params.seconds_each.unwrap_or(1.0 / f64::from(params.fps));
        let files: Vec<PathBuf> = match inputs.get("images") {
            Some(Value::List(items)) => items
                .iter()
                .map(|v| match v {
                    Value::File(f) => Ok(f.path.clone()),
                    other => Err(NodeError::failed(format!("`images` must hold files, found {}", other.type_name()))),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(NodeError::failed("input `images` must be a list of images")),
        };
        let output = ctx.workspace()?.join(output_name(&params.name)?);
        let out = output.clone();
        let fps = ffmpeg_next::Rational(params.fps as i32, 1);
        with_progress(ctx, "making video from stills", move |progress| {
            let paths: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
            crate::images_to_video(&paths, seconds_each, fps, size, &out, progress)
        })
        .await?;
        let mut outputs = Outputs::default();
        outputs.insert("video".into(), Value::File(FileRef::new(output, FileKind::Video)));
        Ok(outputs)
    }
}
