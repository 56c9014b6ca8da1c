//! `aurora`: a Reelflow `generator` plugin that makes an animated background: smooth moving
//! colour bands in a three-colour palette, with drifting, twinkling particles, and optionally a
//! soft sine pad for sound.
//!
//! [`params`] parses the node's JSON and [`sky`] draws frames and makes sound; both are plain
//! Rust. The component glue only exists when building for wasm, so `cargo test` runs the rest
//! natively.

pub mod params;
pub mod sky;

#[cfg(target_arch = "wasm32")]
mod component {
    use std::sync::{Mutex, PoisonError};

    use crate::params;
    use crate::sky::Sky;

    wit_bindgen::generate!({ path: "../../wit", world: "generator" });

    use reelflow::plugin::types::PixelFormat;

    /// Largest frame, in pixels (8K UHD fits), so a bad clip size fails in `configure` rather
    /// than exhausting memory on the first frame.
    const MAX_PIXELS: u64 = 1 << 25;
    /// Most samples (frames times channels) one `sound` call may ask for: about 40 seconds of
    /// 48 kHz stereo.
    const MAX_SAMPLES: u64 = 1 << 22;

    /// The generator configured for the current clip. The engine drives one instance from one
    /// thread, so the lock is never contended; it only makes the global state safe Rust.
    static SKY: Mutex<Option<Sky>> = Mutex::new(None);

    /// The exported component.
    struct Aurora;

    /// Runs `f` on the configured generator, or fails if `configure` has not been called.
    fn with_sky<T>(f: impl FnOnce(&Sky) -> Result<T, String>) -> Result<T, String> {
        let guard = SKY.lock().unwrap_or_else(PoisonError::into_inner);
        f(guard.as_ref().ok_or("aurora: called before configure")?)
    }

    impl Guest for Aurora {
        fn describe() -> PluginInfo {
            PluginInfo {
                description: "Animated aurora background: moving colour bands in a three-colour palette, drifting \
                              particles and an optional soft sine pad."
                    .to_string(),
                version: 1,
                params_schema: params::SCHEMA.to_string(),
            }
        }

        fn configure(params: String, clip: ClipInfo) -> Result<(), String> {
            let params = params::parse(&params)?;
            let (width, height) = (clip.width, clip.height);
            let pixels = u64::from(width) * u64::from(height);
            if pixels == 0 || pixels > MAX_PIXELS {
                return Err(format!(
                    "aurora: the clip must be between 1 and {MAX_PIXELS} pixels, got {width}x{height}"
                ));
            }
            *SKY.lock().unwrap_or_else(PoisonError::into_inner) = Some(Sky::new(&params, width, height));
            Ok(())
        }

        fn frame(time: f64) -> Result<Frame, String> {
            with_sky(|sky| {
                let (width, height) = sky.size();
                Ok(Frame { width, height, format: PixelFormat::Rgba8, data: sky.frame(time) })
            })
        }

        fn sound(start: f64, sample_rate: u32, channels: u8, frames: u32) -> Result<Option<Audio>, String> {
            if sample_rate == 0 || !(1..=2).contains(&channels) {
                return Err(format!(
                    "aurora: sound needs a positive sample rate and 1 or 2 channels, got {sample_rate} Hz, {channels} channels"
                ));
            }
            if u64::from(frames) * u64::from(channels) > MAX_SAMPLES {
                return Err(format!("aurora: at most {MAX_SAMPLES} samples per call, asked for {frames} frames"));
            }
            with_sky(|sky| {
                Ok(sky.sound(start, sample_rate, channels, frames).map(|samples| Audio {
                    sample_rate,
                    channels,
                    samples,
                }))
            })
        }
    }

    export!(Aurora);
}
