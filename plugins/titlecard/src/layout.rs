//! The template's output: turns a validated [`Spec`] into scene and layout instructions for the
//! renderer: a canvas, a palette, and timed scenes made of rectangles and text boxes with enter
//! and exit animations.
//!
//! All sizes derive from the canvas so the three aspects look alike. Text goes inside the safe
//! area of the canvas (vertical feeds cover the top and, even more, the bottom with their own
//! buttons and captions), fonts shrink when text would not fit, and every box is clamped to the
//! canvas, so the renderer never has to clip.

use serde::Serialize;

use crate::spec::{Aspect, Spec, Theme};
use crate::wrap::wrap;

/// Line height of all text, as a multiple of the font size.
pub const LINE_HEIGHT: f64 = 1.3;
/// Smallest font size, in pixels, the template shrinks text to before giving up.
const MIN_FONT: f64 = 16.0;
/// Each step of shrinking a text that does not fit.
const SHRINK: f64 = 0.9;
/// Most of the safe area's height a caption box may take: captions sit over the scene's
/// picture, and a wall of text covering it is a spec error worth reporting.
const MAX_CAPTION_SHARE: f64 = 0.5;

/// The instructions `render` returns.
#[derive(Clone, Debug, Serialize)]
pub struct Instructions {
    /// The picture to draw on.
    pub canvas: Canvas,
    /// The theme's named colours, for any extra drawing the renderer does.
    pub palette: Palette,
    /// The title card, then the spec's scenes, back to back.
    pub scenes: Vec<Scene>,
    /// Seconds from the start of the title card to the end of the last scene.
    pub total_duration: f64,
}

/// The picture to draw on.
#[derive(Clone, Debug, Serialize)]
pub struct Canvas {
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// Frames a second.
    pub fps: u32,
    /// Colour behind everything, `#rrggbb`.
    pub background: &'static str,
}

/// A theme's colours, each `#rrggbb`.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Palette {
    /// The canvas.
    pub background: &'static str,
    /// The banner behind the title (tang-monk's scroll).
    pub banner: &'static str,
    /// Trim: the scroll's rollers, the plain theme's rule under the title.
    pub banner_trim: &'static str,
    /// The title's text.
    pub title: &'static str,
    /// The subtitle's text.
    pub subtitle: &'static str,
    /// The box behind captions.
    pub caption_box: &'static str,
    /// The captions' text.
    pub caption_text: &'static str,
}

/// Saffron robe, cinnabar red and gold, as in the tang-monk shorts.
const TANG_MONK: Palette = Palette {
    background: "#f4a42c",
    banner: "#c0282d",
    banner_trim: "#e9b949",
    title: "#ffe08a",
    subtitle: "#7a1e12",
    caption_box: "#8e1b1f",
    caption_text: "#fff3d6",
};

/// White on near-black.
const PLAIN: Palette = Palette {
    background: "#111318",
    banner: "#1d2029",
    banner_trim: "#9aa0aa",
    title: "#ffffff",
    subtitle: "#c5c9d1",
    caption_box: "#000000",
    caption_text: "#ffffff",
};

/// A stretch of time with what to draw over it.
#[derive(Clone, Debug, Serialize)]
pub struct Scene {
    /// `title` for the title card, else the spec's scene id.
    pub id: String,
    /// Seconds from the start of the video.
    pub start: f64,
    /// Seconds.
    pub duration: f64,
    /// What to draw, back to front. Empty for a scene without a caption.
    pub layers: Vec<Layer>,
}

/// What a layer draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    /// A filled rectangle, with rounded corners if `radius` is set.
    Rect,
    /// Text in a box: `lines` one under the other, each centred horizontally.
    Text,
}

