use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("store: {0}")]
    Store(#[from] reelflow_store::Error),
    #[error("keeping artifact {path}: {source}")]
    Artifact { path: PathBuf, source: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
