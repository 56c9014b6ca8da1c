//! Why subtitles could not be read. Writing cannot fail: every model can be written.

use crate::model::SubtitleFormat;

/// Why bytes could not be parsed as subtitles.
///
/// [`Error::is_unsupported_format`] groups the variants that mean "this is not a subtitle
/// file at all", which clients report differently from a subtitle file with mistakes in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No bytes, or nothing but whitespace.
    #[error("not a subtitle file: the file is empty")]
    Empty,
    /// Bytes that are not text: an image, a video, an archive, random binary data.
    #[error("not a subtitle file: it is {kind}")]
    NotText {
        /// What the bytes look like instead (`a JPEG image`, `binary data`).
        kind: String,
    },
    /// Text, but not one cue in it. `format` is the format it was read as, `None` when the
    /// content looked like none of them and no hint was given.
    #[error("not a subtitle file: no {} cues found", .format.map_or("SRT, ASS or WebVTT", |f| f.name()))]
    NoCues { format: Option<SubtitleFormat> },
    /// Strict mode: every problem found (up to [`MAX_PROBLEMS`]), each with its line.
    #[error("{}", strict_message(.0))]
    Strict(Vec<Problem>),
    /// The input is over the size limit ([`crate::MAX_BYTES`]).
    #[error("the subtitles are {size} bytes; at most {max} are read")]
    TooLarge { size: u64, max: u64 },
    /// The input holds more cues than the limit ([`crate::MAX_CUES`]).
    #[error("the subtitles hold more than {max} cues")]
    TooManyCues { max: usize },
    /// The caller stopped the parse (only the `subtitles.parse` op does, on cancellation).
    #[error("parsing the subtitles was cancelled")]
    Cancelled,
}

impl Error {
    /// Whether the input is not subtitles at all (empty, binary, no cues), as opposed to
    /// subtitles with problems or over a limit. Clients map this to "unsupported format".
    pub fn is_unsupported_format(&self) -> bool {
        matches!(self, Error::Empty | Error::NotText { .. } | Error::NoCues { .. })
    }
}

/// Strict mode stops collecting problems after this many; a file that is wrong on every
/// line would otherwise make an error as large as itself.
pub const MAX_PROBLEMS: usize = 1000;

/// One problem in the input, located.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// 1-based line number in the decoded text.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The first few problems in full, then a count: the message ends up in one log line.
fn strict_message(problems: &[Problem]) -> String {
    const SHOWN: usize = 10;
    let mut out = format!("{} problem(s) in the subtitles: ", problems.len());
    let shown: Vec<String> = problems.iter().take(SHOWN).map(Problem::to_string).collect();
    out.push_str(&shown.join("; "));
    if problems.len() > SHOWN {
        out.push_str(&format!("; … and {} more", problems.len() - SHOWN));
    }
    out
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_is_wrong() {
        assert_eq!(
            Error::NotText { kind: "a JPEG image".into() }.to_string(),
            "not a subtitle file: it is a JPEG image"
        );
        assert_eq!(
            Error::NoCues { format: Some(SubtitleFormat::Vtt) }.to_string(),
            "not a subtitle file: no WebVTT cues found"
        );
        assert_eq!(Error::NoCues { format: None }.to_string(), "not a subtitle file: no SRT, ASS or WebVTT cues found");
        let many: Vec<Problem> = (1..=12).map(|line| Problem { line, message: "bad".into() }).collect();
        let text = Error::Strict(many).to_string();
        assert!(text.starts_with("12 problem(s) in the subtitles: line 1: bad; line 2: bad"), "{text}");
        assert!(text.ends_with("line 10: bad; … and 2 more"), "{text}");
        assert!(Error::Empty.is_unsupported_format());
        assert!(!Error::Strict(vec![]).is_unsupported_format());
    }
}
