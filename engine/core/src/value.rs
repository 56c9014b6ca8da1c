//! Values that travel on the edges of a workflow graph, and their types.
//!
//! A [`Value`] is JSON plus one extra case: a [`FileRef`], a file in the run's workspace
//! (or in the cache) whose *content* is what matters for caching. Values convert to and
//! from JSON losslessly; a file is written as `{"$file": "<path>", "kind": "video", ...}`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// A value produced or consumed by a node port.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<Value>),
    Map(IndexMap<String, Value>),
    File(FileRef),
}

/// A file-backed value (video, audio, image, subtitles on disk, any file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// Absolute path of the file.
    pub path: PathBuf,
    /// What the file holds: `file`, `video`, `audio`, `image`, `text`.
    pub kind: FileKind,
    /// blake3 of the content, filled in when the file has been hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Free-form metadata (for media: probed duration, size, codecs ...).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub meta: serde_json::Map<String, serde_json::Value>,
}

impl FileRef {
    pub fn new(path: impl Into<PathBuf>, kind: FileKind) -> Self {
        Self { path: path.into(), kind, hash: None, meta: Default::default() }
    }
}

/// The kind of content a [`FileRef`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Text,
    Video,
    Audio,
    Image,
}

impl FileKind {
    pub const ALL: [FileKind; 5] = [FileKind::File, FileKind::Text, FileKind::Video, FileKind::Audio, FileKind::Image];

    pub fn name(self) -> &'static str {
        match self {
            FileKind::File => "file",
            FileKind::Text => "text",
            FileKind::Video => "video",
            FileKind::Audio => "audio",
            FileKind::Image => "image",
        }
    }
}

const FILE_KEY: &str = "$file";

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::File(f) => f.kind.name(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// Truthiness used by `when` conditions: false, null, 0, "" and [] are false.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::File(_) => true,
        }
    }

    /// Every file referenced anywhere inside this value.
    pub fn files(&self) -> Vec<&FileRef> {
        let mut out = Vec::new();
        self.collect_files(&mut out);
        out
    }

    fn collect_files<'a>(&'a self, out: &mut Vec<&'a FileRef>) {
        match self {
            Value::File(f) => out.push(f),
            Value::List(l) => l.iter().for_each(|v| v.collect_files(out)),
            Value::Map(m) => m.values().for_each(|v| v.collect_files(out)),
            _ => {}
        }
    }

    /// Rewrites every file reference inside this value.
    pub fn map_files(&mut self, f: &mut impl FnMut(&mut FileRef)) {
        match self {
            Value::File(file) => f(file),
            Value::List(l) => l.iter_mut().for_each(|v| v.map_files(f)),
            Value::Map(m) => m.values_mut().for_each(|v| v.map_files(f)),
            _ => {}
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map(J::Number).unwrap_or(J::Null),
            Value::String(s) => J::String(s.clone()),
            Value::List(l) => J::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
            Value::File(f) => {
                let mut obj = serde_json::Map::new();
                obj.insert(FILE_KEY.into(), J::String(f.path.to_string_lossy().into_owned()));
                obj.insert("kind".into(), J::String(f.kind.name().into()));
                if let Some(h) = &f.hash {
                    obj.insert("hash".into(), J::String(h.clone()));
                }
                if !f.meta.is_empty() {
                    obj.insert("meta".into(), J::Object(f.meta.clone()));
                }
                J::Object(obj)
            }
        }
    }

    pub fn from_json(json: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match json {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Value::String(s.clone()),
            J::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            J::Object(o) => {
                if let Some(J::String(path)) = o.get(FILE_KEY) {
                    let kind =
                        o.get("kind").and_then(|k| serde_json::from_value(k.clone()).ok()).unwrap_or(FileKind::File);
                    return Value::File(FileRef {
                        path: path.into(),
                        kind,
                        hash: o.get("hash").and_then(|h| h.as_str()).map(str::to_owned),
                        meta: o.get("meta").and_then(|m| m.as_object()).cloned().unwrap_or_default(),
                    });
                }
                Value::Map(o.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect())
            }
        }
    }
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(|j| Value::from_json(&j))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.into())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<Vec<Value>> for Value {
    fn from(l: Vec<Value>) -> Self {
        Value::List(l)
    }
}

/// The static type of a port, a workflow input or an output.
///
/// Written in workflow files as `any`, `bool`, `int`, `float`, `string`, `json`,
/// `file`, `text`, `video`, `audio`, `image`, `list<T>`, or a named structure type that
/// an operator crate registered (`subtitles`, `timeline`, ...), which is JSON underneath.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    Any,
    Bool,
    Int,
    Float,
    String,
    Json,
    List(Box<ValueType>),
    File(FileKind),
    /// A JSON structure with a registered name (cues, timelines, storyboards).
    Named(Arc<str>),
}

