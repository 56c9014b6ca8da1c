//! The `script` operator: a rhai script as a workflow node.
//!
//! Each wired input is a variable named after its port, and all of them are also in the
//! map `inputs` (for port names such as `two-words` that are not rhai identifiers). The
//! script's last value is its result: with one declared output it is that output, with
//! several it is a map with one key per output.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use indexmap::IndexMap;
use reelflow_core::{
    LogLevel, Node, NodeCtx, NodeError, NodeInputs, NodePorts, NodeSpec, Outputs, PortSpec, Registry, ResourceClass,
    Value, ValueType, expression_in,
};
use rhai::{Dynamic, Scope};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::engine::{
    ScriptLimits, eval_error, from_dynamic, sandboxed_engine, set_host_entries, syntax_error, to_dynamic,
};
use crate::error::Error;

/// The op name workflows use.
pub const SCRIPT_OP: &str = "script";

/// The largest `.rhai` file a `script` node reads.
pub const MAX_SCRIPT_FILE_BYTES: u64 = 1024 * 1024;

/// Printed output kept per run: a script printing in a loop must not fill memory or the
/// event stream. What is over is counted and reported in one line.
const MAX_LOG_LINES: usize = 1000;
const MAX_LOG_BYTES: usize = 256 * 1024;

const EXACTLY_ONE_SOURCE: &str = "a script needs exactly one of `source` (inline rhai) and `file` (a .rhai file)";

/// Registers the `script` op.
pub fn register(reg: &mut Registry) -> reelflow_core::Result<()> {
    reg.register(Arc::new(ScriptOp::new()))
}

/// Compiles a script without running it, as validation does: `Err` is a syntax error
/// with its line and column.
pub fn check_script(source: &str) -> Result<(), Error> {
    sandboxed_engine(&ScriptLimits::default()).compile(source).map(|_| ()).map_err(|e| syntax_error(&e))
}

/// Params of `script`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ScriptParams {
    /// The rhai script, inline. Its last value is the node's result.
    #[serde(default)]
    source: Option<String>,
    /// A `.rhai` file holding the script (at most 1 MiB), relative to the workflow file's
    /// directory. It is read when the workflow is loaded.
    #[serde(default)]
    file: Option<String>,
    /// Output port → type (`int`, `list<string>`, `video` ...). With one port, the script's
    /// value is that output; with several, the script ends with a map holding each of them.
    #[serde(default = "default_outputs")]
    outputs: IndexMap<String, String>,
    /// How many operations the script may perform (default 1,000,000).
    #[serde(default)]
    #[schemars(range(min = 1))]
    max_operations: Option<u64>,
}

fn default_outputs() -> IndexMap<String, String> {
    IndexMap::from([("result".to_owned(), "any".to_owned())])
}

/// The `script` operator. Its ports come from its params: any inputs, the declared outputs.
pub struct ScriptOp {
    spec: NodeSpec,
}

impl ScriptOp {
    pub fn new() -> Self {
        ScriptOp {
            spec: NodeSpec::new(
                SCRIPT_OP,
                1,
                "Runs a sandboxed rhai script. Wired inputs are variables named after their ports (and entries of the map `inputs`); the script's last value is its output, or a map of its `outputs`. `print` writes to the node's log.",
            )
            .variadic()
            .output("result", ValueType::Any, "The script's value, when `outputs` is not given.")
            .params::<ScriptParams>()
            .resource(ResourceClass::Cpu),
        }
    }
}

impl Default for ScriptOp {
    fn default() -> Self {
        ScriptOp::new()
    }
}

