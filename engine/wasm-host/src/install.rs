//! Building plugins from source and installing them: compile a guest crate for
//! `wasm32-wasip2` with cargo (guests are not part of the engine's build graph), then copy
//! the component beside a manifest that names its sha256.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_FILE, Manifest, sha256_hex};

/// The target every plugin is built for.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// Where guest builds go: beside the engine's own build (`$CARGO_TARGET_DIR/plugins`) when
/// that is set, so CI's cache covers them; else the plugin workspace's own `target/`.
pub fn guest_target_dir(workspace: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            std::path::absolute(&dir).unwrap_or(dir).join("plugins")
        }
        _ => workspace.join("target"),
    }
}

/// Builds the guest crate in `source` (a plugin folder, or a workspace of them) in release
/// mode. Returns the directory holding the built `.wasm` files.
pub fn build(source: &Path) -> Result<PathBuf> {
    // Absolute, because cargo runs in the guest workspace, not here.
    let source = &source.canonicalize().map_err(|e| Error::Read { path: source.to_owned(), source: e })?;
    let manifest = source.join("Cargo.toml");
    // The guest workspace root holds the lock file and the target dir.
    let workspace = if source.join("Cargo.lock").is_file() {
        source.to_owned()
    } else {
        source.parent().filter(|p| p.join("Cargo.lock").is_file()).unwrap_or(source).to_owned()
    };
    let target_dir = guest_target_dir(&workspace);
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .args(["build", "--release", "--target", GUEST_TARGET, "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        // Cargo reads `.cargo/config.toml` from the working directory up: the guests' own
        // settings must apply wherever the command was started.
        .current_dir(&workspace)
        // Flags meant for the host build (a CPU tuning, say) must not reach the guests.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    if workspace.join("Cargo.lock").is_file() {
        command.arg("--locked");
    }
    let output = command.output().map_err(|source| Error::Read { path: manifest.clone(), source })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
        let hint = if stderr.contains("target may not be installed") || stderr.contains("can't find crate for `core`") {
            format!(" (install the target: rustup target add {GUEST_TARGET})")
        } else {
            String::new()
        };
        return Err(Error::Build {
            path: manifest,
            message: format!("cargo failed{hint}:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n")),
        });
    }
    Ok(target_dir.join(GUEST_TARGET).join("release"))
}

/// Installs a built plugin: `<plugins_dir>/<name>/` gets the component as `<name>.wasm`
/// and the source manifest completed with the file's name and sha256.
pub fn install(source: &Path, built_dir: &Path, plugins_dir: &Path) -> Result<Manifest> {
    let mut manifest = Manifest::read(&source.join(MANIFEST_FILE))?;
    let crate_name = crate_name(source)?;
    let wasm = built_dir.join(format!("{}.wasm", crate_name.replace('-', "_")));
    let bytes = std::fs::read(&wasm).map_err(|source| Error::Read { path: wasm.clone(), source })?;
    let dir = plugins_dir.join(&manifest.name);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Write { path: dir.clone(), source })?;
    let file = format!("{}.wasm", manifest.name);
    let target = dir.join(&file);
    std::fs::write(&target, &bytes).map_err(|source| Error::Write { path: target.clone(), source })?;
    manifest.component = Some(file);
    manifest.sha256 = Some(sha256_hex(&bytes));
    let manifest_path = dir.join(MANIFEST_FILE);
    std::fs::write(&manifest_path, manifest.to_toml())
        .map_err(|source| Error::Write { path: manifest_path.clone(), source })?;
    Ok(manifest)
}

/// Builds and installs the plugin in `source`.
pub fn build_and_install(source: &Path, plugins_dir: &Path) -> Result<Manifest> {
    let built = build(source)?;
    install(source, &built, plugins_dir)
}

/// The `[package] name` of a guest crate.
fn crate_name(source: &Path) -> Result<String> {
    let path = source.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Read { path: path.clone(), source: e })?;
    let value: toml::Value =
        toml::from_str(&text).map_err(|e| Error::Manifest { path: path.clone(), message: e.to_string() })?;
    value
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .ok_or_else(|| Error::Manifest { path, message: "no [package] name".into() })
}
