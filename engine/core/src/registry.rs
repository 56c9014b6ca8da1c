//! The operator registry: every op a workflow may name, native or plugin.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::node::{Node, NodeSpec, PortSpec};
use crate::value::ValueType;

/// The name of the fan-out construct. It is handled by the executor itself, not by a [`Node`].
pub const MAP_OP: &str = "map";

/// All known operators and structure type names.
#[derive(Default)]
pub struct Registry {
    ops: BTreeMap<String, Arc<dyn Node>>,
    types: BTreeSet<String>,
    validators: Mutex<BTreeMap<String, Arc<jsonschema::Validator>>>,
}

impl Registry {
    /// An empty registry (not even the built-in ops).
    pub fn empty() -> Self {
        Registry::default()
    }

    /// A registry with the core's built-in operators.
    pub fn with_builtins() -> Self {
        let mut reg = Registry::empty();
        crate::ops::register(&mut reg).expect("built-in ops have unique names");
        reg
    }

    pub fn register(&mut self, node: Arc<dyn Node>) -> Result<()> {
        let op = node.spec().op.clone();
        if op == MAP_OP || self.ops.contains_key(&op) {
            return Err(Error::DuplicateOp(op));
        }
        self.ops.insert(op, node);
        Ok(())
    }

    /// Makes a structure type name (`subtitles`, `timeline`, ...) usable in workflow files.
    pub fn register_type(&mut self, name: &str) {
        self.types.insert(name.to_owned());
    }

    pub fn is_type(&self, name: &str) -> bool {
        self.types.contains(name)
    }

    pub fn parse_type(&self, text: &str) -> std::result::Result<ValueType, String> {
        ValueType::parse(text, &|n| self.is_type(n))
    }

    pub fn get(&self, op: &str) -> Option<&Arc<dyn Node>> {
        self.ops.get(op)
    }

    pub fn ops(&self) -> impl Iterator<Item = &str> {
        self.ops.keys().map(String::as_str)
    }

    /// Every operator's spec, the `map` construct included, sorted by name.
    pub fn specs(&self) -> Vec<NodeSpec> {
        let mut specs: Vec<NodeSpec> = self.ops.values().map(|n| n.spec().clone()).collect();
        specs.push(map_spec());
        specs.sort_by(|a, b| a.op.cmp(&b.op));
        specs
    }

    /// The closest known op name, for "did you mean" hints.
    pub fn suggest(&self, op: &str) -> Option<&str> {
        closest(op, self.ops.keys().map(String::as_str).chain([MAP_OP]))
    }

    /// The compiled params validator of an op (compiled once, then shared).
    pub(crate) fn params_validator(&self, spec: &NodeSpec) -> std::result::Result<Arc<jsonschema::Validator>, String> {
        let mut cache = self.validators.lock().expect("validator cache poisoned");
        if let Some(v) = cache.get(&spec.op) {
            return Ok(v.clone());
        }
        let v = Arc::new(
            jsonschema::validator_for(&spec.params)
                .map_err(|e| format!("the params schema of `{}` is invalid: {e}", spec.op))?,
        );
        cache.insert(spec.op.clone(), v.clone());
        Ok(v)
    }
}

/// The spec shown for `map` in `reelflow nodes`; its outputs are the body's outputs, as lists.
pub fn map_spec() -> NodeSpec {
    let mut spec = NodeSpec::new(
        MAP_OP,
        1,
        "Runs the `body` sub-graph once per item of `items` (bounded by `parallel`) and collects each body output into a list, in item order. Other wired inputs are passed to every iteration.",
    )
    .variadic();
    spec.inputs.push(PortSpec {
        name: "items".into(),
        ty: ValueType::List(Box::new(ValueType::Any)),
        optional: false,
        description: "The list to iterate over.".into(),
    });
    spec.params = serde_json::json!({
        "type": "object",
        "properties": {
            "parallel": {"type": "integer", "minimum": 1, "maximum": 1024, "default": 4,
                         "description": "How many items run at once."}
        },
        "additionalProperties": false
    });
    spec
}

/// The candidate nearest to `name` by edit distance, if near enough to be a likely typo.
pub(crate) fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
