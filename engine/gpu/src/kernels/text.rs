//! Text for titles and burned-in subtitles. Glyphs are rasterised on the CPU with
//! `ab_glyph` from the configured font files (a primary font and fallbacks, so CJK works
//! when a CJK font such as Debian's Noto Sans CJK is among them), cached per font, glyph
//! and size, and laid out into a coverage mask once per text; the GPU then draws that mask
//! onto every frame the text shows on, with an outline and a drop shadow.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ab_glyph::{Font, FontVec, GlyphId, PxScale, ScaleFont};
use schemars::JsonSchema;
use serde::Deserialize;
use wgpu::util::DeviceExt;

use super::{Step, dispatch, pack_unorm, same_size, uniform, unpack_unorm};
use crate::{Gpu, GpuError, GpuFrame};

const SOURCE: &str = include_str!("text.wgsl");

/// Font files tried when none are configured, in order: DejaVu Sans for Latin, Greek and
/// Cyrillic (Debian's fonts-dejavu-core), Noto Sans CJK for Chinese, Japanese and Korean
/// (fonts-noto-cjk). Those present are used.
pub const DEFAULT_FONTS: [&str; 2] =
    ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"];

/// Glyphs kept rasterised at most.
const MAX_CACHED_GLYPHS: usize = 8192;

/// The largest text block, per side, in pixels.
const MAX_BLOCK: u32 = 8192;

/// Fonts in order of preference: a character is drawn with the first that has it.
pub struct FontSet {
    fonts: Vec<(PathBuf, FontVec)>,
}

impl std::fmt::Debug for FontSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.fonts.iter().map(|(p, _)| p)).finish()
    }
}

impl FontSet {
    /// Loads font files (TrueType, OpenType, or the first face of a collection; `file#N`
    /// picks face N of a collection). Errors name the file.
    pub fn load(paths: &[PathBuf]) -> Result<FontSet, GpuError> {
        if paths.is_empty() {
            return Err(GpuError::Invalid("no font files given".into()));
        }
        let fonts = paths.iter().map(|p| load_font(p).map(|f| (p.clone(), f))).collect::<Result<_, _>>()?;
        Ok(FontSet { fonts })
    }

    /// The [`DEFAULT_FONTS`] that exist on this machine.
    pub fn system_default() -> Result<FontSet, GpuError> {
        let present: Vec<PathBuf> = DEFAULT_FONTS.iter().map(PathBuf::from).filter(|p| p.is_file()).collect();
        if present.is_empty() {
            return Err(GpuError::Invalid(format!(
                "none of the default fonts is installed ({}); install fonts-dejavu-core (and fonts-noto-cjk for \
                 CJK text) or name font files",
                DEFAULT_FONTS.join(", ")
            )));
        }
        FontSet::load(&present)
    }

    /// The characters of `text` no font has (whitespace and control characters aside).
    pub fn missing_chars(&self, text: &str) -> Vec<char> {
        let mut missing: Vec<char> =
            text.chars().filter(|c| !c.is_whitespace() && !c.is_control() && self.font_for(*c).is_none()).collect();
        missing.dedup();
        missing
    }

    /// The index of the first font with a glyph for `c`.
    fn font_for(&self, c: char) -> Option<usize> {
        self.fonts.iter().position(|(_, f)| f.glyph_id(c).0 != 0)
    }
}

fn load_font(path: &Path) -> Result<FontVec, GpuError> {
    let text = path.to_string_lossy();
    let (file, index) = match text.rsplit_once('#') {
        Some((file, n)) if n.parse::<u32>().is_ok() => (PathBuf::from(file), n.parse::<u32>().unwrap_or(0)),
        _ => (path.to_path_buf(), 0),
    };
    let bytes = std::fs::read(&file).map_err(|e| GpuError::Invalid(format!("font {}: {e}", file.display())))?;
    FontVec::try_from_vec_and_index(bytes, index)
        .map_err(|_| GpuError::Invalid(format!("font {}: not a TrueType/OpenType font (face {index})", file.display())))
}

/// Horizontal alignment of the lines of a block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Align {
    Left,
    #[default]
    Center,
    Right,
}

/// A line around the letters.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Outline {
    /// Pixels, 0.5 to 20.
    pub width: f32,
    /// RGBA.
    #[serde(default = "black")]
    pub color: [u8; 4],
}

