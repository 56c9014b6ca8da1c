//! The GPU ops the engine runs. Each takes video files and writes an MP4 (H.264 + AAC, the
//! sound kept), streaming picture by picture through [`crate::stream`]; progress and
//! cancellation come from the media crate's loops. The device opens on the first GPU op a
//! process runs, so a machine without a GPU still starts and runs everything else.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use reelflow_core::{
    FileKind, FileRef, Node, NodeCtx, NodeError, NodeInputs, NodeSpec, Outputs, Registry, ResourceClass, Value,
    ValueType,
};
use reelflow_media::{CutOptions, TranscodeOptions, media_path, output_name, with_progress};
use reelflow_timeline::{Clip, MediaRef, RationalTime, Timeline, Track, TrackItem, TrackKind};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::filters::{
    Caption, Effect, GpuBlender, KenBurnsFilter, OverlayFilter, ResizeFilter, SubtitlesFilter, TextFilter,
    TextPlacement, sound_kind,
};
use crate::kernels::composite::Placement;
use crate::kernels::easing::Easing;
use crate::kernels::kenburns::KenBurns;
use crate::kernels::lut::CubeLut;
use crate::kernels::resize::{Filter, Fit};
use crate::kernels::text::{Anchor, FontSet, TextRenderer, TextStyle};
use crate::kernels::transition::Transition;
use crate::stream::{GpuFilter, filter_video_on_gpu};
use crate::{Gpu, GpuError};

/// Registers every GPU op.
pub fn register(reg: &mut Registry) -> reelflow_core::Result<()> {
    reg.register(Arc::new(TransitionOp::new()))?;
    reg.register(Arc::new(ResizeOp::new()))?;
    reg.register(Arc::new(KenBurnsOp::new()))?;
    reg.register(Arc::new(CompositeOp::new()))?;
    reg.register(Arc::new(EffectOp::new()))?;
    reg.register(Arc::new(TextOp::new()))?;
    reg.register(Arc::new(SubtitlesOp::new()))
}

/// The process's GPU, as a node error when there is none.
pub(crate) fn device() -> Result<Arc<Gpu>, NodeError> {
    Gpu::shared().map_err(|e| NodeError::failed(format!("no GPU for this op: {e}")))
}

pub(crate) fn invalid(e: GpuError) -> NodeError {
    NodeError::Params(e.to_string())
}

/// Encoder settings every GPU op takes, as its `encoding` param.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Encoding {
    /// libx264 preset (`ultrafast` … `veryslow`); default `veryfast`.
    pub preset: String,
    /// libx264 constant rate factor: 0 lossless, 18 visually lossless, 23 default; default 20.
    pub crf: u8,
}

impl Default for Encoding {
    fn default() -> Self {
        Encoding { preset: "veryfast".into(), crf: 20 }
    }
}

impl Encoding {
    fn transcode(&self) -> TranscodeOptions {
        TranscodeOptions { preset: self.preset.clone(), crf: self.crf, ..TranscodeOptions::default() }
    }
}

/// Runs `filters` over the `video` input into `name` in the node's workspace.
pub(crate) async fn run_filters(
    ctx: &NodeCtx,
    inputs: &NodeInputs,
    name: &str,
    encoding: &Encoding,
    label: &'static str,
    filters: Vec<Box<dyn GpuFilter>>,
) -> Result<Outputs, NodeError> {
    let gpu = device()?;
    let source = media_path(inputs, "video")?;
    let output = ctx.workspace()?.join(output_name(name)?);
    let opts = encoding.transcode();
    let out = output.clone();
    with_progress(ctx, label, move |progress| filter_video_on_gpu(gpu, &source, &out, &opts, filters, progress))
        .await?;
    Ok(video_output(output))
}

fn video_output(path: PathBuf) -> Outputs {
    let mut outputs = Outputs::default();
    outputs.insert("video".into(), Value::File(FileRef::new(path, FileKind::Video)));
    outputs
}

