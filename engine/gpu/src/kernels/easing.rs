//! Easing curves: how a transition's or a camera move's progress speeds up and slows down.
//! They map linear time to progress on the CPU; the kernels only ever see the eased value.

/// A curve from time 0..1 to progress 0..1, fixed at both ends (0 → 0, 1 → 1). The eased
/// curves are cubic: gentle enough for camera moves, distinct enough for cuts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Easing {
    /// Constant speed: progress = t.
    #[default]
    Linear,
    /// Starts slowly and speeds up: progress = t³.
    EaseIn,
    /// Starts quickly and slows down: progress = 1 - (1 - t)³.
    EaseOut,
    /// Slow at both ends, fastest in the middle: 4t³ for t < 0.5, 1 - (2 - 2t)³ / 2 after;
    /// point-symmetric about (0.5, 0.5).
    EaseInOut,
}

impl Easing {
    /// The progress at time `t`; `t` is clamped to 0..1 and NaN counts as 0, so a bad clock
    /// shows the start rather than garbage.
    pub fn apply(self, t: f32) -> f32 {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        match self {
            Easing::Linear => t,
            Easing::EaseIn => t * t * t,
            Easing::EaseOut => {
                let u = 1.0 - t;
                1.0 - u * u * u
            }
            Easing::EaseInOut => {
                if t < 0.5 {
                    4.0 * t * t * t
                } else {
                    let u = 2.0 - 2.0 * t;
                    1.0 - u * u * u / 2.0
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Easing; 4] = [Easing::Linear, Easing::EaseIn, Easing::EaseOut, Easing::EaseInOut];

    #[test]
    fn endpoints_are_exact_and_out_of_range_time_clamps() {
        for easing in ALL {
            assert_eq!(easing.apply(0.0), 0.0, "{easing:?}");
            assert_eq!(easing.apply(1.0), 1.0, "{easing:?}");
            assert_eq!(easing.apply(-3.0), 0.0, "{easing:?}");
            assert_eq!(easing.apply(7.0), 1.0, "{easing:?}");
            assert_eq!(easing.apply(f32::NAN), 0.0, "{easing:?}");
            assert_eq!(easing.apply(f32::INFINITY), 1.0, "{easing:?}");
        }
    }

    #[test]
    fn curves_are_monotonic() {
        for easing in ALL {
            let mut last = 0.0;
            for i in 0..=1000 {
                let p = easing.apply(i as f32 / 1000.0);
                assert!(p >= last, "{easing:?} goes back at step {i}: {last} → {p}");
                assert!((0.0..=1.0).contains(&p), "{easing:?} leaves 0..1 at step {i}: {p}");
                last = p;
            }
        }
    }

    #[test]
    fn ease_in_out_is_point_symmetric_and_the_others_mirror_each_other() {
        assert_eq!(Easing::EaseInOut.apply(0.5), 0.5);
        for i in 0..=100 {
            let t = i as f32 / 100.0;
            let inout = Easing::EaseInOut.apply(t) + Easing::EaseInOut.apply(1.0 - t);
            assert!((inout - 1.0).abs() < 1e-6, "ease-in-out at {t}: sum {inout}");
            let mirrored = Easing::EaseIn.apply(t) + Easing::EaseOut.apply(1.0 - t);
            assert!((mirrored - 1.0).abs() < 1e-6, "ease-in/out at {t}: sum {mirrored}");
        }
    }

    #[test]
    fn eased_curves_are_slow_where_they_say() {
        assert!(Easing::EaseIn.apply(0.25) < 0.25);
        assert!(Easing::EaseOut.apply(0.25) > 0.25);
        assert!(Easing::EaseInOut.apply(0.25) < 0.25 && Easing::EaseInOut.apply(0.75) > 0.75);
        assert_eq!(Easing::default(), Easing::Linear);
    }
}
