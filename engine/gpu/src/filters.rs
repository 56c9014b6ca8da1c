//! The kernels as [`GpuFilter`]s for the streaming pipeline, and as a [`PictureBlender`]
//! for transitions between clips.

use std::sync::Arc;

use ffmpeg_next::frame;
use reelflow_media::{PictureBlender, RgbaFrame};
use reelflow_timeline::TransitionKind;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::kernels::adjust::{self, Adjust};
use crate::kernels::blur;
use crate::kernels::composite::{self, Placement};
use crate::kernels::easing::Easing;
use crate::kernels::grain::{self, Grain};
use crate::kernels::kenburns::{self, KenBurns};
use crate::kernels::lut::{self, CubeLut, GpuLut};
use crate::kernels::resize::{self, Filter, Fit};
use crate::kernels::sharpen::{self, Sharpen};
use crate::kernels::text::{self, Anchor, GpuText, PreparedText, TextRenderer, TextStyle};
use crate::kernels::transition::{self, Transition};
use crate::kernels::vignette::{self, Vignette};
use crate::kernels::yuv::{self, GpuYuv, YuvFormat};
use crate::stream::{self, GpuFilter, color_of};
use crate::{Gpu, GpuError, GpuFrame};

/// One picture effect of `gpu.effect`, by `kind`.
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Effect {
    /// Gaussian blur: `{kind: blur, sigma: 4}` (sigma in pixels, up to 40).
    Blur {
        /// Standard deviation in pixels, above 0 and up to 40.
        sigma: f32,
    },
    /// Unsharp mask: `{kind: sharpen, amount: 0.6, sigma: 1}`.
    Sharpen(Sharpen),
    /// Brightness, contrast, saturation, gamma: `{kind: adjust, contrast: 1.1}`.
    Adjust(Adjust),
    /// The 3D LUT given on the op's `lut` input (a .cube file), mixed by `strength`.
    Lut {
        /// 0 to 1 (1: the LUT's full grade).
        #[serde(default = "full")]
        strength: f32,
    },
    /// Darkened corners: `{kind: vignette, strength: 0.5}`.
    Vignette(Vignette),
    /// Film grain that changes every frame: `{kind: grain, strength: 0.3}`.
    Grain(Grain),
}

fn full() -> f32 {
    1.0
}

impl Effect {
    /// Checks the settings before any frame is decoded.
    pub fn validate(&self) -> Result<(), GpuError> {
        match self {
            Effect::Blur { sigma } => blur::weights(*sigma).map(|_| ()),
            Effect::Sharpen(p) => p.validate(),
            Effect::Adjust(p) => p.validate(),
            Effect::Lut { strength } if (0.0..=1.0).contains(strength) => Ok(()),
            Effect::Lut { strength } => Err(GpuError::Invalid(format!("LUT strength {strength} must lie in 0..=1"))),
            Effect::Vignette(p) => p.validate(),
            Effect::Grain(p) => p.validate(),
        }
    }

