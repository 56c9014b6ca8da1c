//! The subtitles model shared by every format.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubtitleFormat {
    Srt,
    Ass,
    Vtt,
}

impl SubtitleFormat {
    pub fn extension(self) -> &'static str {
        match self {
            SubtitleFormat::Srt => "srt",
            SubtitleFormat::Ass => "ass",
            SubtitleFormat::Vtt => "vtt",
        }
    }
}

/// Parsed subtitles: cues in time order as they appear, plus what ASS files carry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Subtitles {
    /// The format the cues were read from (`srt` when built by hand).
    pub format: Option<SubtitleFormat>,
    pub cues: Vec<SubtitleCue>,
    /// ASS/SSA styles, each an ordered field → value list as its `Format:` line gave it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub styles: Vec<Vec<(String, String)>>,
    /// ASS `[Script Info]` entries, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub script_info: Vec<(String, String)>,
    /// The text encoding the bytes were in (`UTF-8`, `GBK`, `UTF-16LE`, …).
    pub encoding: String,
    /// What was odd but tolerated, located (missing blank lines, overlaps, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One cue. Times are milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubtitleCue {
    /// 1-based position in the file.
    pub index: usize,
    pub start_ms: u64,
    pub end_ms: u64,
    /// Plain text: styling tags removed, lines joined with `\n`.
    pub text: String,
    /// The cue's text as written, tags included.
    pub raw: String,
    /// ASS style name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
    /// ASS actor / speaker name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// WebVTT cue identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Subtitles {
    /// Milliseconds from the first cue's start to the last cue's end.
    pub fn span_ms(&self) -> u64 {
        let start = self.cues.iter().map(|c| c.start_ms).min().unwrap_or(0);
        let end = self.cues.iter().map(|c| c.end_ms).max().unwrap_or(0);
        end.saturating_sub(start)
    }
}

/// `HH:MM:SS,mmm` (SRT) or `HH:MM:SS.mmm` (VTT).
pub(crate) fn format_clock(ms: u64, separator: char) -> String {
    let (h, m, s, f) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{h:02}:{m:02}:{s:02}{separator}{f:03}")
}

/// Parses `[H:]MM:SS[,.]fff` (one to three fraction digits, scaled to milliseconds).
/// Returns the time and whether the fraction used a dot (which SRT does not allow).
pub(crate) fn parse_clock(text: &str) -> Option<(u64, bool)> {
    let text = text.trim();
    let (clock, fraction, dot) = match text.rfind([',', '.']) {
        Some(i) => (&text[..i], &text[i + 1..], text.as_bytes()[i] == b'.'),
        None => (text, "", false),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts.iter().any(|p| p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let nums: Vec<u64> = parts.iter().map(|p| p.parse().unwrap_or(0)).collect();
    let (h, m, s) = if nums.len() == 3 { (nums[0], nums[1], nums[2]) } else { (0, nums[0], nums[1]) };
    if m >= 60 || s >= 60 {
        return None;
    }
    let ms = match fraction.len() {
        0 => 0,
        1..=3 if fraction.bytes().all(|b| b.is_ascii_digit()) => {
            fraction.parse::<u64>().ok()? * 10u64.pow(3 - fraction.len() as u32)
        }
        _ => return None,
    };
    Some((((h * 60 + m) * 60 + s) * 1000 + ms, dot))
}

/// Removes `<…>` tags and `{…}` override blocks, and turns `\N`, `\n`, `\h` into text.
pub(crate) fn strip_tags(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // A tag starts with a letter or `/` (`<i>`, `</font>`); `a < b` is text.
            '<' if chars.peek().is_some_and(|n| n.is_ascii_alphabetic() || *n == '/') => {
                for n in chars.by_ref() {
                    if n == '>' {
                        break;
                    }
                }
            }
            '{' if raw.contains('}') => {
                for n in chars.by_ref() {
                    if n == '}' {
                        break;
                    }
                }
            }
            '\\' => match chars.peek() {
                Some('N' | 'n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('h') => {
                    chars.next();
                    out.push(' ');
                }
                _ => out.push('\\'),
            },
            _ => out.push(c),
        }
    }
    out.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_parse_in_every_common_shape() {
        assert_eq!(parse_clock("00:01:02,345"), Some((62_345, false)));
        assert_eq!(parse_clock("00:01:02.345"), Some((62_345, true)));
        assert_eq!(parse_clock("01:02.5"), Some((62_500, true)));
        assert_eq!(parse_clock("1:00:00.00"), Some((3_600_000, true)));
        assert_eq!(parse_clock("0:00:01.23"), Some((1_230, true)));
        assert_eq!(parse_clock("00:61:00,000"), None);
        assert_eq!(parse_clock("aa:bb:cc"), None);
        assert_eq!(format_clock(3_723_004, ','), "01:02:03,004");
    }

    #[test]
    fn tags_go_and_text_stays() {
        assert_eq!(strip_tags("<i>Hello</i> {\\an8}world"), "Hello world");
        assert_eq!(strip_tags("{\\b1}你好{\\b0}\\N世界"), "你好\n世界");
        assert_eq!(strip_tags("<font color=\"red\">a < b</font>"), "a < b");
        assert_eq!(strip_tags("1 < 2"), "1 < 2");
    }
}
