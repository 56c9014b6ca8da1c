//! Loaded models, shared by every run in the process, under one memory budget.
//!
//! A model is loaded once and handed out as a [`ModelLease`]; mistral.rs's scheduler batches
//! the requests of all leaseholders of one model. When a new model would not fit, idle models
//! (no lease out) are unloaded least recently used first; a model that could never fit, or
//! would only fit by unloading models in use, is refused before anything is read.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mistralrs::{GgufModelBuilder, Model, TokenSource};
use tokio::sync::OnceCell;

use crate::error::LlmError;
use crate::metrics::LlmMetrics;
use crate::registry::ResolvedModel;

/// A model in memory.
pub struct LoadedModel {
    pub id: String,
    pub quant: String,
    pub path: PathBuf,
    pub memory_mb: u64,
    pub load_seconds: f64,
    pub(crate) model: Model,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel").field("id", &self.id).field("quant", &self.quant).finish_non_exhaustive()
    }
}

/// A loaded model in use; the pool will not unload it while a lease is out.
#[derive(Clone, Debug)]
pub struct ModelLease(Arc<LoadedModel>);

impl std::ops::Deref for ModelLease {
    type Target = LoadedModel;
    fn deref(&self) -> &LoadedModel {
        &self.0
    }
}

struct Slot {
    memory_mb: u64,
    last_used: u64,
    cell: Arc<OnceCell<Arc<LoadedModel>>>,
}

impl Slot {
    /// Loaded and not leased: only the pool holds it.
    fn idle(&self) -> bool {
        self.cell.get().is_some_and(|m| Arc::strong_count(m) == 1)
    }
}

#[derive(Default)]
struct PoolState {
    slots: HashMap<PathBuf, Slot>,
    clock: u64,
}

/// What the pool holds right now.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PoolEntry {
    pub id: String,
    pub quant: String,
    pub memory_mb: u64,
    pub loaded: bool,
    pub leases: usize,
}

/// The process's loaded models.
pub struct ModelPool {
    budget_mb: u64,
    max_concurrent: usize,
    state: Mutex<PoolState>,
    metrics: LlmMetrics,
}

impl std::fmt::Debug for ModelPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelPool").field("budget_mb", &self.budget_mb).finish_non_exhaustive()
    }
}

impl ModelPool {
    /// `budget_mb` bounds the sum of the manifest's memory estimates of loaded models;
    /// `max_concurrent` is how many sequences mistral.rs batches per model.
    pub fn new(budget_mb: u64, max_concurrent: usize, metrics: LlmMetrics) -> ModelPool {
        ModelPool { budget_mb, max_concurrent: max_concurrent.max(1), state: Mutex::default(), metrics }
    }

    pub fn budget_mb(&self) -> u64 {
        self.budget_mb
    }

    pub fn metrics(&self) -> &LlmMetrics {
        &self.metrics
    }

    /// The loaded model for `resolved`, loading it (once, however many ask at the same time).
    pub async fn acquire(&self, resolved: &ResolvedModel) -> Result<ModelLease, LlmError> {
        let cell = self.reserve(resolved)?;
        let loaded = cell.get_or_try_init(|| self.load(resolved)).await;
        match loaded {
            Ok(model) => Ok(ModelLease(model.clone())),
            Err(e) => {
                // Forget the failed slot so its memory is free and a later request retries.
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if state
                    .slots
                    .get(&resolved.path)
                    .is_some_and(|s| Arc::ptr_eq(&s.cell, &cell) && s.cell.get().is_none())
                {
                    state.slots.remove(&resolved.path);
                }
                Err(e)
            }
        }
    }

