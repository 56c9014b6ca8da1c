//! `list.range`, `list.length`, `list.concat`, `list.slice`, `list.join`.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{PureOp, one};
use crate::node::{Node, NodeError, NodeInputs, NodeSpec, Outputs};
use crate::value::{Value, ValueType};

/// The longest list `list.range` makes.
const MAX_RANGE: i64 = 10_000_000;

fn any_list() -> ValueType {
    ValueType::List(Box::new(ValueType::Any))
}

pub(super) fn nodes() -> Vec<Arc<dyn Node>> {
    vec![
        PureOp::arc(
            NodeSpec::new("list.range", 1, "Integers from `start` (inclusive) to `end` (exclusive) by `step`.")
                .output("items", ValueType::List(Box::new(ValueType::Int)), "The integers.")
                .params::<RangeParams>(),
            range,
        ),
        PureOp::arc(
            NodeSpec::new("list.length", 1, "The number of items in a list.")
                .input("items", any_list(), "The list.")
                .output("length", ValueType::Int, "Its length."),
            length,
        ),
        PureOp::arc(
            NodeSpec::new("list.concat", 1, "List `a` followed by list `b`.")
                .input("a", any_list(), "First list.")
                .input("b", any_list(), "Second list.")
                .output("items", any_list(), "Both, in order."),
            concat,
        ),
        PureOp::arc(
            NodeSpec::new(
                "list.slice",
                1,
                "Items from `start` up to (not including) `end`; negative indices count from the end.",
            )
            .input("items", any_list(), "The list.")
            .output("items", any_list(), "The slice.")
            .params::<SliceParams>(),
            slice,
        ),
        PureOp::arc(
            NodeSpec::new("list.join", 1, "Joins items into one string with `separator` (non-strings as JSON).")
                .input("items", any_list(), "The list.")
                .output("text", ValueType::String, "The joined text.")
                .params::<JoinParams>(),
            join,
        ),
    ]
}

/// Params of `list.range`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RangeParams {
    #[serde(default)]
    start: i64,
    end: i64,
    #[serde(default = "one_step")]
    step: i64,
}

fn one_step() -> i64 {
    1
}

/// Params of `list.slice`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SliceParams {
    #[serde(default)]
    start: i64,
    #[serde(default)]
    end: Option<i64>,
}

/// Params of `list.join`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct JoinParams {
    #[serde(default)]
    separator: String,
}

fn items(inputs: &NodeInputs, port: &str) -> Result<Vec<Value>, NodeError> {
    match inputs.require(port)? {
        Value::List(l) => Ok(l.clone()),
        other => {
            Err(NodeError::Input { port: port.into(), message: format!("expected a list, got {}", other.type_name()) })
        }
    }
}

fn range(inputs: &NodeInputs) -> Result<Outputs, NodeError> {
    let p: RangeParams = inputs.params()?;
    if p.step == 0 {
        return Err(NodeError::Params("step must not be 0".into()));
    }
    // i128: `end - start` of two i64s cannot overflow there.
    let span = i128::from(p.end) - i128::from(p.start);
    let step = i128::from(p.step);
    let count = if (span > 0) == (step > 0) && span != 0 { (span + step - step.signum()) / step } else { 0 };
    if count > i128::from(MAX_RANGE) {
        return Err(NodeError::Params(format!("the range has {count} items; the limit is {MAX_RANGE}")));
    }
    let values = (0..count as i64).map(|i| Value::Int(p.start + i * p.step)).collect();
    Ok(one("items", Value::List(values)))
}

fn length(inputs: &NodeInputs) -> Result<Outputs, NodeError> {
    Ok(one("length", Value::Int(items(inputs, "items")?.len() as i64)))
}

fn concat(inputs: &NodeInputs) -> Result<Outputs, NodeError> {
    let mut a = items(inputs, "a")?;
    a.extend(items(inputs, "b")?);
    Ok(one("items", Value::List(a)))
}

fn slice(inputs: &NodeInputs) -> Result<Outputs, NodeError> {
    let p: SliceParams = inputs.params()?;
    let list = items(inputs, "items")?;
    let len = list.len() as i64;
    let clamp = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) } as usize;
    let (start, end) = (clamp(p.start), clamp(p.end.unwrap_or(len)));
    let out = if start < end { list[start..end].to_vec() } else { Vec::new() };
    Ok(one("items", Value::List(out)))
}

fn join(inputs: &NodeInputs) -> Result<Outputs, NodeError> {
    let p: JoinParams = inputs.params()?;
    let parts: Vec<String> = items(inputs, "items")?
        .into_iter()
        .map(|v| match v {
            Value::String(s) => s,
            other => other.to_json().to_string(),
        })
        .collect();
    Ok(one("text", parts.join(&p.separator)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: fn(&NodeInputs) -> Result<Outputs, NodeError>, items: Vec<i64>, params: serde_json::Value) -> Value {
        let list = Value::List(items.into_iter().map(Value::Int).collect());
        let inputs = NodeInputs { values: [("items".to_string(), list)].into_iter().collect(), params };
        f(&inputs).unwrap().into_values().next().unwrap()
    }

    #[test]
    fn slices_count_from_either_end() {
        let got = run(slice, vec![1, 2, 3, 4], serde_json::json!({"start": -3, "end": -1}));
        assert_eq!(got, Value::List(vec![Value::Int(2), Value::Int(3)]));
        let got = run(slice, vec![1, 2], serde_json::json!({"start": 5}));
        assert_eq!(got, Value::List(vec![]));
    }

    #[test]
    fn ranges_step_both_ways_and_are_bounded() {
        let got = run(range, vec![], serde_json::json!({"start": 5, "end": 0, "step": -2}));
        assert_eq!(got, Value::List(vec![Value::Int(5), Value::Int(3), Value::Int(1)]));
        let inputs = NodeInputs { values: Default::default(), params: serde_json::json!({"end": i64::MAX}) };
        assert!(range(&inputs).is_err());
        let extreme = serde_json::json!({"start": i64::MIN, "end": i64::MAX});
        assert!(range(&NodeInputs { values: Default::default(), params: extreme }).is_err());
        let got = run(range, vec![], serde_json::json!({"start": 0, "end": 7, "step": 3}));
        assert_eq!(got, Value::List(vec![Value::Int(0), Value::Int(3), Value::Int(6)]));
    }
}