#[async_trait]
impl Node for ScriptOp {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    /// Inlines a literal `file:` script, read relative to the workflow's directory, so that
    /// validation checks its syntax and the cache key covers its content, not its name.
    fn prepare(&self, params: &mut serde_json::Map<String, serde_json::Value>, base_dir: &Path) -> Result<(), String> {
        let Some(file) = text_param(params, "file")? else { return Ok(()) };
        if expression_in(file).is_some() {
            return Ok(());
        }
        if text_param(params, "source")?.is_some() {
            return Err(EXACTLY_ONE_SOURCE.to_owned());
        }
        let path = script_path(base_dir, file)?;
        let source = read_script(&path).map_err(|e| match std::error::Error::source(&e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        })?;
        params.remove("file");
        params.insert("source".into(), serde_json::Value::String(source));
        Ok(())
    }

    fn ports(&self, params: &serde_json::Map<String, serde_json::Value>) -> Result<Option<NodePorts>, String> {
        let outputs = match params.get("outputs") {
            None | Some(serde_json::Value::Null) => default_outputs(),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|_| "`outputs` must map output port names to types, like `{sum: int}`".to_owned())?,
        };
        let outputs = output_ports(&outputs)?;
        match (text_param(params, "source")?, text_param(params, "file")?) {
            (Some(source), None) => {
                // A source computed by an expression is only known at run time.
                if expression_in(source).is_none() {
                    check_script(source).map_err(|e| e.to_string())?;
                }
            }
            (None, Some(_)) => {}
            _ => return Err(EXACTLY_ONE_SOURCE.to_owned()),
        }
        Ok(Some(NodePorts { inputs: vec![], outputs }))
    }

    async fn run(&self, ctx: &NodeCtx, inputs: NodeInputs) -> Result<Outputs, NodeError> {
        let p: ScriptParams = inputs.params()?;
        let ports = output_ports(&p.outputs).map_err(NodeError::Params)?;
        let source = match (p.source, p.file) {
            (Some(source), None) => ScriptSource::Inline(source),
            (None, Some(file)) => ScriptSource::File(PathBuf::from(file)),
            _ => return Err(NodeError::Params(EXACTLY_ONE_SOURCE.into())),
        };
        let defaults = ScriptLimits::default();
        let limits = ScriptLimits { max_operations: p.max_operations.unwrap_or(defaults.max_operations), ..defaults };
        if limits.max_operations == 0 {
            return Err(NodeError::Params("`max_operations` must be at least 1".into()));
        }

        // The node context cannot go to the worker thread, so printed lines are collected
        // there and logged here.
        let log = Arc::new(Mutex::new(ScriptLog::default()));
        let script_log = log.clone();
        let values = inputs.values;
        let result = ctx
            .blocking(move |cancel| {
                let source = match source {
                    ScriptSource::Inline(source) => source,
                    ScriptSource::File(path) => read_script(&path)?,
                };
                run_script(&source, &values, &limits, &cancel, &script_log).map_err(NodeError::from)
            })
            .await;
        let log = std::mem::take(&mut *lock(&log));
        for (level, line) in log.lines {
            ctx.log(level, line);
        }
        if log.dropped > 0 {
            ctx.log(LogLevel::Warn, format!("{} more lines of script output were dropped", log.dropped));
        }

        let (outputs, extra) = shape_outputs(result?, &ports)?;
        if !extra.is_empty() {
            ctx.log(
                LogLevel::Warn,
                format!("the script's result has undeclared outputs, ignored: {}", extra.join(", ")),
            );
        }
        Ok(outputs)
    }
}

