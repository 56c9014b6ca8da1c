//! The content-addressed node cache on disk.
//!
//! A node's outputs are stored under a key that hashes (op, op version, resolved params,
//! input values, and the *contents* of input files). Output files are stored once, by
//! content hash, and shared by every entry that produced the same bytes. Entries and blobs
//! are written to a temporary name and renamed, so concurrent processes never see half an
//! entry. Least-recently-used entries are evicted when the cache outgrows its size cap.
//!
//! Layout: `<root>/entries/<aa>/<key>.json`, `<root>/blobs/<aa>/<hash>`, `<root>/tmp/`.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::node::Outputs;
use crate::value::{FileRef, Value};

/// A cache key: the hex blake3 of everything that determines a node's result.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey(pub String);

pub struct Cache {
    root: PathBuf,
    max_bytes: u64,
    /// blake3 of files already hashed, keyed by (path, size, mtime).
    file_hashes: Mutex<HashMap<(PathBuf, u64, SystemTime), String>>,
    tmp_counter: AtomicU64,
    /// Bytes on disk as far as this process knows: measured at open, grown by `put`, reset
    /// by `evict`. Other processes' writes are seen at the next eviction pass.
    approx_bytes: AtomicU64,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    op: String,
    version: u32,
    outputs: IndexMap<String, Value>,
}

/// What an eviction pass did.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CacheStats {
    pub entries: u64,
    pub blobs: u64,
    pub bytes: u64,
    pub evicted_entries: u64,
    pub removed_blobs: u64,
}

