//! The effect's params: parsing and validation of the node's JSON, with errors that name the
//! offending field so a workflow author can fix it without reading the plugin's source.

use serde_json::{Map, Value};

use crate::look::Tint;

/// The JSON Schema of the params, returned by `describe`. Keep the defaults and ranges in step
/// with [`Params::default`] and [`parse`] (a unit test checks the defaults).
pub const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "filmlook params",
  "type": "object",
  "properties": {
    "grain": {
      "description": "Amplitude of the luminance noise: 1 moves a pixel by up to half the 8-bit range.",
      "type": "number", "minimum": 0, "maximum": 1, "default": 0.08
    },
    "vignette": {
      "description": "How much the corners darken (0: not at all, 1: to black), with a smooth radial falloff.",
      "type": "number", "minimum": 0, "maximum": 1, "default": 0.35
    },
    "tint": {
      "description": "Colour cast of the print stock.",
      "type": "string", "enum": ["warm", "cool", "sepia", "none"], "default": "warm"
    },
    "seed": {
      "description": "Picks the grain pattern; the same seed gives the same grain for the same frame.",
      "type": "integer", "minimum": 0, "maximum": 4294967295, "default": 1
    }
  },
  "additionalProperties": false
}"#;

/// The effect's validated params.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Grain amplitude, 0..1.
    pub grain: f32,
    /// Vignette strength, 0..1.
    pub vignette: f32,
    /// Colour cast.
    pub tint: Tint,
    /// Seed of the grain pattern.
    pub seed: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params { grain: 0.08, vignette: 0.35, tint: Tint::Warm, seed: 1 }
    }
}

/// Parses the node's params. Empty text and `null` mean "all defaults", as the engine may pass
/// either for a node without params; anything else must be an object of known fields.
pub fn parse(text: &str) -> Result<Params, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Params::default());
    }
    let value: Value = serde_json::from_str(text).map_err(|e| format!("filmlook: params are not valid JSON: {e}"))?;
    let fields = match value {
        Value::Null => return Ok(Params::default()),
        Value::Object(fields) => fields,
        other => return Err(format!("filmlook: params must be a JSON object, got {}", kind_of(&other))),
    };
    from_fields(&fields)
}

/// Reads the known fields out of the params object.
fn from_fields(fields: &Map<String, Value>) -> Result<Params, String> {
    let mut params = Params::default();
    for (name, value) in fields {
        match name.as_str() {
            "grain" => params.grain = unit_number(name, value)?,
            "vignette" => params.vignette = unit_number(name, value)?,
            "tint" => {
                params.tint = match value.as_str() {
                    Some("warm") => Tint::Warm,
                    Some("cool") => Tint::Cool,
                    Some("sepia") => Tint::Sepia,
                    Some("none") => Tint::None,
                    _ => {
                        return Err(format!(
                            "filmlook: `tint` must be \"warm\", \"cool\", \"sepia\" or \"none\", got {value}"
                        ));
                    }
                }
            }
            "seed" => {
                params.seed = value
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| format!("filmlook: `seed` must be an integer from 0 to 4294967295, got {value}"))?
            }
            _ => return Err(format!("filmlook: unknown param `{name}` (known: grain, vignette, tint, seed)")),
        }
    }
    Ok(params)
}

/// A number in 0..1, or an error naming the field.
fn unit_number(name: &str, value: &Value) -> Result<f32, String> {
    match value.as_f64() {
        Some(n) if (0.0..=1.0).contains(&n) => Ok(n as f32),
        _ => Err(format!("filmlook: `{name}` must be a number from 0 to 1, got {value}")),
    }
}

/// A JSON value's kind, for error messages.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_params_are_the_defaults() {
        for text in ["", "  ", "{}", "null"] {
            assert_eq!(parse(text), Ok(Params::default()), "{text:?}");
        }
    }

    #[test]
    fn all_fields_parse() {
        let p = parse(r#"{"grain": 0.5, "vignette": 1, "tint": "sepia", "seed": 42}"#).unwrap();
        assert_eq!(p, Params { grain: 0.5, vignette: 1.0, tint: Tint::Sepia, seed: 42 });
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r#"{"grain": 2}"#, "`grain`"),
            (r#"{"grain": "lots"}"#, "`grain`"),
            (r#"{"vignette": -0.1}"#, "`vignette`"),
            (r#"{"tint": "purple"}"#, "`tint`"),
            (r#"{"seed": -1}"#, "`seed`"),
            (r#"{"seed": 1.5}"#, "`seed`"),
            (r#"{"grian": 0.1}"#, "`grian`"),
        ];
        for (text, field) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(field), "{text}: {err}");
        }
        assert!(parse("[1]").unwrap_err().contains("object"));
        assert!(parse("{").unwrap_err().contains("not valid JSON"));
    }

    #[test]
    fn schema_is_json_and_its_defaults_match() {
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        let props = &schema["properties"];
        let d = Params::default();
        assert_eq!(props["grain"]["default"].as_f64().unwrap() as f32, d.grain);
        assert_eq!(props["vignette"]["default"].as_f64().unwrap() as f32, d.vignette);
        assert_eq!(props["tint"]["default"], "warm");
        assert_eq!(props["seed"]["default"].as_u64().unwrap() as u32, d.seed);
        assert_eq!(schema["additionalProperties"], false);
    }
}
