//! The subtitles model shared by every format. It is also the JSON form of the workflow
//! type `subtitles`, so every field has a serde default where a hand-built value (from a
//! script) could reasonably leave it out.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A subtitle file format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubtitleFormat {
    /// SubRip (`.srt`).
    #[default]
    Srt,
    /// Advanced SubStation Alpha (`.ass`), and its predecessor SSA (`.ssa`) when reading.
    Ass,
    /// WebVTT (`.vtt`).
    Vtt,
}

impl SubtitleFormat {
    pub const ALL: [SubtitleFormat; 3] = [SubtitleFormat::Srt, SubtitleFormat::Ass, SubtitleFormat::Vtt];

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            SubtitleFormat::Srt => "srt",
            SubtitleFormat::Ass => "ass",
            SubtitleFormat::Vtt => "vtt",
        }
    }

    /// The name people know the format by, for messages.
    pub fn name(self) -> &'static str {
        match self {
            SubtitleFormat::Srt => "SRT",
            SubtitleFormat::Ass => "ASS",
            SubtitleFormat::Vtt => "WebVTT",
        }
    }

    /// The format a file extension stands for (`srt`, `ass`, `ssa`, `vtt`, `webvtt`; any
    /// case, with or without the dot).
    pub fn from_extension(ext: &str) -> Option<SubtitleFormat> {
        match ext.trim_start_matches('.').to_ascii_lowercase().as_str() {
            "srt" => Some(SubtitleFormat::Srt),
            "ass" | "ssa" => Some(SubtitleFormat::Ass),
            "vtt" | "webvtt" => Some(SubtitleFormat::Vtt),
            _ => None,
        }
    }
}

impl std::fmt::Display for SubtitleFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Parsed subtitles: the cues in file order, plus what ASS files carry besides cues.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Subtitles {
    /// The format the cues were read from.
    #[serde(default)]
    pub format: SubtitleFormat,
    pub cues: Vec<SubtitleCue>,
    /// ASS/SSA styles in file order (empty for SRT and WebVTT).
    #[serde(default)]
    pub styles: Vec<AssStyle>,
    /// ASS/SSA `[Script Info]` entries in file order (`Title`, `PlayResX`, …).
    #[serde(default)]
    pub script_info: IndexMap<String, String>,
    /// The text encoding the bytes were in, by its WHATWG name: `UTF-8`, `UTF-16LE`,
    /// `UTF-16BE`, `GBK`, `gb18030`, `Big5`, `Shift_JIS`, `windows-1252`, …
    #[serde(default)]
    pub encoding: String,
    /// What was odd but tolerated, each starting with its line (`line 12: …`).
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl Subtitles {
    /// Subtitles built in code: UTF-8, no styles, cues numbered from 1.
    pub fn new(format: SubtitleFormat, cues: Vec<SubtitleCue>) -> Self {
        let mut subs = Subtitles { format, cues, encoding: "UTF-8".into(), ..Default::default() };
        subs.renumber();
        subs
    }

    /// Sets each cue's `index` to its 1-based position.
    pub fn renumber(&mut self) {
        for (i, cue) in self.cues.iter_mut().enumerate() {
            cue.index = u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
    }

    /// Milliseconds from the earliest start to the latest end (0 without cues).
    pub fn span_ms(&self) -> u64 {
        let start = self.cues.iter().map(|c| c.start_ms).min().unwrap_or(0);
        let end = self.cues.iter().map(|c| c.end_ms).max().unwrap_or(0);
        end.saturating_sub(start)
    }
}

/// One cue. Times are integer milliseconds (ASS has centiseconds: they become multiples
/// of ten).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubtitleCue {
    /// 1-based position in the file after parsing (not the number an SRT file wrote).
    #[serde(default)]
    pub index: u32,
    pub start_ms: u64,
    pub end_ms: u64,
    /// Plain text: styling tags removed, lines trimmed and joined with `\n`.
    #[serde(default)]
    pub text: String,
    /// The cue's text as written, styling tags included (lines joined with `\n`; for ASS,
    /// the Text field with its `\N` escapes).
    #[serde(default)]
    pub raw: String,
    /// WebVTT cue identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// WebVTT cue settings after the timing (`align:start position:10%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<String>,
    /// ASS style name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
    /// ASS speaker (the `Name` field, `Actor` in older files).
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "name")]
    pub actor: Option<String>,
    /// ASS layer, when not 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<i32>,
    /// ASS left margin override in pixels, when not 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_l: Option<i32>,
    /// ASS right margin override in pixels, when not 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_r: Option<i32>,
    /// ASS vertical margin override in pixels, when not 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_v: Option<i32>,
    /// ASS transition effect (`Scroll up;…`, `Banner;…`), when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
}

