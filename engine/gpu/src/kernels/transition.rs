//! Transitions between two shots: crossfade, fade through black, wipe, slide and zoom, in
//! one kernel. Progress `t` arrives already eased (see [`super::easing`]); every kind shows
//! `a` exactly at t = 0 and `b` exactly at t = 1, so a transition never leaves a seam at
//! either end of the cut.

use super::{Step, dispatch, pack_unorm, same_size, uniform, unpack_unorm};
use crate::frame::frame_bytes;
use crate::{Gpu, GpuError, GpuFrame};

const SOURCE: &str = include_str!("transition.wgsl");

/// Where a wipe's edge or a slide's pictures move.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Towards the left: the new shot comes in from the right.
    #[default]
    Left,
    /// Towards the right: the new shot comes in from the left.
    Right,
    /// Upwards: the new shot comes in from the bottom.
    Up,
    /// Downwards: the new shot comes in from the top.
    Down,
}

/// The feather of a wipe unless a workflow sets one: 2 % of the frame, enough to hide the
/// stair-steps of a hard edge without looking like a blur.
pub const DEFAULT_SOFTNESS: f32 = 0.02;

/// The largest wipe feather: half the frame.
pub const MAX_SOFTNESS: f32 = 0.5;

/// How much a zoom transition enlarges `a` by its end: it grows from 1x to 1.5x.
pub const ZOOM_OUT_GROWTH: f32 = 0.5;

/// How much larger than 1:1 `b` starts in a zoom transition: 1.25x, settling to 1x.
pub const ZOOM_IN_START: f32 = 0.25;

/// How one shot gives way to the next.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transition {
    /// Every channel (alpha too) blends from `a` to `b`: `a * (1 - t) + b * t`.
    #[default]
    Crossfade,
    /// The first half fades `a`'s colour to black (colour times 1 - 2t), the second half
    /// fades black up to `b` (colour times 2t - 1). Alpha is not faded: it is `a`'s alpha
    /// while `a` shows (t < 0.5) and `b`'s from the midpoint on.
    FadeThroughBlack,
    /// An edge sweeps across the frame in `direction`, uncovering `b` behind it.
    Wipe {
        /// Which way the edge moves (left: it starts at the right side and `b` appears
        /// there first).
        #[serde(default)]
        direction: Direction,
        /// Width of the edge's feather (a linear ramp) as a fraction of the frame's
        /// width (left/right) or height (up/down): 0 (a hard edge) to 0.5; default 0.02.
        #[serde(default = "default_softness")]
        softness: f32,
    },
    /// `b` pushes `a` out: both move in `direction` by `t` of the frame, butted together,
    /// rounded to whole pixels so every frame stays sharp (a fractional shift would have
    /// to resample, softening the picture by an amount that flickers from frame to frame).
    Slide {
        /// Which way both pictures move (left: `a` leaves on the left, `b` comes in from
        /// the right).
        #[serde(default)]
        direction: Direction,
    },
    /// `a` grows about the frame's centre from 1x to 1.5x while crossfading (weight `t`)
    /// into `b`, which shrinks from 1.25x to 1x; both scales move linearly with `t` and are
    /// sampled bilinearly, edges repeating the edge pixel.
    Zoom,
}

fn default_softness() -> f32 {
    DEFAULT_SOFTNESS
}

