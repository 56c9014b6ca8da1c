//! `const`, `json.get`, `json.set`, `json.merge`.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{PureOp, one};
use crate::node::{Node, NodeCtx, NodeError, NodeInputs, NodePorts, NodeSpec, Outputs, PortSpec};
use crate::value::{Value, ValueType};

pub(super) fn nodes() -> Vec<Arc<dyn Node>> {
    vec![
        Arc::new(Const::new()),
        PureOp::arc(
            NodeSpec::new("json.get", 1, "Reads the value at `path` (`a.b[0].c` or a JSON pointer `/a/b/0/c`).")
                .input("value", ValueType::Json, "The JSON to read from.")
                .output("value", ValueType::Any, "The value found, or `default`.")
                .params::<GetParams>(),
            json_get,
        ),
        PureOp::arc(
            NodeSpec::new(
                "json.set",
                1,
                "Returns `value` with `path` set to the `new` input (or the `to` param), creating objects on the way.",
            )
            .input("value", ValueType::Json, "The JSON to change.")
            .optional_input("new", ValueType::Any, "The value to put at `path`; overrides `to`.")
            .output("value", ValueType::Json, "The changed JSON.")
            .params::<SetParams>(),
            json_set,
        ),
        PureOp::arc(
            NodeSpec::new("json.merge", 1, "Merges object `b` into object `a` (`b` wins); deep by default.")
                .input("a", ValueType::Json, "The base object.")
                .input("b", ValueType::Json, "The object merged on top.")
                .output("value", ValueType::Json, "The merged object.")
                .params::<MergeParams>(),
            json_merge,
        ),
    ]
}

/// Params of `const`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ConstParams {
    /// The value to output.
    value: serde_json::Value,
    /// Its declared type (`int`, `list<string>`, ...); inferred from the value when absent.
    #[serde(default, rename = "type")]
    #[expect(dead_code, reason = "read from the raw params by `ports`; declared here for the schema")]
    ty: Option<String>,
}

/// `const`: outputs a literal; the output's type comes from `type` or from the literal.
struct Const {
    spec: NodeSpec,
}

impl Const {
    fn new() -> Self {
        Const {
            spec: NodeSpec::new(
                "const",
                1,
                "Outputs the literal `value` (typed by `type`, or inferred from the value).",
            )
            .output("value", ValueType::Any, "The literal.")
            .params::<ConstParams>()
            .inline(),
        }
    }
}

fn infer_type(v: &Value) -> ValueType {
    match v {
        Value::Bool(_) => ValueType::Bool,
        Value::Int(_) => ValueType::Int,
        Value::Float(_) => ValueType::Float,
        Value::String(_) => ValueType::String,
        Value::List(items) => {
            let mut elem: Option<ValueType> = None;
            for t in items.iter().map(infer_type) {
                let numeric = |x: &ValueType| matches!(x, ValueType::Int | ValueType::Float);
                elem = Some(match elem {
                    None => t,
                    Some(e) if e == t => e,
                    Some(e) if numeric(&e) && numeric(&t) => ValueType::Float,
                    _ => return ValueType::List(Box::new(ValueType::Any)),
                });
            }
            ValueType::List(Box::new(elem.unwrap_or(ValueType::Any)))
        }
        Value::Map(_) => ValueType::Json,
        Value::Null | Value::File(_) => ValueType::Any,
    }
}

#[async_trait]
impl Node for Const {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    fn ports(&self, params: &serde_json::Map<String, serde_json::Value>) -> Result<Option<NodePorts>, String> {
        let ty = match params.get("type").and_then(|t| t.as_str()) {
            // Named structure types are not known here; `json` is a safe superset for them.
            Some(t) => ValueType::parse(t, &|_| false).unwrap_or(ValueType::Json),
            None => match params.get("value") {
                Some(v) if crate::expr::expression_in(v.as_str().unwrap_or_default()).is_none() => {
                    infer_type(&Value::from_json(v))
                }
                _ => ValueType::Any,
            },
        };
        Ok(Some(NodePorts {
            inputs: vec![],
            outputs: vec![PortSpec { name: "value".into(), ty, optional: false, description: String::new() }],
        }))
    }

    async fn run(&self, _ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let p: ConstParams = inputs.params()?;
        Ok(one("value", Value::from_json(&p.value)))
    }
}

/// Params of `json.get`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GetParams {
    /// `a.b[0].c`, or a JSON pointer starting with `/`.
    path: String,
    /// Returned when nothing is at `path`; without it, a missing path is an error.
    #[serde(default)]
    default: Option<serde_json::Value>,
}

/// Params of `json.set`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SetParams {
    path: String,
    /// The value to set when the `new` input is not wired.
    #[serde(default)]
    to: Option<serde_json::Value>,
}

