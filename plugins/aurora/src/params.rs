//! The generator's params: parsing and validation of the node's JSON, with errors that name the
//! offending field.

use serde_json::{Map, Value};

/// The JSON Schema of the params, returned by `describe`. Keep it in step with
/// [`Params::default`] and [`parse`] (a unit test checks the defaults).
pub const SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "aurora params",
  "type": "object",
  "properties": {
    "colors": {
      "description": "The palette the bands run through, from the darkest (most of the sky) through the middle to the brightest (the crests of the bands).",
      "type": "array", "minItems": 3, "maxItems": 3,
      "items": { "type": "string", "pattern": "^#[0-9a-fA-F]{6}$" },
      "default": ["#081a3a", "#12b5a5", "#7c4dff"]
    },
    "particles": {
      "description": "Number of small glowing particles drifting up over the bands.",
      "type": "integer", "minimum": 0, "maximum": 500, "default": 60
    },
    "seed": {
      "description": "Picks the particles' positions and the bands' phases; the same seed gives the same video.",
      "type": "integer", "minimum": 0, "maximum": 4294967295, "default": 1
    },
    "speed": {
      "description": "How fast everything moves: 1 is a slow drift, 0 a still picture.",
      "type": "number", "minimum": 0, "maximum": 10, "default": 1.0
    },
    "tone_hz": {
      "description": "If set, the pitch of a soft sine pad (with a slow tremolo) played under the picture; no sound if absent or null.",
      "type": ["number", "null"], "minimum": 20, "maximum": 2000, "default": null
    }
  },
  "additionalProperties": false
}"##;

/// Most particles a clip may ask for.
pub const MAX_PARTICLES: u32 = 500;

/// The generator's validated params.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Darkest, middle and brightest colour of the bands, as RGB.
    pub colors: [[u8; 3]; 3],
    /// Number of particles, 0..=[`MAX_PARTICLES`].
    pub particles: u32,
    /// Seed of the particles and the bands' phases.
    pub seed: u32,
    /// Time multiplier, 0..10.
    pub speed: f64,
    /// Pitch of the pad in Hz (20..2000), or no sound.
    pub tone_hz: Option<f64>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            colors: [[0x08, 0x1a, 0x3a], [0x12, 0xb5, 0xa5], [0x7c, 0x4d, 0xff]],
            particles: 60,
            seed: 1,
            speed: 1.0,
            tone_hz: None,
        }
    }
}

/// Parses the node's params. Empty text and `null` mean "all defaults"; anything else must be
/// an object of known fields.
pub fn parse(text: &str) -> Result<Params, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Params::default());
    }
    let value: Value = serde_json::from_str(text).map_err(|e| format!("aurora: params are not valid JSON: {e}"))?;
    match value {
        Value::Null => Ok(Params::default()),
        Value::Object(fields) => from_fields(&fields),
        _ => Err("aurora: params must be a JSON object".to_string()),
    }
}

/// Reads the known fields out of the params object.
fn from_fields(fields: &Map<String, Value>) -> Result<Params, String> {
    let mut params = Params::default();
    for (name, value) in fields {
        match name.as_str() {
            "colors" => params.colors = colors(value)?,
            "particles" => {
                params.particles =
                    value.as_u64().filter(|&n| n <= u64::from(MAX_PARTICLES)).map(|n| n as u32).ok_or_else(|| {
                        format!("aurora: `particles` must be an integer from 0 to {MAX_PARTICLES}, got {value}")
                    })?
            }
            "seed" => {
                params.seed = value
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| format!("aurora: `seed` must be an integer from 0 to 4294967295, got {value}"))?
            }
            "speed" => {
                params.speed = value
                    .as_f64()
                    .filter(|s| (0.0..=10.0).contains(s))
                    .ok_or_else(|| format!("aurora: `speed` must be a number from 0 to 10, got {value}"))?
            }
            "tone_hz" => {
                params.tone_hz = match value {
                    Value::Null => None,
                    _ => Some(value.as_f64().filter(|hz| (20.0..=2000.0).contains(hz)).ok_or_else(|| {
                        format!("aurora: `tone_hz` must be a number from 20 to 2000 or null, got {value}")
                    })?),
                }
            }
            _ => {
                return Err(format!("aurora: unknown param `{name}` (known: colors, particles, seed, speed, tone_hz)"));
            }
        }
    }
    Ok(params)
}

/// The `colors` field: exactly three `#rrggbb` strings.
fn colors(value: &Value) -> Result<[[u8; 3]; 3], String> {
    let bad = || format!("aurora: `colors` must be an array of three \"#rrggbb\" colours, got {value}");
    let items = value.as_array().filter(|items| items.len() == 3).ok_or_else(bad)?;
    let mut colors = [[0; 3]; 3];
    for (slot, item) in colors.iter_mut().zip(items) {
        *slot = item.as_str().and_then(hex_color).ok_or_else(bad)?;
    }
    Ok(colors)
}

/// Parses `#rrggbb`.
fn hex_color(text: &str) -> Option<[u8; 3]> {
    let hex = text.strip_prefix('#').filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))?;
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([channel(0)?, channel(2)?, channel(4)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_params_are_the_defaults() {
        for text in ["", "{}", "null"] {
            assert_eq!(parse(text), Ok(Params::default()));
        }
    }

    #[test]
    fn all_fields_parse() {
        let p =
            parse(r##"{"colors":["#000000","#FF8000","#ffffff"],"particles":0,"seed":9,"speed":0.5,"tone_hz":220}"##)
                .unwrap();
        assert_eq!(p.colors, [[0, 0, 0], [255, 128, 0], [255, 255, 255]]);
        assert_eq!((p.particles, p.seed, p.speed, p.tone_hz), (0, 9, 0.5, Some(220.0)));
        assert_eq!(parse(r#"{"tone_hz":null}"#).unwrap().tone_hz, None);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r##"{"colors":["#000000","#ffffff"]}"##, "`colors`"),
            (r##"{"colors":["#000000","#ffffff","red"]}"##, "`colors`"),
            (r##"{"colors":["#000000","#ffffff","#fffffg"]}"##, "`colors`"),
            (r#"{"particles":501}"#, "`particles`"),
            (r#"{"particles":-1}"#, "`particles`"),
            (r#"{"seed":"x"}"#, "`seed`"),
            (r#"{"speed":11}"#, "`speed`"),
            (r#"{"tone_hz":10}"#, "`tone_hz`"),
            (r#"{"tone":440}"#, "`tone`"),
        ];
        for (text, field) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(field), "{text}: {err}");
        }
    }

    #[test]
    fn schema_is_json_and_its_defaults_match() {
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        let props = &schema["properties"];
        let d = Params::default();
        let colors: Vec<_> = props["colors"]["default"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| hex_color(c.as_str().unwrap()).unwrap())
            .collect();
        assert_eq!(colors, d.colors);
        assert_eq!(props["particles"]["default"], d.particles);
        assert_eq!(props["particles"]["maximum"], MAX_PARTICLES);
        assert_eq!(props["seed"]["default"], d.seed);
        assert_eq!(props["speed"]["default"].as_f64(), Some(d.speed));
        assert!(props["tone_hz"]["default"].is_null());
    }
}
