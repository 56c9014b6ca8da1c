//! Reelflow's LLM layer on mistral.rs.
//!
//! - [`ModelRegistry`]: `models/models.yaml` (id, task, languages, quantization levels and
//!   their files, licence, memory) and the active-model config that maps languages to models.
//!   Files are looked up on every request, so a model dropped into place is used without a
//!   restart; a missing one is an error naming the file (never another model instead).
//! - [`ModelPool`]: loaded models shared by every run, under a memory budget with LRU unload.
//! - [`generate`] / [`generate_json`]: streamed, cancellable generation; JSON constrained by a
//!   schema's grammar and validated.
//! - The ops `llm.chat` and `llm.json`.
//!
//! Nothing is ever fetched from a model hub: files come from the models directory only.

mod chat;
mod error;
mod json;
mod manifest;
mod metrics;
mod ops;
mod pool;
mod registry;

use std::path::PathBuf;
use std::sync::Arc;

pub use chat::{ChatOutput, ChatRequest, Message, Role, Sampling, Usage, generate};
pub use error::LlmError;
pub use json::{JsonOutput, generate_json};
pub use manifest::{ActiveModels, LanguageModel, Manifest, ModelEntry, QuantFile, Task};
pub use metrics::LlmMetrics;
pub use ops::{READING_PROMPT, register};
pub use pool::{LoadedModel, ModelLease, ModelPool, PoolEntry};
pub use registry::{
    ACTIVE_CONFIG, DEFAULT_ACTIVE_FILE, FileProblem, LevelStatus, MANIFEST_FILE, ModelRegistry, ModelSelector,
    ModelStatus, ResolvedModel,
};

/// Where models live and how much memory they may take.
#[derive(Clone, Debug)]
pub struct LlmConfig {
    /// Holds `models.yaml` and the model files.
    pub models_dir: PathBuf,
    /// The operator's active-model config (see [`ACTIVE_CONFIG`]).
    pub active_config: PathBuf,
    /// Sum of loaded models' memory estimates, MiB.
    pub memory_budget_mb: u64,
    /// Sequences one model generates at once (mistral.rs batches them).
    pub max_concurrent: usize,
}

/// The registry and the pool: what the ops, the CLI and the server share.
#[derive(Debug)]
pub struct Llm {
    registry: ModelRegistry,
    pool: ModelPool,
}

impl Llm {
    pub fn new(config: LlmConfig) -> Arc<Llm> {
        Arc::new(Llm {
            registry: ModelRegistry::new(config.models_dir, config.active_config),
            pool: ModelPool::new(config.memory_budget_mb, config.max_concurrent, LlmMetrics::default()),
        })
    }

    pub fn registry(&self) -> &ModelRegistry {
        &self.registry
    }

    pub fn pool(&self) -> &ModelPool {
        &self.pool
    }

    pub fn metrics(&self) -> &LlmMetrics {
        self.pool.metrics()
    }

    /// The loaded chat model for `selector`.
    pub async fn lease(&self, selector: &ModelSelector) -> Result<ModelLease, LlmError> {
        let resolved = self.registry.resolve(selector)?;
        if resolved.task != Task::Chat {
            return Err(LlmError::Request(format!("model `{}` is not a chat model", resolved.id)));
        }
        self.pool.acquire(&resolved).await
    }
}
