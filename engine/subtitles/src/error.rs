/// Why subtitles could not be read or written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not subtitles at all (an image, a video, binary data, an empty file).
    #[error("not a subtitle file: {0}")]
    NotSubtitles(String),
    /// Strict mode: every problem found, each with its 1-based line number.
    #[error("{} problem(s) in the subtitles, first at line {}: {}", .0.len(), .0.first().map_or(0, |p| p.line), .0.first().map_or("", |p| p.message.as_str()))]
    Strict(Vec<Problem>),
    #[error("the subtitles are larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("more than {max} cues")]
    TooManyCues { max: usize },
}

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

pub type Result<T, E = Error> = std::result::Result<T, E>;