impl SubtitleCue {
    /// A cue with plain text (which is also its `raw` text).
    pub fn new(start_ms: u64, end_ms: u64, text: impl Into<String>) -> Self {
        let text = text.into();
        SubtitleCue { start_ms, end_ms, raw: text.clone(), text, ..Default::default() }
    }
}

/// One ASS/SSA style: every field of the `Format:` line of its section, in that order,
/// name → value (`Name`, `Fontname`, `Fontsize`, `PrimaryColour`, …). Kept as text so that
/// fields this crate does not interpret survive a round trip unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct AssStyle {
    pub fields: IndexMap<String, String>,
}

impl AssStyle {
    /// The field named `name` (ASS field names are case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The style's name (its `Name` field).
    pub fn name(&self) -> Option<&str> {
        self.get("Name")
    }

    /// The style written when subtitles have none: white 56-pixel Arial with a thin
    /// outline, bottom centre, sized for a 1920×1080 script.
    pub fn default_style() -> AssStyle {
        let values = [
            ("Name", "Default"),
            ("Fontname", "Arial"),
            ("Fontsize", "56"),
            ("PrimaryColour", "&H00FFFFFF"),
            ("SecondaryColour", "&H000000FF"),
            ("OutlineColour", "&H00000000"),
            ("BackColour", "&H64000000"),
            ("Bold", "0"),
            ("Italic", "0"),
            ("Underline", "0"),
            ("StrikeOut", "0"),
            ("ScaleX", "100"),
            ("ScaleY", "100"),
            ("Spacing", "0"),
            ("Angle", "0"),
            ("BorderStyle", "1"),
            ("Outline", "2"),
            ("Shadow", "1"),
            ("Alignment", "2"),
            ("MarginL", "40"),
            ("MarginR", "40"),
            ("MarginV", "40"),
            ("Encoding", "1"),
        ];
        AssStyle { fields: values.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_stable_and_lenient() {
        let subs = Subtitles::new(SubtitleFormat::Vtt, vec![SubtitleCue::new(0, 1500, "Hi")]);
        let json = serde_json::to_value(&subs).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "format": "vtt",
                "cues": [{"index": 1, "start_ms": 0, "end_ms": 1500, "text": "Hi", "raw": "Hi"}],
                "styles": [], "script_info": {}, "encoding": "UTF-8", "warnings": []
            })
        );
        // What a script would build: only times and text.
        let built: Subtitles = serde_json::from_value(
            serde_json::json!({"cues": [{"start_ms": 5, "end_ms": 9, "text": "x", "name": "A"}]}),
        )
        .expect("deserializes");
        assert_eq!(built.format, SubtitleFormat::Srt);
        assert_eq!(built.cues[0].actor.as_deref(), Some("A"));
        let style: AssStyle =
            serde_json::from_value(serde_json::json!({"Name": "Sign", "Fontsize": "40"})).expect("style");
        assert_eq!((style.name(), style.get("fontsize")), (Some("Sign"), Some("40")));
    }

    #[test]
    fn extensions_map_to_formats() {
        assert_eq!(SubtitleFormat::from_extension(".SSA"), Some(SubtitleFormat::Ass));
        assert_eq!(SubtitleFormat::from_extension("webvtt"), Some(SubtitleFormat::Vtt));
        assert_eq!(SubtitleFormat::from_extension("txt"), None);
        for f in SubtitleFormat::ALL {
            assert_eq!(SubtitleFormat::from_extension(f.extension()), Some(f));
        }
    }
}
