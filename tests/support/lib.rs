//! Helpers shared by the end-to-end tests: the `reelflow` binary and scratch directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub mod server;

/// The repository root (this package lives in its `tests/` folder).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The `reelflow` binary, built from the current sources.
///
/// `.ci/test.sh` builds it (with every test, in one `cargo test --workspace --no-run`) and
/// names it in `REELFLOW_TEST_BIN`. Otherwise — a bare `cargo test` — `cargo test` does not
/// build other packages' binaries and one left from an earlier build could be stale, so the
/// first call builds it into this test's target directory with `cargo test --workspace
/// --no-run`, the build closest to the one running (`engine/cli` has an integration test, so
/// it includes the plain binary). Other commands resolve differently and rebuild shared
/// dependencies over the running test's: `-p reelflow-cli` unifies other features, and
/// `cargo build --tests` builds dependencies under the `dev` profile rather than `test`.
pub fn reelflow_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("REELFLOW_TEST_BIN").map(PathBuf::from) {
            assert!(bin.is_file(), "REELFLOW_TEST_BIN={} is not a file", bin.display());
            return bin;
        }
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/<test> → target/<profile>
        let profile_dir = exe.parent().and_then(Path::parent).expect("target profile directory");
        let target_dir = profile_dir.parent().expect("target directory");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["test", "--workspace", "--no-run", "--target-dir"]).arg(target_dir).current_dir(repo_root());
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("running cargo test --no-run");
        assert!(status.success(), "building the reelflow binary failed");
        profile_dir.join("reelflow")
    })
}

/// A scratch directory with its own data directory, and a way to run the CLI in it.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file into the sandbox and returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write fixture");
        path
    }

    /// A `reelflow` command running in the sandbox with its data directory inside it.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(reelflow_bin());
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("REELFLOW_DATA_DIR", self.dir.path().join("data"))
            .env("REELFLOW_WORKFLOWS_DIR", repo_root().join("workflows"))
            .env("REELFLOW_MODELS_DIR", repo_root().join("models"))
            .env_remove("REELFLOW_CONFIG")
            .env_remove("REELFLOW_CACHE");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running reelflow")
    }
}

/// stdout as JSON lines (events, then the run report).
pub fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
