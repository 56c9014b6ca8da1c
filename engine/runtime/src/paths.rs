//! Confining server-side paths that clients name in run inputs to the configured roots.
//!
//! A client of the HTTP API may name files on the server as inputs (an upload, a file in a
//! media library). Without a fence, `../../etc/passwd`, `/root/.ssh/id_rsa` or a symlink
//! planted in a root would let any client read any file the server can read. So every file
//! in a run's inputs is resolved to its real path (following symlinks) and must lie inside
//! one of the roots, themselves resolved.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use reelflow_core::Value;

/// The directories inputs may come from, resolved once.
#[derive(Clone, Debug)]
pub struct InputRoots {
    roots: Vec<PathBuf>,
}

impl InputRoots {
    /// Roots that do not exist are skipped: nothing can be inside them.
    pub fn new(roots: impl IntoIterator<Item = PathBuf>) -> Self {
        InputRoots { roots: roots.into_iter().filter_map(|r| r.canonicalize().ok()).collect() }
    }

    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// The real path of `path` if it exists inside a root.
    pub fn confine(&self, path: &Path) -> Result<PathBuf, String> {
        let shown = path.display();
        // `..` is refused outright, even when it would resolve back inside a root: a client
        // has no reason to write one, and it is how traversal attempts look.
        if path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(format!("`{shown}`: paths with `..` are not allowed"));
        }
        let real = path.canonicalize().map_err(|_| format!("`{shown}`: no such file"))?;
        if !real.is_file() {
            return Err(format!("`{shown}` is not a file"));
        }
        if self.roots.iter().any(|root| real.starts_with(root)) {
            Ok(real)
        } else {
            Err(format!("`{shown}` is outside the directories this server may read inputs from"))
        }
    }

    /// Confines every file inside the bound inputs, rewriting each to its real path. All
    /// offending inputs are reported together.
    pub fn confine_inputs(&self, inputs: &mut IndexMap<String, Value>) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        for (name, value) in inputs.iter_mut() {
            value.map_files(&mut |file| match self.confine(&file.path) {
                Ok(real) => file.path = real,
                Err(e) => errors.push(format!("input `{name}`: {e}")),
            });
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelflow_core::{FileKind, FileRef};

    #[test]
    fn only_real_files_inside_roots_pass() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("media");
        let outside = dir.path().join("secret.txt");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/clip.txt"), "ok").unwrap();
        std::fs::write(&outside, "secret").unwrap();
        let roots = InputRoots::new([root.clone(), dir.path().join("missing")]);
        assert_eq!(roots.roots().len(), 1);

        assert!(roots.confine(&root.join("sub/clip.txt")).is_ok());
        assert!(roots.confine(&root.join("sub/../sub/clip.txt")).unwrap_err().contains(".."));
        assert!(roots.confine(&outside).unwrap_err().contains("outside"));
        assert!(roots.confine(Path::new("/etc/passwd")).unwrap_err().contains("outside"));
        assert!(roots.confine(&root.join("nope.txt")).unwrap_err().contains("no such file"));
        assert!(roots.confine(&root.join("sub")).unwrap_err().contains("not a file"));

        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&outside, root.join("escape.txt")).unwrap();
            assert!(roots.confine(&root.join("escape.txt")).unwrap_err().contains("outside"));
        }

        let mut inputs = IndexMap::new();
        inputs.insert("a".to_owned(), Value::File(FileRef::new(root.join("sub/clip.txt"), FileKind::Text)));
        inputs.insert("b".to_owned(), Value::List(vec![Value::File(FileRef::new(&outside, FileKind::Text))]));
        let errors = roots.confine_inputs(&mut inputs).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("input `b`"), "{errors:?}");
    }
}