/// A drop shadow of the letters (outline included).
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shadow {
    /// Offset right, in pixels (-100 to 100).
    pub dx: i32,
    /// Offset down, in pixels (-100 to 100).
    pub dy: i32,
    /// RGBA (a translucent black by default).
    #[serde(default = "shadow_black")]
    pub color: [u8; 4],
}

fn black() -> [u8; 4] {
    [0, 0, 0, 255]
}
fn shadow_black() -> [u8; 4] {
    [0, 0, 0, 160]
}

/// How text looks.
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TextStyle {
    /// Font size in pixels (the em square), 4 to 1000.
    pub size: f32,
    /// RGBA of the letters.
    pub color: [u8; 4],
    pub outline: Option<Outline>,
    pub shadow: Option<Shadow>,
    pub align: Align,
    /// Line height as a multiple of the font's own (0.5 to 4).
    pub line_spacing: f32,
    /// Wrap lines longer than this many pixels: at spaces, or between any two characters
    /// in text without spaces (Chinese, Japanese).
    pub max_width: Option<f32>,
}

impl Default for TextStyle {
    fn default() -> Self {
        TextStyle {
            size: 48.0,
            color: [255, 255, 255, 255],
            outline: Some(Outline { width: 2.0, color: black() }),
            shadow: None,
            align: Align::Center,
            line_spacing: 1.2,
            max_width: None,
        }
    }
}

impl TextStyle {
    pub fn validate(&self) -> Result<(), GpuError> {
        let bad = |what: String| Err(GpuError::Invalid(what));
        if !(4.0..=1000.0).contains(&self.size) {
            return bad(format!("text size {} must lie in 4..=1000 pixels", self.size));
        }
        if !(0.5..=4.0).contains(&self.line_spacing) {
            return bad(format!("line_spacing {} must lie in 0.5..=4", self.line_spacing));
        }
        if let Some(o) = self.outline
            && !(0.5..=20.0).contains(&o.width)
        {
            return bad(format!("outline width {} must lie in 0.5..=20 pixels", o.width));
        }
        if let Some(s) = self.shadow
            && (s.dx.abs() > 100 || s.dy.abs() > 100)
        {
            return bad(format!("shadow offset ({}, {}) must lie within ±100 pixels", s.dx, s.dy));
        }
        if let Some(w) = self.max_width
            && !(w >= self.size && w <= MAX_BLOCK as f32)
        {
            return bad(format!("max_width {w} must lie between the text size and {MAX_BLOCK}"));
        }
        Ok(())
    }

    /// Pixels around the letters the outline may cover.
    fn margin(&self) -> u32 {
        self.outline.map_or(0, |o| o.width.ceil() as u32) + 1
    }
}

/// A rasterised glyph: coverage rows, and where its top-left lies from the pen position on
/// the baseline.
struct GlyphBitmap {
    width: u32,
    height: u32,
    left: i32,
    top: i32,
    coverage: Vec<u8>,
}

/// Lays out and rasterises text, keeping every glyph it has drawn.
pub struct TextRenderer {
    fonts: FontSet,
    glyphs: HashMap<(usize, GlyphId, u32), Arc<GlyphBitmap>>,
    rasterised: usize,
}

impl std::fmt::Debug for TextRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextRenderer").field("fonts", &self.fonts).field("rasterised", &self.rasterised).finish()
    }
}

/// A block of text ready to draw: its size and its coverage (fill in the low byte of each
/// `u32`, outline in the next), with the style's colours.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedText {
    pub width: u32,
    pub height: u32,
    pub lines: usize,
    mask: Vec<u32>,
    fill: [u8; 4],
    outline: Option<[u8; 4]>,
    shadow: Option<Shadow>,
}

impl TextRenderer {
    pub fn new(fonts: FontSet) -> TextRenderer {
        TextRenderer { fonts, glyphs: HashMap::new(), rasterised: 0 }
    }

    pub fn fonts(&self) -> &FontSet {
        &self.fonts
    }

    /// Glyphs rasterised so far (each once per font and size, however often drawn).
    pub fn rasterised(&self) -> usize {
        self.rasterised
    }

