//! `reelflow tools sandbox`: a rhai REPL on the scripting crate's sandboxed engine (its
//! operation, size and memory limits apply to every line), with the engine's operators
//! as functions:
//!
//! - `ops()`: the op names;
//! - `describe("media.probe")`: an op's ports, params schema and properties, as a map;
//! - `run_op("text.template", #{who: "world"}, #{template: "hello {{who}}"})`: runs one op
//!   and returns its outputs as a map (port → value; a file is a map with a `"$file"` key).
//!
//! `run_op` builds a one-node workflow — a workflow input per given input, every output port
//! a workflow output — and runs it on the engine's executor as `reelflow run` does, so an
//! op gets the same validation, param preparation and file handling as in a workflow. The
//! cache is neither read nor written, and files go to a scratch workspace, so nothing the
//! sandbox does touches the data directory's runs or cache.
//!
//! Variables and `fn` definitions persist from line to line. A line that leaves brackets
//! open or ends mid-statement continues on the next; an empty line submits what was typed.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use indexmap::IndexMap;
use reelflow_core::{Event, EventKind, EventSink, RunRequest, RunStatus, Value};
use reelflow_runtime::Runtime;
use reelflow_script::{ScriptLimits, sandboxed_engine};
use rhai::{AST, Dynamic, Engine, EvalAltResult, ParseError, Scope};

#[derive(clap::Args)]
pub struct SandboxArgs {
    /// Run this rhai file instead of reading lines, then exit (non-zero on an error).
    #[arg(long, value_name = "FILE")]
    script: Option<PathBuf>,
    /// Where ops write their files (default: a temporary directory, removed on exit).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
}

const HELP: &str = "\
Reelflow sandbox: rhai with the engine's operators.
  ops()                         the operator names
  describe(op)                  ports, params schema and properties of an op (a map)
  run_op(op, inputs, params)    run one op; inputs and params are maps, e.g.
                                run_op(\"text.template\", #{who: \"world\"}, #{template: \"hello {{who}}\"})
  run_op(op, inputs)            the same with no params
  print(x)                      print a value
Variables and functions persist between lines. A line that leaves a bracket open
continues on the next; an empty line submits what was typed so far.
  :help   this text        :vars   the variables        :reset  forget variables and functions
  :quit   leave (or end of input)";

pub fn sandbox(runtime: Runtime, args: &SandboxArgs) -> anyhow::Result<ExitCode> {
    let (workspace, scratch) = match &args.workspace {
        Some(dir) => (dir.clone(), false),
        None => (std::env::temp_dir().join(format!("reelflow-sandbox-{}", std::process::id())), true),
    };
    let ops = Arc::new(Ops {
        runtime,
        tokio: tokio::runtime::Runtime::new()?,
        workspace,
        cwd: std::env::current_dir()?,
        calls: AtomicU64::new(0),
    });
    let limits = ScriptLimits::default();
    let engine = engine(&ops, &limits);
    let result = match &args.script {
        Some(file) => run_file(&engine, file),
        None => repl(&engine, &limits),
    };
    if scratch {
        let _ = std::fs::remove_dir_all(&ops.workspace);
    }
    result
}

/// The scripting crate's sandboxed engine, with `print` shown and the op functions added.
fn engine(ops: &Arc<Ops>, limits: &ScriptLimits) -> Engine {
    let mut engine = sandboxed_engine(limits);
    engine.on_print(|text| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    });
    engine.on_debug(|text, _, pos| eprintln!("[debug {pos}] {text}"));

    let o = ops.clone();
    engine.register_fn("ops", move || -> rhai::Array {
        o.runtime.registry().ops().map(|op| Dynamic::from(op.to_owned())).collect()
    });
    let o = ops.clone();
    engine.register_fn("describe", move |op: &str| -> Result<Dynamic, Box<EvalAltResult>> {
        let spec = o.spec(op)?;
        to_rhai(&serde_json::to_value(spec).map_err(|e| e.to_string())?)
    });
    let o = ops.clone();
    engine.register_fn("run_op", move |op: &str, inputs: rhai::Map, params: rhai::Map| o.run_op(op, inputs, params));
    let o = ops.clone();
    engine.register_fn("run_op", move |op: &str, inputs: rhai::Map| o.run_op(op, inputs, rhai::Map::new()));
    engine
}

