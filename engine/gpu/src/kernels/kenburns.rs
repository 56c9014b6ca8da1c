//! Ken Burns: a slow pan and zoom across a still (or a shot), as a moving crop. The motion
//! is pure geometry worked out on the CPU ([`KenBurns::region`]); the pixels are the resize
//! kernel's crop, so this module needs no shader of its own.

use super::easing::Easing;
use super::resize::{self, Filter, Rect};
use crate::frame::frame_bytes;
use crate::{Gpu, GpuError, GpuFrame};

/// The largest zoom: a view 1/32 of the source's width is already a few pixels of most
/// stills blown up.
pub const MAX_ZOOM: f32 = 32.0;

/// Where the camera looks at one end of the move.
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct View {
    /// Horizontal centre of the view as a fraction of the source's width: 0 (left edge) to 1
    /// (right edge); default 0.5. A view that would cross the source's edge is moved back
    /// inside.
    pub center_x: f32,
    /// Vertical centre of the view as a fraction of the source's height: 0 (top) to 1
    /// (bottom); default 0.5.
    pub center_y: f32,
    /// Magnification: 1 (the largest region of the output's aspect that fits in the source)
    /// to 32; default 1.
    pub zoom: f32,
}

impl Default for View {
    fn default() -> View {
        View { center_x: 0.5, center_y: 0.5, zoom: 1.0 }
    }
}

impl View {
    /// Refuses centres outside 0..1 and zooms outside 1..32 (NaN included).
    pub fn validate(&self) -> Result<(), GpuError> {
        for (name, value) in [("center_x", self.center_x), ("center_y", self.center_y)] {
            if !(0.0..=1.0).contains(&value) {
                return Err(GpuError::Invalid(format!(
                    "Ken Burns view {name} {value} is outside 0 to 1 (a fraction of the source)"
                )));
            }
        }
        if !(1.0..=MAX_ZOOM).contains(&self.zoom) {
            return Err(GpuError::Invalid(format!("Ken Burns view zoom {} is outside 1 to {MAX_ZOOM}", self.zoom)));
        }
        Ok(())
    }
}

/// A camera move from `start` to `end`. The default holds the whole picture still.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct KenBurns {
    /// The view at the start of the clip.
    pub start: View,
    /// The view at the end of the clip.
    pub end: View,
    /// How the move speeds up and slows down over the clip; default linear.
    pub easing: Easing,
}

impl KenBurns {
    /// Refuses either view when it is out of range.
    pub fn validate(&self) -> Result<(), GpuError> {
        self.start.validate()?;
        self.end.validate()
    }

    /// The source rectangle shown at time `t` (0..1, clamped, NaN counts as 0) when a
    /// `source`-sized picture fills an `output`-sized frame. The centres move linearly with
    /// the eased time, the zoom geometrically (equal steps of time scale the picture by
    /// equal factors, which the eye reads as a steady push in, where a linear zoom seems to
    /// slow down). The region has the output's aspect and lies inside the source: a view
    /// that would cross an edge is moved, not shrunk, so the scale never jumps.
    pub fn region(&self, source: (u32, u32), output: (u32, u32), t: f32) -> Result<Rect, GpuError> {
        self.validate()?;
        if source.0 == 0 || source.1 == 0 || output.0 == 0 || output.1 == 0 {
            return Err(GpuError::Invalid(format!(
                "a Ken Burns move from a {}x{} source to a {}x{} output has no pixels",
                source.0, source.1, output.0, output.1
            )));
        }
        let e = f64::from(self.easing.apply(t));
        let lerp = |from: f32, to: f32| f64::from(from) * (1.0 - e) + f64::from(to) * e;
        let (center_x, center_y) =
            (lerp(self.start.center_x, self.end.center_x), lerp(self.start.center_y, self.end.center_y));
        // Written as a product of powers so the ends are exactly the views' zooms.
        let zoom = f64::from(self.start.zoom).powf(1.0 - e) * f64::from(self.end.zoom).powf(e);
        let (sw, sh) = (f64::from(source.0), f64::from(source.1));
        let (ow, oh) = (f64::from(output.0), f64::from(output.1));
        let (full_w, full_h) =
            if sw * oh >= sh * ow { ((sh * ow / oh).min(sw), sh) } else { (sw, (sw * oh / ow).min(sh)) };
        let (w, h) = (full_w / zoom, full_h / zoom);
        let x = (center_x * sw - w / 2.0).clamp(0.0, sw - w);
        let y = (center_y * sh - h / 2.0).clamp(0.0, sh - h);
        let (x, width) = inside(x, w, source.0);
        let (y, height) = inside(y, h, source.1);
        Ok(Rect { x, y, width, height })
    }
}