impl Cache {
    /// Opens (creating) a cache at `root` that keeps at most `max_bytes` on disk.
    pub fn open(root: impl Into<PathBuf>, max_bytes: u64) -> Result<Cache> {
        let root = root.into();
        for dir in ["entries", "blobs", "tmp"] {
            fs::create_dir_all(root.join(dir)).map_err(|source| Error::Cache { path: root.join(dir), source })?;
        }
        let mut bytes = 0;
        for dir in ["entries", "blobs"] {
            for path in walk_files(&root.join(dir)).map_err(|source| Error::Cache { path: root.join(dir), source })? {
                bytes += fs::metadata(&path).map_or(0, |m| m.len());
            }
        }
        Ok(Cache {
            root,
            max_bytes,
            file_hashes: Mutex::new(HashMap::new()),
            tmp_counter: AtomicU64::new(0),
            approx_bytes: AtomicU64::new(bytes),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Computes the key of a node run. Reads (and remembers) the hash of every input file.
    pub fn key(
        &self,
        op: &str,
        version: u32,
        params: &serde_json::Value,
        inputs: &IndexMap<String, Value>,
    ) -> std::io::Result<CacheKey> {
        let mut h = blake3::Hasher::new();
        h.update(b"reelflow-cache-v1\0");
        h.update(op.as_bytes());
        h.update(&version.to_le_bytes());
        hash_json(&mut h, params);
        let mut ports: Vec<&String> = inputs.keys().collect();
        ports.sort();
        for port in ports {
            h.update(b"\0port\0");
            h.update(port.as_bytes());
            self.hash_value(&mut h, &inputs[port])?;
        }
        Ok(CacheKey(h.finalize().to_hex().to_string()))
    }

    fn hash_value(&self, h: &mut blake3::Hasher, v: &Value) -> std::io::Result<()> {
        match v {
            Value::File(f) => {
                h.update(b"F");
                h.update(f.kind.name().as_bytes());
                h.update(self.file_hash(f)?.as_bytes());
            }
            Value::List(items) => {
                h.update(b"L");
                h.update(&(items.len() as u64).to_le_bytes());
                for item in items {
                    self.hash_value(h, item)?;
                }
            }
            Value::Map(m) => {
                h.update(b"M");
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                for k in keys {
                    h.update(&(k.len() as u64).to_le_bytes());
                    h.update(k.as_bytes());
                    self.hash_value(h, &m[k])?;
                }
            }
            other => hash_json(h, &other.to_json()),
        }
        Ok(())
    }

    /// blake3 of a file's content (memoised by path, size and modification time).
    pub fn file_hash(&self, f: &FileRef) -> std::io::Result<String> {
        if let Some(hash) = &f.hash {
            return Ok(hash.clone());
        }
        let meta = fs::metadata(&f.path)?;
        let memo_key = (f.path.clone(), meta.len(), meta.modified()?);
        if let Some(hash) = self.file_hashes.lock().expect("hash memo poisoned").get(&memo_key) {
            return Ok(hash.clone());
        }
        let hash = hash_file(&f.path)?;
        self.file_hashes.lock().expect("hash memo poisoned").insert(memo_key, hash.clone());
        Ok(hash)
    }

    fn entry_path(&self, key: &CacheKey) -> PathBuf {
        self.root.join("entries").join(&key.0[..2]).join(format!("{}.json", key.0))
    }

    /// Blobs keep their file's extension, so a cached `clip.mp4` is still an `.mp4` to the
    /// tools that later read or export it.
    fn blob_path(&self, hash: &str, original: &Path) -> PathBuf {
        let ext = original
            .extension()
            .and_then(|e| e.to_str())
            .filter(|e| !e.is_empty() && e.len() <= 16 && e.chars().all(|c| c.is_ascii_alphanumeric()));
        let name = match ext {
            Some(ext) => format!("{hash}.{ext}"),
            None => hash.to_owned(),
        };
        self.root.join("blobs").join(&hash[..2]).join(name)
    }

    /// The stored outputs for `key`, if present and complete. A hit refreshes the entry's
    /// place in the LRU order.
    pub fn get(&self, key: &CacheKey) -> Option<Outputs> {
        let path = self.entry_path(key);
        let text = fs::read(&path).ok()?;
        let entry: Entry = serde_json::from_slice(&text).ok()?;
        // An entry whose blob was evicted or deleted is a miss, not an error.
        for v in entry.outputs.values() {
            if v.files().iter().any(|f| !f.path.exists()) {
                return None;
            }
        }
        if let Ok(file) = fs::File::options().write(true).open(&path) {
            let _ = file.set_modified(SystemTime::now());
        }
        Some(entry.outputs)
    }

    /// Stores outputs under `key`. Output files are copied into the blob store ; the entry refers to the blobs.
    pub fn put(&self, key: &CacheKey, op: &str, version: u32, outputs: &Outputs) -> std::io::Result<()> {
        let mut stored = outputs.clone();
        let mut failure = None;
        for v in stored.values_mut() {
            v.map_files(&mut |f: &mut FileRef| {
                if failure.is_some() {
                    return;
                }
                match self.store_blob(f) {
                    Ok((hash, path)) => {
                        f.hash = Some(hash);
                        f.path = path;
                    }
                    Err(e) => failure = Some(e),
                }
            });
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let entry = Entry { op: op.into(), version, outputs: stored };
        let bytes = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        self.write_atomic(&self.entry_path(key), |out| out.write_all(&bytes))?;
        self.approx_bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Runs [`Cache::evict`] when the cache may have outgrown its cap; cheap otherwise.
    pub fn evict_if_needed(&self) -> std::io::Result<Option<CacheStats>> {
        if self.approx_bytes.load(Ordering::Relaxed) <= self.max_bytes {
            return Ok(None);
        }
        self.evict().map(Some)
    }

    fn store_blob(&self, f: &FileRef) -> std::io::Result<(String, PathBuf)> {
        let hash = self.file_hash(f)?;
        let dest = self.blob_path(&hash, &f.path);
        if !dest.exists() {
            fs::create_dir_all(dest.parent().expect("blob has a parent"))?;
            // A copy, not a hard link: an operator that later rewrote the workspace file in
            // place would otherwise change the cached blob too. (std's copy uses
            // copy_file_range, which shares extents on filesystems that can.)
            let tmp = self.tmp_name();
            let len = fs::copy(&f.path, &tmp)?;
            fs::rename(&tmp, &dest)?;
            self.approx_bytes.fetch_add(len, Ordering::Relaxed);
        }
        Ok((hash, dest))
    }

    fn tmp_name(&self) -> PathBuf {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        self.root.join("tmp").join(format!("{}-{n}", std::process::id()))
    }

    fn write_atomic(
        &self,
        dest: &Path,
        write: impl FnOnce(&mut fs::File) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        fs::create_dir_all(dest.parent().expect("entry has a parent"))?;
        let tmp = self.tmp_name();
        let mut file = fs::File::create(&tmp)?;
        write(&mut file)?;
        file.sync_data()?;
        drop(file);
        fs::rename(&tmp, dest)
    }

    /// Evicts least-recently-used entries until the cache fits its cap, and removes blobs
    /// that no remaining entry refers to. A blob's bytes count as freed once its last
    /// referring entry is gone, so eviction stops as soon as enough space is free.
    pub fn evict(&self) -> std::io::Result<CacheStats> {
        let mut entries: Vec<(SystemTime, u64, PathBuf, Vec<PathBuf>)> = Vec::new();
        let mut refcount: HashMap<PathBuf, u64> = HashMap::new();
        for path in walk_files(&self.root.join("entries"))? {
            let meta = fs::metadata(&path)?;
            let blobs: Vec<PathBuf> = fs::read(&path)
                .ok()
                .and_then(|t| serde_json::from_slice::<Entry>(&t).ok())
                .map(|e| e.outputs.values().flat_map(|v| v.files().into_iter().map(|f| f.path.clone())).collect())
                .unwrap_or_default();
            for b in &blobs {
                *refcount.entry(b.clone()).or_default() += 1;
            }
            entries.push((meta.modified()?, meta.len(), path, blobs));
        }
        let mut blob_sizes: HashMap<PathBuf, u64> = HashMap::new();
        for path in walk_files(&self.root.join("blobs"))? {
            blob_sizes.insert(path.clone(), fs::metadata(&path)?.len());
        }
        let mut total: u64 = entries.iter().map(|e| e.1).sum::<u64>() + blob_sizes.values().sum::<u64>();
        let mut stats = CacheStats::default();
        // Blobs nobody refers to (a crash between blob and entry writes) go first.
        for (path, len) in &blob_sizes {
            if !refcount.contains_key(path) {
                fs::remove_file(path)?;
                total -= len;
                stats.removed_blobs += 1;
            }
        }
        entries.sort();
        let mut kept = 0u64;
        for (_, len, path, blobs) in entries {
            if total <= self.max_bytes {
                kept += 1;
                continue;
            }
            fs::remove_file(&path)?;
            total -= len;
            stats.evicted_entries += 1;
            for b in blobs {
                let count = refcount.get_mut(&b).expect("counted above");
                *count -= 1;
                if *count == 0
                    && let Some(len) = blob_sizes.get(&b)
                {
                    fs::remove_file(&b)?;
                    total -= len;
                    stats.removed_blobs += 1;
                }
            }
        }
        stats.entries = kept;
        stats.blobs = refcount.values().filter(|&&c| c > 0).count() as u64;
        stats.bytes = total;
        self.approx_bytes.store(total, Ordering::Relaxed);
        Ok(stats)
    }
}

fn walk_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let Ok(shards) = fs::read_dir(dir) else { return Ok(out) };
    for shard in shards {
        let shard = shard?;
        if shard.file_type()?.is_dir() {
            for f in fs::read_dir(shard.path())? {
                out.push(f?.path());
            }
        }
    }
    Ok(out)
}

/// blake3 of a file, streamed.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().to_hex().to_string())
}

/// Hashes JSON canonically: object keys sorted, so key order never changes a key.
fn hash_json(h: &mut blake3::Hasher, v: &serde_json::Value) {
    use serde_json::Value as J;
    match v {
        J::Null => {
            h.update(b"n");
        }
        J::Bool(b) => {
            h.update(if *b { b"t" } else { b"f" });
        }
        J::Number(n) => {
            h.update(b"#");
            h.update(n.to_string().as_bytes());
            h.update(b";");
        }
        J::String(s) => {
            h.update(b"s");
            h.update(&(s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        J::Array(items) => {
            h.update(b"[");
            h.update(&(items.len() as u64).to_le_bytes());
            items.iter().for_each(|i| hash_json(h, i));
        }
        J::Object(map) => {
            h.update(b"{");
            h.update(&(map.len() as u64).to_le_bytes());
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for k in keys {
                h.update(&(k.len() as u64).to_le_bytes());
                h.update(k.as_bytes());
                hash_json(h, &map[k]);
            }
        }
    }
}
