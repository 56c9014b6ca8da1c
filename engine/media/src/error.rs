use std::path::PathBuf;

/// What went wrong with a media file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file does not exist or cannot be read.
    #[error("{path}: file not found or unreadable")]
    NotFound { path: PathBuf },
    /// FFmpeg cannot make sense of the file: not media, truncated or corrupt.
    #[error("{path}: not a readable media file ({reason})")]
    Unreadable { path: PathBuf, reason: String },
    /// A stream the operation needs is missing.
    #[error("{path}: {what}")]
    MissingStream { path: PathBuf, what: &'static str },
    /// The codec or format cannot be decoded or encoded with this FFmpeg build.
    #[error("{path}: unsupported {what}")]
    Unsupported { path: PathBuf, what: String },
    /// Decoding or encoding failed part-way.
    #[error("{path}: {stage} failed: {source}")]
    Codec { path: PathBuf, stage: &'static str, source: ffmpeg_next::Error },
    /// The file stops before a range that an operation needs (truncated or damaged).
    #[error(
        "{path}: the video stops at {stops:.2} s, inside the range {start:.2}..{end:.2} s \
         (the file is truncated or damaged)"
    )]
    Truncated { path: PathBuf, stops: f64, start: f64, end: f64 },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A per-frame effect or a frame generator failed (its own error says why).
    #[error("{path}: {message}")]
    Frames { path: PathBuf, message: String },
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    pub(crate) fn codec(path: &std::path::Path, stage: &'static str) -> impl FnOnce(ffmpeg_next::Error) -> Error {
        let path = path.to_owned();
        move |source| Error::Codec { path, stage, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Media failures keep their kind in a workflow, so API adapters can map them onto their
/// codes (a missing file, a file that is not media, an encode that failed).
impl From<Error> for reelflow_core::NodeError {
    fn from(e: Error) -> Self {
        use reelflow_core::{ErrorKind, NodeError};
        let kind = match &e {
            Error::Cancelled => return NodeError::Cancelled,
            Error::NotFound { .. } => ErrorKind::FileNotFound,
            Error::Unreadable { .. } | Error::MissingStream { .. } | Error::Unsupported { .. } => {
                ErrorKind::UnsupportedFormat
            }
            Error::Codec { .. } | Error::Truncated { .. } => ErrorKind::RenderFailed,
            Error::Io { .. } | Error::Frames { .. } => return NodeError::failed(e.to_string()),
        };
        NodeError::of_kind(kind, e.to_string())
    }
}
