//! Workflow source text and a YAML/JSON loader that remembers where every value came from.
//!
//! serde alone loses positions, and validation errors must name the file, line and column.
//! So documents are first loaded into a [`Doc`] tree whose nodes carry [`Span`]s; the tree
//! converts to JSON for serde, and a failed field is located again by its path.
//! JSON documents are read by the same loader (JSON is YAML's flow style).

use std::collections::HashMap;
use std::sync::Arc;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The largest workflow file accepted, in bytes. Workflows are small; anything bigger is
/// almost certainly a mistake or an attack on the parser.
pub const MAX_SOURCE_BYTES: usize = 4 * 1024 * 1024;
/// The most values a document may expand to (aliases included: a "billion laughs" guard).
pub const MAX_DOC_NODES: usize = 200_000;
/// The deepest nesting accepted.
pub const MAX_DOC_DEPTH: usize = 128;

/// A named piece of source text (a workflow file, or an inline workflow from the API).
#[derive(Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    /// Relative paths in the workflow (script files, ...) are resolved against this.
    pub base_dir: std::path::PathBuf,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Source text whose relative paths resolve against the current directory.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Arc<SourceFile> {
        Self::in_dir(name, text, ".")
    }

    /// Source text whose relative paths resolve against `base_dir` (a file's directory).
    pub fn in_dir(
        name: impl Into<String>,
        text: impl Into<String>,
        base_dir: impl Into<std::path::PathBuf>,
    ) -> Arc<SourceFile> {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Arc::new(SourceFile { name: name.into(), text, base_dir: base_dir.into(), line_starts })
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = self.text.get(start..offset).map_or(0, |s| s.chars().count());
        (line + 1, col + 1)
    }

    /// Byte offset of a 1-based line and 1-based character column.
    pub fn offset_of(&self, line: usize, col: usize) -> usize {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let rest = &self.text[start..];
        rest.char_indices().nth(col.saturating_sub(1)).map_or(self.text.len(), |(i, _)| start + i)
    }
}

/// A byte range in a [`SourceFile`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

impl Span {
    pub fn new(offset: usize, len: usize) -> Span {
        Span { offset, len }
    }
}

/// A loaded document value with its location.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    pub span: Span,
    pub kind: DocKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DocKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string; `quoted` tells a quoted scalar from a plain one.
    Str(String),
    Seq(Vec<Doc>),
    /// Keys in document order, each with the span of the key itself.
    Map(Vec<(String, Span, Doc)>),
}

/// A failure to load a document at all (syntax, size, depth, duplicate keys).
#[derive(Clone, Debug, PartialEq)]
pub struct LoadError {
    pub message: String,
    pub span: Span,
    pub label: String,
}

/// One step of a path into a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// A path written the way authors read it: `nodes.cut.params.sizes[0]`.
pub fn path_text(path: &[PathSeg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSeg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() { "the workflow".into() } else { out }
}

impl Doc {
    /// Loads YAML or JSON text. Duplicate keys are errors (a duplicated node id would
    /// otherwise silently replace the first node); all of them are returned.
    pub fn load(src: &SourceFile) -> Result<Doc, Vec<LoadError>> {
        if src.text.len() > MAX_SOURCE_BYTES {
            return Err(vec![LoadError {
                message: format!("the document is {} bytes; the limit is {} bytes", src.text.len(), MAX_SOURCE_BYTES),
                span: Span::new(0, 0),
                label: "too large".into(),
            }]);
        }
        Loader::new(src).run()
    }

    pub fn get(&self, key: &str) -> Option<&Doc> {
        match &self.kind {
            DocKind::Map(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v),
            _ => None,
        }
    }

    /// The span of the key `key` in this map.
    pub fn key_span(&self, key: &str) -> Option<Span> {
        match &self.kind {
            DocKind::Map(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, s, _)| *s),
            _ => None,
        }
    }

    /// The deepest node along `path` (as far as the path exists) and its span.
    pub fn locate(&self, path: &[PathSeg]) -> Span {
        let mut here = self;
        for seg in path {
            let next = match (seg, &here.kind) {
                (PathSeg::Key(k), DocKind::Map(_)) => here.get(k),
                (PathSeg::Index(i), DocKind::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => here = n,
                None => break,
            }
        }
        here.span
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            DocKind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.kind {
            DocKind::Null => J::Null,
            DocKind::Bool(b) => J::Bool(*b),
            DocKind::Int(i) => J::from(*i),
            DocKind::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            DocKind::Str(s) => J::String(s.clone()),
            DocKind::Seq(items) => J::Array(items.iter().map(Doc::to_json).collect()),
            DocKind::Map(entries) => J::Object(entries.iter().map(|(k, _, v)| (k.clone(), v.to_json())).collect()),
        }
    }
}

enum Frame {
    Seq {
        start: usize,
        anchor: usize,
        items: Vec<Doc>,
    },
    Map {
        start: usize,
        anchor: usize,
        entries: Vec<(String, Span, Doc)>,
        key: Option<(String, Span)>,
        /// Key → offset of its first occurrence, for duplicate detection in O(1).
        seen: HashMap<String, usize>,
    },
}

struct Loader<'a> {
    src: &'a SourceFile,
    stack: Vec<Frame>,
    anchors: Vec<Option<Doc>>,
    nodes: usize,
    root: Option<Doc>,
    errors: Vec<LoadError>,
}