/// A string param, if given.
fn text_param<'a>(
    params: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Result<Option<&'a str>, String> {
    match params.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{name}` must be a string")),
    }
}

/// The declared outputs as ports. Types are the built-in ones: structure type names
/// registered by other crates are not visible from `Node::ports`.
fn output_ports(outputs: &IndexMap<String, String>) -> Result<Vec<PortSpec>, String> {
    if outputs.is_empty() {
        return Err("`outputs` must declare at least one output".into());
    }
    outputs
        .iter()
        .map(|(name, ty)| {
            if !is_port_name(name) {
                return Err(format!("`{name}` is not a valid output name (letters, digits, `_` and `-`)"));
            }
            let ty = ValueType::parse(ty, &|_| false).map_err(|e| format!("output `{name}`: {e}"))?;
            Ok(PortSpec { name: name.clone(), ty, optional: false, description: String::new() })
        })
        .collect()
}

/// The same rule as node ids, so `node.port` references always parse.
fn is_port_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.len() <= 128
}

/// Where the script text comes from.
enum ScriptSource {
    Inline(String),
    File(PathBuf),
}

/// A `file:` script lives beside its workflow: it must resolve (symlinks followed) inside the
/// workflow's directory, so a workflow submitted over HTTP cannot read other server files.
fn script_path(base_dir: &Path, file: &str) -> Result<PathBuf, String> {
    let path = base_dir.join(file);
    let real = path.canonicalize().map_err(|e| format!("script file {}: {e}", path.display()))?;
    let base = base_dir.canonicalize().map_err(|e| format!("workflow directory {}: {e}", base_dir.display()))?;
    if real.starts_with(&base) {
        Ok(real)
    } else {
        Err(format!("script file `{file}` is outside the workflow's directory {}", base_dir.display()))
    }
}

/// Reads a `file:` script (a blocking read: it runs on the worker thread with the script),
/// refusing files over [`MAX_SCRIPT_FILE_BYTES`].
fn read_script(path: &Path) -> Result<String, Error> {
    let read_err = |source| Error::Read { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(read_err)?;
    // Reading one byte past the cap tells "too large" apart without trusting a size
    // looked up before the read.
    let mut bytes = Vec::new();
    file.take(MAX_SCRIPT_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() as u64 > MAX_SCRIPT_FILE_BYTES {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(bytes.len() as u64);
        return Err(Error::TooLarge { path: path.to_owned(), size, max: MAX_SCRIPT_FILE_BYTES });
    }
    String::from_utf8(bytes)
        .map_err(|_| read_err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is not UTF-8 text")))
}

/// What a script printed, bounded.
#[derive(Default)]
struct ScriptLog {
    lines: Vec<(LogLevel, String)>,
    bytes: usize,
    dropped: usize,
}

impl ScriptLog {
    fn push(&mut self, level: LogLevel, line: &str) {
        if self.lines.len() >= MAX_LOG_LINES || self.bytes + line.len() > MAX_LOG_BYTES {
            self.dropped += 1;
            return;
        }
        self.bytes += line.len();
        self.lines.push((level, line.to_owned()));
    }
}

/// The log stays usable even if a thread panicked while holding it: it is only text.
fn lock(log: &Mutex<ScriptLog>) -> MutexGuard<'_, ScriptLog> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Compiles and runs `source` with the wired input `values`; stops when `cancel` fires.
fn run_script(
    source: &str,
    values: &IndexMap<String, Value>,
    limits: &ScriptLimits,
    cancel: &CancellationToken,
    log: &Arc<Mutex<ScriptLog>>,
) -> Result<Value, Error> {
    let mut engine = sandboxed_engine(limits);
    // The inputs are the scope's bottom entries: one per port, then the `inputs` map.
    set_host_entries(&mut engine, values.len() + 1);
    let token = cancel.clone();
    // Called on every operation; checking the token is a single atomic load.
    engine.on_progress(move |_| token.is_cancelled().then(|| Dynamic::from("cancelled")));
    let printed = log.clone();
    engine.on_print(move |line| lock(&printed).push(LogLevel::Info, line));
    let debugged = log.clone();
    engine.on_debug(move |line, _, _| lock(&debugged).push(LogLevel::Debug, line));

    let ast = engine.compile(source).map_err(|e| syntax_error(&e))?;
    let mut scope = Scope::new();
    let mut all = rhai::Map::new();
    for (port, value) in values {
        let value = to_dynamic(value)?;
        all.insert(port.as_str().into(), value.clone());
        scope.push_dynamic(port.as_str(), value);
    }
    // Pushed last, so it is what `inputs` means even if a port has that name.
    scope.push_dynamic("inputs", Dynamic::from_map(all));
    let result = engine.eval_ast_with_scope::<Dynamic>(&mut scope, &ast).map_err(|e| eval_error(*e, limits))?;
    from_dynamic(&result)
}

/// Splits the script's value into the declared outputs; also returns the names of map
/// keys that are no declared output.
fn shape_outputs(value: Value, ports: &[PortSpec]) -> Result<(Outputs, Vec<String>), NodeError> {
    if let [port] = ports {
        let value = match value {
            Value::Map(mut map) if map.contains_key(&port.name) => {
                let value = map.shift_remove(&port.name).unwrap_or_default();
                return Ok((Outputs::from([(port.name.clone(), value)]), map.into_keys().collect()));
            }
            other => other,
        };
        return Ok((Outputs::from([(port.name.clone(), value)]), Vec::new()));
    }
    let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
    let Value::Map(mut map) = value else {
        let example: Vec<String> = names.iter().map(|n| format!("{n}: ...")).collect();
        return Err(NodeError::failed(format!(
            "a script with several outputs must end with a map of them, like `#{{ {} }}`; it returned {}",
            example.join(", "),
            value.type_name()
        )));
    };
    let mut outputs = Outputs::new();
    for name in &names {
        let Some(value) = map.shift_remove(*name) else {
            return Err(NodeError::failed(format!(
                "the script's result has no `{name}` (declared outputs: {})",
                names.join(", ")
            )));
        };
        outputs.insert((*name).to_owned(), value);
    }
    Ok((outputs, map.into_keys().collect()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use reelflow_core::{CollectSink, EventBus, EventKind};

    use super::*;

    fn params(json: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        json.as_object().cloned().expect("an object")
    }

    /// Runs the op directly and returns its result and the lines it logged.
    async fn run(
        params: serde_json::Value,
        values: Vec<(&str, Value)>,
    ) -> (Result<Outputs, NodeError>, Vec<(LogLevel, String)>) {
        let sink = Arc::new(CollectSink(Mutex::new(Vec::new())));
        let bus = EventBus::new("t", sink.clone());
        let ctx = NodeCtx::detached("s", bus, std::env::temp_dir(), CancellationToken::new());
        let inputs = NodeInputs { values: values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(), params };
        let result = ScriptOp::new().run(&ctx, inputs).await;
        let logs = sink
            .events()
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::NodeLog { level, message, .. } => Some((level, message)),
                _ => None,
            })
            .collect();
        (result, logs)
    }

    #[test]
    fn ports_are_the_declared_outputs() {
        let op = ScriptOp::new();
        let ports = op
            .ports(&params(serde_json::json!({"source": "1", "outputs": {"n": "int", "names": "list<string>"}})))
            .expect("valid")
            .expect("ports");
        let shown: Vec<String> = ports.outputs.iter().map(|p| format!("{}: {}", p.name, p.ty)).collect();
        assert_eq!(shown, ["n: int", "names: list<string>"]);
        assert!(ports.inputs.is_empty());
        let ports = op.ports(&params(serde_json::json!({"source": "1"}))).expect("valid").expect("ports");
        assert_eq!(ports.outputs[0].name, "result");
        assert_eq!(ports.outputs[0].ty, ValueType::Any);
    }

    #[test]
    fn ports_reject_bad_params() {
        let op = ScriptOp::new();
        let err = |json| op.ports(&params(json)).expect_err("invalid params");
        assert!(
            err(serde_json::json!({"source": "1", "outputs": {"n": "integer"}})).contains("unknown type `integer`")
        );
        assert!(err(serde_json::json!({"outputs": {"n": "int"}})).contains("exactly one"));
        assert!(err(serde_json::json!({"source": "1", "file": "a.rhai"})).contains("exactly one"));
        assert!(err(serde_json::json!({"source": "1", "outputs": {}})).contains("at least one"));
        assert!(err(serde_json::json!({"source": "1", "outputs": {"a.b": "int"}})).contains("not a valid output name"));
        assert!(err(serde_json::json!({"source": 5})).contains("must be a string"));
        let syntax = err(serde_json::json!({"source": "let a = 1;\nlet b = 2;\nlet c = (a +;"}));
        assert!(syntax.starts_with("script line 3, column "), "{syntax}");
    }

    #[tokio::test]
    async fn inputs_are_variables_and_entries_of_the_inputs_map() {
        let (result, _) = run(
            serde_json::json!({
                "source": r#"#{ sum: x + inputs["two-words"].len(), both: `${x}:${inputs.x}` }"#,
                "outputs": {"sum": "int", "both": "string"}
            }),
            vec![("x", Value::Int(2)), ("two-words", Value::List(vec![Value::Null; 3]))],
        )
        .await;
        let outputs = result.expect("runs");
        assert_eq!(outputs["sum"], Value::Int(5));
        assert_eq!(outputs["both"], Value::from("2:2"));
    }

    #[tokio::test]
    async fn prints_become_log_lines() {
        let (result, logs) = run(
            serde_json::json!({"source": r#"print("hello"); debug("dbg"); print(`n=${n}`); 1"#}),
            vec![("n", Value::Int(4))],
        )
        .await;
        assert_eq!(result.expect("runs")["result"], Value::Int(1));
        assert_eq!(logs[0], (LogLevel::Info, "hello".to_owned()));
        assert_eq!(logs[1].0, LogLevel::Debug);
        assert!(logs[1].1.contains("dbg"));
        assert_eq!(logs[2], (LogLevel::Info, "n=4".to_owned()));
    }

    #[tokio::test]
    async fn printing_in_a_loop_is_bounded() {
        let (result, logs) = run(serde_json::json!({"source": "for i in 0..5000 { print(i) } 0"}), vec![]).await;
        assert!(result.is_ok());
        assert_eq!(logs.len(), MAX_LOG_LINES + 1);
        assert_eq!(logs[MAX_LOG_LINES], (LogLevel::Warn, "4000 more lines of script output were dropped".into()));
    }

    #[tokio::test]
    async fn script_errors_name_their_line() {
        let (result, _) = run(serde_json::json!({"source": "let a = 1;\nlet b = a + nope;\nb"}), vec![]).await;
        let err = result.expect_err("unknown variable");
        assert!(matches!(err, NodeError::Failed(_)));
        let text = err.to_string();
        assert!(text.starts_with("script line 2, column ") && text.contains("nope"), "{text}");
    }

    #[tokio::test]
    async fn inputs_may_be_larger_than_scripts_may_build() {
        let transcript = Value::from("word ".repeat(400_000));
        let source = "let n = 0; for i in 0..300 { n += text.sub_string(i * 5, 4).len(); } n + text.len()";
        let (result, _) = run(serde_json::json!({"source": source}), vec![("text", transcript.clone())]).await;
        assert_eq!(result.expect("reading a large input is fine")["result"], Value::Int(1200 + 2_000_000));
        // Making a string that large is not.
        let (result, _) = run(serde_json::json!({"source": "text + \"!\""}), vec![("text", transcript)]).await;
        assert!(result.expect_err("over the limit").to_string().contains("Length of string too large"));
        // Inside a function the first variables are the function's own, not inputs.
        let grow = "fn grow(m) { let i = 0; loop { m[`k${i}`] = i; i += 1; } } grow(#{})";
        let (result, _) =
            run(serde_json::json!({"source": grow}), vec![("a", Value::Int(1)), ("b", Value::Int(2))]).await;
        assert!(result.expect_err("over the limit").to_string().contains("Size of object map too large"));
    }

    #[tokio::test]
    async fn the_operations_limit_comes_from_params() {
        let source = "let i = 0; while i < 1000 { i += 1; } i";
        let (result, _) = run(serde_json::json!({"source": source, "max_operations": 100}), vec![]).await;
        assert!(result.expect_err("over the limit").to_string().contains("too many operations: the limit is 100"));
        let (result, _) = run(serde_json::json!({"source": source}), vec![]).await;
        assert_eq!(result.expect("under the default limit")["result"], Value::Int(1000));
    }

    #[tokio::test]
    async fn a_cancelled_token_stops_the_script() {
        let sink = Arc::new(CollectSink(Mutex::new(Vec::new())));
        let cancel = CancellationToken::new();
        let ctx = NodeCtx::detached("s", EventBus::new("t", sink), std::env::temp_dir(), cancel.clone());
        let inputs = NodeInputs {
            values: IndexMap::new(),
            params: serde_json::json!({"source": "let x = 0; loop { x += 1; }", "max_operations": 10_000_000_000_u64}),
        };
        let op = ScriptOp::new();
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            cancel.cancel();
        });
        let err = op.run(&ctx, inputs).await.expect_err("cancelled");
        assert!(matches!(err, NodeError::Cancelled), "{err}");
        canceller.await.expect("the canceller ran");
    }

    #[tokio::test]
    async fn scripts_can_come_from_files() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("double.rhai");
        std::fs::write(&path, "// doubles n\nn * 2\n").expect("writing the script");
        let (result, _) = run(
            serde_json::json!({"file": path.to_string_lossy(), "outputs": {"twice": "int"}}),
            vec![("n", Value::Int(21))],
        )
        .await;
        assert_eq!(result.expect("runs")["twice"], Value::Int(42));

        let (result, _) =
            run(serde_json::json!({"file": dir.path().join("missing.rhai").to_string_lossy()}), vec![]).await;
        let chain = result.expect_err("missing file").chain();
        assert!(chain[0].contains("missing.rhai"), "{chain:?}");

        let big = dir.path().join("big.rhai");
        std::fs::write(&big, "1;\n".repeat(MAX_SCRIPT_FILE_BYTES as usize)).expect("writing the script");
        let (result, _) = run(serde_json::json!({"file": big.to_string_lossy()}), vec![]).await;
        assert!(result.expect_err("too large").to_string().contains("scripts are limited to 1048576 bytes"));
    }

    #[test]
    fn one_output_takes_the_value_or_its_key() {
        let one = [PortSpec { name: "n".into(), ty: ValueType::Int, optional: false, description: String::new() }];
        let (out, extra) = shape_outputs(Value::Int(3), &one).expect("shaped");
        assert_eq!((out["n"].clone(), extra.len()), (Value::Int(3), 0));
        let map = Value::Map(IndexMap::from([("n".to_string(), Value::Int(4)), ("x".to_string(), Value::Null)]));
        let (out, extra) = shape_outputs(map, &one).expect("shaped");
        assert_eq!((out["n"].clone(), extra), (Value::Int(4), vec!["x".to_string()]));
        let other = Value::Map(IndexMap::from([("m".to_string(), Value::Int(4))]));
        let (out, _) = shape_outputs(other.clone(), &one).expect("shaped");
        assert_eq!(out["n"], other);
    }

    #[test]
    fn several_outputs_need_a_map_with_each_key() {
        let port =
            |n: &str| PortSpec { name: n.into(), ty: ValueType::Any, optional: false, description: String::new() };
        let two = [port("sum"), port("prod")];
        let err = shape_outputs(Value::Int(1), &two).expect_err("not a map").to_string();
        assert!(err.contains("#{ sum: ..., prod: ... }") && err.contains("returned int"), "{err}");
        let partial = Value::Map(IndexMap::from([("sum".to_string(), Value::Int(1))]));
        let err = shape_outputs(partial, &two).expect_err("missing key").to_string();
        assert!(err.contains("no `prod`"), "{err}");
    }
}