impl ValueType {
    /// Parses a type as written in workflow files. `named` says which structure type names
    /// are known (the registry's).
    pub fn parse(text: &str, named: &dyn Fn(&str) -> bool) -> Result<ValueType, String> {
        let t = text.trim();
        if let Some(inner) = t.strip_prefix("list<").and_then(|r| r.strip_suffix('>')) {
            return Ok(ValueType::List(Box::new(ValueType::parse(inner, named)?)));
        }
        Ok(match t {
            "any" => ValueType::Any,
            "bool" => ValueType::Bool,
            "int" => ValueType::Int,
            "float" | "number" => ValueType::Float,
            "string" => ValueType::String,
            "json" => ValueType::Json,
            "list" => ValueType::List(Box::new(ValueType::Any)),
            _ => {
                if let Some(kind) = FileKind::ALL.iter().find(|k| k.name() == t) {
                    ValueType::File(*kind)
                } else if named(t) {
                    ValueType::Named(t.into())
                } else {
                    return Err(format!("unknown type `{t}`"));
                }
            }
        })
    }

    /// The element type if this is a list (or `any` for `any`/`json`).
    pub fn element(&self) -> Option<ValueType> {
        match self {
            ValueType::List(inner) => Some((**inner).clone()),
            ValueType::Any | ValueType::Json => Some(ValueType::Any),
            _ => None,
        }
    }

    /// Whether a port of this type can be wired from a port of type `from`. Loose types
    /// (`any`, `json`) are accepted here and checked against the actual value at run time.
    pub fn accepts(&self, from: &ValueType) -> bool {
        use ValueType as T;
        match (self, from) {
            (T::Any, _) | (_, T::Any) => true,
            (T::Float, T::Int) => true,
            (T::Json, from) => !from.holds_files(),
            (T::Named(_), T::Json) => true,
            (T::List(_), T::Json) => true,
            (T::File(FileKind::File), T::File(_)) => true,
            (T::List(a), T::List(b)) => a.accepts(b),
            (a, b) => a == b,
        }
    }

    /// Whether values of this type are or contain files (JSON cannot carry them).
    pub fn holds_files(&self) -> bool {
        match self {
            ValueType::File(_) => true,
            ValueType::List(inner) => inner.holds_files(),
            _ => false,
        }
    }

    /// Whether a concrete value fits this type (run-time check at node boundaries).
    pub fn check(&self, value: &Value) -> bool {
        use ValueType as T;
        match (self, value) {
            (T::Any, _) => true,
            (T::Bool, Value::Bool(_)) | (T::Int, Value::Int(_)) | (T::String, Value::String(_)) => true,
            (T::Float, Value::Float(_) | Value::Int(_)) => true,
            (T::Json | T::Named(_), v) => v.files().is_empty(),
            (T::List(inner), Value::List(items)) => items.iter().all(|v| inner.check(v)),
            (T::File(FileKind::File), Value::File(_)) => true,
            (T::File(k), Value::File(f)) => f.kind == *k,
            _ => false,
        }
    }

    /// Turns a value into this type where the conversion is lossless (int → float).
    pub fn coerce(&self, value: Value) -> Value {
        match (self, value) {
            (ValueType::Float, Value::Int(i)) => Value::Float(i as f64),
            (ValueType::List(inner), Value::List(items)) => {
                Value::List(items.into_iter().map(|v| inner.coerce(v)).collect())
            }
            (_, v) => v,
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueType::Any => f.write_str("any"),
            ValueType::Bool => f.write_str("bool"),
            ValueType::Int => f.write_str("int"),
            ValueType::Float => f.write_str("float"),
            ValueType::String => f.write_str("string"),
            ValueType::Json => f.write_str("json"),
            ValueType::List(inner) => write!(f, "list<{inner}>"),
            ValueType::File(k) => f.write_str(k.name()),
            ValueType::Named(n) => f.write_str(n),
        }
    }
}

impl Serialize for ValueType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> ValueType {
        ValueType::parse(t, &|n| n == "timeline").unwrap()
    }

    #[test]
    fn types_parse_and_print_round_trip() {
        for t in ["any", "int", "list<list<video>>", "timeline", "json", "image"] {
            assert_eq!(parse(t).to_string(), t);
        }
        assert!(ValueType::parse("nope", &|_| false).is_err());
        assert!(ValueType::parse("list<nope>", &|_| false).is_err());
    }

    #[test]
    fn assignability_follows_documented_rules() {
        assert!(parse("float").accepts(&parse("int")));
        assert!(!parse("int").accepts(&parse("float")));
        assert!(parse("file").accepts(&parse("video")));
        assert!(!parse("video").accepts(&parse("audio")));
        assert!(!parse("json").accepts(&parse("video")));
        assert!(!parse("json").accepts(&parse("list<list<image>>")));
        assert!(parse("list<float>").accepts(&parse("list<int>")));
        assert!(!parse("list<string>").accepts(&parse("string")));
        assert!(parse("timeline").accepts(&parse("json")));
    }

    #[test]
    fn files_round_trip_through_json() {
        let v = Value::Map(IndexMap::from([(
            "clip".to_string(),
            Value::File(FileRef::new("/tmp/a.mp4", FileKind::Video)),
        )]));
        let back = Value::from_json(&v.to_json());
        assert_eq!(back, v);
        assert_eq!(back.files().len(), 1);
    }
}