/// One thing to draw for the whole of its scene. The box (`x`, `y`, `width`, `height`, in
/// pixels from the canvas's top left) always lies inside the canvas.
#[derive(Clone, Debug, Serialize)]
pub struct Layer {
    /// Rectangle or text.
    pub kind: LayerKind,
    /// Text layers: the text, its lines joined by `\n`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Text layers: the lines, already wrapped to fit `width`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<String>>,
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width of the box.
    pub width: u32,
    /// Height of the box; for text, the lines times `size` times `line_height`.
    pub height: u32,
    /// Text layers: font size in pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// Text layers: distance between baselines as a multiple of `size`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_height: Option<f64>,
    /// Fill or text colour, `#rrggbb`.
    pub color: &'static str,
    /// Opacity 0..1; absent means opaque.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opacity: Option<f64>,
    /// Rect layers: corner radius in pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub radius: Option<u32>,
    /// Text layers: horizontal alignment of the lines in the box (always `center`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub align: Option<&'static str>,
    /// How the layer appears at the start of its scene.
    pub enter: Transition,
    /// How the layer disappears at the end of its scene.
    pub exit: Transition,
}

/// An animation at the start or end of a layer's scene.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Transition {
    /// The kind of animation.
    pub effect: Effect,
    /// Seconds; enter and exit together never take more than half the scene.
    pub duration: f64,
}

/// Kinds of enter and exit animation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Opacity from 0 (enter) or to 0 (exit).
    Fade,
    /// Moves up into place while fading in (enter), or up and out while fading (exit).
    SlideUp,
    /// Scales from small to a little over full size and settles (enter), or the reverse (exit).
    Pop,
}

/// The canvas and its safe area, in pixels.
struct Area {
    width: f64,
    height: f64,
    /// The shorter side: font sizes scale with it.
    short_side: f64,
    /// Left and right margin.
    side: f64,
    /// Top margin.
    top: f64,
    /// Bottom margin.
    bottom: f64,
}

impl Area {
    fn new(aspect: Aspect) -> Area {
        let (w, h) = aspect.size();
        let (width, height) = (f64::from(w), f64::from(h));
        // Vertical feeds put the account name, description and music bar over the bottom
        // fifth or so, and tabs over the top.
        let (side, top, bottom) = match aspect {
            Aspect::Portrait => (0.08, 0.12, 0.22),
            Aspect::Landscape => (0.06, 0.08, 0.10),
            Aspect::Square => (0.08, 0.08, 0.12),
        };
        Area {
            width,
            height,
            short_side: width.min(height),
            side: side * width,
            top: top * height,
            bottom: bottom * height,
        }
    }

    /// Width between the side margins.
    fn content_width(&self) -> f64 {
        self.width - 2.0 * self.side
    }

    /// Height between the top and bottom margins.
    fn safe_height(&self) -> f64 {
        self.height - self.top - self.bottom
    }

    /// Rounds a box to whole pixels and clamps it to the canvas.
    fn place(&self, x: f64, y: f64, width: f64, height: f64) -> [u32; 4] {
        let (cw, ch) = (self.width as u32, self.height as u32);
        let x = (x.round().max(0.0) as u32).min(cw);
        let y = (y.round().max(0.0) as u32).min(ch);
        let width = (width.round().max(0.0) as u32).min(cw - x);
        let height = (height.round().max(0.0) as u32).min(ch - y);
        [x, y, width, height]
    }

    fn rect(&self, b: [f64; 4], color: &'static str, radius: f64, opacity: Option<f64>, t: Transitions) -> Layer {
        let [x, y, width, height] = self.place(b[0], b[1], b[2], b[3]);
        Layer {
            kind: LayerKind::Rect,
            text: None,
            lines: None,
            x,
            y,
            width,
            height,
            size: None,
            line_height: None,
            color,
            opacity,
            radius: Some(radius.round().min(f64::from(width.min(height)) / 2.0) as u32),
            align: None,
            enter: t.enter,
            exit: t.exit,
        }
    }