/// What the op functions need.
struct Ops {
    runtime: Runtime,
    tokio: tokio::runtime::Runtime,
    workspace: PathBuf,
    /// Relative file paths given to `run_op` resolve against it.
    cwd: PathBuf,
    /// Numbers the runs, so each gets its own workspace directory.
    calls: AtomicU64,
}

/// The one node of a `run_op` workflow.
const NODE: &str = "op";

impl Ops {
    fn spec(&self, op: &str) -> Result<&reelflow_core::NodeSpec, Box<EvalAltResult>> {
        let registry = self.runtime.registry();
        match registry.get(op) {
            Some(node) => Ok(node.spec()),
            None => {
                let hint = registry.suggest(op).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                Err(format!("no op named `{op}`{hint}; ops() lists them").into())
            }
        }
    }

    fn run_op(&self, op: &str, inputs: rhai::Map, params: rhai::Map) -> Result<Dynamic, Box<EvalAltResult>> {
        let inputs = to_json_object(inputs, "inputs")?;
        let params = to_json_object(params, "params")?;
        let spec = self.spec(op)?;
        let node = self.runtime.registry().get(op).ok_or("unknown op")?;
        let (in_ports, out_ports) = match node.ports(&params) {
            Ok(Some(ports)) => (ports.inputs, ports.outputs),
            Ok(None) => (spec.inputs.clone(), spec.outputs.clone()),
            Err(e) => return Err(format!("{op}: invalid params: {e}").into()),
        };

        // The workflow: an input per given value, typed as its port (variadic ones as
        // `any`), and every output port as an output.
        let mut decls = serde_json::Map::new();
        let mut wires = serde_json::Map::new();
        for name in inputs.keys() {
            let ty = in_ports.iter().find(|p| &p.name == name).map_or("any".to_owned(), |p| p.ty.to_string());
            decls.insert(name.clone(), serde_json::json!({ "type": ty }));
            wires.insert(name.clone(), format!("inputs.{name}").into());
        }
        let outputs: serde_json::Map<String, serde_json::Value> =
            out_ports.iter().map(|p| (p.name.clone(), format!("{NODE}.{}", p.name).into())).collect();
        let workflow = serde_json::json!({
            "reelflow": 1,
            "name": "sandbox",
            "inputs": decls,
            "nodes": { NODE: { "op": op, "inputs": wires, "params": params } },
            "outputs": outputs,
        });
        let text = serde_json::to_string_pretty(&workflow).map_err(|e| e.to_string())?;
        let plan = self.runtime.load_source("run_op", &text, &self.cwd).map_err(|d| {
            let problems: Vec<String> = d
                .located()
                .into_iter()
                .map(|e| match e.help {
                    Some(help) => format!("{} ({help})", e.message),
                    None => e.message,
                })
                .collect();
            format!("run_op(\"{op}\"): {}", problems.join("; "))
        })?;
        let given: IndexMap<String, Value> = inputs.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect();
        let bound = plan.bind_inputs(given, &self.cwd).map_err(|e| format!("run_op(\"{op}\"): {}", e.join("; ")))?;

        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let run_id = format!("sandbox-{n}");
        let mut req = RunRequest::new(run_id.clone(), self.workspace.join(&run_id));
        req.inputs = bound;
        req.use_cache = false;
        req.events = Arc::new(LogsToStderr);
        let report = self.tokio.block_on(self.runtime.executor().run(Arc::new(plan), req));
        match report.status {
            RunStatus::Succeeded => {
                let outputs = Value::Map(report.outputs).to_json();
                to_rhai(&outputs)
            }
            RunStatus::Failed | RunStatus::Cancelled => {
                let chain = report.first_error().map(|(_, chain)| chain.join(": ")).unwrap_or_default();
                Err(format!("{op} failed: {chain}").into())
            }
        }
    }
}

/// Shows the op's log lines as they happen.
struct LogsToStderr;

impl EventSink for LogsToStderr {
    fn emit(&self, event: Event) {
        if let EventKind::NodeLog { level, message, .. } = &event.kind {
            eprintln!("[{}] {message}", format!("{level:?}").to_lowercase());
        }
    }
}