    /// Lays out `text` in `style` and rasterises it. Characters no font has are an error
    /// naming them (they would otherwise draw as empty boxes).
    pub fn prepare(&mut self, text: &str, style: &TextStyle) -> Result<PreparedText, GpuError> {
        style.validate()?;
        let missing = self.fonts.missing_chars(text);
        if !missing.is_empty() {
            let shown: String = missing.iter().take(12).collect();
            return Err(GpuError::Invalid(format!(
                "no font has {shown:?} ({} characters); add a font that covers them (fonts {:?})",
                missing.len(),
                self.fonts
            )));
        }
        let size = style.size;
        let primary = self.fonts.fonts[0].1.as_scaled(em(&self.fonts.fonts[0].1, size));
        let (ascent, line_height) = (primary.ascent(), (primary.height() + primary.line_gap()) * style.line_spacing);
        let lines = self.wrap(text, size, style.max_width);
        let widths: Vec<f32> = lines.iter().map(|l| self.line_width(l, size)).collect();
        let margin = style.margin();
        let content_w = widths.iter().copied().fold(0.0f32, f32::max).ceil() as u32;
        let content_h = ((lines.len().max(1) as f32 - 1.0) * line_height + primary.height()).ceil() as u32;
        let (width, height) = (content_w + 2 * margin, content_h + 2 * margin);
        if width > MAX_BLOCK || height > MAX_BLOCK {
            return Err(GpuError::Invalid(format!("the text makes a {width}x{height} block, over {MAX_BLOCK} a side")));
        }
        let mut fill = vec![0u8; (width * height) as usize];
        for (n, line) in lines.iter().enumerate() {
            let free = content_w as f32 - widths[n];
            let mut pen = margin as f32
                + match style.align {
                    Align::Left => 0.0,
                    Align::Center => (free / 2.0).floor(),
                    Align::Right => free,
                };
            let baseline = margin as f32 + ascent + n as f32 * line_height;
            let mut previous: Option<(usize, GlyphId)> = None;
            for c in line.chars() {
                let font_index = self.fonts.font_for(c).unwrap_or(0);
                let (id, kern, advance) = {
                    let face = &self.fonts.fonts[font_index].1;
                    let font = face.as_scaled(em(face, size));
                    let id = font.glyph_id(c);
                    let kern = match previous {
                        Some((pf, pid)) if pf == font_index => font.kern(pid, id),
                        _ => 0.0,
                    };
                    (id, kern, font.h_advance(id))
                };
                pen += kern;
                let glyph = self.glyph(font_index, id, size);
                let (gx, gy) = (pen.round() as i32 + glyph.left, baseline.round() as i32 + glyph.top);
                for y in 0..glyph.height {
                    for x in 0..glyph.width {
                        let (px, py) = (gx + x as i32, gy + y as i32);
                        if px >= 0 && py >= 0 && (px as u32) < width && (py as u32) < height {
                            let cell = &mut fill[(py as u32 * width + px as u32) as usize];
                            *cell = (*cell).max(glyph.coverage[(y * glyph.width + x) as usize]);
                        }
                    }
                }
                pen += advance;
                previous = Some((font_index, id));
            }
        }
        let outline = match style.outline {
            Some(o) => dilate(&fill, width, height, o.width),
            None => vec![0; fill.len()],
        };
        let mask = fill.iter().zip(&outline).map(|(&f, &o)| u32::from(f) | (u32::from(o) << 8)).collect();
        Ok(PreparedText {
            width,
            height,
            lines: lines.len(),
            mask,
            fill: style.color,
            outline: style.outline.map(|o| o.color),
            shadow: style.shadow,
        })
    }

    /// The lines of `text`: its own line breaks, then wrapping at `max_width`.
    fn wrap(&self, text: &str, size: f32, max_width: Option<f32>) -> Vec<String> {
        let mut out = Vec::new();
        for paragraph in text.split('\n') {
            let paragraph = paragraph.trim_end_matches('\r');
            let Some(limit) = max_width else {
                out.push(paragraph.to_owned());
                continue;
            };
            let mut line = String::new();
            // Words where there are spaces; otherwise each character may end a line.
            let pieces: Vec<String> = if paragraph.contains(' ') {
                paragraph.split(' ').map(str::to_owned).collect()
            } else {
                paragraph.chars().map(String::from).collect()
            };
            let joiner = if paragraph.contains(' ') { " " } else { "" };
            for piece in pieces {
                let candidate = if line.is_empty() { piece.clone() } else { format!("{line}{joiner}{piece}") };
                if !line.is_empty() && self.line_width(&candidate, size) > limit {
                    out.push(std::mem::replace(&mut line, piece));
                } else {
                    line = candidate;
                }
            }
            out.push(line);
        }
        out
    }

