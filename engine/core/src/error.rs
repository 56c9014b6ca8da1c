//! Errors of the core's own API (the node-level error is [`crate::NodeError`]).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("operator `{0}` is registered twice")]
    DuplicateOp(String),
    #[error("reading {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cache at {path}")]
    Cache { path: PathBuf, source: std::io::Error },
    #[error("input `{name}`: {message}")]
    Input { name: String, message: String },
    #[error("unknown input `{0}`")]
    UnknownInput(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