    /// The effect as a pipeline filter; `lut` is the table a `lut` effect applies.
    pub fn into_filter(self, lut: Option<&CubeLut>) -> Result<Box<dyn GpuFilter>, GpuError> {
        self.validate()?;
        Ok(match self {
            Effect::Blur { sigma } => {
                Box::new(EffectFilter(move |gpu: &Gpu, src: &GpuFrame, _: f64, _: u64, out: &GpuFrame| {
                    blur::gaussian_blur(gpu, src, sigma, out)
                }))
            }
            Effect::Sharpen(params) => {
                let mut scratch: Option<GpuFrame> = None;
                Box::new(EffectFilter(move |gpu: &Gpu, src: &GpuFrame, _: f64, _: u64, out: &GpuFrame| {
                    let scratch = match &scratch {
                        Some(s) if (s.width(), s.height()) == (src.width(), src.height()) => s,
                        _ => scratch.insert(GpuFrame::new(gpu, src.width(), src.height())?),
                    };
                    sharpen::sharpen(gpu, src, &params, scratch, out)
                }))
            }
            Effect::Adjust(params) => {
                Box::new(EffectFilter(move |gpu: &Gpu, src: &GpuFrame, _: f64, _: u64, out: &GpuFrame| {
                    adjust::adjust(gpu, src, &params, out)
                }))
            }
            Effect::Lut { strength } => {
                let table = lut
                    .cloned()
                    .ok_or_else(|| GpuError::Invalid("a `lut` effect needs a .cube file on the `lut` input".into()))?;
                let mut uploaded: Option<GpuLut> = None;
                Box::new(EffectFilter(move |gpu: &Gpu, src: &GpuFrame, _: f64, _: u64, out: &GpuFrame| {
                    let on_gpu = match &uploaded {
                        Some(l) => l,
                        None => uploaded.insert(GpuLut::new(gpu, &table)?),
                    };
                    lut::apply_lut(gpu, src, on_gpu, strength, out)
                }))
            }
            Effect::Vignette(params) => {
                Box::new(EffectFilter(move |gpu: &Gpu, src: &GpuFrame, _: f64, _: u64, out: &GpuFrame| {
                    vignette::vignette(gpu, src, &params, out)
                }))
            }
            Effect::Grain(params) => {
                Box::new(EffectFilter(move |gpu: &Gpu, src: &GpuFrame, _: f64, index: u64, out: &GpuFrame| {
                    grain::grain(gpu, src, &params, index, out)
                }))
            }
        })
    }
}

/// A size-keeping filter made of one closure.
struct EffectFilter<F>(F);

impl<F> GpuFilter for EffectFilter<F>
where
    F: FnMut(&Gpu, &GpuFrame, f64, u64, &GpuFrame) -> Result<(), GpuError> + Send,
{
    fn apply(&mut self, gpu: &Gpu, src: &GpuFrame, time: f64, index: u64, out: &GpuFrame) -> Result<(), GpuError> {
        (self.0)(gpu, src, time, index, out)
    }
}

/// Scales to a fixed size: stretched, fitted inside with a pad colour, or filling it.
pub struct ResizeFilter {
    pub size: (u32, u32),
    pub fit: Fit,
    pub filter: Filter,
}

impl GpuFilter for ResizeFilter {
    fn output_size(&self, _input: (u32, u32)) -> Result<(u32, u32), GpuError> {
        Ok(self.size)
    }

    fn apply(&mut self, gpu: &Gpu, src: &GpuFrame, _: f64, _: u64, out: &GpuFrame) -> Result<(), GpuError> {
        resize::resize(gpu, src, out, self.fit, self.filter)
    }
}

/// A zoom-pan over the picture, from the move's start at time 0 to its end at `duration`.
pub struct KenBurnsFilter {
    pub motion: KenBurns,
    pub duration: f64,
    pub size: (u32, u32),
    pub filter: Filter,
}

impl GpuFilter for KenBurnsFilter {
    fn output_size(&self, _input: (u32, u32)) -> Result<(u32, u32), GpuError> {
        Ok(self.size)
    }

    fn apply(&mut self, gpu: &Gpu, src: &GpuFrame, time: f64, _: u64, out: &GpuFrame) -> Result<(), GpuError> {
        let t = if self.duration > 0.0 { (time / self.duration) as f32 } else { 0.0 };
        kenburns::kenburns(gpu, src, &self.motion, t, self.filter, out)
    }
}

/// An image (a logo, a watermark, a picture-in-picture still) laid over the picture while
/// `from <= time < to`.
pub struct OverlayFilter {
    image: RgbaFrame,
    uploaded: Option<GpuFrame>,
    placement: Placement,
    from: f64,
    to: f64,
}

impl OverlayFilter {
    pub fn new(image: RgbaFrame, placement: Placement, from: f64, to: f64) -> Result<OverlayFilter, GpuError> {
        placement.validate()?;
        Ok(OverlayFilter { image, uploaded: None, placement, from, to })
    }
}