    fn text(&self, lines: Vec<String>, b: [f64; 4], size: f64, color: &'static str, t: Transitions) -> Layer {
        let [x, y, width, height] = self.place(b[0], b[1], b[2], b[3]);
        Layer {
            kind: LayerKind::Text,
            text: Some(lines.join("\n")),
            lines: Some(lines),
            x,
            y,
            width,
            height,
            size: Some(size.round() as u32),
            line_height: Some(LINE_HEIGHT),
            color,
            opacity: None,
            radius: None,
            align: Some("center"),
            enter: t.enter,
            exit: t.exit,
        }
    }
}

/// A layer's enter and exit.
#[derive(Clone, Copy)]
struct Transitions {
    enter: Transition,
    exit: Transition,
}

impl Transitions {
    /// Enter and exit animations for a scene of `duration` seconds: half a second in and 0.4 s
    /// out, shortened so that together they never take more than half the scene.
    fn new(duration: f64, enter: Effect, exit: Effect) -> Transitions {
        let cap = duration / 4.0;
        Transitions {
            enter: Transition { effect: enter, duration: seconds(0.5_f64.min(cap)) },
            exit: Transition { effect: exit, duration: seconds(0.4_f64.min(cap)) },
        }
    }
}

/// Rounds seconds to the microsecond, so sums of durations print cleanly.
fn seconds(s: f64) -> f64 {
    (s * 1e6).round() / 1e6
}

/// How many characters fit on a line `width` pixels wide at font `size` (a CJK character is
/// about one font size wide).
fn chars_per_line(width: f64, size: f64) -> usize {
    ((width / size).floor() as usize).max(1)
}

/// Height of `lines` lines of text at font `size`.
fn text_height(lines: usize, size: f64) -> f64 {
    lines as f64 * size * LINE_HEIGHT
}

/// Lays out a spec.
pub fn layout(spec: &Spec) -> Result<Instructions, String> {
    let area = Area::new(spec.aspect);
    let palette = match spec.theme {
        Theme::TangMonk => TANG_MONK,
        Theme::Plain => PLAIN,
    };
    let (width, height) = spec.aspect.size();
    let mut scenes = Vec::with_capacity(spec.scenes.len() + 1);
    scenes.push(Scene {
        id: "title".to_string(),
        start: 0.0,
        duration: seconds(spec.title_duration),
        layers: title_layers(spec, &area, &palette)?,
    });
    let mut start = spec.title_duration;
    for scene in &spec.scenes {
        let layers = match &scene.caption {
            Some(caption) => caption_layers(caption, scene.duration, spec.theme, &area, &palette)
                .ok_or_else(|| format!("titlecard: scene `{}`: the caption is too long to fit the canvas", scene.id))?,
            None => Vec::new(),
        };
        scenes.push(Scene { id: scene.id.clone(), start: seconds(start), duration: seconds(scene.duration), layers });
        start += scene.duration;
    }
    Ok(Instructions {
        canvas: Canvas { width, height, fps: spec.fps, background: palette.background },
        palette,
        scenes,
        total_duration: seconds(start),
    })
}

/// The title card's layers, at the largest font size (up to 9% of the canvas's short side) at
/// which title and subtitle fit the safe area.
fn title_layers(spec: &Spec, area: &Area, palette: &Palette) -> Result<Vec<Layer>, String> {
    let mut size = area.short_side * 0.09;
    while size >= MIN_FONT {
        let layers = match spec.theme {
            Theme::TangMonk => scroll_title(spec, area, palette, size),
            Theme::Plain => plain_title(spec, area, palette, size),
        };
        if let Some(layers) = layers {
            return Ok(layers);
        }
        size *= SHRINK;
    }
    Err("titlecard: the title and subtitle are too long to fit the title card".to_string())
}

/// The subtitle's lines and font size for a title at `size`, if there is a subtitle.
fn subtitle_lines(spec: &Spec, width: f64, size: f64) -> (Vec<String>, f64) {
    let sub_size = (size * 0.5).max(MIN_FONT);
    let lines = spec.subtitle.as_deref().map(|s| wrap(s, chars_per_line(width, sub_size))).unwrap_or_default();
    (lines, sub_size)
}

