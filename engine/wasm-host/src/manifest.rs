//! `plugin.toml`: what a plugin is, which world it implements, what it asks for.
//!
//! The source manifest (beside the plugin's code) has no hash; `reelflow plugin build`
//! installs the compiled component with a manifest that names it and its sha256, and the
//! host refuses a component whose bytes do not match.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The world a plugin implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    Node,
    Effect,
    Template,
    Generator,
}

impl PluginKind {
    pub const ALL: [PluginKind; 4] =
        [PluginKind::Node, PluginKind::Effect, PluginKind::Template, PluginKind::Generator];

    pub fn name(self) -> &'static str {
        match self {
            PluginKind::Node => "node",
            PluginKind::Effect => "effect",
            PluginKind::Template => "template",
            PluginKind::Generator => "generator",
        }
    }

    pub fn parse(text: &str) -> Option<PluginKind> {
        PluginKind::ALL.into_iter().find(|k| k.name() == text)
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Something beyond its own memory that a plugin may be granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// Read files from an asset directory the operator names (`host.read-asset`).
    Assets,
    /// The real wall and monotonic clocks (otherwise both stand still at zero).
    Clock,
    /// Real randomness (otherwise a fixed sequence).
    Random,
}

impl Capability {
    pub fn name(self) -> &'static str {
        match self {
            Capability::Assets => "assets",
            Capability::Clock => "clock",
            Capability::Random => "random",
        }
    }
}

/// Limits a plugin asks for; the operator's limits cap them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedLimits {
    /// Linear memory of one instance, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
}

/// A parsed `plugin.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `[a-z][a-z0-9_]*`; the op name (or prefix, for node plugins).
    pub name: String,
    pub version: String,
    pub kind: PluginKind,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub capabilities: BTreeSet<Capability>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub limits: RequestedLimits,
    /// The component file, relative to the manifest (installed manifests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Lowercase hex sha256 of the component file (installed manifests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// The manifest file's name inside a plugin directory.
pub const MANIFEST_FILE: &str = "plugin.toml";

impl Manifest {
    pub fn parse(text: &str, path: &Path) -> Result<Manifest> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| Error::Manifest { path: path.to_owned(), message: e.to_string() })?;
        if !is_identifier(&manifest.name) {
            return Err(Error::Manifest {
                path: path.to_owned(),
                message: format!("name `{}` must match [a-z][a-z0-9_]*", manifest.name),
            });
        }
        if let Some(hash) = &manifest.sha256
            && (hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        {
            return Err(Error::Manifest {
                path: path.to_owned(),
                message: format!("sha256 `{hash}` is not 64 lowercase hex digits"),
            });
        }
        Ok(manifest)
    }

    pub fn read(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_owned(), source })?;
        Manifest::parse(&text, path)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a manifest serializes")
    }

    /// The installed component's path, for a manifest at `manifest_path`.
    pub fn component_path(&self, manifest_path: &Path) -> Result<PathBuf> {
        let file = self.component.as_deref().ok_or_else(|| Error::Manifest {
            path: manifest_path.to_owned(),
            message: "no `component` file named (build and install the plugin with `reelflow plugin build`)".into(),
        })?;
        if file.contains('/') || file.contains('\\') || file.starts_with('.') {
            return Err(Error::Manifest {
                path: manifest_path.to_owned(),
                message: format!("component `{file}` must be a file name beside the manifest"),
            });
        }
        Ok(manifest_path.parent().unwrap_or(Path::new(".")).join(file))
    }

    /// Reads the component and checks it against the manifest's hash.
    pub fn read_component(&self, manifest_path: &Path) -> Result<(PathBuf, Vec<u8>)> {
        let path = self.component_path(manifest_path)?;
        let expected = self.sha256.clone().ok_or_else(|| Error::Manifest {
            path: manifest_path.to_owned(),
            message: "no `sha256` of the component (an installed plugin must name its hash)".into(),
        })?;
        let bytes = std::fs::read(&path).map_err(|source| Error::Read { path: path.clone(), source })?;
        let actual = sha256_hex(&bytes);
        if actual != expected {
            return Err(Error::HashMismatch { plugin: self.name.clone(), path, expected, actual });
        }
        Ok((path, bytes))
    }
}

pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_source_manifest_and_refuses_bad_ones() {
        let path = Path::new("plugin.toml");
        let m = Manifest::parse(
            "name = \"filmlook\"\nversion = \"0.1.0\"\nkind = \"effect\"\ncapabilities = [\"clock\"]\n[limits]\nmemory_mb = 64\n",
            path,
        )
        .unwrap();
        assert_eq!(m.kind, PluginKind::Effect);
        assert!(m.capabilities.contains(&Capability::Clock));
        assert_eq!(m.limits.memory_mb, Some(64));
        assert!(m.component_path(path).is_err());
        // Round trip through the installed form.
        let mut installed = m.clone();
        installed.component = Some("filmlook.wasm".into());
        installed.sha256 = Some(sha256_hex(b"x"));
        assert_eq!(Manifest::parse(&installed.to_toml(), path).unwrap(), installed);

        for (text, needle) in [
            ("name = \"Film\"\nversion = \"1\"\nkind = \"effect\"", "must match"),
            ("name = \"a\"\nversion = \"1\"\nkind = \"shader\"", "unknown variant"),
            ("name = \"a\"\nversion = \"1\"\nkind = \"node\"\ncapabilities = [\"network\"]", "unknown variant"),
            ("name = \"a\"\nversion = \"1\"\nkind = \"node\"\nsha256 = \"abc\"", "64 lowercase hex"),
            ("name = \"a\"\nversion = \"1\"\nkind = \"node\"\nextra = 1", "unknown field"),
        ] {
            let err = Manifest::parse(text, path).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        let sneaky = Manifest { component: Some("../x.wasm".into()), ..m };
        assert!(sneaky.component_path(path).is_err());
    }
}
