use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("cache: {0}")]
    Cache(#[from] reelflow_core::Error),
    #[error(transparent)]
    Invalid(#[from] reelflow_core::Diagnostics),
    #[error("{path} is larger than {limit} bytes; workflow files are small, is this the right file?")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("plugins: {0}")]
    Plugins(#[from] reelflow_wasm_host::Error),
    #[error("no workflow named `{name}` in {dir}")]
    UnknownWorkflow { name: String, dir: PathBuf },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