    /// Finds or makes the slot, unloading idle models to make room.
    fn reserve(&self, resolved: &ResolvedModel) -> Result<Arc<OnceCell<Arc<LoadedModel>>>, LlmError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.clock += 1;
        let now = state.clock;
        if let Some(slot) = state.slots.get_mut(&resolved.path) {
            slot.last_used = now;
            return Ok(slot.cell.clone());
        }
        let over = |reason: String| LlmError::OverBudget {
            id: resolved.id.clone(),
            quant: resolved.quant.clone(),
            needed_mb: resolved.memory_mb,
            reason,
        };
        if resolved.memory_mb > self.budget_mb {
            return Err(over(format!("the memory budget is {} MiB", self.budget_mb)));
        }
        let used: u64 = state.slots.values().map(|s| s.memory_mb).sum();
        let mut free = self.budget_mb.saturating_sub(used);
        if free < resolved.memory_mb {
            let mut idle: Vec<(u64, u64, PathBuf)> = state
                .slots
                .iter()
                .filter(|(_, s)| s.idle())
                .map(|(path, s)| (s.last_used, s.memory_mb, path.clone()))
                .collect();
            idle.sort();
            let reclaimable: u64 = idle.iter().map(|(_, mb, _)| mb).sum();
            if free + reclaimable < resolved.memory_mb {
                return Err(over(format!(
                    "only {} MiB of the {} MiB budget can be freed (models in use hold the rest)",
                    free + reclaimable,
                    self.budget_mb
                )));
            }
            for (_, mb, path) in idle {
                if free >= resolved.memory_mb {
                    break;
                }
                if let Some(slot) = state.slots.remove(&path) {
                    tracing::info!(model = %path.display(), memory_mb = slot.memory_mb, "unloading an idle model to make room");
                    self.metrics.unloads.inc();
                }
                free += mb;
            }
        }
        let cell = Arc::new(OnceCell::new());
        state
            .slots
            .insert(resolved.path.clone(), Slot { memory_mb: resolved.memory_mb, last_used: now, cell: cell.clone() });
        Ok(cell)
    }

    async fn load(&self, resolved: &ResolvedModel) -> Result<Arc<LoadedModel>, LlmError> {
        let load_err =
            |message: String| LlmError::Load { id: resolved.id.clone(), path: resolved.path.clone(), message };
        // mistral.rs treats a model id that is not a local directory as a Hugging Face repo
        // and goes to the network; the registry checked the file, check again right here.
        let (Some(dir), Some(file)) = (resolved.path.parent(), resolved.path.file_name()) else {
            return Err(load_err("not a file path".into()));
        };
        if !resolved.path.is_file() || !dir.is_dir() {
            return Err(LlmError::ModelMissing {
                id: resolved.id.clone(),
                quant: resolved.quant.clone(),
                path: resolved.path.clone(),
                install: "it disappeared after it was found".into(),
            });
        }
        let builder = GgufModelBuilder::new(dir.to_string_lossy(), vec![file.to_string_lossy()])
            .with_token_source(TokenSource::None)
            .with_max_num_seqs(self.max_concurrent);
        let started = Instant::now();
        tracing::info!(model = %resolved.id, quant = %resolved.quant, path = %resolved.path.display(), "loading model");
        // Loading reads and dequantizes on this thread; keep it off the async workers.
        let handle = tokio::runtime::Handle::current();
        let model = tokio::task::spawn_blocking(move || handle.block_on(builder.build()))
            .await
            .map_err(|e| load_err(format!("the loader panicked: {e}")))?
            .map_err(|e| load_err(format!("{e:#}")))?;
        let load_seconds = started.elapsed().as_secs_f64();
        self.metrics.record_load(load_seconds);
        tracing::info!(model = %resolved.id, seconds = load_seconds, "model loaded");
        Ok(Arc::new(LoadedModel {
            id: resolved.id.clone(),
            quant: resolved.quant.clone(),
            path: resolved.path.clone(),
            memory_mb: resolved.memory_mb,
            load_seconds,
            model,
        }))
    }

    /// The models held now, most recently used first.
    pub fn entries(&self) -> Vec<PoolEntry> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut slots: Vec<&Slot> = state.slots.values().collect();
        slots.sort_by_key(|s| std::cmp::Reverse(s.last_used));
        slots
            .into_iter()
            .filter_map(|s| {
                let m = s.cell.get()?;
                Some(PoolEntry {
                    id: m.id.clone(),
                    quant: m.quant.clone(),
                    memory_mb: s.memory_mb,
                    loaded: true,
                    leases: Arc::strong_count(m) - 1,
                })
            })
            .collect()
    }

    /// How many times models were loaded into this pool.
    pub fn loads(&self) -> u64 {
        self.metrics.loads()
    }
}
