//! Errors of rhai expressions and scripts, with the position inside the rhai source.

use std::path::PathBuf;

use reelflow_core::{ExprError, NodeError};

/// Which sandbox limit stopped a script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// More operations than `max_operations` (an endless or very long loop).
    Operations,
    /// Functions nested deeper than `max_call_levels` (runaway recursion).
    CallDepth,
    /// A string, array or map grew past its size limit.
    DataSize,
}

/// Why a rhai expression or script failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The source does not parse.
    #[error("{}", located(*.position, .message))]
    Syntax { message: String, position: Option<(usize, usize)> },
    /// The script raised an error while running (a type error, `throw`, a missing variable ...).
    #[error("{}", located(*.position, .message))]
    Runtime { message: String, position: Option<(usize, usize)> },
    /// A sandbox limit stopped the script.
    #[error("{}", located(*.position, .message))]
    Limit { limit: Limit, message: String, position: Option<(usize, usize)> },
    /// The run or the node was cancelled (or timed out) while the script ran.
    #[error("the script was cancelled")]
    Cancelled,
    /// A `file:` script could not be read.
    #[error("reading the script {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A `file:` script is larger than scripts may be.
    #[error("the script {} is {size} bytes; scripts are limited to {max} bytes", .path.display())]
    TooLarge { path: PathBuf, size: u64, max: u64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Renders `script line L, column C: message`, the form users see in validation and run errors.
fn located(position: Option<(usize, usize)>, message: &str) -> String {
    match position {
        Some((line, column)) => format!("script line {line}, column {column}: {message}"),
        None => format!("script: {message}"),
    }
}

impl Error {
    /// 1-based line and column inside the rhai source, when known.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            Error::Syntax { position, .. } | Error::Runtime { position, .. } | Error::Limit { position, .. } => {
                *position
            }
            _ => None,
        }
    }

    /// The sandbox limit that stopped the script, if that is what happened.
    pub fn limit(&self) -> Option<Limit> {
        match self {
            Error::Limit { limit, .. } => Some(*limit),
            _ => None,
        }
    }
}

impl From<Error> for ExprError {
    /// Expression errors keep the position apart: validation prints it relative to the
    /// expression, next to the workflow file's own location.
    fn from(err: Error) -> Self {
        match err {
            Error::Syntax { message, position }
            | Error::Runtime { message, position }
            | Error::Limit { message, position, .. } => ExprError { message, position },
            other => ExprError::new(other.to_string()),
        }
    }
}

impl From<Error> for NodeError {
    fn from(err: Error) -> Self {
        match err {
            Error::Cancelled => NodeError::Cancelled,
            Error::Read { path, source } => {
                NodeError::context(format!("reading the script {}", path.display()), source)
            }
            other => NodeError::Failed(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_lead_with_the_script_position() {
        let err = Error::Syntax { message: "expecting ')'".into(), position: Some((3, 5)) };
        assert_eq!(err.to_string(), "script line 3, column 5: expecting ')'");
        let expr: ExprError = err.into();
        assert_eq!(expr, ExprError { message: "expecting ')'".into(), position: Some((3, 5)) });
    }

    #[test]
    fn cancellation_maps_to_the_node_error_that_is_not_retried() {
        let node: NodeError = Error::Cancelled.into();
        assert!(matches!(node, NodeError::Cancelled));
        assert!(!node.is_retryable());
    }
}