/// tang-monk: the title on a red scroll with gold rollers, the subtitle under it; or `None` if
/// it does not fit at this size.
fn scroll_title(spec: &Spec, area: &Area, palette: &Palette, size: f64) -> Option<Vec<Layer>> {
    let banner_w = area.content_width();
    let pad = size * 0.6;
    let text_w = banner_w - 2.0 * pad;
    let lines = wrap(&spec.title, chars_per_line(text_w, size));
    let text_h = text_height(lines.len(), size);
    let banner_h = text_h + 2.0 * pad;
    // The rollers are centred on the banner's top and bottom edges and stick out a little.
    let rod_h = size * 0.35;
    let overhang = (size * 0.25).min(area.side);
    let gap = size * 0.6;
    let (sub_lines, sub_size) = subtitle_lines(spec, banner_w, size);
    let sub_h = text_height(sub_lines.len(), sub_size);
    let block_h = banner_h + rod_h + if sub_lines.is_empty() { 0.0 } else { gap + sub_h };
    if block_h > area.safe_height() {
        return None;
    }
    // A little above the middle of the safe area, where the eye lands first.
    let top = area.top + (area.safe_height() - block_h) * 0.4;
    let (banner_x, banner_y) = (area.side, top + rod_h / 2.0);
    let d = spec.title_duration;
    let pop = Transitions::new(d, Effect::Pop, Effect::Fade);
    let mut layers = vec![
        area.rect([banner_x, banner_y, banner_w, banner_h], palette.banner, size * 0.3, None, pop),
        area.rect(
            [banner_x - overhang, top, banner_w + 2.0 * overhang, rod_h],
            palette.banner_trim,
            rod_h / 2.0,
            None,
            pop,
        ),
        area.rect(
            [banner_x - overhang, banner_y + banner_h - rod_h / 2.0, banner_w + 2.0 * overhang, rod_h],
            palette.banner_trim,
            rod_h / 2.0,
            None,
            pop,
        ),
        area.text(
            lines,
            [banner_x + pad, banner_y + pad, text_w, text_h],
            size,
            palette.title,
            Transitions::new(d, Effect::Fade, Effect::Fade),
        ),
    ];
    if !sub_lines.is_empty() {
        let sub_y = banner_y + banner_h + rod_h / 2.0 + gap;
        layers.push(area.text(
            sub_lines,
            [area.side, sub_y, banner_w, sub_h],
            sub_size,
            palette.subtitle,
            Transitions::new(d, Effect::SlideUp, Effect::Fade),
        ));
    }
    Some(layers)
}

/// plain: the title, a short rule under it, then the subtitle; or `None` if it does not fit at
/// this size.
fn plain_title(spec: &Spec, area: &Area, palette: &Palette, size: f64) -> Option<Vec<Layer>> {
    let width = area.content_width();
    let lines = wrap(&spec.title, chars_per_line(width, size));
    let text_h = text_height(lines.len(), size);
    let gap = size * 0.4;
    let (rule_w, rule_h) = (width * 0.25, (size * 0.08).max(4.0));
    let (sub_lines, sub_size) = subtitle_lines(spec, width, size);
    let sub_h = text_height(sub_lines.len(), sub_size);
    let block_h = text_h + gap + rule_h + if sub_lines.is_empty() { 0.0 } else { gap + sub_h };
    if block_h > area.safe_height() {
        return None;
    }
    let top = area.top + (area.safe_height() - block_h) * 0.45;
    let d = spec.title_duration;
    let fade = Transitions::new(d, Effect::Fade, Effect::Fade);
    let rule_y = top + text_h + gap;
    let mut layers = vec![
        area.text(lines, [area.side, top, width, text_h], size, palette.title, fade),
        area.rect(
            [(area.width - rule_w) / 2.0, rule_y, rule_w, rule_h],
            palette.banner_trim,
            rule_h / 2.0,
            None,
            Transitions::new(d, Effect::SlideUp, Effect::Fade),
        ),
    ];
    if !sub_lines.is_empty() {
        let sub_y = rule_y + rule_h + gap;
        layers.push(area.text(sub_lines, [area.side, sub_y, width, sub_h], sub_size, palette.subtitle, fade));
    }
    Some(layers)
}

