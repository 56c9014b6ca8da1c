//! The crate's error type.

/// Why a time computation, a validation or an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rational with a zero denominator.
    #[error("division by zero in a time value")]
    ZeroDenominator,
    /// A result does not fit the 64-bit numerator or denominator of a [`crate::RationalTime`].
    #[error("time arithmetic overflowed 64 bits")]
    Overflow,
    /// A time or frame rate written as text could not be read.
    #[error("`{text}` is not a valid {what}: {reason}")]
    Parse { text: String, what: &'static str, reason: String },
    /// A frame rate that is zero or negative.
    #[error("frame rate {0} is not positive")]
    FrameRate(String),
    /// The timeline breaks the model's rules; every problem found is listed.
    #[error("invalid timeline: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The timeline is valid but the target format cannot express it.
    #[error("{format} cannot express this timeline: {reason}")]
    Unsupported { format: &'static str, reason: String },
}

impl Error {
    pub(crate) fn parse(text: &str, what: &'static str, reason: impl Into<String>) -> Self {
        Error::Parse { text: text.to_owned(), what, reason: reason.into() }
    }

    pub(crate) fn unsupported(format: &'static str, reason: impl Into<String>) -> Self {
        Error::Unsupported { format, reason: reason.into() }
    }
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