/// Params of `json.merge`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct MergeParams {
    /// Merge nested objects too (otherwise only the top level).
    #[serde(default = "yes")]
    deep: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Result<Vec<Step>, NodeError> {
    if let Some(pointer) = path.strip_prefix('/') {
        return Ok(pointer
            .split('/')
            .map(|s| {
                let s = s.replace("~1", "/").replace("~0", "~");
                match s.parse::<usize>() {
                    Ok(i) => Step::Index(i),
                    Err(_) => Step::Key(s),
                }
            })
            .collect());
    }
    let mut steps = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            steps.push(Step::Key(name.to_owned()));
        }
        for idx in rest.split('[') {
            let idx = idx.trim_end_matches(']');
            if idx.is_empty() {
                continue;
            }
            let i =
                idx.parse::<usize>().map_err(|_| NodeError::Params(format!("bad index `[{idx}]` in path `{path}`")))?;
            steps.push(Step::Index(i));
        }
    }
    Ok(steps)
}

fn json_get(inputs: &NodeInputs) -> Result<Outputs, NodeError> {
    let p: GetParams = inputs.params()?;
    let root = inputs.require("value")?.to_json();
    let mut here = Some(&root);
    for step in parse_path(&p.path)? {
        here = here.and_then(|h| match step {
            Step::Key(k) => h.get(k.as_str()),
            Step::Index(i) => h.get(i),
        });
    }
    match (here, p.default) {
        (Some(v), _) => Ok(one("value", Value::from_json(v))),
        (None, Some(d)) => Ok(one("value", Value::from_json(&d))),
        (None, None) => Err(NodeError::failed(format!("nothing at path `{}`", p.path))),
    }
}

fn json_set(inputs: &NodeInputs) -> Result<Outputs, NodeError> {
    let p: SetParams = inputs.params()?;
    let new = match inputs.get("new") {
        Some(v) => v.to_json(),
        None => p.to.clone().ok_or_else(|| NodeError::Params("give the `new` input or the `to` param".into()))?,
    };
    let mut root = inputs.require("value")?.to_json();
    let steps = parse_path(&p.path)?;
    if steps.is_empty() {
        return Ok(one("value", Value::from_json(&new)));
    }
    let mut here = &mut root;
    for step in steps {
        here = match step {
            Step::Key(k) => {
                if !here.is_object() {
                    *here = serde_json::json!({});
                }
                here.as_object_mut().expect("made an object").entry(k).or_insert(serde_json::Value::Null)
            }
            Step::Index(i) => {
                let arr = here
                    .as_array_mut()
                    .ok_or_else(|| NodeError::failed(format!("`{}`: index into a non-list", p.path)))?;
                let len = arr.len();
                arr.get_mut(i)
                    .ok_or_else(|| NodeError::failed(format!("`{}`: index {i} out of range (length {len})", p.path)))?
            }
        };
    }
    *here = new;
    Ok(one("value", Value::from_json(&root)))
}

fn merge(a: &mut serde_json::Value, b: serde_json::Value, deep: bool) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) if deep && existing.is_object() && v.is_object() => merge(existing, v, deep),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (a, b) => *a = b,
    }
}

fn json_merge(inputs: &NodeInputs) -> Result<Outputs, NodeError> {
    let p: MergeParams = inputs.params()?;
    let mut a = inputs.require("a")?.to_json();
    let b = inputs.require("b")?.to_json();
    if !a.is_object() || !b.is_object() {
        return Err(NodeError::failed("json.merge takes two objects"));
    }
    merge(&mut a, b, p.deep);
    Ok(one("value", Value::from_json(&a)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    fn inputs(values: &[(&str, serde_json::Value)], params: serde_json::Value) -> NodeInputs {
        NodeInputs {
            values: values.iter().map(|(k, v)| (k.to_string(), Value::from_json(v))).collect::<IndexMap<_, _>>(),
            params,
        }
    }

    #[test]
    fn get_reads_dotted_paths_and_pointers() {
        let doc = serde_json::json!({"a": {"b": [10, {"c": "x"}]}});
        let out = json_get(&inputs(&[("value", doc.clone())], serde_json::json!({"path": "a.b[1].c"}))).unwrap();
        assert_eq!(out["value"], Value::from("x"));
        let out = json_get(&inputs(&[("value", doc.clone())], serde_json::json!({"path": "/a/b/0"}))).unwrap();
        assert_eq!(out["value"], Value::Int(10));
        assert!(json_get(&inputs(&[("value", doc.clone())], serde_json::json!({"path": "a.zz"}))).is_err());
        let out = json_get(&inputs(&[("value", doc)], serde_json::json!({"path": "a.zz", "default": 0}))).unwrap();
        assert_eq!(out["value"], Value::Int(0));
    }

    #[test]
    fn set_creates_objects_and_merge_is_deep() {
        let out = json_set(&inputs(&[("value", serde_json::json!({}))], serde_json::json!({"path": "a.b", "to": 1})))
            .unwrap();
        assert_eq!(out["value"].to_json(), serde_json::json!({"a": {"b": 1}}));
        let out = json_merge(&inputs(
            &[("a", serde_json::json!({"x": {"y": 1, "z": 2}})), ("b", serde_json::json!({"x": {"y": 3}}))],
            serde_json::json!({}),
        ))
        .unwrap();
        assert_eq!(out["value"].to_json(), serde_json::json!({"x": {"y": 3, "z": 2}}));
    }
}
