use std::path::PathBuf;

/// Why a plugin could not be loaded or a call into it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The manifest is not valid TOML or misses a field.
    #[error("plugin manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    /// The component file is not the one the manifest names by hash.
    #[error("plugin `{plugin}`: {path} has sha256 {actual}, but its manifest says {expected}; refusing to load it")]
    HashMismatch { plugin: String, path: PathBuf, expected: String, actual: String },
    /// Not a WebAssembly component, or one the engine cannot compile.
    #[error("plugin `{plugin}`: {path} is not a usable WebAssembly component: {message}")]
    NotAComponent { plugin: String, path: PathBuf, message: String },
    /// The component does not implement the world its manifest's `kind` names.
    #[error("plugin `{plugin}` (kind `{kind}`) does not fit the `reelflow:plugin/{kind}` world: {message}")]
    WrongWorld { plugin: String, kind: String, message: String },
    /// What the plugin says about itself (`describe`) is unusable.
    #[error("plugin `{plugin}`: {message}")]
    Describe { plugin: String, message: String },
    /// A call into the plugin failed: a trap, its time budget, its memory cap, or an error
    /// the plugin returned.
    #[error("plugin `{plugin}`: {message}")]
    Call { plugin: String, kind: CallFailure, message: String },
    /// Building a plugin from source failed.
    #[error("building {path}: {message}")]
    Build { path: PathBuf, message: String },
    #[error("setting up the WebAssembly engine: {0}")]
    Engine(String),
}

/// How a call into a plugin failed; callers map these onto node error kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallFailure {
    /// The plugin returned an error (bad params, bad input).
    Refused,
    /// The call ran past its time budget.
    Timeout,
    /// The run was cancelled while the plugin ran.
    Cancelled,
    /// The instance hit its memory cap.
    OutOfMemory,
    /// The plugin trapped (a panic, `unreachable`, a stack overflow ...).
    Trapped,
    /// The plugin returned something the engine refuses (a frame of the wrong size, an
    /// output over the size limit, a missing output).
    BadOutput,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
