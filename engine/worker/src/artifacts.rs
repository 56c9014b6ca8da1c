//! Keeping a finished run's output files: each file an output refers to is linked (or
//! copied) into `artifacts/<run>/`, hashed, and recorded, and the output JSON names the
//! artifact so clients can download it. Workspaces and cache blobs may be cleaned up later;
//! artifacts stay.

use std::io::Read;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use reelflow_core::Value;
use reelflow_store::ArtifactRecord;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The key in a file's JSON object that names its artifact (next to `$file`).
pub const ARTIFACT_KEY: &str = "artifact";

/// Copies each output file into `dir` and returns the outputs as JSON (file objects carry
/// `"artifact": <id>` and the kept path) with the records to store. Blocking.
pub fn keep_outputs(
    run_id: &str,
    outputs: &IndexMap<String, Value>,
    dir: &Path,
) -> Result<(serde_json::Value, Vec<ArtifactRecord>)> {
    let mut records = Vec::new();
    let mut json = serde_json::Map::new();
    for (name, value) in outputs {
        let mut value = value.clone();
        let mut failure = None;
        let mut index = 0;
        value.map_files(&mut |file| {
            if failure.is_some() {
                return;
            }
            index += 1;
            match keep_file(run_id, name, index, &file.path, dir) {
                Ok(record) => {
                    file.path = PathBuf::from(&record.path);
                    file.meta.insert(ARTIFACT_KEY.into(), serde_json::Value::String(record.id.clone()));
                    records.push(record);
                }
                Err(e) => failure = Some(e),
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        json.insert(name.clone(), lift_artifact_ids(value.to_json()));
    }
    Ok((serde_json::Value::Object(json), records))
}

/// Moves `meta.artifact` up beside `$file`, where clients look for it.
fn lift_artifact_ids(mut json: serde_json::Value) -> serde_json::Value {
    match &mut json {
        serde_json::Value::Object(obj) => {
            let id = obj.get_mut("meta").and_then(|m| m.as_object_mut()).and_then(|meta| meta.remove(ARTIFACT_KEY));
            if let Some(id) = id {
                if obj.get("meta").and_then(|m| m.as_object()).is_some_and(|m| m.is_empty()) {
                    obj.remove("meta");
                }
                obj.insert(ARTIFACT_KEY.into(), id);
            } else {
                for v in obj.values_mut() {
                    *v = lift_artifact_ids(v.take());
                }
            }
        }
        serde_json::Value::Array(items) => {
            for v in items.iter_mut() {
                *v = lift_artifact_ids(v.take());
            }
        }
        _ => {}
    }
    json
}

fn keep_file(run_id: &str, output: &str, index: usize, src: &Path, dir: &Path) -> Result<ArtifactRecord> {
    let err = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Artifact { path, source }
    };
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    let ext = src.extension().and_then(|e| e.to_str()).map(|e| format!(".{e}")).unwrap_or_default();
    let suffix = if index == 1 { String::new() } else { format!("-{index}") };
    let dest = dir.join(format!("{}{suffix}{ext}", safe_name(output)));
    if dest.exists() {
        std::fs::remove_file(&dest).map_err(err(&dest))?;
    }
    // A hard link costs nothing and survives the workspace being cleaned; across
    // filesystems, copy.
    if std::fs::hard_link(src, &dest).is_err() {
        std::fs::copy(src, &dest).map_err(err(&dest))?;
    }
    let (sha256, size) = sha256_file(&dest).map_err(err(&dest))?;
    let content_type = mime_guess::from_path(&dest).first().map(|m| m.essence_str().to_owned());
    Ok(ArtifactRecord {
        id: format!("art-{}", &blake_like_id(run_id, &dest)),
        run_id: run_id.to_owned(),
        path: dest.to_string_lossy().into_owned(),
        sha256,
        size,
        content_type,
    })
}

/// Stable per (run, file): re-keeping the outputs of a resumed run replaces the same records.
fn blake_like_id(run_id: &str, path: &Path) -> String {
    let digest = Sha256::digest(format!("{run_id}\0{}", path.display()).as_bytes());
    hex(&digest[..12])
}

fn safe_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// The SHA-256 (lowercase hex) and size of a file, read in chunks.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hex(&hasher.finalize()), size))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelflow_core::{FileKind, FileRef};

    #[test]
    fn output_files_become_artifacts_named_in_the_json() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.txt");
        std::fs::write(&src, "hello").unwrap();
        let mut outputs = IndexMap::new();
        outputs.insert("greeting".to_owned(), Value::File(FileRef::new(&src, FileKind::Text)));
        outputs.insert("n".to_owned(), Value::Int(3));
        let (json, records) = keep_outputs("run-1", &outputs, &dir.path().join("kept")).unwrap();
        assert_eq!(records.len(), 1);
        let rec = &records[0];
        assert_eq!(rec.size, 5);
        assert_eq!(rec.sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(rec.content_type.as_deref(), Some("text/plain"));
        assert!(rec.path.ends_with("kept/greeting.txt"));
        assert_eq!(json["greeting"]["artifact"], rec.id.as_str());
        assert_eq!(json["greeting"]["$file"], rec.path.as_str());
        assert!(json["greeting"].get("meta").is_none());
        assert_eq!(json["n"], 3);
        // The source may go; the artifact stays.
        std::fs::remove_file(&src).unwrap();
        assert_eq!(std::fs::read_to_string(&rec.path).unwrap(), "hello");
    }
}