/// `gpu.transition`: clip `a`, then a transition into clip `b`.
struct TransitionOp {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TransitionParams {
    /// The transition: `{kind: crossfade}`, `{kind: fade_through_black}`, `{kind: wipe,
    /// direction: left, softness: 0.02}`, `{kind: slide, direction: up}`, `{kind: zoom}`.
    #[serde(default)]
    transition: Transition,
    /// Seconds the two clips overlap (taken from the end of `a` and the start of `b`).
    #[serde(default = "default_transition_seconds")]
    duration: f64,
    /// The pace of the transition.
    #[serde(default)]
    easing: Easing,
    /// Encoder settings: `{preset, crf}`.
    #[serde(default)]
    encoding: Encoding,
    /// Output file name.
    #[serde(default = "default_transition_name")]
    name: String,
}

fn default_transition_seconds() -> f64 {
    1.0
}
fn default_transition_name() -> String {
    "transition.mp4".into()
}

impl TransitionOp {
    fn new() -> Self {
        TransitionOp {
            spec: NodeSpec::new(
                "gpu.transition",
                1,
                "Joins two clips with a GPU transition (crossfade, fade through black, wipe, slide, zoom) over their \
                 last and first `duration` seconds; the sound crossfades (or dips, through black). The output has \
                 `a`'s size and frame rate; `b` is fitted into it.",
            )
            .input("a", ValueType::File(FileKind::Video), "The outgoing clip.")
            .input("b", ValueType::File(FileKind::Video), "The incoming clip.")
            .output("video", ValueType::File(FileKind::Video), "The joined clips.")
            .params::<TransitionParams>()
            .resource(ResourceClass::Gpu),
        }
    }
}

#[async_trait]
impl Node for TransitionOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: TransitionParams = inputs.params()?;
        params.transition.validate().map_err(invalid)?;
        let gpu = device()?;
        let (a, b) = (media_path(&inputs, "a")?, media_path(&inputs, "b")?);
        let output = ctx.workspace()?.join(output_name(&params.name)?);
        let work = ctx.workspace()?.join("pieces");
        let opts = CutOptions { preset: params.encoding.preset.clone(), crf: params.encoding.crf };
        let blender = GpuBlender::new(gpu, params.transition.clone(), params.easing).map_err(invalid)?;
        let kind = sound_kind(&params.transition);
        let seconds = params.duration;
        let out = output.clone();
        with_progress(ctx, "transition", move |progress| {
            let timeline = two_clip_timeline(&a, &b, seconds, kind)?;
            let mut blender = blender;
            reelflow_media::render_timeline_with(&timeline, &out, &work, &opts, &mut blender, progress)
        })
        .await?;
        Ok(video_output(output))
    }
}

/// `a` then `b`, overlapping by `seconds` (an even number of frames, at least two), with a
/// transition centred on the cut: `a` plays its last half-transition as the handle past
/// its out point, `b` its first half before its in point.
fn two_clip_timeline(
    a: &std::path::Path,
    b: &std::path::Path,
    seconds: f64,
    kind: reelflow_timeline::TransitionKind,
) -> reelflow_media::Result<Timeline> {
    let bad = |path: &std::path::Path, what: String| reelflow_media::Error::Unsupported { path: path.to_owned(), what };
    let info_a = reelflow_media::probe(a, false)?;
    let info_b = reelflow_media::probe(b, false)?;
    let video_a = info_a.video().ok_or_else(|| bad(a, "no video stream".into()))?;
    let video_b = info_b.video().ok_or_else(|| bad(b, "no video stream".into()))?;
    let rate = video_a.frame_rate.or(video_a.avg_frame_rate).ok_or_else(|| bad(a, "no frame rate".into()))?;
    let rate = reelflow_timeline::Rational::new(i64::from(rate.num), i64::from(rate.den))
        .map_err(|e| bad(a, format!("frame rate ({e})")))?;
    let fps = rate.num() as f64 / rate.den() as f64;
    let frames = |secs: f64| (secs * fps + 1e-6).floor() as i64;
    let (len_a, len_b) = (frames(video_a.duration.max(info_a.duration)), frames(video_b.duration.max(info_b.duration)));
    let overlap = ((seconds * fps / 2.0).round() as i64 * 2).max(2);
    if !(seconds.is_finite() && seconds > 0.0) || overlap > len_a.min(len_b) {
        return Err(bad(
            b,
            format!(
                "a {seconds} s transition between clips of {:.3} s and {:.3} s (it must be positive and no longer than either)",
                len_a as f64 / fps,
                len_b as f64 / fps
            ),
        ));
    }
    let at = |n: i64| RationalTime::from_frames(n, rate).map_err(|e| bad(a, format!("time ({e})")));
    let (width, height) = (video_a.width.unwrap_or(0), video_a.height.unwrap_or(0));
    let source = |path: &std::path::Path, len: i64, has_audio: bool| -> reelflow_media::Result<MediaRef> {
        let mut media = MediaRef::new(path, at(len)?, true, has_audio);
        media.frame_rate = Some(rate);
        Ok(media)
    };
    let clip_a = Clip::new("a", source(a, len_a, info_a.audio().is_some())?, at(0)?, at(len_a - overlap / 2)?);
    let clip_b = Clip::new("b", source(b, len_b, info_b.audio().is_some())?, at(overlap / 2)?, at(len_b)?);
    let transition = reelflow_timeline::Transition { kind, duration: at(overlap)? };
    let mut timeline = Timeline::new("transition", rate, width, height);
    timeline.tracks.push(Track {
        kind: TrackKind::Video,
        name: None,
        items: vec![TrackItem::Clip(clip_a), TrackItem::Transition(transition), TrackItem::Clip(clip_b)],
    });
    Ok(timeline)
}

