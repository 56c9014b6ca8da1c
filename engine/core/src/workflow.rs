//! The workflow file format (`reelflow: 1`), as Rust types.
//!
//! These types are the single definition of the format: files are deserialized into
//! them, `docs/workflow.schema.json` is generated from them, and the API accepts the same
//! shape as JSON. The reference for authors is `docs/workflows.md`.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The format version this engine reads.
pub const FORMAT_VERSION: u32 = 1;

/// A workflow: typed inputs, a graph of nodes, and named outputs.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Reelflow workflow")]
pub struct Workflow {
    /// Format version; must be `1`.
    pub reelflow: u32,
    /// Short name of the workflow (defaults to the file name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the workflow does, for people and for `GET /api/v1/workflows`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Typed inputs, filled from `--set key=value` or the API request.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub inputs: IndexMap<String, InputDecl>,
    /// The graph: node id → node. Ids are `[A-Za-z_][A-Za-z0-9_-]*`.
    pub nodes: IndexMap<String, NodeDecl>,
    /// Named results: output name → reference (`node.port` or `inputs.name`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub outputs: IndexMap<String, String>,
    /// Stop the whole run at the first failed node (after its retries), instead of running
    /// every branch that does not depend on it. For pipelines whose outputs all need every
    /// stage, where going on only wastes time (a clip whose video is unreadable need not
    /// wait for its LLM plan). Callers may also ask for it per run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fail_fast: bool,
    /// Editor/UI data (positions, colours). Kept apart from semantics and never read by the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<serde_json::Value>,
}

/// A typed workflow input.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputDecl {
    /// `any`, `bool`, `int`, `float`, `string`, `json`, `file`, `text`, `video`, `audio`,
    /// `image`, `list<T>`, or a registered structure type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Value used when the caller gives none. An input with a default is never missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// The only values allowed.
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<serde_json::Value>>,
    /// An optional input without a default is `null` when not given.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One node of the graph.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeDecl {
    /// The operator: `text.template`, `media.cut`, `script`, `map`, ... (see `reelflow nodes`).
    pub op: String,
    /// Input port → reference to where its value comes from: `other_node.port` or
    /// `inputs.name` (a workflow input; inside a `map` body, the body's inputs).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub inputs: IndexMap<String, String>,
    /// Parameters, checked against the operator's JSON Schema. A string of the form
    /// `${{ expression }}` is a rhai expression evaluated just before the node runs; it sees
    /// `inputs` (workflow inputs) and `nodes.<id>.<port>` (outputs of other nodes).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub params: IndexMap<String, serde_json::Value>,
    /// A rhai condition (with or without `${{ }}`), or `true`/`false`; when false the node is
    /// skipped, and so is everything that needs its outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    /// Retry policy for failures and timeouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Per-attempt time limit: `500ms`, `30s`, `5m`, `1h`, or a number of seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationSpec>,
    /// Set to `false` to never take this node's result from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    /// For `op: map`: the sub-graph run once per item of the `items` input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Box<MapBody>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A `when` condition: a literal boolean or a rhai expression.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(untagged, expecting = "`true`, `false` or a rhai expression string")]
pub enum Condition {
    Literal(bool),
    Expression(String),
}

/// The sub-graph of a `map` node. Inside it, `inputs.item` is the current item,
/// `inputs.index` its position, and every other input wired to the map node is visible
/// under its own name.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MapBody {
    pub nodes: IndexMap<String, NodeDecl>,
    /// Body output → reference; the map node's output of the same name is the list of these,
    /// in item order.
    pub outputs: IndexMap<String, String>,
}

/// How a failed node is tried again: exponential backoff with jitter.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Total attempts, the first included (1 = no retry).
    pub attempts: u32,
    /// Delay before the first retry.
    #[serde(default = "default_backoff")]
    pub backoff: DurationSpec,
    /// The delay doubles (times `factor`) after each retry, up to this.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: DurationSpec,
    #[serde(default = "default_factor")]
    pub factor: f64,
    /// Randomise each delay by ±50% so that many failing nodes do not retry in lockstep.
    #[serde(default = "default_true")]
    pub jitter: bool,
}

fn default_backoff() -> DurationSpec {
    DurationSpec::Text("500ms".into())
}
fn default_max_backoff() -> DurationSpec {
    DurationSpec::Text("30s".into())
}
fn default_factor() -> f64 {
    2.0
}
fn default_true() -> bool {
    true
}

/// A duration: `"250ms"`, `"30s"`, `"5m"`, `"1h"`, or a number of seconds.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(untagged)]
pub enum DurationSpec {
    Seconds(f64),
    Text(String),
}

impl DurationSpec {
    pub fn to_duration(&self) -> Result<std::time::Duration, String> {
        let secs = match self {
            DurationSpec::Seconds(s) => *s,
            DurationSpec::Text(t) => {
                let t = t.trim();
                let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
                let (num, unit) = t.split_at(split);
                let n: f64 = num.parse().map_err(|_| format!("`{t}` is not a duration like `30s`"))?;
                let scale = match unit.trim() {
                    "ms" => 0.001,
                    "s" | "" => 1.0,
                    "m" | "min" => 60.0,
                    "h" => 3600.0,
                    other => return Err(format!("unknown duration unit `{other}` in `{t}`")),
                };
                n * scale
            }
        };
        if !secs.is_finite() || !(0.0..=7.0 * 86400.0).contains(&secs) {
            return Err(format!("duration of {secs} s is out of range (0 to 7 days)"));
        }
        Ok(std::time::Duration::from_secs_f64(secs))
    }
}

/// The JSON Schema of the workflow format, for editors (`docs/workflow.schema.json`).
pub fn workflow_json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Workflow);
    serde_json::to_value(schema).expect("schema serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        let d = |t: &str| DurationSpec::Text(t.into()).to_duration();
        assert_eq!(d("250ms").unwrap().as_millis(), 250);
        assert_eq!(d("1.5s").unwrap().as_millis(), 1500);
        assert_eq!(d("2m").unwrap().as_secs(), 120);
        assert!(d("3 parsecs").is_err());
        assert!(DurationSpec::Seconds(-1.0).to_duration().is_err());
        assert!(DurationSpec::Seconds(f64::NAN).to_duration().is_err());
    }
}
