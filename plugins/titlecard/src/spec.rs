//! The template's input: parsing and validation of the spec JSON. Every error names the field
//! (and scene) at fault, because the spec is usually hand-written or produced by an LLM and the
//! message is all its author sees.

use serde_json::Value;

/// The JSON Schema of the spec, returned by `describe`. Keep it in step with [`parse`] (unit
/// tests check the defaults and limits).
pub const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "titlecard spec",
  "type": "object",
  "required": ["title"],
  "properties": {
    "title": { "description": "The title on the opening card.", "type": "string", "minLength": 1, "maxLength": 200 },
    "subtitle": { "description": "A line under the title.", "type": ["string", "null"], "maxLength": 200 },
    "theme": {
      "description": "Look of the cards: a neutral dark one, or the saffron, red and gold of the tang-monk shorts with a scroll banner behind the title.",
      "enum": ["tang-monk", "plain"], "default": "plain"
    },
    "aspect": {
      "description": "Canvas shape: 9:16 is 1080x1920 (douyin and other vertical feeds), 16:9 is 1920x1080, 1:1 is 1080x1080.",
      "enum": ["9:16", "16:9", "1:1"], "default": "9:16"
    },
    "fps": { "description": "Frames a second.", "type": "integer", "minimum": 1, "maximum": 120, "default": 24 },
    "title_duration": {
      "description": "Seconds the title card is shown.",
      "type": "number", "exclusiveMinimum": 0, "maximum": 600, "default": 3
    },
    "scenes": {
      "description": "The scenes after the title card, in order.",
      "type": "array", "maxItems": 500, "default": [],
      "items": {
        "type": "object",
        "properties": {
          "id": { "description": "Unique name of the scene; default scene<n> (1-based). \"title\" is taken by the title card.", "type": "string", "minLength": 1, "maxLength": 64 },
          "duration": { "description": "Seconds.", "type": "number", "exclusiveMinimum": 0, "maximum": 600, "default": 5 },
          "caption": { "description": "Text shown at the bottom of the scene, wrapped to fit.", "type": ["string", "null"], "maxLength": 2000 }
        },
        "additionalProperties": false
      }
    }
  },
  "additionalProperties": false
}"#;

/// Longest title or subtitle, in characters.
const MAX_TITLE_CHARS: usize = 200;
/// Longest caption, in characters.
const MAX_CAPTION_CHARS: usize = 2000;
/// Longest scene id, in characters.
const MAX_ID_CHARS: usize = 64;
/// Most scenes in one spec: bounds the size of the output.
const MAX_SCENES: usize = 500;
/// Longest title card or scene, in seconds.
const MAX_DURATION: f64 = 600.0;

/// The look of the cards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    /// The saffron, red and gold of the tang-monk animated shorts, with a scroll banner behind
    /// the title.
    TangMonk,
    /// Neutral: white text on a dark background.
    Plain,
}

/// The shape of the canvas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aspect {
    /// 9:16, 1080x1920: vertical video feeds such as douyin.
    Portrait,
    /// 16:9, 1920x1080.
    Landscape,
    /// 1:1, 1080x1080.
    Square,
}

impl Aspect {
    /// The canvas size in pixels, width then height.
    pub fn size(self) -> (u32, u32) {
        match self {
            Aspect::Portrait => (1080, 1920),
            Aspect::Landscape => (1920, 1080),
            Aspect::Square => (1080, 1080),
        }
    }
}

/// A validated spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// The title, trimmed and not empty.
    pub title: String,
    /// The line under the title, if any (an empty one counts as none).
    pub subtitle: Option<String>,
    /// The look of the cards.
    pub theme: Theme,
    /// The canvas shape.
    pub aspect: Aspect,
    /// Frames a second.
    pub fps: u32,
    /// Seconds the title card is shown.
    pub title_duration: f64,
    /// The scenes after the title card.
    pub scenes: Vec<SceneSpec>,
}

/// One scene of the spec.
#[derive(Clone, Debug, PartialEq)]
pub struct SceneSpec {
    /// Unique name of the scene.
    pub id: String,
    /// Seconds.
    pub duration: f64,
    /// Text shown at the bottom, if any (an empty one counts as none).
    pub caption: Option<String>,
}