/// How `gpu.resize` fits a picture of another aspect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum FitParam {
    /// Scale each axis on its own (distorts when the aspects differ).
    Stretch,
    /// Fit inside and pad with `pad_color` (letterbox / pillarbox).
    #[default]
    Pad,
    /// Cover the frame, cropping what falls outside (centred).
    Fill,
}

/// `gpu.resize`: scale, fit or fill to a size or a platform aspect.
struct ResizeOp {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ResizeParams {
    /// A platform frame: `9:16`, `16:9`, `1:1` or `4:5` (or give `width` and `height`).
    aspect: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    #[serde(default)]
    fit: FitParam,
    /// RGBA of the padding, for `fit: pad`.
    #[serde(default = "default_pad")]
    pad_color: [u8; 4],
    /// `bilinear` (fast) or `bicubic` (sharper).
    #[serde(default)]
    filter: Filter,
    /// Encoder settings: `{preset, crf}`.
    #[serde(default)]
    encoding: Encoding,
    /// Output file name.
    #[serde(default = "default_resize_name")]
    name: String,
}

fn default_pad() -> [u8; 4] {
    [0, 0, 0, 255]
}
fn default_resize_name() -> String {
    "resized.mp4".into()
}

/// The output size from `aspect` or `width` and `height`.
pub(crate) fn frame_size(
    aspect: &Option<String>,
    width: Option<u32>,
    height: Option<u32>,
) -> Result<(u32, u32), NodeError> {
    match (aspect, width, height) {
        (Some(aspect), None, None) => reelflow_media::preset_size(aspect)
            .ok_or_else(|| NodeError::Params(format!("unknown aspect `{aspect}`; use 9:16, 16:9, 1:1 or 4:5"))),
        (None, Some(w), Some(h)) if (2..=8192).contains(&w) && (2..=8192).contains(&h) => Ok((w, h)),
        _ => Err(NodeError::Params("give `aspect`, or both `width` and `height` (2–8192)".into())),
    }
}

impl ResizeOp {
    fn new() -> Self {
        ResizeOp {
            spec: NodeSpec::new(
                "gpu.resize",
                1,
                "Resizes a video on the GPU to a size or platform aspect (9:16, 16:9, 1:1, 4:5): stretched, fitted \
                 inside with padding, or filling the frame cropped; bilinear or bicubic.",
            )
            .input("video", ValueType::File(FileKind::Video), "The video.")
            .output("video", ValueType::File(FileKind::Video), "The resized video.")
            .params::<ResizeParams>()
            .resource(ResourceClass::Gpu),
        }
    }
}

#[async_trait]
impl Node for ResizeOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: ResizeParams = inputs.params()?;
        let size = frame_size(&params.aspect, params.width, params.height)?;
        let fit = match params.fit {
            FitParam::Stretch => Fit::Stretch,
            FitParam::Pad => Fit::Pad(params.pad_color),
            FitParam::Fill => Fit::Fill,
        };
        let filter = ResizeFilter { size: (size.0 / 2 * 2, size.1 / 2 * 2), fit, filter: params.filter };
        run_filters(ctx, &inputs, &params.name, &params.encoding, "resizing", vec![Box::new(filter)]).await
    }
}

