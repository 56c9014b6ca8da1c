//! The model manifest (`models/models.yaml`) and the active-model config
//! (`configs/models/active_model.yaml`, with `models/active_model.yaml` as the shipped default).
//!
//! Both are read again on every lookup (they are a few hundred bytes), so a model file
//! dropped into place or an edited config takes effect without a restart.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use reelflow_core::{Doc, SourceFile};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::LlmError;

/// What a model is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Chat,
    Embedding,
}

/// Where a model's tokenizer or chat template comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Embedded {
    /// Inside the GGUF file's metadata.
    Embedded,
}

/// One model: several files, one per quantization level.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub task: Task,
    /// ISO 639-1 codes (`zh`, `en`) the model is meant for.
    pub languages: Vec<String>,
    /// Only `gguf` is loadable today.
    pub format: String,
    #[serde(default)]
    pub architecture: Option<String>,
    pub licence: String,
    /// Tokenizer and chat template; GGUF files carry both.
    #[serde(default = "embedded")]
    pub tokenizer: Embedded,
    #[serde(default = "embedded")]
    pub chat_template: Embedded,
    #[serde(default)]
    pub context_length: Option<u32>,
    /// The level used when a request names none.
    pub default_quant: String,
    /// Level (`Q4_K_M`, `Q8_0`, …) → its file.
    pub quantizations: IndexMap<String, QuantFile>,
    /// How to get the files: shown next to a missing file.
    pub install: String,
}

fn embedded() -> Embedded {
    Embedded::Embedded
}

/// One file of a model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantFile {
    /// Relative to the models directory.
    pub file: PathBuf,
    /// Expected size in bytes, when known.
    #[serde(default)]
    pub size: Option<u64>,
    /// Expected SHA-256 (hex), checked by `reelflow models check`.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Memory the loaded model needs (weights, KV cache for its default context, scratch),
    /// in MiB; this is what the pool's budget counts.
    pub memory_mb: u64,
}

/// `models/models.yaml`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub models: Vec<ModelEntry>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest, LlmError> {
        let manifest: Manifest = load_yaml(path)?;
        let mut seen = std::collections::HashSet::new();
        for m in &manifest.models {
            let bad = |message: String| LlmError::Config { path: path.to_path_buf(), message };
            if !seen.insert(m.id.as_str()) {
                return Err(bad(format!("model `{}` is listed twice", m.id)));
            }
            if !m.quantizations.contains_key(&m.default_quant) {
                return Err(bad(format!(
                    "model `{}`: default_quant `{}` is not among its quantizations",
                    m.id, m.default_quant
                )));
            }
            if m.format != "gguf" {
                return Err(bad(format!("model `{}`: format `{}` is not supported (only gguf)", m.id, m.format)));
            }
            for q in m.quantizations.values() {
                if q.file.is_absolute() || q.file.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                    return Err(bad(format!(
                        "model `{}`: `{}` must be a path inside the models directory",
                        m.id,
                        q.file.display()
                    )));
                }
            }
        }
        Ok(manifest)
    }

    pub fn get(&self, id: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.id == id)
    }
}

/// Which model serves a language, and at which level by default.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageModel {
    pub model: String,
    #[serde(default)]
    pub quant: Option<String>,
}

/// `configs/models/active_model.yaml`: the language used when a request names none and the
/// model serving each language. A language without an entry has no model: asking for it is
/// an error, never a silent switch to another language's model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveModels {
    pub default_language: String,
    pub languages: IndexMap<String, LanguageModel>,
}

impl ActiveModels {
    pub fn load(path: &Path) -> Result<ActiveModels, LlmError> {
        let active: ActiveModels = load_yaml(path)?;
        if !active.languages.contains_key(&active.default_language) {
            return Err(LlmError::Config {
                path: path.to_path_buf(),
                message: format!("default_language `{}` has no entry under `languages`", active.default_language),
            });
        }
        Ok(active)
    }
}

/// Reads YAML into `T`, naming the file, line and field of any mistake.
fn load_yaml<T: DeserializeOwned>(path: &Path) -> Result<T, LlmError> {
    let config_err = |message: String| LlmError::Config { path: path.to_path_buf(), message };
    let text = std::fs::read_to_string(path).map_err(|e| config_err(format!("cannot read it: {e}")))?;
    let src = SourceFile::new(path.display().to_string(), text);
    let doc = Doc::load(&src).map_err(|errors| {
        let located = errors.iter().map(|e| {
            let (line, col) = src.line_col(e.span.offset);
            format!("line {line}, column {col}: {}", e.message)
        });
        config_err(located.collect::<Vec<_>>().join("; "))
    })?;
    serde_path_to_error::deserialize(doc.to_json()).map_err(|e| {
        let at = e.path().to_string();
        config_err(if at == "." { e.inner().to_string() } else { format!("at `{at}`: {}", e.inner()) })
    })
}