    fn line_width(&self, line: &str, size: f32) -> f32 {
        let mut width = 0.0;
        let mut previous: Option<(usize, GlyphId)> = None;
        for c in line.chars() {
            let font_index = self.fonts.font_for(c).unwrap_or(0);
            let face = &self.fonts.fonts[font_index].1;
            let font = face.as_scaled(em(face, size));
            let id = font.glyph_id(c);
            if let Some((pf, pid)) = previous
                && pf == font_index
            {
                width += font.kern(pid, id);
            }
            width += font.h_advance(id);
            previous = Some((font_index, id));
        }
        width
    }

    fn glyph(&mut self, font_index: usize, id: GlyphId, size: f32) -> Arc<GlyphBitmap> {
        let key = (font_index, id, size.to_bits());
        if let Some(glyph) = self.glyphs.get(&key) {
            return glyph.clone();
        }
        // Subtitles of a long film in a CJK script can pass through thousands of distinct
        // glyphs; past this many the cache starts over, so its memory stays bounded.
        if self.glyphs.len() >= MAX_CACHED_GLYPHS {
            self.glyphs.clear();
        }
        let font = &self.fonts.fonts[font_index].1;
        let scale = em(font, size);
        let bitmap = match font.outline_glyph(id.with_scale_and_position(scale, ab_glyph::point(0.0, 0.0))) {
            Some(outlined) => {
                let bounds = outlined.px_bounds();
                let (w, h) = (bounds.width().max(0.0) as u32, bounds.height().max(0.0) as u32);
                let mut coverage = vec![0u8; (w * h) as usize];
                outlined.draw(|x, y, c| {
                    if x < w && y < h {
                        coverage[(y * w + x) as usize] = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
                    }
                });
                GlyphBitmap { width: w, height: h, left: bounds.min.x as i32, top: bounds.min.y as i32, coverage }
            }
            // Spaces and other blank glyphs have no outline.
            None => GlyphBitmap { width: 0, height: 0, left: 0, top: 0, coverage: Vec::new() },
        };
        self.rasterised += 1;
        let bitmap = Arc::new(bitmap);
        self.glyphs.insert(key, bitmap.clone());
        bitmap
    }
}

/// The scale at which `font`'s em square is `size` pixels. (ab_glyph's `PxScale` is the
/// height from descender to ascender, which differs between fonts: Noto Sans CJK's is 1.45
/// em, DejaVu's 1.16, so the same `PxScale` would draw CJK fallback glyphs visibly smaller.)
fn em(font: &FontVec, size: f32) -> PxScale {
    let height = font.height_unscaled();
    PxScale::from(size * height / font.units_per_em().unwrap_or(height))
}

/// Grows the shape by `radius` pixels: each pixel takes the highest coverage within the
/// disk around it, softened by a one-pixel ramp at the disk's edge so the outline is
/// antialiased too. On the CPU, once per prepared text.
fn dilate(fill: &[u8], width: u32, height: u32, radius: f32) -> Vec<u8> {
    let r = radius.ceil() as i32;
    let offsets: Vec<(i32, i32, f32)> = (-r..=r)
        .flat_map(|dy| (-r..=r).map(move |dx| (dx, dy)))
        .filter_map(|(dx, dy)| {
            let d = ((dx * dx + dy * dy) as f32).sqrt();
            let weight = (radius + 1.0 - d).clamp(0.0, 1.0);
            (weight > 0.0).then_some((dx, dy, weight))
        })
        .collect();
    let (w, h) = (width as i32, height as i32);
    let mut out = vec![0u8; fill.len()];
    for y in 0..h {
        for x in 0..w {
            let mut best = 0f32;
            for &(dx, dy, weight) in &offsets {
                let (sx, sy) = (x + dx, y + dy);
                if sx >= 0 && sy >= 0 && sx < w && sy < h {
                    best = best.max(f32::from(fill[(sy * w + sx) as usize]) * weight);
                }
            }
            out[(y * w + x) as usize] = best.round() as u8;
        }
    }
    out
}