/// `gpu.kenburns`: a still image (or a video) brought to life by a zoom-pan.
struct KenBurnsOp {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct KenBurnsParams {
    /// The move: `{start: {center_x, center_y, zoom}, end: {...}, easing}`; zoom 1 shows
    /// the largest region of the output's aspect that fits in the picture.
    #[serde(default = "default_move")]
    motion: KenBurns,
    /// Seconds of video made from a still image (a video input keeps its own length and
    /// the move spans it).
    #[serde(default = "default_still_seconds")]
    duration: f64,
    /// Frames per second of video made from a still image.
    #[serde(default = "default_fps")]
    fps: u32,
    /// A platform frame: `9:16`, `16:9`, `1:1` or `4:5` (or give `width` and `height`;
    /// neither: the source's size).
    aspect: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    #[serde(default)]
    filter: Filter,
    /// Encoder settings: `{preset, crf}`.
    #[serde(default)]
    encoding: Encoding,
    /// Output file name.
    #[serde(default = "default_kenburns_name")]
    name: String,
}

fn default_move() -> KenBurns {
    use crate::kernels::kenburns::View;
    KenBurns {
        start: View { center_x: 0.5, center_y: 0.5, zoom: 1.0 },
        end: View { center_x: 0.5, center_y: 0.5, zoom: 1.3 },
        easing: Easing::EaseInOut,
    }
}
fn default_still_seconds() -> f64 {
    5.0
}
fn default_fps() -> u32 {
    30
}
fn default_kenburns_name() -> String {
    "kenburns.mp4".into()
}

impl KenBurnsOp {
    fn new() -> Self {
        KenBurnsOp {
            spec: NodeSpec::new(
                "gpu.kenburns",
                1,
                "A zoom-pan (Ken Burns move) with easing, on the GPU: from a still image it makes a video of \
                 `duration` seconds; over a video it moves across the video's own length.",
            )
            .input("image", ValueType::Any, "A still image (PNG, JPEG …) or a video.")
            .output("video", ValueType::File(FileKind::Video), "The moving picture.")
            .params::<KenBurnsParams>()
            .resource(ResourceClass::Gpu),
        }
    }
}

#[async_trait]
impl Node for KenBurnsOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: KenBurnsParams = inputs.params()?;
        params.motion.validate().map_err(invalid)?;
        if !(params.duration > 0.0 && params.duration <= 3600.0 && (1..=120).contains(&params.fps)) {
            return Err(NodeError::Params("`duration` must be 0–3600 s and `fps` 1–120".into()));
        }
        let size = match (&params.aspect, params.width, params.height) {
            (None, None, None) => None,
            (aspect, width, height) => Some(frame_size(aspect, width, height)?),
        };
        let source = media_path(&inputs, "image")?;
        let probed = reelflow_media::probe(&source, false).map_err(NodeError::from)?;
        let is_video = probed.video().is_some_and(|v| v.duration > 0.5 || probed.duration > 0.5);
        if is_video {
            let video = probed.video().ok_or_else(|| NodeError::failed("no video stream"))?;
            let size = size.unwrap_or((video.width.unwrap_or(2), video.height.unwrap_or(2)));
            let filter = KenBurnsFilter {
                motion: params.motion,
                duration: video.duration.max(probed.duration),
                size: (size.0 / 2 * 2, size.1 / 2 * 2),
                filter: params.filter,
            };
            let mut inputs = inputs;
            if let Some(value) = inputs.values.get("image").cloned() {
                inputs.values.insert("video".into(), value);
            }
            return run_filters(ctx, &inputs, &params.name, &params.encoding, "moving", vec![Box::new(filter)]).await;
        }
        let gpu = device()?;
        let output = ctx.workspace()?.join(output_name(&params.name)?);
        let out = output.clone();
        with_progress(ctx, "moving", move |progress| {
            let image = reelflow_media::read_image_rgba(&source)?;
            let (w, h) = size.unwrap_or((image.width, image.height));
            let clip = reelflow_media::GeneratedClip {
                width: (w / 2 * 2).max(2),
                height: (h / 2 * 2).max(2),
                frame_rate: reelflow_media::Ratio { num: params.fps as i32, den: 1 },
                duration: params.duration,
                preset: params.encoding.preset.clone(),
                crf: params.encoding.crf,
            };
            let mut frames = StillMotion::new(gpu, &image, &params.motion, &clip, params.filter)
                .map_err(|e| reelflow_media::Error::Frames { path: source.clone(), message: e.to_string() })?;
            let mut picture = |time: f64| frames.frame(time / params.duration).map_err(|e| e.to_string());
            reelflow_media::generate_video(&out, &clip, &mut picture, None, progress)
        })
        .await?;
        Ok(video_output(output))
    }
}

