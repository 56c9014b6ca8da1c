use std::path::PathBuf;

use reelflow_core::{ErrorKind, NodeError};

/// Everything that can go wrong between a request and a model's answer.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error("unknown model `{id}`; the manifest lists: {known}")]
    UnknownModel { id: String, known: String },
    #[error("no model is configured for language `{language}` (configured: {configured}); add it to {}", config.display())]
    NoModelForLanguage { language: String, configured: String, config: PathBuf },
    #[error("model `{id}` has no `{quant}` file (levels in the manifest: {levels})")]
    NoSuchQuant { id: String, quant: String, levels: String },
    /// The file the manifest names is not there (clipsmaster code 1003).
    #[error("model `{id}` ({quant}) is not available: {} is missing. {install}", path.display())]
    ModelMissing { id: String, quant: String, path: PathBuf, install: String },
    /// Would not fit the pool's memory budget (clipsmaster code 2002).
    #[error(
        "model `{id}` ({quant}) needs about {needed_mb} MiB but {reason}; use a smaller quantization level or raise [llm] memory_budget"
    )]
    OverBudget { id: String, quant: String, needed_mb: u64, reason: String },
    #[error("loading model `{id}` from {}: {message}", path.display())]
    Load { id: String, path: PathBuf, message: String },
    #[error("the request was refused: {0}")]
    Request(String),
    #[error("generation failed: {0}")]
    Generation(String),
    #[error("the output does not match the schema: {0}")]
    Schema(String),
    #[error("cancelled")]
    Cancelled,
}

impl LlmError {
    pub fn kind(&self) -> Option<ErrorKind> {
        Some(match self {
            LlmError::ModelMissing { .. } => ErrorKind::ModelUnavailable,
            LlmError::OverBudget { .. } => ErrorKind::ResourceExhausted,
            LlmError::UnknownModel { .. }
            | LlmError::NoModelForLanguage { .. }
            | LlmError::NoSuchQuant { .. }
            | LlmError::Request(_) => ErrorKind::InvalidInput,
            LlmError::Cancelled => ErrorKind::Cancelled,
            LlmError::Config { .. } | LlmError::Load { .. } | LlmError::Generation(_) | LlmError::Schema(_) => {
                return None;
            }
        })
    }
}

impl From<LlmError> for NodeError {
    fn from(e: LlmError) -> Self {
        match e {
            LlmError::Cancelled => NodeError::Cancelled,
            e => match e.kind() {
                Some(kind) => NodeError::of_kind(kind, e.to_string()),
                None => NodeError::failed(e.to_string()),
            },
        }
    }
}