/// A prepared text uploaded to the GPU, drawn on as many frames as it shows on.
#[derive(Debug)]
pub struct GpuText {
    mask: wgpu::Buffer,
    text: PreparedText,
}

impl GpuText {
    pub fn new(gpu: &Gpu, text: &PreparedText) -> Result<GpuText, GpuError> {
        let mask = gpu.checked("uploading text", || {
            gpu.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("text mask"),
                contents: bytemuck::cast_slice(&text.mask),
                usage: wgpu::BufferUsages::STORAGE,
            })
        })?;
        Ok(GpuText { mask, text: text.clone() })
    }

    pub fn prepared(&self) -> &PreparedText {
        &self.text
    }
}

/// Where a block goes in a frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    TopLeft,
    TopCenter,
    TopRight,
    CenterLeft,
    Center,
    CenterRight,
    BottomLeft,
    /// Where subtitles go.
    #[default]
    BottomCenter,
    BottomRight,
}

/// The top-left corner of a `block` placed at `anchor` in `frame`, `margin` pixels in from
/// the edges it is anchored to.
pub fn place(block: (u32, u32), frame: (u32, u32), anchor: Anchor, margin: u32) -> (i32, i32) {
    let (bw, bh, fw, fh, m) = (block.0 as i32, block.1 as i32, frame.0 as i32, frame.1 as i32, margin as i32);
    let x = match anchor {
        Anchor::TopLeft | Anchor::CenterLeft | Anchor::BottomLeft => m,
        Anchor::TopCenter | Anchor::Center | Anchor::BottomCenter => (fw - bw) / 2,
        Anchor::TopRight | Anchor::CenterRight | Anchor::BottomRight => fw - bw - m,
    };
    let y = match anchor {
        Anchor::TopLeft | Anchor::TopCenter | Anchor::TopRight => m,
        Anchor::CenterLeft | Anchor::Center | Anchor::CenterRight => (fh - bh) / 2,
        Anchor::BottomLeft | Anchor::BottomCenter | Anchor::BottomRight => fh - bh - m,
    };
    (x, y)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    block_width: u32,
    block_height: u32,
    x: i32,
    y: i32,
    shadow_dx: i32,
    shadow_dy: i32,
    fill: [f32; 4],
    outline: [f32; 4],
    shadow: [f32; 4],
    opacity: f32,
    has_outline: u32,
    has_shadow: u32,
    origin_x: u32,
    origin_y: u32,
    region_width: u32,
    region_height: u32,
    _pad: u32,
}

fn unit(c: [u8; 4]) -> [f32; 4] {
    c.map(unpack_unorm)
}

fn params(text: &PreparedText, frame: (u32, u32), at: (i32, i32), opacity: f32) -> Params {
    let shadow = text.shadow.unwrap_or(Shadow { dx: 0, dy: 0, color: [0; 4] });
    Params {
        width: frame.0,
        height: frame.1,
        block_width: text.width,
        block_height: text.height,
        x: at.0,
        y: at.1,
        shadow_dx: shadow.dx,
        shadow_dy: shadow.dy,
        fill: unit(text.fill),
        outline: unit(text.outline.unwrap_or([0; 4])),
        shadow: unit(shadow.color),
        opacity: opacity.clamp(0.0, 1.0),
        has_outline: u32::from(text.outline.is_some()),
        has_shadow: u32::from(text.shadow.is_some()),
        origin_x: 0,
        origin_y: 0,
        region_width: 0,
        region_height: 0,
        _pad: 0,
    }
}

/// The part of the frame the block and its shadow cover: (x, y, width, height), empty when
/// they lie outside.
fn region(text: &PreparedText, frame: (u32, u32), at: (i32, i32)) -> (u32, u32, u32, u32) {
    let (dx, dy) = text.shadow.map_or((0, 0), |s| (s.dx, s.dy));
    let (bw, bh) = (text.width as i64, text.height as i64);
    let (x, y) = (i64::from(at.0), i64::from(at.1));
    let x0 = x.min(x + i64::from(dx)).max(0);
    let y0 = y.min(y + i64::from(dy)).max(0);
    let x1 = (x + bw).max(x + i64::from(dx) + bw).min(i64::from(frame.0));
    let y1 = (y + bh).max(y + i64::from(dy) + bh).min(i64::from(frame.1));
    if x1 <= x0 || y1 <= y0 {
        return (0, 0, 0, 0);
    }
    (x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32)
}