impl GpuFilter for OverlayFilter {
    fn apply(&mut self, gpu: &Gpu, src: &GpuFrame, time: f64, _: u64, out: &GpuFrame) -> Result<(), GpuError> {
        if !(self.from..self.to).contains(&time) {
            return out.copy_from(gpu, src);
        }
        let top = match &self.uploaded {
            Some(top) => top,
            None => self.uploaded.insert(GpuFrame::upload(gpu, &self.image.data, self.image.width, self.image.height)?),
        };
        composite::composite(gpu, src, top, &self.placement, out)
    }
}

/// Where and when text shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextPlacement {
    pub anchor: Anchor,
    /// Pixels in from the edges the text is anchored to.
    pub margin: u32,
    /// Seconds the text shows from and until.
    pub from: f64,
    pub to: f64,
    /// Seconds of fade in and out.
    pub fade: f64,
    pub opacity: f32,
}

impl TextPlacement {
    /// The opacity at `time`: 0 outside `from..to`, ramping over `fade` at both ends.
    fn opacity_at(&self, time: f64) -> f32 {
        if !(self.from..self.to).contains(&time) {
            return 0.0;
        }
        let ramp = if self.fade > 0.0 { ((time - self.from).min(self.to - time) / self.fade).min(1.0) } else { 1.0 };
        self.opacity * ramp.max(0.0) as f32
    }
}

/// A fixed text (a title, a caption) drawn over the picture.
pub struct TextFilter {
    prepared: PreparedText,
    uploaded: Option<GpuText>,
    placement: TextPlacement,
}

impl TextFilter {
    pub fn new(prepared: PreparedText, placement: TextPlacement) -> TextFilter {
        TextFilter { prepared, uploaded: None, placement }
    }
}

impl GpuFilter for TextFilter {
    fn apply(&mut self, gpu: &Gpu, src: &GpuFrame, time: f64, _: u64, out: &GpuFrame) -> Result<(), GpuError> {
        let opacity = self.placement.opacity_at(time);
        if opacity <= 0.0 {
            return out.copy_from(gpu, src);
        }
        let uploaded = match &self.uploaded {
            Some(t) => t,
            None => self.uploaded.insert(GpuText::new(gpu, &self.prepared)?),
        };
        let block = (self.prepared.width, self.prepared.height);
        let at = text::place(block, (src.width(), src.height()), self.placement.anchor, self.placement.margin);
        text::draw_text(gpu, src, uploaded, at, opacity, out)
    }
}

/// One subtitle: shown from `start` until `end` seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Caption {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// Burned-in subtitles: each frame shows the captions active at its time (overlapping
/// ones stacked in order); a caption is laid out and uploaded once, when it first shows.
pub struct SubtitlesFilter {
    captions: Vec<Caption>,
    renderer: TextRenderer,
    style: TextStyle,
    anchor: Anchor,
    margin: u32,
    /// The captions on screen and their uploaded block.
    showing: Option<(Vec<usize>, GpuText)>,
}

impl SubtitlesFilter {
    /// Checks every caption's characters against the fonts first, so a missing glyph fails
    /// before any frame is decoded.
    pub fn new(
        captions: Vec<Caption>,
        renderer: TextRenderer,
        style: TextStyle,
        anchor: Anchor,
        margin: u32,
    ) -> Result<SubtitlesFilter, GpuError> {
        style.validate()?;
        let all: String = captions.iter().map(|c| c.text.as_str()).collect();
        let missing = renderer.fonts().missing_chars(&all);
        if !missing.is_empty() {
            let shown: String = missing.iter().take(12).collect();
            return Err(GpuError::Invalid(format!(
                "the subtitles use {} characters no font has ({shown:?}); add a font that covers them",
                missing.len()
            )));
        }
        Ok(SubtitlesFilter { captions, renderer, style, anchor, margin, showing: None })
    }
}

