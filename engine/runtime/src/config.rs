//! `reelflow.toml`, environment variables, and the data directory layout.
//!
//! Precedence: command-line flags (applied by the caller) > environment > file > defaults.
//!
//! The data directory holds everything a Reelflow process writes:
//! ```text
//! <data_dir>/cache/      content-addressed node cache (entries/, blobs/, tmp/)
//! <data_dir>/runs/<id>/  per-run workspaces: files the nodes of a run wrote
//! ```

use std::path::{Path, PathBuf};

use reelflow_core::ResourceLimits;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Name of the config file looked up in the working directory.
pub const CONFIG_FILE: &str = "reelflow.toml";

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where runs, the cache and (later) the database live. Env: `REELFLOW_DATA_DIR`.
    pub data_dir: PathBuf,
    /// Where named workflows are looked up. Env: `REELFLOW_WORKFLOWS_DIR`.
    pub workflows_dir: PathBuf,
    pub cache: CacheConfig,
    /// Concurrency per resource class.
    pub limits: ResourceLimits,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Env: `REELFLOW_CACHE=off` disables it.
    pub enabled: bool,
    /// Size cap: `10GiB`, `500MB`, or a number of bytes. Env: `REELFLOW_CACHE_MAX`.
    pub max_size: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from(".reelflow"),
            workflows_dir: PathBuf::from("workflows"),
            cache: CacheConfig::default(),
            limits: ResourceLimits::default(),
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig { enabled: true, max_size: "10GiB".into() }
    }
}

impl Config {
    /// Reads `file` (or `./reelflow.toml` when present), then applies the environment.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None if Path::new(CONFIG_FILE).exists() => Self::from_file(Path::new(CONFIG_FILE))?,
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        config.cache_max_bytes()?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
        toml::from_str(&text).map_err(|e| Error::Config { path: path.to_path_buf(), message: e.to_string() })
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(dir) = var("REELFLOW_DATA_DIR") {
            self.data_dir = dir.into();
        }
        if let Some(dir) = var("REELFLOW_WORKFLOWS_DIR") {
            self.workflows_dir = dir.into();
        }
        if let Some(v) = var("REELFLOW_CACHE") {
            self.cache.enabled = !matches!(v.as_str(), "off" | "0" | "false" | "no");
        }
        if let Some(v) = var("REELFLOW_CACHE_MAX") {
            self.cache.max_size = v;
        }
        Ok(())
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.data_dir.join("cache")
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.data_dir.join("runs")
    }

    pub fn cache_max_bytes(&self) -> Result<u64> {
        parse_size(&self.cache.max_size).map_err(|message| Error::Config { path: CONFIG_FILE.into(), message })
    }
}

/// Parses `10GiB`, `1.5 GB`, `500M`, `4096` into bytes.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("`{text}` is not a size like `10GiB`"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        other => return Err(format!("unknown size unit `{other}` in `{text}`")),
    };
    Ok((n * scale) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("10GiB").unwrap(), 10 * 1024 * 1024 * 1024);
        assert_eq!(parse_size("1.5 kb").unwrap(), 1500);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reelflow.toml");
        std::fs::write(
            &path,
            "data_dir = \"/srv/rf\"\n[cache]\nmax_size = \"1GB\"\n[limits]\ncpu = 3\ngpu = 1\nllm = 1\nio = 8\n",
        )
        .unwrap();
        let mut c = Config::from_file(&path).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/rf"));
        assert_eq!(c.limits.cpu, 3);
        c.apply_env(|k| (k == "REELFLOW_CACHE_MAX").then(|| "2GB".to_string())).unwrap();
        assert_eq!(c.cache_max_bytes().unwrap(), 2_000_000_000);
        std::fs::write(&path, "datadir = 1\n").unwrap();
        assert!(Config::from_file(&path).unwrap_err().to_string().contains("datadir"));
    }
}