/// `start` and `length` in f32 with `start + length` still within `limit`, which rounding
/// to f32 alone does not promise (the crop refuses a rectangle a hair outside).
fn inside(start: f64, length: f64, limit: u32) -> (f32, f32) {
    let limit = limit as f32;
    let length = (length as f32).min(limit);
    let mut start = (start as f32).clamp(0.0, limit - length);
    while start + length > limit {
        start = start.next_down();
    }
    (start, length)
}

/// Shows `kb`'s view at time `t` of `src`, scaled with `filter` to fill `out` (any size).
pub fn kenburns(
    gpu: &Gpu,
    src: &GpuFrame,
    kb: &KenBurns,
    t: f32,
    filter: Filter,
    out: &GpuFrame,
) -> Result<(), GpuError> {
    let region = kb.region((src.width, src.height), (out.width, out.height), t)?;
    resize::crop(gpu, src, region, out, filter)
}

/// The CPU reference of [`kenburns`] on RGBA8 bytes.
pub fn cpu(
    src: &[u8],
    src_size: (u32, u32),
    out_size: (u32, u32),
    kb: &KenBurns,
    t: f32,
    filter: Filter,
) -> Result<Vec<u8>, GpuError> {
    let expected = frame_bytes(src_size.0, src_size.1);
    if src.len() as u64 != expected {
        return Err(GpuError::Invalid(format!(
            "an RGBA frame of {}x{} is {expected} bytes, got {}",
            src_size.0,
            src_size.1,
            src.len()
        )));
    }
    let region = kb.region(src_size, out_size, t)?;
    Ok(resize::cpu_crop(src, src_size, region, out_size, filter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoom_moves_geometrically_and_centres_linearly() {
        let kb = KenBurns {
            start: View { center_x: 0.4, center_y: 0.5, zoom: 1.0 },
            end: View { center_x: 0.6, center_y: 0.5, zoom: 4.0 },
            easing: Easing::Linear,
        };
        // A 400x200 source into a 2:1 output: zoom 1 is the whole source.
        let r = kb.region((400, 200), (200, 100), 0.5).unwrap();
        assert!((r.width - 200.0).abs() < 1e-3 && (r.height - 100.0).abs() < 1e-3, "zoom 2 halfway: {r:?}");
        assert!((r.x + r.width / 2.0 - 200.0).abs() < 1e-3, "centre halfway: {r:?}");
    }

    #[test]
    fn a_view_past_the_edge_is_moved_in_not_shrunk() {
        let corner = View { center_x: 1.0, center_y: 0.0, zoom: 2.0 };
        let kb = KenBurns { start: corner, end: corner, easing: Easing::EaseInOut };
        let r = kb.region((300, 200), (300, 200), 0.3).unwrap();
        assert_eq!(r, Rect { x: 150.0, y: 0.0, width: 150.0, height: 100.0 });
    }

    #[test]
    fn rounding_never_pushes_the_region_outside() {
        for limit in [7u32, 77, 123, 1919, 4097] {
            for k in 1..50 {
                let length = f64::from(limit) / (1.0 + f64::from(k) * 0.37);
                let (start, len) = inside(f64::from(limit) - length, length, limit);
                assert!(start >= 0.0 && start + len <= limit as f32, "{limit} {k}: {start} + {len}");
            }
        }
    }

    #[test]
    fn bad_views_are_refused() {
        for view in [
            View { center_x: -0.1, ..View::default() },
            View { center_y: f32::NAN, ..View::default() },
            View { zoom: 0.5, ..View::default() },
            View { zoom: MAX_ZOOM * 2.0, ..View::default() },
        ] {
            assert!(matches!(view.validate(), Err(GpuError::Invalid(_))), "{view:?}");
            let kb = KenBurns { end: view, ..KenBurns::default() };
            assert!(matches!(kb.region((10, 10), (10, 10), 0.0), Err(GpuError::Invalid(_))), "{view:?}");
        }
        assert!(matches!(KenBurns::default().region((0, 10), (10, 10), 0.0), Err(GpuError::Invalid(_))));
    }
}
