//! Which file answers a request: the manifest, the active-model config, and the disk.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::LlmError;
use crate::manifest::{ActiveModels, Manifest, ModelEntry, Task};

/// The manifest's file name inside the models directory.
pub const MANIFEST_FILE: &str = "models.yaml";
/// The shipped active-model config, inside the models directory.
pub const DEFAULT_ACTIVE_FILE: &str = "active_model.yaml";
/// Where an operator's own active-model config lives (relative to the working directory),
/// as the clipsmaster document describes; it wins over the shipped one.
pub const ACTIVE_CONFIG: &str = "configs/models/active_model.yaml";

/// What a request asks for. Everything is optional: a language picks its configured model,
/// no language means the configured default language.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ModelSelector {
    /// A model id from the manifest; overrides `language`.
    #[serde(default)]
    pub model: Option<String>,
    /// `zh`, `en`, …: the model configured for that language.
    #[serde(default)]
    pub language: Option<String>,
    /// Quantization level (`Q2_K`, `Q4_K_M`, `Q5_K_M`, `Q8_0`, or whatever the model offers).
    #[serde(default)]
    pub quant: Option<String>,
}

/// A request resolved to one file on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedModel {
    pub id: String,
    pub quant: String,
    pub path: PathBuf,
    pub memory_mb: u64,
    pub task: Task,
}

/// One quantization level of a model, as found on disk.
#[derive(Clone, Debug, Serialize)]
pub struct LevelStatus {
    pub quant: String,
    pub path: PathBuf,
    pub available: bool,
    /// Size on disk (or the manifest's expected size when missing).
    pub size: Option<u64>,
    pub memory_mb: u64,
}

/// A model with the state of each of its files.
#[derive(Clone, Debug, Serialize)]
pub struct ModelStatus {
    #[serde(flatten)]
    pub entry: ModelEntry,
    pub levels: Vec<LevelStatus>,
    /// The languages this model serves in the active config.
    pub active_for: Vec<String>,
}

impl ModelStatus {
    pub fn available(&self) -> bool {
        self.levels.iter().any(|l| l.available)
    }
}

/// A problem `check` found with a file that exists.
#[derive(Clone, Debug, Serialize)]
pub struct FileProblem {
    pub model: String,
    pub quant: String,
    pub path: PathBuf,
    pub problem: String,
}

/// The models directory and the configs that describe it.
#[derive(Clone, Debug)]
pub struct ModelRegistry {
    models_dir: PathBuf,
    active_config: PathBuf,
}

impl ModelRegistry {
    /// `models_dir` holds `models.yaml`; `active_config` is the operator's
    /// `configs/models/active_model.yaml` (the shipped `models/active_model.yaml` is used
    /// while it does not exist).
    pub fn new(models_dir: impl Into<PathBuf>, active_config: impl Into<PathBuf>) -> ModelRegistry {
        ModelRegistry { models_dir: models_dir.into(), active_config: active_config.into() }
    }

    pub fn models_dir(&self) -> &Path {
        &self.models_dir
    }

    pub fn manifest(&self) -> Result<Manifest, LlmError> {
        Manifest::load(&self.models_dir.join(MANIFEST_FILE))
    }

    /// The active config in force and the file it came from.
    pub fn active(&self) -> Result<(ActiveModels, PathBuf), LlmError> {
        let path = if self.active_config.is_file() {
            self.active_config.clone()
        } else {
            self.models_dir.join(DEFAULT_ACTIVE_FILE)
        };
        Ok((ActiveModels::load(&path)?, path))
    }

    /// The file that answers `selector`, which must exist.
    pub fn resolve(&self, selector: &ModelSelector) -> Result<ResolvedModel, LlmError> {
        let manifest = self.manifest()?;
        let (entry, config_quant) = match &selector.model {
            Some(id) => (find(&manifest, id)?, None),
            None => {
                let (active, config) = self.active()?;
                let language = selector.language.clone().unwrap_or_else(|| active.default_language.clone());
                let Some(choice) = active.languages.get(&language) else {
                    let configured = active.languages.keys().cloned().collect::<Vec<_>>().join(", ");
                    return Err(LlmError::NoModelForLanguage { language, configured, config });
                };
                (find(&manifest, &choice.model)?, choice.quant.clone())
            }
        };
        let quant = selector.quant.clone().or(config_quant).unwrap_or_else(|| entry.default_quant.clone());
        let Some(file) = entry.quantizations.get(&quant) else {
            return Err(LlmError::NoSuchQuant {
                id: entry.id.clone(),
                quant,
                levels: entry.quantizations.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        };
        let path = self.models_dir.join(&file.file);
        if !path.is_file() {
            return Err(LlmError::ModelMissing { id: entry.id.clone(), quant, path, install: entry.install.clone() });
        }
        Ok(ResolvedModel { id: entry.id.clone(), quant, path, memory_mb: file.memory_mb, task: entry.task })
    }

    /// Every model in the manifest with each file's state.
    pub fn list(&self) -> Result<Vec<ModelStatus>, LlmError> {
        let manifest = self.manifest()?;
        let active = self.active().ok().map(|(a, _)| a);
        Ok(manifest
            .models
            .into_iter()
            .map(|entry| {
                let levels = entry
                    .quantizations
                    .iter()
                    .map(|(quant, file)| {
                        let path = self.models_dir.join(&file.file);
                        let on_disk = std::fs::metadata(&path).ok().filter(|m| m.is_file());
                        LevelStatus {
                            quant: quant.clone(),
                            available: on_disk.is_some(),
                            size: on_disk.map(|m| m.len()).or(file.size),
                            path,
                            memory_mb: file.memory_mb,
                        }
                    })
                    .collect();
                let active_for = active
                    .iter()
                    .flat_map(|a| a.languages.iter())
                    .filter(|(_, choice)| choice.model == entry.id)
                    .map(|(lang, _)| lang.clone())
                    .collect();
                ModelStatus { entry, levels, active_for }
            })
            .collect())
    }

    /// Checks every present file against the manifest's size and SHA-256 (hashing reads
    /// the whole file, so `verify_hashes` is off for quick listings).
    pub fn check(&self, verify_hashes: bool) -> Result<Vec<FileProblem>, LlmError> {
        let manifest = self.manifest()?;
        let mut problems = Vec::new();
        for entry in &manifest.models {
            for (quant, file) in &entry.quantizations {
                let path = self.models_dir.join(&file.file);
                let Ok(meta) = std::fs::metadata(&path) else { continue };
                let problem = |problem: String| FileProblem {
                    model: entry.id.clone(),
                    quant: quant.clone(),
                    path: path.clone(),
                    problem,
                };
                if let Some(size) = file.size.filter(|&s| s != meta.len()) {
                    problems.push(problem(format!("{} bytes, expected {size}", meta.len())));
                    continue;
                }
                if let (true, Some(expected)) = (verify_hashes, &file.sha256) {
                    match sha256_file(&path) {
                        Ok(actual) if actual.eq_ignore_ascii_case(expected) => {}
                        Ok(actual) => problems.push(problem(format!("SHA-256 {actual}, expected {expected}"))),
                        Err(e) => problems.push(problem(format!("cannot read it: {e}"))),
                    }
                }
            }
        }
        Ok(problems)
    }
}

fn find<'m>(manifest: &'m Manifest, id: &str) -> Result<&'m ModelEntry, LlmError> {
    manifest.get(id).ok_or_else(|| LlmError::UnknownModel {
        id: id.to_string(),
        known: manifest.models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", "),
    })
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