impl<'a> Loader<'a> {
    fn new(src: &'a SourceFile) -> Self {
        Loader { src, stack: Vec::new(), anchors: Vec::new(), nodes: 0, root: None, errors: vec![] }
    }

    fn offset(&self, mark: &Marker) -> usize {
        // The scanner counts characters; spans are bytes.
        self.src.offset_of(mark.line(), mark.col() + 1)
    }

    fn run(mut self) -> Result<Doc, Vec<LoadError>> {
        let mut parser = Parser::new_from_str(&self.src.text);
        let mut documents = 0;
        loop {
            let (event, mark) = match parser.next_token() {
                Ok(e) => e,
                Err(e) => {
                    let m = e.marker();
                    let off = self.offset(m);
                    self.errors.push(LoadError {
                        message: format!("invalid YAML/JSON: {}", e.info()),
                        span: Span::new(off, 0),
                        label: "here".into(),
                    });
                    return Err(self.errors);
                }
            };
            let at = self.offset(&mark);
            match event {
                Event::StreamEnd => break,
                Event::DocumentStart => {
                    documents += 1;
                    if documents > 1 {
                        self.errors.push(LoadError {
                            message: "a workflow file holds exactly one document".into(),
                            span: Span::new(at, 3),
                            label: "second document starts here".into(),
                        });
                        return Err(self.errors);
                    }
                }
                Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
                Event::Alias(id) => {
                    let Some(Some(doc)) = self.anchors.get(id).cloned() else {
                        self.errors.push(LoadError {
                            message: "alias to an unknown anchor".into(),
                            span: Span::new(at, 1),
                            label: "unknown anchor".into(),
                        });
                        return Err(self.errors);
                    };
                    let count = count_nodes(&doc);
                    if !self.count(count, at) {
                        return Err(self.errors);
                    }
                    self.push_value(Doc { span: Span::new(at, 1), ..doc });
                }
                Event::Scalar(text, style, anchor, tag) => {
                    if !self.count(1, at) {
                        return Err(self.errors);
                    }
                    let len = self.scalar_len(at, &text, style);
                    let doc = Doc { span: Span::new(at, len), kind: scalar_kind(text, style, tag) };
                    self.remember(anchor, &doc);
                    self.push_value(doc);
                }
                Event::SequenceStart(anchor, _) => {
                    if !self.enter(at) {
                        return Err(self.errors);
                    }
                    self.stack.push(Frame::Seq { start: at, anchor, items: vec![] });
                }
                Event::MappingStart(anchor, _) => {
                    if !self.enter(at) {
                        return Err(self.errors);
                    }
                    self.stack.push(Frame::Map { start: at, anchor, entries: vec![], key: None, seen: HashMap::new() });
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let frame = self.stack.pop().expect("parser balances collections");
                    let (doc, anchor) = match frame {
                        Frame::Seq { start, anchor, items } => {
                            let end = items.last().map_or(at, |d| d.span.offset + d.span.len);
                            (Doc { span: span_between(start, end), kind: DocKind::Seq(items) }, anchor)
                        }
                        Frame::Map { start, anchor, entries, .. } => {
                            let end = entries.last().map_or(at, |(_, _, d)| d.span.offset + d.span.len);
                            (Doc { span: span_between(start, end), kind: DocKind::Map(entries) }, anchor)
                        }
                    };
                    self.remember(anchor, &doc);
                    self.push_value(doc);
                }
            }
        }
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        Ok(self.root.unwrap_or(Doc { span: Span::new(0, 0), kind: DocKind::Null }))
    }

    fn count(&mut self, n: usize, at: usize) -> bool {
        self.nodes += n;
        if self.nodes > MAX_DOC_NODES {
            self.errors.push(LoadError {
                message: format!("the document expands to more than {MAX_DOC_NODES} values"),
                span: Span::new(at, 1),
                label: "limit reached here".into(),
            });
            return false;
        }
        true
    }

    fn enter(&mut self, at: usize) -> bool {
        if self.stack.len() >= MAX_DOC_DEPTH {
            self.errors.push(LoadError {
                message: format!("the document nests deeper than {MAX_DOC_DEPTH} levels"),
                span: Span::new(at, 1),
                label: "too deep".into(),
            });
            return false;
        }
        self.count(1, at)
    }

    fn remember(&mut self, anchor: usize, doc: &Doc) {
        if anchor > 0 {
            if self.anchors.len() <= anchor {
                self.anchors.resize(anchor + 1, None);
            }
            self.anchors[anchor] = Some(doc.clone());
        }
    }