impl Transition {
    /// Refuses a wipe softness that is NaN or outside 0..0.5.
    pub fn validate(&self) -> Result<(), GpuError> {
        match self {
            Transition::Wipe { softness, .. } if !(0.0..=MAX_SOFTNESS).contains(softness) => Err(GpuError::Invalid(
                format!("wipe softness {softness} is outside 0 to {MAX_SOFTNESS} (a fraction of the frame)"),
            )),
            _ => Ok(()),
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    kind: u32,
    direction: u32,
    mix: f32,
    fade: f32,
    edge: f32,
    inv_feather: f32,
    shift: u32,
    from_b: u32,
    inv_scale_a: f32,
    inv_scale_b: f32,
}

/// A feather narrower than this many pixels is drawn as a hard edge: its reciprocal would
/// overflow, and it could not be seen anyway.
const MIN_FEATHER: f32 = 1.0 / 1024.0;

/// The kernel's numbers for `kind` at progress `t` on a `width` x `height` frame; the CPU
/// reference runs on the same ones.
fn params(width: u32, height: u32, kind: &Transition, t: f32) -> Params {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let mut p = Params {
        width,
        height,
        kind: 0,
        direction: 0,
        mix: t,
        fade: 1.0,
        edge: 0.0,
        inv_feather: 0.0,
        shift: 0,
        from_b: 0,
        inv_scale_a: 1.0,
        inv_scale_b: 1.0,
    };
    let span = |direction: Direction| match direction {
        Direction::Left | Direction::Right => width,
        Direction::Up | Direction::Down => height,
    };
    match *kind {
        Transition::Crossfade => {}
        Transition::FadeThroughBlack => {
            p.kind = 1;
            if t < 0.5 {
                p.fade = 1.0 - 2.0 * t;
            } else {
                p.fade = 2.0 * t - 1.0;
                p.from_b = 1;
            }
        }
        Transition::Wipe { direction, softness } => {
            p.kind = 2;
            p.direction = direction_code(direction);
            let length = span(direction) as f32;
            let feather = softness * length;
            if feather < MIN_FEATHER {
                p.edge = t * length;
            } else {
                // The ramp's centre runs from half a feather before the frame to half a
                // feather past it, so the feather is wholly off the frame at t = 0 and 1
                // (exactly a, exactly b) and the edge never jumps.
                p.edge = t * (length + feather) - feather * 0.5;
                p.inv_feather = 1.0 / feather;
            }
        }
        Transition::Slide { direction } => {
            p.kind = 3;
            p.direction = direction_code(direction);
            let length = span(direction);
            p.shift = ((f64::from(t) * f64::from(length)).round() as u32).min(length);
        }
        Transition::Zoom => {
            p.kind = 4;
            p.inv_scale_a = 1.0 / (1.0 + ZOOM_OUT_GROWTH * t);
            p.inv_scale_b = 1.0 / (1.0 + ZOOM_IN_START * (1.0 - t));
        }
    }
    p
}

fn direction_code(direction: Direction) -> u32 {
    match direction {
        Direction::Left => 0,
        Direction::Right => 1,
        Direction::Up => 2,
        Direction::Down => 3,
    }
}

/// Writes the transition `kind` from `a` to `b` at progress `t` (already eased; clamped to
/// 0..1, NaN counts as 0) into `out`. The three frames must have the same size.
pub fn transition(
    gpu: &Gpu,
    a: &GpuFrame,
    b: &GpuFrame,
    kind: &Transition,
    t: f32,
    out: &GpuFrame,
) -> Result<(), GpuError> {
    kind.validate()?;
    same_size(&[a, b, out])?;
    let kernel = gpu.kernel("transition", SOURCE, "main")?;
    let params = uniform(gpu, &params(out.width, out.height, kind, t));
    let step = Step {
        kernel: &kernel,
        bindings: vec![(0, &a.buffer), (1, &b.buffer), (2, &out.buffer), (3, &params)],
        width: out.width,
        height: out.height,
    };
    dispatch(gpu, "transition", &[step])
}

/// The CPU reference of [`transition`] on RGBA8 bytes (`a` and `b` both `width` x `height`).
pub fn cpu(a: &[u8], b: &[u8], width: u32, height: u32, kind: &Transition, t: f32) -> Result<Vec<u8>, GpuError> {
    kind.validate()?;
    let expected = frame_bytes(width, height);
    if width == 0 || height == 0 || a.len() as u64 != expected || b.len() as u64 != expected {
        return Err(GpuError::Invalid(format!(
            "a transition on {width}x{height} needs two frames of {expected} bytes, got {} and {}",
            a.len(),
            b.len()
        )));
    }
    let p = params(width, height, kind, t);
    let (w, h) = (width as usize, height as usize);
    let pixel = |frame: &[u8], i: usize| -> [u8; 4] { [0, 1, 2, 3].map(|c| frame[i * 4 + c]) };
    let unpacked = |frame: &[u8], i: usize| -> [f32; 4] { pixel(frame, i).map(unpack_unorm) };
    let blend = |x: [f32; 4], y: [f32; 4], weight: f32| -> [u8; 4] {
        [0, 1, 2, 3].map(|c| pack_unorm(x[c] * (1.0 - weight) + y[c] * weight))
    };
    let texel = |frame: &[u8], x: i32, y: i32| -> [f32; 4] {
        let cx = x.clamp(0, width as i32 - 1) as usize;
        let cy = y.clamp(0, height as i32 - 1) as usize;
        unpacked(frame, cy * w + cx)
    };
    let zoomed = |frame: &[u8], inv_scale: f32, x: usize, y: usize| -> [f32; 4] {
        let (cx, cy) = (width as f32 * 0.5, height as f32 * 0.5);
        let u = (x as f32 + 0.5 - cx) * inv_scale + cx - 0.5;
        let v = (y as f32 + 0.5 - cy) * inv_scale + cy - 0.5;
        let (fu, fv) = (u.floor(), v.floor());
        let (tx, ty) = (u - fu, v - fv);
        let (ix, iy) = (fu as i32, fv as i32);
        let (t00, t10) = (texel(frame, ix, iy), texel(frame, ix + 1, iy));
        let (t01, t11) = (texel(frame, ix, iy + 1), texel(frame, ix + 1, iy + 1));
        [0, 1, 2, 3].map(|c| {
            let top = t00[c] * (1.0 - tx) + t10[c] * tx;
            let bottom = t01[c] * (1.0 - tx) + t11[c] * tx;
            top * (1.0 - ty) + bottom * ty
        })
    };
    let s = p.shift as usize;
    let mut out = Vec::with_capacity(a.len());
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let rgba = match p.kind {
                0 => blend(unpacked(a, i), unpacked(b, i), p.mix),
                1 => {
                    let c = unpacked(if p.from_b == 1 { b } else { a }, i);
                    [pack_unorm(c[0] * p.fade), pack_unorm(c[1] * p.fade), pack_unorm(c[2] * p.fade), pack_unorm(c[3])]
                }
                2 => {
                    let along = match p.direction {
                        0 => width as f32 - (x as f32 + 0.5),
                        1 => x as f32 + 0.5,
                        2 => height as f32 - (y as f32 + 0.5),
                        _ => y as f32 + 0.5,
                    };
                    let weight = if p.inv_feather == 0.0 {
                        if along < p.edge { 1.0 } else { 0.0 }
                    } else {
                        ((p.edge - along) * p.inv_feather + 0.5).clamp(0.0, 1.0)
                    };
                    blend(unpacked(a, i), unpacked(b, i), weight)
                }
                3 => match p.direction {
                    0 if x + s < w => pixel(a, i + s),
                    0 => pixel(b, i + s - w),
                    1 if x >= s => pixel(a, i - s),
                    1 => pixel(b, i + w - s),
                    2 if y + s < h => pixel(a, i + s * w),
                    2 => pixel(b, (y + s - h) * w + x),
                    _ if y >= s => pixel(a, i - s * w),
                    _ => pixel(b, (y + h - s) * w + x),
                },
                _ => blend(zoomed(a, p.inv_scale_a, x, y), zoomed(b, p.inv_scale_b, x, y), p.mix),
            };
            out.extend_from_slice(&rgba);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde::de::value::{Error, MapDeserializer};

    use super::*;

    fn from_pairs(pairs: &[(&'static str, &'static str)]) -> Result<Transition, Error> {
        Transition::deserialize(MapDeserializer::new(pairs.iter().copied()))
    }

    #[test]
    fn kinds_deserialise_from_tagged_maps_with_defaults() {
        assert_eq!(from_pairs(&[("kind", "crossfade")]), Ok(Transition::Crossfade));
        assert_eq!(from_pairs(&[("kind", "fade_through_black")]), Ok(Transition::FadeThroughBlack));
        assert_eq!(
            from_pairs(&[("kind", "wipe")]),
            Ok(Transition::Wipe { direction: Direction::Left, softness: DEFAULT_SOFTNESS })
        );
        assert_eq!(
            from_pairs(&[("kind", "slide"), ("direction", "up")]),
            Ok(Transition::Slide { direction: Direction::Up })
        );
        assert!(from_pairs(&[("kind", "slide"), ("speed", "fast")]).is_err(), "unknown fields are refused");
        assert!(from_pairs(&[("kind", "spin")]).is_err());
    }

    #[test]
    fn wipe_softness_is_checked() {
        for softness in [-0.01, 0.51, f32::NAN, f32::INFINITY] {
            let kind = Transition::Wipe { direction: Direction::Up, softness };
            assert!(matches!(kind.validate(), Err(GpuError::Invalid(_))), "{softness}");
        }
        for softness in [0.0, 0.02, 0.5] {
            assert_eq!(Transition::Wipe { direction: Direction::Up, softness }.validate(), Ok(()));
        }
    }

    #[test]
    fn a_soft_wipe_edge_is_off_the_frame_at_both_ends() {
        let kind = Transition::Wipe { direction: Direction::Right, softness: 0.1 };
        let start = params(100, 10, &kind, 0.0);
        let end = params(100, 10, &kind, 1.0);
        // b's weight falls from 1 at edge - feather / 2 to 0 at edge + feather / 2: so it
        // is 0 from the first pixel centre on at the start, and 1 up to the last at the end.
        assert!(start.edge + 0.5 / start.inv_feather <= 0.5, "{start:?}");
        assert!(end.edge - 0.5 / end.inv_feather >= 99.5, "{end:?}");
    }
}
