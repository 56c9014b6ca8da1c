//! `titlecard`: a Reelflow `template` plugin that lays out a short video: a title card, then
//! captioned scenes, for a 9:16, 16:9 or 1:1 canvas, in a plain theme or the saffron-and-gold
//! "tang-monk" theme of the Q-style animated shorts (the title on a red scroll banner).
//!
//! `render` is a pure function of the spec ([`spec`] parses it, [`layout`] places everything,
//! [`wrap`] breaks lines), so the engine may cache its results. The component glue only exists
//! when building for wasm, so `cargo test` runs the rest natively.

pub mod layout;
pub mod spec;
pub mod wrap;

/// Renders a spec (JSON text) into layout instructions (JSON text); errors name the field or
/// scene at fault.
pub fn render(spec: &str) -> Result<String, String> {
    let spec = spec::parse(spec)?;
    let instructions = layout::layout(&spec)?;
    serde_json::to_string(&instructions).map_err(|e| format!("titlecard: could not write the instructions: {e}"))
}

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ path: "../../wit", world: "template" });

    /// The exported component.
    struct TitleCard;

    impl Guest for TitleCard {
        fn describe() -> PluginInfo {
            PluginInfo {
                description:
                    "Title card and captioned scene layout for short videos, plain or in the saffron-and-gold \
                              tang-monk theme."
                        .to_string(),
                version: 1,
                params_schema: crate::spec::SCHEMA.to_string(),
            }
        }

        fn render(spec: String) -> Result<String, String> {
            crate::render(&spec)
        }
    }

    export!(TitleCard);
}

#[cfg(test)]
mod tests {
    #[test]
    fn render_is_deterministic_json() {
        let spec =
            r#"{"title":"唐僧相亲记","theme":"tang-monk","scenes":[{"duration":10,"caption":"贫僧刚从西天取经回来"}]}"#;
        let a = super::render(spec).unwrap();
        assert_eq!(a, super::render(spec).unwrap());
        let v: serde_json::Value = serde_json::from_str(&a).unwrap();
        assert_eq!(v["canvas"]["width"], 1080);
        assert_eq!(v["scenes"][1]["id"], "scene1");
        assert_eq!(v["scenes"][1]["layers"][1]["kind"], "text");
        assert_eq!(v["scenes"][1]["layers"][1]["align"], "center");
        assert_eq!(v["scenes"][0]["layers"][0]["enter"]["effect"], "pop");
        assert_eq!(v["total_duration"], 13.0);
    }

    #[test]
    fn errors_pass_through() {
        assert!(super::render(r#"{"title":"t","theme":"noir"}"#).unwrap_err().contains("noir"));
    }
}
