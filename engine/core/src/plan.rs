//! A validated workflow, ready to execute: nodes resolved to operators, references to
//! indices, expressions compiled, durations parsed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;

use crate::expr::CompiledExpr;
use crate::node::{Node, ResourceClass};
use crate::source::PathSeg;
use crate::value::{FileRef, Value, ValueType};
use crate::workflow::Workflow;

/// A workflow (or a `map` body) after validation.
pub struct Plan {
    pub name: String,
    pub description: Option<String>,
    pub inputs: IndexMap<String, PlanInput>,
    pub nodes: Vec<PlanNode>,
    pub outputs: IndexMap<String, PlanOutput>,
    /// The declaration this plan came from (top-level plans only).
    pub decl: Option<Workflow>,
    /// The workflow file's directory: relative paths in input defaults resolve against it.
    pub base_dir: PathBuf,
}

pub struct PlanInput {
    pub ty: ValueType,
    pub default: Option<Value>,
    pub allowed: Option<Vec<Value>>,
    pub optional: bool,
    pub description: Option<String>,
}

pub struct PlanOutput {
    pub binding: Binding,
    pub ty: ValueType,
}

/// Where an input port's value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binding {
    /// A workflow input (inside a map body: a body input).
    Input(String),
    /// Output `port` of the node at index `node`.
    Node { node: usize, port: String },
}

pub enum PlanKind {
    Op(Arc<dyn Node>),
    Map { body: Arc<Plan>, parallel: usize },
}

pub struct PlanNode {
    pub id: String,
    pub op: String,
    pub version: u32,
    pub kind: PlanKind,
    pub bindings: Vec<(String, Binding)>,
    pub input_types: IndexMap<String, ValueType>,
    pub output_types: IndexMap<String, ValueType>,
    pub params: ParamTemplate,
    pub when: Option<Arc<dyn CompiledExpr>>,
    /// Nodes whose outputs the expressions of this node read (by id and index).
    pub expr_nodes: Vec<(String, usize)>,
    pub retry: Retry,
    pub timeout: Option<Duration>,
    pub cacheable: bool,
    pub resource: ResourceClass,
    /// Run on the scheduler's task (a quick op without a timeout).
    pub inline: bool,
    /// Indices of the nodes this node waits for, and of the nodes that wait for it.
    pub deps: Vec<usize>,
    pub dependents: Vec<usize>,
}

/// Params with the positions of their `${{ }}` expressions.
pub struct ParamTemplate {
    pub literal: serde_json::Value,
    pub exprs: Vec<(Vec<PathSeg>, Arc<dyn CompiledExpr>)>,
    /// Checks the params once expressions are evaluated (only set when there are any).
    pub validator: Option<Arc<jsonschema::Validator>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Retry {
    pub attempts: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub factor: f64,
    pub jitter: bool,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 1,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            factor: 2.0,
            jitter: true,
        }
    }
}

impl Retry {
    /// The delay before attempt `next` (2 = first retry): exponential, randomised by ±50%
    /// when `jitter` is on (`random` in 0..1), and never above `max_backoff`.
    pub fn delay_before(&self, next: u32, random: f64) -> Duration {
        let exp = self.factor.powi(next.saturating_sub(2).min(1000) as i32);
        let mut secs = self.backoff.as_secs_f64() * exp;
        if self.jitter {
            secs *= 0.5 + random;
        }
        let secs = secs.min(self.max_backoff.as_secs_f64());
        Duration::from_secs_f64(if secs.is_finite() { secs.max(0.0) } else { 0.0 })
    }
}

impl Plan {
    pub fn node_index(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// Checks caller-given inputs against the declarations, applies defaults, and turns
    /// path strings for file-typed inputs into file values: given paths relative to
    /// `base_dir` (the caller's directory), default paths relative to the workflow file.
    /// All problems are reported together.
    pub fn bind_inputs(
        &self,
        given: IndexMap<String, Value>,
        base_dir: &Path,
    ) -> Result<IndexMap<String, Value>, Vec<String>> {
        let mut errors = Vec::new();
        for name in given.keys() {
            if !self.inputs.contains_key(name) {
                let known: Vec<&str> = self.inputs.keys().map(String::as_str).collect();
                errors.push(format!("unknown input `{name}` (inputs: {})", known.join(", ")));
            }
        }
        let mut bound = IndexMap::new();
        for (name, decl) in &self.inputs {
            let value = match given.get(name).cloned() {
                Some(mut v) => {
                    // A content hash is the cache's to compute: a caller-supplied one could
                    // make a different file hit another file's cache entries.
                    v.map_files(&mut |f| f.hash = None);
                    file_from_path(&decl.ty, v, base_dir)
                }
                None => match (&decl.default, decl.optional) {
                    (Some(d), _) => file_from_path(&decl.ty, d.clone(), &self.base_dir),
                    (None, true) => Value::Null,
                    (None, false) => {
                        errors.push(format!("input `{name}` ({}) is required", decl.ty));
                        continue;
                    }
                },
            };
            if !(value == Value::Null && decl.optional) {
                if !decl.ty.check(&value) {
                    errors.push(format!("input `{name}` must be {}, got {}", decl.ty, value.type_name()));
                    continue;
                }
                if let Some(allowed) = &decl.allowed
                    && !allowed.contains(&value)
                {
                    let list: Vec<String> = allowed.iter().map(|v| v.to_json().to_string()).collect();
                    errors.push(format!("input `{name}` must be one of {}", list.join(", ")));
                    continue;
                }
            }
            bound.insert(name.clone(), decl.ty.coerce(value));
        }
        if errors.is_empty() { Ok(bound) } else { Err(errors) }
    }
}

fn file_from_path(ty: &ValueType, value: Value, base_dir: &Path) -> Value {
    match (ty, value) {
        (ValueType::File(kind), Value::String(path)) => {
            let p = Path::new(&path);
            let abs = if p.is_absolute() { p.to_path_buf() } else { base_dir.join(p) };
            Value::File(FileRef::new(abs, *kind))
        }
        (ValueType::List(inner), Value::List(items)) if inner.holds_files() => {
            Value::List(items.into_iter().map(|v| file_from_path(inner, v, base_dir)).collect())
        }
        (_, v) => v,
    }
}

/// Parses a `--set`-style string for a declared type: JSON where it parses, else a string.
pub fn value_from_text(ty: &ValueType, text: &str) -> Value {
    match ty {
        ValueType::String | ValueType::File(_) => Value::String(text.to_owned()),
        ValueType::Named(_) | ValueType::Json | ValueType::Any => {
            serde_json::from_str(text).map(|j| Value::from_json(&j)).unwrap_or_else(|_| Value::String(text.to_owned()))
        }
        _ => {
            serde_json::from_str(text).map(|j| Value::from_json(&j)).unwrap_or_else(|_| Value::String(text.to_owned()))
        }
    }
}