/// Parses and validates a spec.
pub fn parse(text: &str) -> Result<Spec, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("titlecard: the spec is not valid JSON: {e}"))?;
    let Value::Object(fields) = value else {
        return Err("titlecard: the spec must be a JSON object".to_string());
    };
    let mut spec = Spec {
        title: String::new(),
        subtitle: None,
        theme: Theme::Plain,
        aspect: Aspect::Portrait,
        fps: 24,
        title_duration: 3.0,
        scenes: Vec::new(),
    };
    let mut scenes = None;
    for (name, value) in &fields {
        match name.as_str() {
            "title" => spec.title = text_field("title", value, MAX_TITLE_CHARS)?.unwrap_or_default(),
            "subtitle" => spec.subtitle = text_field("subtitle", value, MAX_TITLE_CHARS)?,
            "theme" => {
                spec.theme = match value.as_str() {
                    Some("tang-monk") => Theme::TangMonk,
                    Some("plain") => Theme::Plain,
                    _ => return Err(format!("titlecard: unknown theme {value} (known: \"tang-monk\", \"plain\")")),
                }
            }
            "aspect" => {
                spec.aspect = match value.as_str() {
                    Some("9:16") => Aspect::Portrait,
                    Some("16:9") => Aspect::Landscape,
                    Some("1:1") => Aspect::Square,
                    _ => return Err(format!("titlecard: unknown aspect {value} (known: \"9:16\", \"16:9\", \"1:1\")")),
                }
            }
            "fps" => {
                spec.fps = value
                    .as_u64()
                    .filter(|fps| (1..=120).contains(fps))
                    .map(|fps| fps as u32)
                    .ok_or_else(|| format!("titlecard: `fps` must be an integer from 1 to 120, got {value}"))?
            }
            "title_duration" => spec.title_duration = duration("title_duration", value)?,
            "scenes" => scenes = Some(value),
            _ => return Err(format!("titlecard: unknown field `{name}` in the spec")),
        }
    }
    if spec.title.is_empty() {
        return Err("titlecard: `title` is required and must not be empty".to_string());
    }
    if let Some(scenes) = scenes {
        spec.scenes = parse_scenes(scenes)?;
    }
    Ok(spec)
}

/// Parses the `scenes` array.
fn parse_scenes(value: &Value) -> Result<Vec<SceneSpec>, String> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(format!("titlecard: `scenes` must be an array, got {value}")),
    };
    if items.len() > MAX_SCENES {
        return Err(format!("titlecard: `scenes` has {} scenes, more than {MAX_SCENES}", items.len()));
    }
    let mut scenes: Vec<SceneSpec> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let scene = parse_scene(index, item).map_err(|e| format!("titlecard: scenes[{index}]: {e}"))?;
        if scene.id == "title" || scenes.iter().any(|s| s.id == scene.id) {
            return Err(format!("titlecard: scenes[{index}]: scene id `{}` is used twice", scene.id));
        }
        scenes.push(scene);
    }
    Ok(scenes)
}

/// Parses one scene; errors are prefixed with its index by the caller.
fn parse_scene(index: usize, value: &Value) -> Result<SceneSpec, String> {
    let Value::Object(fields) = value else {
        return Err(format!("a scene must be an object, got {value}"));
    };
    let mut scene = SceneSpec { id: format!("scene{}", index + 1), duration: 5.0, caption: None };
    for (name, value) in fields {
        match name.as_str() {
            "id" => {
                scene.id = text_field("id", value, MAX_ID_CHARS)?.ok_or_else(|| "`id` must not be empty".to_string())?
            }
            "duration" => scene.duration = duration("duration", value)?,
            "caption" => scene.caption = text_field("caption", value, MAX_CAPTION_CHARS)?,
            _ => return Err(format!("unknown field `{name}`")),
        }
    }
    Ok(scene)
}

/// A string field (or null), trimmed; `None` when null or blank.
fn text_field(name: &str, value: &Value, max_chars: usize) -> Result<Option<String>, String> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::String(text) => text.trim(),
        _ => return Err(format!("`{name}` must be a string, got {value}")),
    };
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(format!("`{name}` has {chars} characters, more than {max_chars}"));
    }
    Ok((!text.is_empty()).then(|| text.to_string()))
}