fn to_json_object(
    map: rhai::Map,
    what: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, Box<EvalAltResult>> {
    match to_json(&Dynamic::from_map(map)) {
        Some(serde_json::Value::Object(o)) => Ok(o),
        _ => Err(format!("{what}: the map holds a value that is not data (a function?)").into()),
    }
}

fn to_json(value: &Dynamic) -> Option<serde_json::Value> {
    rhai::serde::from_dynamic(&value.flatten_clone()).ok()
}

fn to_rhai(json: &serde_json::Value) -> Result<Dynamic, Box<EvalAltResult>> {
    rhai::serde::to_dynamic(json)
}

/// How a value is shown: strings as they are, data as JSON, anything else as rhai prints it.
fn show(value: &Dynamic) -> Option<String> {
    if value.is_unit() {
        return None;
    }
    if value.is_string() {
        return Some(value.to_string());
    }
    Some(match to_json(value) {
        Some(json) => serde_json::to_string_pretty(&json).unwrap_or_else(|_| value.to_string()),
        None => value.to_string(),
    })
}

fn run_file(engine: &Engine, file: &Path) -> anyhow::Result<ExitCode> {
    let source = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let ast = match engine.compile(&source) {
        Ok(ast) => ast,
        Err(e) => {
            eprintln!("error: {}: syntax error: {e}", file.display());
            return Ok(ExitCode::from(crate::EXIT_INVALID));
        }
    };
    match engine.eval_ast_with_scope::<Dynamic>(&mut Scope::new(), &ast) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            Ok(ExitCode::from(crate::EXIT_FAILED))
        }
    }
}

fn repl(engine: &Engine, limits: &ScriptLimits) -> anyhow::Result<ExitCode> {
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        println!("Reelflow sandbox — `:help` for help, `:quit` to leave.");
    }
    let mut session = Session { scope: Scope::new(), functions: AST::empty() };
    let mut buffer = String::new();
    let mut stdin = std::io::stdin().lock();
    loop {
        if interactive {
            print!("{}", if buffer.is_empty() { "> " } else { ". " });
            std::io::stdout().flush()?;
        }
        let mut line = String::new();
        if stdin.read_line(&mut line)? == 0 {
            if !buffer.trim().is_empty() {
                session.submit(engine, limits, &buffer);
            }
            break;
        }
        let trimmed = line.trim();
        if buffer.is_empty() {
            match trimmed {
                "" => continue,
                ":quit" | ":q" | ":exit" => break,
                ":help" | ":h" => {
                    println!("{HELP}");
                    continue;
                }
                ":vars" => {
                    for (name, constant, value) in session.scope.iter() {
                        let kind = if constant { "const" } else { "let" };
                        println!("{kind} {name}: {}", value.type_name());
                    }
                    continue;
                }
                ":reset" => {
                    session = Session { scope: Scope::new(), functions: AST::empty() };
                    println!("variables and functions forgotten");
                    continue;
                }
                command if command.starts_with(':') => {
                    eprintln!("error: unknown command `{command}` (:help lists them)");
                    continue;
                }
                _ => {}
            }
        }
        buffer.push_str(&line);
        if !trimmed.is_empty()
            && let Err(e) = engine.compile_with_scope(&session.scope, &buffer)
            && is_incomplete(&buffer, &e)
        {
            continue;
        }
        session.submit(engine, limits, &buffer);
        buffer.clear();
    }
    Ok(ExitCode::SUCCESS)
}

/// What persists between lines.
struct Session {
    scope: Scope<'static>,
    /// Every `fn` defined so far.
    functions: AST,
}

