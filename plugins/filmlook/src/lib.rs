//! `filmlook`: a Reelflow `effect` plugin that gives video a film look: luminance grain, a
//! radial vignette and a colour tint.
//!
//! The pixel math lives in [`look`], a dependency-free module the host's benchmark also compiles
//! natively; [`params`] parses the node's JSON. The component glue (WIT bindings and exports)
//! only exists when building for wasm, so `cargo test` runs the rest natively.

/// The film look's pixel math (grain, vignette, tint), free of any dependency so that the
/// host's benchmark can compile the same file natively.
pub mod look;
pub mod params;

#[cfg(target_arch = "wasm32")]
mod component {
    use std::sync::{Mutex, PoisonError};

    use crate::look::Look;
    use crate::params;

    wit_bindgen::generate!({ path: "../../wit", world: "effect" });

    use reelflow::plugin::types::PixelFormat;

    /// Largest frame, in pixels, this effect accepts (16K x 8K): a guard against a clip size
    /// that would make the vignette table exhaust memory before the first frame.
    const MAX_PIXELS: u64 = 1 << 27;

    /// The look configured for the current clip. The engine drives one instance from one thread
    /// (`configure`, then `apply` per frame), so the lock is never contended; it only makes the
    /// global state safe Rust.
    static LOOK: Mutex<Option<Look>> = Mutex::new(None);

    /// The exported component.
    struct FilmLook;

    impl Guest for FilmLook {
        fn describe() -> PluginInfo {
            PluginInfo {
                description: "Film look: deterministic luminance grain, a soft radial vignette and a warm, cool or \
                              sepia tint."
                    .to_string(),
                version: 2,
                params_schema: params::SCHEMA.to_string(),
            }
        }

        fn configure(params: String, clip: ClipInfo) -> Result<(), String> {
            let p = params::parse(&params)?;
            check_size(clip.width, clip.height)?;
            let look = Look::new(p.grain, p.vignette, p.tint, p.seed, clip.width, clip.height);
            *LOOK.lock().unwrap_or_else(PoisonError::into_inner) = Some(look);
            Ok(())
        }

        fn apply(mut input: Frame, time: f64) -> Result<Frame, String> {
            match input.format {
                PixelFormat::Rgba8 => {}
            }
            let (width, height) = (input.width, input.height);
            check_size(width, height)?;
            let expected = u64::from(width) * u64::from(height) * 4;
            if input.data.len() as u64 != expected {
                return Err(format!(
                    "filmlook: an rgba8 frame of {width}x{height} must be {expected} bytes, got {}",
                    input.data.len()
                ));
            }
            let mut guard = LOOK.lock().unwrap_or_else(PoisonError::into_inner);
            let look = guard.as_mut().ok_or("filmlook: apply was called before configure")?;
            // Frames normally have the clip's size; if not, rebuild the table once rather than
            // on every frame.
            look.resize(width, height);
            // In place: the frame's own buffer goes back to the engine.
            look.apply(&mut input.data, width, height, time);
            Ok(input)
        }
    }

    /// Refuses sizes whose vignette table would not fit in a plugin's memory.
    fn check_size(width: u32, height: u32) -> Result<(), String> {
        if u64::from(width) * u64::from(height) > MAX_PIXELS {
            return Err(format!(
                "filmlook: {width}x{height} is larger than the {MAX_PIXELS} pixels this effect handles"
            ));
        }
        Ok(())
    }

    export!(FilmLook);
}