/// Draws `text` onto `src` into `out` (same size) with its block's top-left at `at` (it may
/// lie partly outside), at `opacity`.
pub fn draw_text(
    gpu: &Gpu,
    src: &GpuFrame,
    text: &GpuText,
    at: (i32, i32),
    opacity: f32,
    out: &GpuFrame,
) -> Result<(), GpuError> {
    same_size(&[src, out])?;
    out.copy_from(gpu, src)?;
    let frame = (out.width, out.height);
    let (x0, y0, width, height) = region(&text.text, frame, at);
    if width == 0 {
        return Ok(());
    }
    let kernel = gpu.kernel("text", SOURCE, "main")?;
    let params = Params {
        origin_x: x0,
        origin_y: y0,
        region_width: width,
        region_height: height,
        ..params(&text.text, frame, at, opacity)
    };
    let uniforms = uniform(gpu, &params);
    let step = Step {
        kernel: &kernel,
        bindings: vec![(0, &src.buffer), (1, &text.mask), (2, &out.buffer), (3, &uniforms)],
        width,
        height,
    };
    dispatch(gpu, "drawing text", &[step])
}

/// The CPU reference of [`draw_text`].
pub fn cpu(src: &[u8], frame: (u32, u32), text: &PreparedText, at: (i32, i32), opacity: f32) -> Vec<u8> {
    let p = params(text, frame, at, opacity);
    let coverage = |bx: i32, by: i32| -> (f32, f32) {
        if bx < 0 || by < 0 || bx >= text.width as i32 || by >= text.height as i32 {
            return (0.0, 0.0);
        }
        let m = text.mask[(by as u32 * text.width + bx as u32) as usize];
        (unpack_unorm((m & 0xff) as u8), unpack_unorm(((m >> 8) & 0xff) as u8))
    };
    let over = |base: [f32; 4], color: [f32; 4], cover: f32| -> [f32; 4] {
        let a = color[3] * cover * p.opacity;
        let out_a = a + base[3] * (1.0 - a);
        if out_a <= 0.0 {
            return [0.0; 4];
        }
        let mix = |k: usize| (color[k] * a + base[k] * base[3] * (1.0 - a)) / out_a;
        [mix(0), mix(1), mix(2), out_a]
    };
    let mut out = src.to_vec();
    for y in 0..frame.1 as i32 {
        for x in 0..frame.0 as i32 {
            let (bx, by) = (x - p.x, y - p.y);
            let here = coverage(bx, by);
            let shadow = if p.has_shadow != 0 {
                let s = coverage(bx - p.shadow_dx, by - p.shadow_dy);
                s.0.max(s.1)
            } else {
                0.0
            };
            if here == (0.0, 0.0) && shadow == 0.0 {
                continue;
            }
            let i = ((y as u32 * frame.0 + x as u32) * 4) as usize;
            let mut c = [0, 1, 2, 3].map(|k| unpack_unorm(src[i + k]));
            if p.has_shadow != 0 {
                c = over(c, p.shadow, shadow);
            }
            if p.has_outline != 0 {
                c = over(c, p.outline, here.1);
            }
            c = over(c, p.fill, here.0);
            for k in 0..4 {
                out[i + k] = pack_unorm(c[k]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_placed_at_their_anchor() {
        assert_eq!(place((100, 40), (1920, 1080), Anchor::BottomCenter, 50), (910, 990));
        assert_eq!(place((100, 40), (1920, 1080), Anchor::TopLeft, 10), (10, 10));
        assert_eq!(place((100, 40), (1920, 1080), Anchor::Center, 0), (910, 520));
        assert_eq!(place((100, 40), (1920, 1080), Anchor::TopRight, 20), (1800, 20));
    }

    #[test]
    fn dilation_grows_a_dot_into_a_disk() {
        let (w, h) = (9u32, 9u32);
        let mut dot = vec![0u8; 81];
        dot[4 * 9 + 4] = 255;
        let grown = dilate(&dot, w, h, 2.0);
        assert_eq!(grown[4 * 9 + 4], 255);
        assert_eq!(grown[4 * 9 + 6], 255, "two pixels right");
        assert_eq!(grown[4 * 9 + 7], 0, "three pixels right is outside");
        assert!(grown[2 * 9 + 2] < 255, "the corner of the square is not in the disk");
    }
}