impl Session {
    /// Compiles and runs `source` in the session; prints the value or the error.
    fn submit(&mut self, engine: &Engine, limits: &ScriptLimits, source: &str) {
        let ast = match engine.compile_with_scope(&self.scope, source) {
            Ok(ast) => ast,
            Err(e) => {
                eprintln!("syntax error: {e}");
                return;
            }
        };
        // Earlier functions first, so a new definition of the same name replaces the old.
        let program = self.functions.merge(&ast);
        match engine.eval_ast_with_scope::<Dynamic>(&mut self.scope, &program) {
            Ok(value) => {
                if let Some(text) = show(&value) {
                    println!("{text}");
                }
            }
            Err(e) => eprintln!("error: {e}"),
        }
        self.functions = self.functions.merge(&ast.clone_functions_only());
        // The engine bounds what one evaluation may add; this bounds what lines add up to.
        let held: usize = self.scope.iter_raw().map(|(_, _, v)| approximate_bytes(v, 0)).sum();
        if held > limits.max_memory {
            eprintln!(
                "error: the sandbox's variables hold more than {} bytes; they have been cleared",
                limits.max_memory
            );
            self.scope.clear();
        }
    }
}

/// Roughly what a value holds; stops at the engine's nesting limit.
fn approximate_bytes(value: &Dynamic, depth: usize) -> usize {
    const SLOT: usize = 16;
    if depth > 64 {
        return SLOT;
    }
    let content = if let Ok(s) = value.as_immutable_string_ref() {
        s.len()
    } else if let Ok(blob) = value.as_blob_ref() {
        blob.len()
    } else if let Ok(items) = value.as_array_ref() {
        items.iter().map(|v| approximate_bytes(v, depth + 1)).sum()
    } else if let Ok(map) = value.as_map_ref() {
        map.iter().map(|(k, v)| k.len() + approximate_bytes(v, depth + 1)).sum()
    } else {
        0
    };
    SLOT + content
}

/// Whether `source` failed to parse only because it stops early: a bracket or a
/// backtick string is still open, or the parser ran into the end of the text.
fn is_incomplete(source: &str, error: &ParseError) -> bool {
    if open_brackets(source) {
        return true;
    }
    if matches!(error.err_type(), rhai::ParseErrorType::UnexpectedEOF) {
        return true;
    }
    // rhai reports "expected …" at the position just past the last token.
    let text = source.trim_end();
    let last_line = text.lines().count();
    let last_column = text.lines().last().map_or(0, |l| l.chars().count());
    match (error.position().line(), error.position().position()) {
        (Some(line), Some(column)) => line > last_line || (line == last_line && column > last_column),
        (Some(line), None) => line > last_line,
        _ => true,
    }
}

/// Whether `source` leaves a `(`, `[`, `{` or a backtick string open (strings and comments
/// are skipped).
fn open_brackets(source: &str) -> bool {
    let mut depth = 0i64;
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            '"' | '\'' => {
                while let Some(s) = chars.next() {
                    match s {
                        '\\' => {
                            chars.next();
                        }
                        '\n' => break,
                        s if s == c => break,
                        _ => {}
                    }
                }
            }
            '`' => {
                let mut closed = false;
                for s in chars.by_ref() {
                    if s == '`' {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return true;
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for s in chars.by_ref() {
                    if s == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut closed = false;
                while let Some(s) = chars.next() {
                    if s == '*' && chars.peek() == Some(&'/') {
                        chars.next();
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return true;
                }
            }
            _ => {}
        }
    }
    depth > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incomplete(source: &str) -> bool {
        let engine = sandboxed_engine(&ScriptLimits::default());
        match engine.compile(source) {
            Ok(_) => false,
            Err(e) => is_incomplete(source, &e),
        }
    }

    #[test]
    fn unfinished_input_continues_and_mistakes_do_not() {
        assert!(incomplete("fn double(x) {\n"));
        assert!(incomplete("let a = [1,\n"));
        assert!(incomplete("if x > 1 {\n let y = 2;\n"));
        assert!(incomplete("let s = `multi\n"));
        assert!(incomplete("let x = 1 +\n"));
        assert!(!incomplete("let x = 1 +* 2;\n"));
        assert!(!incomplete("let = 4;\n"));
        assert!(!incomplete("1 + 2\n"));
        assert!(!incomplete("let s = \"{\"; s\n"));
    }

    #[test]
    fn sizes_count_strings_and_containers() {
        let engine = sandboxed_engine(&ScriptLimits::default());
        let v: Dynamic = engine.eval(r#"let s = "x"; s.pad(1000, "y"); #{a: s, b: [1, 2]}"#).expect("evaluates");
        let bytes = approximate_bytes(&v, 0);
        assert!((1000..1200).contains(&bytes), "{bytes}");
    }
}