/// A still on the GPU and the frame its move renders into.
struct StillMotion {
    gpu: Arc<Gpu>,
    still: crate::GpuFrame,
    out: crate::GpuFrame,
    motion: KenBurns,
    filter: Filter,
}

impl StillMotion {
    fn new(
        gpu: Arc<Gpu>,
        image: &reelflow_media::RgbaFrame,
        motion: &KenBurns,
        clip: &reelflow_media::GeneratedClip,
        filter: Filter,
    ) -> Result<StillMotion, GpuError> {
        let still = crate::GpuFrame::upload(&gpu, &image.data, image.width, image.height)?;
        let out = crate::GpuFrame::new(&gpu, clip.width, clip.height)?;
        Ok(StillMotion { gpu, still, out, motion: *motion, filter })
    }

    fn frame(&mut self, t: f64) -> Result<reelflow_media::RgbaFrame, GpuError> {
        crate::kernels::kenburns::kenburns(&self.gpu, &self.still, &self.motion, t as f32, self.filter, &self.out)?;
        let data = self.out.download(&self.gpu)?;
        Ok(reelflow_media::RgbaFrame { width: self.out.width(), height: self.out.height(), data })
    }
}

/// `gpu.composite`: an image laid over a video.
struct CompositeOp {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CompositeParams {
    /// Where the overlay goes: `{x, y}` of its top-left corner in video pixels, its
    /// `scale`, its `opacity` (0–1).
    #[serde(default)]
    placement: Placement,
    /// Seconds from which the overlay shows.
    #[serde(default)]
    from: f64,
    /// Seconds until which the overlay shows (default: the end).
    to: Option<f64>,
    /// Encoder settings: `{preset, crf}`.
    #[serde(default)]
    encoding: Encoding,
    /// Output file name.
    #[serde(default = "default_composite_name")]
    name: String,
}

fn default_composite_name() -> String {
    "composite.mp4".into()
}

impl CompositeOp {
    fn new() -> Self {
        CompositeOp {
            spec: NodeSpec::new(
                "gpu.composite",
                1,
                "Lays an image with alpha (a logo, a watermark, a picture-in-picture still) over a video on the GPU, \
                 at a position, scale and opacity, for all of the video or a time range.",
            )
            .input("video", ValueType::File(FileKind::Video), "The video.")
            .input("overlay", ValueType::Any, "The image to lay over it (PNG with alpha, JPEG …).")
            .output("video", ValueType::File(FileKind::Video), "The composited video.")
            .params::<CompositeParams>()
            .resource(ResourceClass::Gpu),
        }
    }
}

#[async_trait]
impl Node for CompositeOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: CompositeParams = inputs.params()?;
        let image = reelflow_media::read_image_rgba(&media_path(&inputs, "overlay")?).map_err(NodeError::from)?;
        let overlay = OverlayFilter::new(image, params.placement, params.from, params.to.unwrap_or(f64::INFINITY))
            .map_err(invalid)?;
        run_filters(ctx, &inputs, &params.name, &params.encoding, "compositing", vec![Box::new(overlay)]).await
    }
}

/// `gpu.effect`: a chain of picture effects.
struct EffectOp {
    spec: NodeSpec,
}

/// Effects in one chain, at most (each is a pass over every frame).
const MAX_EFFECTS: usize = 16;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EffectParams {
    /// The effects, applied in order: `[{kind: adjust, contrast: 1.1}, {kind: vignette}]`.
    /// Kinds: blur, sharpen, adjust, lut, vignette, grain.
    effects: Vec<Effect>,
    /// Encoder settings: `{preset, crf}`.
    #[serde(default)]
    encoding: Encoding,
    /// Output file name.
    #[serde(default = "default_effect_name")]
    name: String,
}

fn default_effect_name() -> String {
    "effect.mp4".into()
}

impl EffectOp {
    fn new() -> Self {
        EffectOp {
            spec: NodeSpec::new(
                "gpu.effect",
                1,
                "Runs a video through a chain of GPU picture effects: Gaussian blur, sharpen (unsharp mask), \
                 brightness/contrast/saturation/gamma, a 3D LUT from a .cube file, vignette, film grain.",
            )
            .input("video", ValueType::File(FileKind::Video), "The video.")
            .optional_input("lut", ValueType::Any, "A .cube 3D LUT, for a `lut` effect.")
            .output("video", ValueType::File(FileKind::Video), "The graded video.")
            .params::<EffectParams>()
            .resource(ResourceClass::Gpu),
        }
    }
}