/// A caption in a box just above the bottom safe margin, at the largest font size (up to 5.5%
/// of the short side) at which it fits in [`MAX_CAPTION_SHARE`] of the safe area; `None` if it
/// fits at no size.
fn caption_layers(caption: &str, duration: f64, theme: Theme, area: &Area, palette: &Palette) -> Option<Vec<Layer>> {
    let (enter, opacity, rounding) = match theme {
        Theme::TangMonk => (Effect::SlideUp, 0.9, 0.4),
        Theme::Plain => (Effect::Fade, 0.55, 0.25),
    };
    let t = Transitions::new(duration, enter, Effect::Fade);
    let box_w = area.content_width();
    let mut size = area.short_side * 0.055;
    while size >= MIN_FONT {
        let pad = size * 0.5;
        let text_w = box_w - 2.0 * pad;
        let lines = wrap(caption, chars_per_line(text_w, size));
        let text_h = text_height(lines.len(), size);
        let box_h = text_h + 2.0 * pad;
        if box_h <= area.safe_height() * MAX_CAPTION_SHARE {
            let box_y = area.height - area.bottom - box_h;
            return Some(vec![
                area.rect([area.side, box_y, box_w, box_h], palette.caption_box, size * rounding, Some(opacity), t),
                area.text(lines, [area.side + pad, box_y + pad, text_w, text_h], size, palette.caption_text, t),
            ]);
        }
        size *= SHRINK;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse;

    const EXAMPLE: &str = r#"{"title":"唐僧相亲记","subtitle":"西天归来，红尘未了","theme":"tang-monk","aspect":"9:16","fps":24,
        "scenes":[{"id":"scene1","duration":10,"caption":"贫僧刚从西天取经回来"},
                  {"id":"scene2","duration":8,"caption":"师父，这位女施主说她想和您聊聊人生理想，还问您喜不喜欢吃素斋。"},
                  {"id":"scene3","duration":5}]}"#;

    fn layout_of(text: &str) -> Instructions {
        layout(&parse(text).unwrap()).unwrap()
    }

    #[test]
    fn the_example_lays_out_back_to_back() {
        let out = layout_of(EXAMPLE);
        assert_eq!((out.canvas.width, out.canvas.height, out.canvas.fps), (1080, 1920, 24));
        assert_eq!(out.canvas.background, TANG_MONK.background);
        let timing: Vec<_> = out.scenes.iter().map(|s| (s.id.as_str(), s.start, s.duration)).collect();
        assert_eq!(timing, [("title", 0.0, 3.0), ("scene1", 3.0, 10.0), ("scene2", 13.0, 8.0), ("scene3", 21.0, 5.0)]);
        assert_eq!(out.total_duration, 26.0);
        assert!(out.scenes[3].layers.is_empty(), "no caption, no layers");
    }

    #[test]
    fn the_scroll_banner_sits_behind_the_title() {
        let out = layout_of(EXAMPLE);
        let layers = &out.scenes[0].layers;
        let banner = &layers[0];
        assert_eq!((banner.kind, banner.color), (LayerKind::Rect, TANG_MONK.banner));
        assert!(banner.radius.unwrap() > 0, "the scroll is rounded");
        let title = layers.iter().find(|l| l.text.as_deref() == Some("唐僧相亲记")).unwrap();
        assert!(title.x >= banner.x && title.x + title.width <= banner.x + banner.width);
        assert!(title.y >= banner.y && title.y + title.height <= banner.y + banner.height);
        assert_eq!(title.enter.effect, Effect::Fade);
        assert_eq!(banner.enter.effect, Effect::Pop);
    }

    #[test]
    fn long_captions_wrap_and_sit_above_the_bottom_safe_area() {
        let out = layout_of(EXAMPLE);
        let caption = &out.scenes[2].layers[1];
        let lines = caption.lines.as_ref().unwrap();
        assert!(lines.len() >= 2, "{lines:?}");
        let size = caption.size.unwrap();
        let per_line = (caption.width / size) as usize;
        assert!(lines.iter().all(|l| l.chars().count() <= per_line));
        assert_eq!(caption.text.as_deref(), Some(lines.join("\n").as_str()));
        assert_eq!(lines.concat(), "师父，这位女施主说她想和您聊聊人生理想，还问您喜不喜欢吃素斋。");
        let bottom = caption.y + caption.height;
        assert!(bottom <= 1920 - (1920.0 * 0.22) as u32, "bottom {bottom}");
        assert!(bottom > 1920 / 2, "captions belong in the lower half");
    }

    #[test]
    fn every_box_stays_inside_the_canvas() {
        let long = "很长的字幕".repeat(300);
        let words = "a caption made of many words ".repeat(25);
        for theme in ["tang-monk", "plain"] {
            for aspect in ["9:16", "16:9", "1:1"] {
                let title = "一个非常非常长的标题".repeat(20);
                let spec = format!(
                    r#"{{"title":"{title}","subtitle":"{}","theme":"{theme}","aspect":"{aspect}",
                        "scenes":[{{"caption":"{}"}},{{"caption":"{words}"}},{{"caption":"短"}},{{"duration":0.01,"caption":"x"}}]}}"#,
                    "副标题".repeat(60),
                    &long[..long.len() / 2],
                );
                let out = layout_of(&spec);
                for scene in &out.scenes {
                    for layer in &scene.layers {
                        assert!(layer.x + layer.width <= out.canvas.width, "{theme} {aspect} {layer:?}");
                        assert!(layer.y + layer.height <= out.canvas.height, "{theme} {aspect} {layer:?}");
                        assert!(layer.width > 0 && layer.height > 0, "{layer:?}");
                        assert!(layer.enter.duration + layer.exit.duration <= scene.duration / 2.0 + 1e-9);
                        if let Some(size) = layer.size {
                            assert!(size >= MIN_FONT as u32);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_caption_that_cannot_fit_is_an_error_naming_the_scene() {
        let long = "字".repeat(2000);
        let spec = parse(&format!(r#"{{"title":"t","aspect":"1:1","scenes":[{{"id":"talky","caption":"{long}"}}]}}"#))
            .unwrap();
        let err = layout(&spec).unwrap_err();
        assert!(err.contains("`talky`"), "{err}");
    }

    #[test]
    fn aspects_and_plain_theme() {
        let out = layout_of(r#"{"title":"Hello","aspect":"16:9","fps":30}"#);
        assert_eq!((out.canvas.width, out.canvas.height, out.canvas.fps), (1920, 1080, 30));
        assert_eq!(out.scenes.len(), 1);
        assert_eq!(out.total_duration, 3.0);
        let layers = &out.scenes[0].layers;
        assert_eq!(layers.len(), 2, "title and rule, no subtitle");
        assert_eq!(layers[0].color, PLAIN.title);
        let out = layout_of(r#"{"title":"Hello","aspect":"1:1"}"#);
        assert_eq!((out.canvas.width, out.canvas.height), (1080, 1080));
    }

    #[test]
    fn fractional_durations_sum_cleanly() {
        let out = layout_of(r#"{"title":"t","title_duration":0.1,"scenes":[{"duration":0.2},{"duration":0.1}]}"#);
        assert_eq!(out.scenes[2].start, 0.3);
        assert_eq!(out.total_duration, 0.4);
    }
}