    /// Length of a scalar in the source: plain and quoted scalars on one line are
    /// underlined whole; block scalars just at their indicator.
    fn scalar_len(&self, at: usize, text: &str, style: TScalarStyle) -> usize {
        match style {
            TScalarStyle::Plain => text.len().max(1),
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                let rest = &self.src.text[at.min(self.src.text.len())..];
                let line_end = rest.find('\n').unwrap_or(rest.len());
                (text.len() + 2).min(line_end).max(1)
            }
            _ => 1,
        }
    }

    fn push_value(&mut self, doc: Doc) {
        match self.stack.last_mut() {
            None => self.root = Some(doc),
            Some(Frame::Seq { items, .. }) => items.push(doc),
            Some(Frame::Map { entries, key, seen, .. }) => match key.take() {
                None => {
                    let name = match &doc.kind {
                        DocKind::Str(s) => s.clone(),
                        DocKind::Int(i) => i.to_string(),
                        DocKind::Bool(b) => b.to_string(),
                        DocKind::Float(f) => f.to_string(),
                        DocKind::Null => "null".into(),
                        DocKind::Seq(_) | DocKind::Map(_) => {
                            self.errors.push(LoadError {
                                message: "mapping keys must be plain strings".into(),
                                span: doc.span,
                                label: "complex key".into(),
                            });
                            String::new()
                        }
                    };
                    if let Some(&first) = seen.get(&name) {
                        let (line, _) = self.src.line_col(first);
                        self.errors.push(LoadError {
                            message: format!("duplicate key `{name}` (first defined on line {line})"),
                            span: doc.span,
                            label: "duplicate".into(),
                        });
                    }
                    seen.entry(name.clone()).or_insert(doc.span.offset);
                    *key = Some((name, doc.span));
                }
                Some((name, key_span)) => entries.push((name, key_span, doc)),
            },
        }
    }
}

fn span_between(start: usize, end: usize) -> Span {
    Span::new(start, end.saturating_sub(start).max(1))
}

fn count_nodes(doc: &Doc) -> usize {
    match &doc.kind {
        DocKind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        DocKind::Map(entries) => 1 + entries.iter().map(|(_, _, d)| count_nodes(d)).sum::<usize>(),
        _ => 1,
    }
}

/// YAML 1.2 core-schema resolution of plain scalars; quoted scalars are always strings.
fn scalar_kind(text: String, style: TScalarStyle, tag: Option<Tag>) -> DocKind {
    if let Some(tag) = tag
        && tag.suffix == "str"
    {
        return DocKind::Str(text);
    }
    if style != TScalarStyle::Plain {
        return DocKind::Str(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return DocKind::Null,
        "true" | "True" | "TRUE" => return DocKind::Bool(true),
        "false" | "False" | "FALSE" => return DocKind::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return DocKind::Int(i);
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return DocKind::Int(i);
    }
    let looks_numeric = text.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.');
    if looks_numeric
        && let Ok(f) = text.parse::<f64>()
        && f.is_finite()
    {
        return DocKind::Float(f);
    }
    match text.as_str() {
        ".inf" | ".Inf" | "+.inf" => DocKind::Float(f64::INFINITY),
        "-.inf" | "-.Inf" => DocKind::Float(f64::NEG_INFINITY),
        _ => DocKind::Str(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Doc, Vec<LoadError>> {
        Doc::load(&SourceFile::new("t.yaml", text))
    }

    #[test]
    fn scalars_resolve_like_yaml_core_schema() {
        let doc = load("a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: hello\n").unwrap();
        let json = doc.to_json();
        assert_eq!(json, serde_json::json!({"a":1,"b":1.5,"c":true,"d":null,"e":"1","f":"hello"}));
    }

    #[test]
    fn spans_point_at_values() {
        let src = SourceFile::new("t.yaml", "nodes:\n  a:\n    op: ünï.op\n");
        let doc = Doc::load(&src).unwrap();
        let span = doc.locate(&[PathSeg::Key("nodes".into()), PathSeg::Key("a".into()), PathSeg::Key("op".into())]);
        assert_eq!(src.line_col(span.offset), (3, 9));
        assert_eq!(&src.text[span.offset..span.offset + span.len], "ünï.op");
    }

    #[test]
    fn json_loads_too() {
        let doc = load(r#"{"reelflow": 1, "nodes": {"a": {"op": "const"}}}"#).unwrap();
        assert_eq!(doc.to_json()["nodes"]["a"]["op"], "const");
    }

    #[test]
    fn duplicate_keys_are_all_reported() {
        let errs = load("a: 1\na: 2\nb: 1\nb: 3\n").unwrap_err();
        assert_eq!(errs.len(), 2);
        assert!(errs[0].message.contains("duplicate key `a`"));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let errs = load(&text).unwrap_err();
        assert!(errs[0].message.contains("expands to more than"));
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing() {
        let text = "[".repeat(100_000);
        let errs = load(&text).unwrap_err();
        assert!(errs[0].message.contains("deeper") || errs[0].message.contains("invalid"));
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let src = SourceFile::new("t.yaml", "a: [1, 2\nb: 3\n");
        let errs = Doc::load(&src).unwrap_err();
        assert!(errs[0].message.starts_with("invalid YAML"));
    }
}