#[async_trait]
impl Node for EffectOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: EffectParams = inputs.params()?;
        if params.effects.is_empty() || params.effects.len() > MAX_EFFECTS {
            return Err(NodeError::Params(format!("give 1 to {MAX_EFFECTS} effects")));
        }
        let lut = match inputs.get("lut") {
            Some(_) => Some(CubeLut::load(&media_path(&inputs, "lut")?).map_err(invalid)?),
            None => None,
        };
        let filters = params
            .effects
            .iter()
            .map(|effect| effect.clone().into_filter(lut.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        run_filters(ctx, &inputs, &params.name, &params.encoding, "applying effects", filters).await
    }
}

/// The fonts an op names, or the system's defaults. Only font files are read: a path that
/// is not `.ttf`, `.otf` or `.ttc` (optionally `#face`) is refused.
fn font_set(fonts: &[PathBuf]) -> Result<FontSet, NodeError> {
    if fonts.is_empty() {
        return FontSet::system_default().map_err(invalid);
    }
    for font in fonts {
        let name = font.to_string_lossy().to_lowercase();
        let file = name.rsplit_once('#').map_or(name.as_str(), |(file, _)| file);
        if ![".ttf", ".otf", ".ttc"].iter().any(|ext| file.ends_with(ext)) {
            return Err(NodeError::Params(format!("{} is not a font file (.ttf, .otf or .ttc)", font.display())));
        }
    }
    FontSet::load(fonts).map_err(invalid)
}

/// `gpu.text`: a title or caption over a video.
struct TextOp {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TextParams {
    /// The text; `\n` breaks lines.
    text: String,
    /// Size, colour, outline, shadow, alignment, line spacing, wrapping width.
    #[serde(default)]
    style: TextStyle,
    /// Where the text goes (default bottom_center).
    #[serde(default)]
    anchor: Anchor,
    /// Pixels in from the edges it is anchored to.
    #[serde(default = "default_margin")]
    margin: u32,
    /// Seconds from which the text shows.
    #[serde(default)]
    from: f64,
    /// Seconds until which the text shows (default: the end).
    to: Option<f64>,
    /// Seconds of fade in and out.
    #[serde(default)]
    fade: f64,
    /// 0 to 1.
    #[serde(default = "one")]
    opacity: f32,
    /// Font files, the first preferred, the others as fallbacks for characters it lacks
    /// (default: DejaVu Sans, then Noto Sans CJK).
    #[serde(default)]
    fonts: Vec<PathBuf>,
    /// Encoder settings: `{preset, crf}`.
    #[serde(default)]
    encoding: Encoding,
    /// Output file name.
    #[serde(default = "default_text_name")]
    name: String,
}

fn default_margin() -> u32 {
    48
}
fn one() -> f32 {
    1.0
}
fn default_text_name() -> String {
    "text.mp4".into()
}

impl TextOp {
    fn new() -> Self {
        TextOp {
            spec: NodeSpec::new(
                "gpu.text",
                1,
                "Draws a title or caption over a video on the GPU: any script the fonts cover (CJK through Noto Sans \
                 CJK), with outline, shadow, wrapping, an anchor, a time range and a fade.",
            )
            .input("video", ValueType::File(FileKind::Video), "The video.")
            .output("video", ValueType::File(FileKind::Video), "The video with the text.")
            .params::<TextParams>()
            .resource(ResourceClass::Gpu),
        }
    }
}

#[async_trait]
impl Node for TextOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: TextParams = inputs.params()?;
        if !((0.0..=1.0).contains(&params.opacity) && params.fade >= 0.0 && params.from >= 0.0) {
            return Err(NodeError::Params("`opacity` must lie in 0..=1, `fade` and `from` be ≥ 0".into()));
        }
        let mut renderer = TextRenderer::new(font_set(&params.fonts)?);
        let prepared = renderer.prepare(&params.text, &params.style).map_err(invalid)?;
        let placement = TextPlacement {
            anchor: params.anchor,
            margin: params.margin,
            from: params.from,
            to: params.to.unwrap_or(f64::INFINITY),
            fade: params.fade,
            opacity: params.opacity,
        };
        let filter = TextFilter::new(prepared, placement);
        run_filters(ctx, &inputs, &params.name, &params.encoding, "drawing text", vec![Box::new(filter)]).await
    }
}