/// A duration in seconds: more than 0 and at most [`MAX_DURATION`].
fn duration(name: &str, value: &Value) -> Result<f64, String> {
    match value.as_f64() {
        Some(seconds) if seconds > 0.0 && seconds <= MAX_DURATION => Ok(seconds),
        _ => Err(format!("`{name}` must be a number of seconds more than 0 and at most {MAX_DURATION}, got {value}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_spec_parses() {
        let spec = parse(
            r#"{"title":" 唐僧相亲记 ","subtitle":"第一集","theme":"tang-monk","aspect":"16:9","fps":30,
                "title_duration":2.5,
                "scenes":[{"id":"scene1","duration":10,"caption":"贫僧刚从西天取经回来"},{"duration":4}]}"#,
        )
        .unwrap();
        assert_eq!(spec.title, "唐僧相亲记");
        assert_eq!(spec.subtitle.as_deref(), Some("第一集"));
        assert_eq!(
            (spec.theme, spec.aspect, spec.fps, spec.title_duration),
            (Theme::TangMonk, Aspect::Landscape, 30, 2.5)
        );
        assert_eq!(
            spec.scenes[0],
            SceneSpec { id: "scene1".into(), duration: 10.0, caption: Some("贫僧刚从西天取经回来".into()) }
        );
        assert_eq!(spec.scenes[1], SceneSpec { id: "scene2".into(), duration: 4.0, caption: None });
    }

    #[test]
    fn defaults_match_the_schema() {
        let spec = parse(r#"{"title":"t","scenes":[{}]}"#).unwrap();
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        let props = &schema["properties"];
        assert_eq!(props["theme"]["default"], "plain");
        assert_eq!(spec.theme, Theme::Plain);
        assert_eq!(props["aspect"]["default"], "9:16");
        assert_eq!(spec.aspect, Aspect::Portrait);
        assert_eq!(props["fps"]["default"], spec.fps);
        assert_eq!(props["title_duration"]["default"].as_f64(), Some(spec.title_duration));
        assert_eq!(
            props["scenes"]["items"]["properties"]["duration"]["default"].as_f64(),
            Some(spec.scenes[0].duration)
        );
        assert_eq!(props["scenes"]["maxItems"], MAX_SCENES);
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let cases = [
            ("{}", "`title`"),
            (r#"{"title":"  "}"#, "`title`"),
            (r#"{"title":3}"#, "`title`"),
            (r#"{"title":"t","theme":"space-opera"}"#, "space-opera"),
            (r#"{"title":"t","aspect":"4:3"}"#, "4:3"),
            (r#"{"title":"t","fps":0}"#, "`fps`"),
            (r#"{"title":"t","colour":"red"}"#, "`colour`"),
            (r#"{"title":"t","title_duration":0}"#, "`title_duration`"),
            (r#"{"title":"t","scenes":[{"duration":0}]}"#, "scenes[0]: `duration`"),
            (r#"{"title":"t","scenes":[{"duration":-1}]}"#, "scenes[0]: `duration`"),
            (r#"{"title":"t","scenes":[{},{"duration":601}]}"#, "scenes[1]: `duration`"),
            (r#"{"title":"t","scenes":[{"captoin":"x"}]}"#, "`captoin`"),
            (r#"{"title":"t","scenes":[{"id":"a"},{"id":"a"}]}"#, "`a` is used twice"),
            (r#"{"title":"t","scenes":[{"id":"title"}]}"#, "`title` is used twice"),
            (r#"{"title":"t","scenes":{}}"#, "`scenes`"),
            ("[]", "object"),
            ("{", "not valid JSON"),
        ];
        for (text, needle) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn limits_are_enforced() {
        let long = "长".repeat(MAX_CAPTION_CHARS + 1);
        let err = parse(&format!(r#"{{"title":"t","scenes":[{{"caption":"{long}"}}]}}"#)).unwrap_err();
        assert!(err.contains("`caption`"), "{err}");
        let many = vec!["{}"; MAX_SCENES + 1].join(",");
        assert!(parse(&format!(r#"{{"title":"t","scenes":[{many}]}}"#)).unwrap_err().contains("more than"));
        assert!(parse(r#"{"title":"t","scenes":[{"duration":600}]}"#).is_ok());
    }
}