impl GpuFilter for SubtitlesFilter {
    fn apply(&mut self, gpu: &Gpu, src: &GpuFrame, time: f64, _: u64, out: &GpuFrame) -> Result<(), GpuError> {
        let active: Vec<usize> = self
            .captions
            .iter()
            .enumerate()
            .filter(|(_, c)| c.start <= time && time < c.end && !c.text.trim().is_empty())
            .map(|(i, _)| i)
            .collect();
        if active.is_empty() {
            return out.copy_from(gpu, src);
        }
        if self.showing.as_ref().is_none_or(|(shown, _)| *shown != active) {
            let joined: Vec<&str> = active.iter().map(|&i| self.captions[i].text.as_str()).collect();
            let mut style = self.style.clone();
            // Long lines wrap inside the picture unless the style says otherwise.
            let limit = (src.width() as f32 * 0.9).max(style.size);
            style.max_width = Some(style.max_width.unwrap_or(limit).min(limit));
            let prepared = self.renderer.prepare(&joined.join("\n"), &style)?;
            self.showing = Some((active, GpuText::new(gpu, &prepared)?));
        }
        let Some((_, block)) = &self.showing else { return out.copy_from(gpu, src) };
        let size = (block.prepared().width, block.prepared().height);
        let at = text::place(size, (src.width(), src.height()), self.anchor, self.margin);
        text::draw_text(gpu, src, block, at, 1.0, out)
    }
}

/// Blends a timeline's transitions with a GPU transition kernel: the two YUV pictures are
/// converted to RGBA on the GPU, blended, and converted back.
pub struct GpuBlender {
    gpu: Arc<Gpu>,
    transition: Transition,
    easing: Easing,
    buffers: Option<BlendBuffers>,
}

struct BlendBuffers {
    planes: [GpuYuv; 2],
    frames: [GpuFrame; 3],
}

impl GpuBlender {
    /// Every transition is drawn as `transition`, whatever kind the timeline names.
    pub fn new(gpu: Arc<Gpu>, transition: Transition, easing: Easing) -> Result<GpuBlender, GpuError> {
        transition.validate()?;
        Ok(GpuBlender { gpu, transition, easing, buffers: None })
    }

    fn run(&mut self, out: &mut frame::Video, incoming: &frame::Video, progress: f64) -> Result<(), GpuError> {
        let (w, h) = (out.width(), out.height());
        if (incoming.width(), incoming.height()) != (w, h) {
            return Err(GpuError::Invalid("the two pictures of a transition differ in size".into()));
        }
        let gpu = &self.gpu;
        if self.buffers.as_ref().is_none_or(|b| (b.frames[0].width(), b.frames[0].height()) != (w, h)) {
            let yuv = || GpuYuv::new(gpu, YuvFormat::Yuv420p, w, h);
            let rgba = || GpuFrame::new(gpu, w, h);
            self.buffers = Some(BlendBuffers { planes: [yuv()?, yuv()?], frames: [rgba()?, rgba()?, rgba()?] });
        }
        let Some(buffers) = self.buffers.as_ref() else { unreachable!("allocated above") };
        for (k, picture) in [&*out, incoming].into_iter().enumerate() {
            stream::upload(gpu, &buffers.planes[k], picture)?;
            yuv::to_rgba(gpu, &buffers.planes[k], color_of(picture), &buffers.frames[k])?;
        }
        let t = self.easing.apply(progress as f32);
        let [a, b, blended] = &buffers.frames;
        transition::transition(gpu, a, b, &self.transition, t, blended)?;
        let color = color_of(out);
        yuv::from_rgba(gpu, blended, color, &buffers.planes[0])?;
        stream::download(gpu, &buffers.planes[0], out)
    }
}

impl PictureBlender for GpuBlender {
    fn blend(
        &mut self,
        out: &mut frame::Video,
        incoming: &frame::Video,
        progress: f64,
        _kind: TransitionKind,
    ) -> Result<(), String> {
        self.run(out, incoming, progress).map_err(|e| e.to_string())
    }
}

/// The timeline kind whose sound matches a GPU transition: a fade through black dips the
/// sound through silence too; every other kind crossfades it.
pub fn sound_kind(transition: &Transition) -> TransitionKind {
    match transition {
        Transition::FadeThroughBlack => TransitionKind::DipToBlack,
        _ => TransitionKind::CrossDissolve,
    }
}