/// `gpu.subtitles`: subtitles burned into a video.
struct SubtitlesOp {
    spec: NodeSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SubtitlesParams {
    /// Size, colour, outline, shadow, alignment, line spacing; lines wrap at 90 % of the
    /// picture's width unless `max_width` is smaller.
    #[serde(default = "subtitle_style")]
    style: TextStyle,
    #[serde(default)]
    anchor: Anchor,
    /// Pixels in from the edges the subtitles are anchored to.
    #[serde(default = "default_margin")]
    margin: u32,
    /// Font files, the first preferred (default: DejaVu Sans, then Noto Sans CJK).
    #[serde(default)]
    fonts: Vec<PathBuf>,
    /// Encoder settings: `{preset, crf}`.
    #[serde(default)]
    encoding: Encoding,
    /// Output file name.
    #[serde(default = "default_subtitled_name")]
    name: String,
}

fn subtitle_style() -> TextStyle {
    TextStyle {
        size: 42.0,
        shadow: Some(crate::kernels::text::Shadow { dx: 2, dy: 2, color: [0, 0, 0, 140] }),
        ..TextStyle::default()
    }
}
fn default_subtitled_name() -> String {
    "subtitled.mp4".into()
}

impl SubtitlesOp {
    fn new() -> Self {
        SubtitlesOp {
            spec: NodeSpec::new(
                "gpu.subtitles",
                1,
                "Burns subtitles (SRT, ASS/SSA or WebVTT, any encoding) into a video on the GPU, each cue shown over \
                 its time with outline and shadow; CJK works through the fallback fonts.",
            )
            .input("video", ValueType::File(FileKind::Video), "The video.")
            .input("subtitles", ValueType::Any, "A subtitle file (.srt, .ass, .vtt).")
            .output("video", ValueType::File(FileKind::Video), "The subtitled video.")
            .params::<SubtitlesParams>()
            .resource(ResourceClass::Gpu),
        }
    }
}

#[async_trait]
impl Node for SubtitlesOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let params: SubtitlesParams = inputs.params()?;
        let path = media_path(&inputs, "subtitles")?;
        let bytes = std::fs::read(&path).map_err(|e| NodeError::failed(format!("{}: {e}", path.display())))?;
        let subtitles =
            reelflow_subtitles::parse(&bytes, None, reelflow_subtitles::ParseOptions::default()).map_err(|e| {
                NodeError::of_kind(reelflow_core::ErrorKind::UnsupportedFormat, format!("{}: {e}", path.display()))
            })?;
        let captions = subtitles
            .cues
            .iter()
            .map(|cue| Caption {
                start: cue.start_ms as f64 / 1000.0,
                end: cue.end_ms as f64 / 1000.0,
                text: cue.text.clone(),
            })
            .collect();
        let renderer = TextRenderer::new(font_set(&params.fonts)?);
        let filter =
            SubtitlesFilter::new(captions, renderer, params.style, params.anchor, params.margin).map_err(invalid)?;
        run_filters(ctx, &inputs, &params.name, &params.encoding, "burning in subtitles", vec![Box::new(filter)]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_come_from_an_aspect_or_both_dimensions() {
        assert_eq!(frame_size(&Some("9:16".into()), None, None).unwrap(), (1080, 1920));
        assert_eq!(frame_size(&None, Some(640), Some(360)).unwrap(), (640, 360));
        assert!(frame_size(&None, Some(640), None).is_err());
        assert!(frame_size(&Some("3:2".into()), None, None).is_err());
        assert!(frame_size(&None, Some(1), Some(9000)).is_err());
    }

    #[test]
    fn transition_params_read_their_kinds() {
        let params: TransitionParams = serde_json::from_value(
            serde_json::json!({"transition": {"kind": "wipe", "direction": "up"}, "duration": 0.5}),
        )
        .unwrap();
        assert!(matches!(params.transition, Transition::Wipe { .. }));
        assert_eq!(params.encoding.crf, 20);
        let err = serde_json::from_value::<TransitionParams>(serde_json::json!({"transition": {"kind": "spin"}}));
        assert!(err.is_err());
    }
}
