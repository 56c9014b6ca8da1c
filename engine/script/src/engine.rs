//! The sandboxed rhai [`Engine`] that both expressions and script nodes run on, and the
//! conversions between rhai values and workflow [`Value`]s.
//!
//! The sandbox is rhai's standard library without the clock, with no modules, no `eval`
//! and no `sleep`, and with limits on work, recursion and data size, so a hostile or buggy
//! script ends with an error instead of hanging a worker or exhausting memory or the stack.

use std::sync::LazyLock;

use reelflow_core::Value;
use rhai::module_resolvers::DummyModuleResolver;
use rhai::packages::Package;
use rhai::{Dynamic, Engine, EvalAltResult, FLOAT, INT, ParseError, Position};

use crate::error::{Error, Limit};

/// Resource limits of one rhai engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptLimits {
    /// Operations a single evaluation may perform (rhai counts statements, calls, loop
    /// iterations ...). Must be at least 1: rhai reads 0 as "unlimited".
    pub max_operations: u64,
    /// How deeply script functions may call each other (recursion depth).
    pub max_call_levels: usize,
    /// How deeply expressions may nest at the top level of a script.
    pub max_expr_depth: usize,
    /// How deeply expressions may nest inside function bodies.
    pub max_function_expr_depth: usize,
    /// Longest string, in bytes.
    pub max_string_size: usize,
    /// Most items in an array (or bytes in a BLOB).
    pub max_array_size: usize,
    /// Most entries in an object map.
    pub max_map_size: usize,
    /// Approximate bytes that a script's variables may hold together. rhai checks the
    /// limits above per value and not after `map[key] = value` or a change deep inside a
    /// nested value, so without this a loop could fill memory.
    pub max_memory: usize,
    /// How deeply arrays and maps may nest. rhai walks, copies and drops nested values
    /// recursively, so `loop { a = [a]; }` would otherwise overflow the stack.
    pub max_nesting: usize,
}

impl Default for ScriptLimits {
    /// The limits of `script` nodes.
    fn default() -> Self {
        ScriptLimits {
            max_operations: 1_000_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 1024 * 1024,
            max_array_size: 100_000,
            max_map_size: 10_000,
            max_memory: 64 * 1024 * 1024,
            max_nesting: 64,
        }
    }
}

impl ScriptLimits {
    /// The limits of `${{ }}` expressions and `when` conditions: they are meant to be
    /// short, so they get a tenth of a script's operations.
    pub fn for_expressions() -> Self {
        ScriptLimits { max_operations: 100_000, ..ScriptLimits::default() }
    }
}

rhai::def_package! {
    /// rhai's standard library without `BasicTimePackage`: node results are cached by their
    /// params and inputs, so a script must not be able to read the clock.
    SandboxPackage(lib):
        rhai::packages::CorePackage,
        rhai::packages::BitFieldPackage,
        rhai::packages::LogicPackage,
        rhai::packages::BasicMathPackage,
        rhai::packages::BasicArrayPackage,
        rhai::packages::BasicBlobPackage,
        rhai::packages::BasicMapPackage,
        rhai::packages::MoreStringPackage
    {}
}

/// Building the library registers a few hundred functions; it is immutable, so every
/// engine shares one copy.
static SANDBOX_PACKAGE: LazyLock<SandboxPackage> = LazyLock::new(SandboxPackage::new);

/// A rhai engine that can compute but not touch the outside world, within `limits`.
///
/// `print` and `debug` are dropped; callers that want them (script nodes log them) install
/// their own `on_print` / `on_debug`. No I/O function is registered, `import` finds no
/// module, and `eval` is not part of the language.
pub fn sandboxed_engine(limits: &ScriptLimits) -> Engine {
    let mut engine = Engine::new_raw();
    SANDBOX_PACKAGE.register_into_engine(&mut engine);
    // `sleep` (from the core package) blocks its thread without counting operations, so
    // neither the operations limit nor cancellation could stop it. Functions registered on
    // the engine itself are found before the package's, so these shadow it.
    engine.register_fn("sleep", |_: INT| -> Result<(), Box<EvalAltResult>> { Err(NO_SLEEP.into()) });
    engine.register_fn("sleep", |_: FLOAT| -> Result<(), Box<EvalAltResult>> { Err(NO_SLEEP.into()) });
    engine.set_module_resolver(DummyModuleResolver::new());
    engine.disable_symbol("eval");
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});
    // rhai reads 0 as "no limit"; a sandbox always has one.
    engine.set_max_operations(limits.max_operations.max(1));
    engine.set_max_call_levels(limits.max_call_levels);
    engine.set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_array_size);
    engine.set_max_map_size(limits.max_map_size);
    guard_variables(&mut engine, limits);
    engine
}

/// Markers of the two limits that rhai does not know, raised as rhai's "data too large".
const MEMORY_LIMIT: &str = "memory";
const NESTING_LIMIT: &str = "nesting";

/// Variable accesses between two scans are at least this many, and at least a quarter of
/// the values the last scan visited, so scanning costs a bounded share of the run.
const MIN_ACCESSES_BETWEEN_SCANS: usize = 256;

/// The variable guard's state, kept in the evaluation's tag so that evaluations sharing an
/// engine (expressions) each have their own.
#[derive(Clone, Default)]
struct GuardState {
    /// Scope entries the host pushed before the evaluation (the bottom of the scope).
    host_entries: usize,
    /// Variable accesses until the next scan.
    accesses_left: usize,
    /// Bytes held at the first scan: what the script was given, not what it made.
    baseline: Option<usize>,
}

/// Tells the variable guard that the bottom `count` entries of the evaluation scope are
/// values from the workflow: they may be larger than the per-value limits (a script may
/// read a long transcript), but their growth still counts against `max_memory`.
pub(crate) fn set_host_entries(engine: &mut Engine, count: usize) {
    engine.set_default_tag(Dynamic::from(GuardState { host_entries: count, ..GuardState::default() }));
}

/// Checks the size and nesting of everything the running code can reach, every so many
/// variable accesses. Every loop touches a variable, so growth cannot escape the scans;
/// between two scans a value can grow by a bounded factor only.
#[expect(
    deprecated,
    reason = "`on_var` is marked volatile, not deprecated; it is rhai's only hook that sees the scope"
)]
fn guard_variables(engine: &mut Engine, limits: &ScriptLimits) {
    let limits = limits.clone();
    engine.on_var(move |_, _, mut ctx| {
        // Runs on every variable access: the common path only decrements in place.
        let tag = ctx.tag_mut();
        if !tag.is::<GuardState>() {
            *tag = Dynamic::from(GuardState::default());
        }
        let (host_entries, baseline) = match tag.write_lock::<GuardState>() {
            Some(mut state) if state.accesses_left > 0 => {
                state.accesses_left -= 1;
                return Ok(None);
            }
            Some(state) => (state.host_entries, state.baseline),
            None => return Ok(None),
        };
        let mut scan = Scan { limits: &limits, visits: 0, bytes: 0 };
        // Script functions run in scopes of their own, with no host entries.
        let host_entries = if ctx.call_level() == 0 { host_entries } else { 0 };
        let scope = ctx.scope();
        for (index, (_, constant, value)) in scope.iter_raw().enumerate() {
            // `iter_raw` runs from the top of the scope down.
            let from_host = scope.len() - index <= host_entries;
            // Constants cannot grow, and rhai checked them when the script made them.
            scan.variable(value, !(from_host || constant))?;
        }
        if let Some(this) = ctx.this_ptr() {
            scan.variable(this, true)?;
        }
        let baseline = baseline.unwrap_or(scan.bytes);
        if scan.bytes.saturating_sub(baseline) > limits.max_memory {
            return Err(EvalAltResult::ErrorDataTooLarge(MEMORY_LIMIT.into(), Position::NONE).into());
        }
        if let Some(mut state) = ctx.tag_mut().write_lock::<GuardState>() {
            state.baseline = Some(baseline);
            state.accesses_left = MIN_ACCESSES_BETWEEN_SCANS.max(scan.visits / 4);
        }
        Ok(None)
    });
}

/// One walk over the reachable values.
struct Scan<'a> {
    limits: &'a ScriptLimits,
    visits: usize,
    /// Approximate heap bytes of all values walked so far.
    bytes: usize,
}

/// What rhai's own size limits count inside one value.
#[derive(Default)]
struct Sizes {
    array_items: usize,
    map_entries: usize,
    string_bytes: usize,
}

impl Scan<'_> {
    /// Adds up one variable; with `checked`, applies rhai's per-value limits and the
    /// nesting limit to it.
    fn variable(&mut self, value: &Dynamic, checked: bool) -> Result<(), Box<EvalAltResult>> {
        let mut sizes = Sizes::default();
        let too_large = |what: &str| Err(EvalAltResult::ErrorDataTooLarge(what.into(), Position::NONE).into());
        if !self.walk(value, 0, &mut sizes) && checked {
            return too_large(NESTING_LIMIT);
        }
        if !checked {
            return Ok(());
        }
        if sizes.string_bytes > self.limits.max_string_size {
            return too_large("Length of string");
        }
        if sizes.array_items > self.limits.max_array_size {
            return too_large("Size of array/BLOB");
        }
        if sizes.map_entries > self.limits.max_map_size {
            return too_large("Size of object map");
        }
        Ok(())
    }

    /// Adds up `value`. Stops descending past the nesting limit, which bounds the walk's
    /// own recursion, and then returns false.
    fn walk(&mut self, value: &Dynamic, depth: usize, sizes: &mut Sizes) -> bool {
        // Roughly what one value costs besides its content.
        const SLOT: usize = 16;
        if depth > self.limits.max_nesting {
            return false;
        }
        self.visits += 1;
        self.bytes = self.bytes.saturating_add(SLOT);
        let mut within = true;
        if let Ok(s) = value.as_immutable_string_ref() {
            sizes.string_bytes = sizes.string_bytes.saturating_add(s.len());
            self.bytes = self.bytes.saturating_add(s.len());
        } else if let Ok(blob) = value.as_blob_ref() {
            sizes.array_items = sizes.array_items.saturating_add(blob.len());
            self.bytes = self.bytes.saturating_add(blob.len());
        } else if let Ok(items) = value.as_array_ref() {
            sizes.array_items = sizes.array_items.saturating_add(items.len());
            for item in items.iter() {
                within &= self.walk(item, depth + 1, sizes);
            }
        } else if let Ok(map) = value.as_map_ref() {
            sizes.map_entries = sizes.map_entries.saturating_add(map.len());
            for (key, item) in map.iter() {
                self.bytes = self.bytes.saturating_add(key.len());
                within &= self.walk(item, depth + 1, sizes);
            }
        }
        within
    }
}

const NO_SLEEP: &str = "`sleep` is not available in Reelflow scripts";

/// rhai positions are 1-based; a column of 0 means "before the first character".
fn line_column(pos: Position) -> Option<(usize, usize)> {
    pos.line().map(|line| (line, pos.position().unwrap_or(1)))
}

/// A compile error of rhai source.
pub(crate) fn syntax_error(err: &ParseError) -> Error {
    Error::Syntax { message: err.err_type().to_string(), position: line_column(err.position()) }
}

/// Classifies an evaluation error: limits and cancellation get their own variants, the
/// message loses rhai's own position suffix (the position is kept separately).
pub(crate) fn eval_error(mut err: EvalAltResult, limits: &ScriptLimits) -> Error {
    // An error inside a script function arrives wrapped once per call level; the innermost
    // error is what went wrong, and the innermost function is where.
    let mut function = None;
    let mut call_position = Position::NONE;
    loop {
        match err {
            EvalAltResult::ErrorInFunctionCall(name, _, inner, pos) => {
                function = Some(name);
                call_position = pos;
                err = *inner;
            }
            EvalAltResult::ErrorInModule(_, inner, _) => err = *inner,
            _ => break,
        }
    }
    let position = line_column(err.take_position()).or_else(|| line_column(call_position));
    let limit = |limit, message| Error::Limit { limit, message, position };
    match err {
        EvalAltResult::ErrorTerminated(..) => Error::Cancelled,
        EvalAltResult::ErrorTooManyOperations(_) => limit(
            Limit::Operations,
            format!("too many operations: the limit is {} (an endless loop?)", limits.max_operations),
        ),
        EvalAltResult::ErrorStackOverflow(_) => limit(
            Limit::CallDepth,
            format!(
                "function calls nested too deeply: the limit is {} levels (runaway recursion?)",
                limits.max_call_levels
            ),
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) if what == MEMORY_LIMIT => {
            limit(Limit::DataSize, format!("the script's variables hold more than {} bytes", limits.max_memory))
        }
        EvalAltResult::ErrorDataTooLarge(what, _) if what == NESTING_LIMIT => {
            limit(Limit::DataSize, format!("arrays and maps nest more than {} levels deep", limits.max_nesting))
        }
        EvalAltResult::ErrorDataTooLarge(what, _) => limit(
            Limit::DataSize,
            format!(
                "{what} too large: strings may hold {} bytes, arrays {} items and maps {} entries",
                limits.max_string_size, limits.max_array_size, limits.max_map_size
            ),
        ),
        EvalAltResult::ErrorParsing(kind, _) => Error::Syntax { message: kind.to_string(), position },
        other => {
            let mut message = other.to_string();
            if let Some(f) = function {
                message.push_str(&format!(" (in function `{f}`)"));
            }
            Error::Runtime { message, position }
        }
    }
}

/// A workflow value as rhai sees it (files become maps with a `"$file"` key).
pub(crate) fn to_dynamic(value: &Value) -> Result<Dynamic, Error> {
    json_to_dynamic(&value.to_json())
}

pub(crate) fn json_to_dynamic(json: &serde_json::Value) -> Result<Dynamic, Error> {
    rhai::serde::to_dynamic(json)
        .map_err(|e| Error::Runtime { message: format!("a value cannot be passed to rhai: {e}"), position: None })
}

/// A rhai result as a workflow value (maps with a `"$file"` key become files).
pub(crate) fn from_dynamic(value: &Dynamic) -> Result<Value, Error> {
    // Values captured by closures are shared cells; serde sees through flattened ones only.
    let value = value.flatten_clone();
    rhai::serde::from_dynamic::<serde_json::Value>(&value).map(|json| Value::from_json(&json)).map_err(|e| {
        Error::Runtime {
            message: format!("the result ({}) is not a workflow value: {e}", value.type_name()),
            position: None,
        }
    })
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;
    use reelflow_core::{FileKind, FileRef};

    use super::*;

    fn run(source: &str) -> Result<Dynamic, Error> {
        let limits = ScriptLimits::default();
        let engine = sandboxed_engine(&limits);
        let ast = engine.compile(source).map_err(|e| syntax_error(&e))?;
        engine.eval_ast::<Dynamic>(&ast).map_err(|e| eval_error(*e, &limits))
    }

    /// Runs hostile `source` on a thread with the default 2 MiB stack (that of tokio's
    /// blocking pool) and returns its error; a stack overflow would abort the test binary.
    fn hostile(source: &'static str) -> Error {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || run(source))
            .expect("spawning a thread")
            .join()
            .expect("the script thread panicked")
            .expect_err("the hostile script succeeded")
    }

    #[test]
    fn endless_loops_hit_the_operations_limit() {
        let err = hostile("let x = 0; loop { x += 1; }");
        assert_eq!(err.limit(), Some(Limit::Operations), "{err}");
        assert!(err.to_string().contains("too many operations"), "{err}");
        assert_eq!(err.position().map(|p| p.0), Some(1));
    }

    #[test]
    fn runaway_recursion_hits_the_call_depth_limit() {
        let err = hostile("fn f(x) { f(x + 1) } f(0)");
        assert_eq!(err.limit(), Some(Limit::CallDepth), "{err}");
        assert!(err.to_string().contains("nested too deeply"), "{err}");
    }

    #[test]
    fn doubling_strings_hit_the_string_size_limit() {
        let err = hostile(r#"let s = "x"; loop { s += s; }"#);
        assert_eq!(err.limit(), Some(Limit::DataSize), "{err}");
        assert!(err.to_string().contains("Length of string too large"), "{err}");
    }

    #[test]
    fn growing_arrays_hit_the_array_size_limit() {
        let err = hostile("let a = []; loop { a.push(1); }");
        assert_eq!(err.limit(), Some(Limit::DataSize), "{err}");
        assert!(err.to_string().contains("array"), "{err}");
        let err = hostile("let a = [1]; loop { a += a; }");
        assert_eq!(err.limit(), Some(Limit::DataSize), "{err}");
    }

    #[test]
    fn growth_that_rhai_does_not_check_still_hits_the_size_limits() {
        const HALF_MIB: &str = r#"let s = "x"; while s.len() < 500000 { s += s; }"#;
        // `m[key] = value` adds a map entry without rhai's own size check.
        let err = hostile("let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }");
        assert_eq!(err.limit(), Some(Limit::DataSize), "{err}");
        assert!(err.to_string().contains("Size of object map too large"), "{err}");
        let source = format!("{HALF_MIB} let m = #{{}}; let i = 0; loop {{ m[`k${{i}}`] = s + i; i += 1; }}");
        let err = hostile(Box::leak(source.into()));
        assert!(err.to_string().contains("Length of string too large"), "{err}");
        // Neither is growth deep inside a nested value.
        let source = format!(
            "{HALF_MIB} let a = []; for j in 0..1000 {{ a.push([]); }} let i = 0; loop {{ a[i % 1000].push(s + i); i += 1; }}"
        );
        let err = hostile(Box::leak(source.into()));
        assert!(err.to_string().contains("Length of string too large"), "{err}");
    }

    #[test]
    fn many_variables_together_hit_the_memory_limit() {
        // Each variable is within the per-value limits; 200 of them hold ~100 MB.
        let lets: String = (0..200).map(|i| format!("let v{i} = s + {i};\n")).collect();
        let source = format!("let s = \"x\"; while s.len() < 500000 {{ s += s; }}\n{lets}v0.len()");
        let err = hostile(Box::leak(source.into()));
        assert_eq!(err.limit(), Some(Limit::DataSize), "{err}");
        assert!(err.to_string().contains("variables hold more than 67108864 bytes"), "{err}");
    }

    #[test]
    fn endless_nesting_hits_the_nesting_limit() {
        let err = hostile("let a = []; loop { a = [a]; }");
        assert_eq!(err.limit(), Some(Limit::DataSize), "{err}");
        assert!(err.to_string().contains("nest more than 64 levels"), "{err}");
        let err = hostile("let m = #{}; loop { m = #{ inner: m }; }");
        assert!(err.to_string().contains("nest more than 64 levels"), "{err}");
        let err = hostile("fn wrap() { this = [this]; } let a = []; loop { a.wrap(); }");
        assert!(err.to_string().contains("nest more than 64 levels"), "{err}");
        let err = hostile("fn grow(m) { let i = 0; loop { m[`k${i}`] = i; i += 1; } } grow(#{})");
        assert!(err.to_string().contains("Size of object map too large"), "{err}");
        // Moderate nesting is fine.
        assert!(run("let a = []; for i in 0..40 { a = [a]; } 1").is_ok());
    }

    #[test]
    fn deeply_nested_source_is_a_syntax_error_not_a_stack_overflow() {
        let parens: &'static str = Box::leak(format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000)).into());
        let err = hostile(parens);
        assert!(matches!(err, Error::Syntax { .. }), "{err}");
        let blocks: &'static str = Box::leak(format!("{}1{}", "{".repeat(100_000), "}".repeat(100_000)).into());
        assert!(matches!(hostile(blocks), Error::Syntax { .. }));
        let arrays: &'static str = Box::leak(format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)).into());
        assert!(matches!(hostile(arrays), Error::Syntax { .. }));
        let unary: &'static str = Box::leak(format!("{}1", "-".repeat(100_000)).into());
        assert!(matches!(hostile(unary), Error::Syntax { .. }));
    }

    #[test]
    fn eval_import_and_sleep_are_unavailable() {
        let err = run(r#"eval("40 + 2")"#).expect_err("eval ran");
        assert!(matches!(err, Error::Syntax { .. }), "{err}");
        let err = run(r#"import "/etc/passwd" as p; 1"#).expect_err("import ran");
        assert!(err.to_string().contains("Module not found"), "{err}");
        let err = run("sleep(1000); 1").expect_err("sleep ran");
        assert!(err.to_string().contains("not available"), "{err}");
        assert!(run("sleep(1.5e6)").is_err());
        assert!(run("timestamp()").is_err(), "the clock is readable");
    }

    #[test]
    fn the_standard_library_is_there() {
        let v = run(r#"let a = [3, 1, 2]; a.sort(); `${a.len()}:${a[0]}:${"Ab".to_upper()}:${#{x: 1}.keys()[0]}`"#)
            .expect("runs");
        assert_eq!(v.into_string().expect("a string"), "3:1:AB:x");
        assert_eq!(run("parse_json(`{\"a\": 2}`).a * 2.5").expect("runs").as_float().expect("float"), 5.0);
    }

    #[test]
    fn errors_inside_functions_name_the_function_and_the_inner_position() {
        let err = run("fn half(x) {\n  x / 0\n}\nhalf(4)").expect_err("division by zero");
        assert!(matches!(err, Error::Runtime { .. }), "{err}");
        assert_eq!(err.position(), Some((2, 5)), "{err}");
        let text = err.to_string();
        assert!(text.starts_with("script line 2, column 5: "), "{text}");
        assert!(text.contains("Division by zero") && text.contains("(in function `half`)"), "{text}");
        assert!(!text.contains("(line "), "rhai's own position suffix leaked: {text}");
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = run("let a = 1;\nlet b = (a + ;").expect_err("bad syntax");
        assert!(matches!(err, Error::Syntax { .. }));
        assert_eq!(err.position().map(|p| p.0), Some(2), "{err}");
    }

    #[test]
    fn values_round_trip_files_included() {
        let file = Value::File(FileRef::new("/tmp/clip.mp4", FileKind::Video));
        let value = Value::Map(IndexMap::from([
            ("clip".to_string(), file),
            ("n".to_string(), Value::Int(i64::MAX)),
            ("f".to_string(), Value::Float(0.5)),
            ("items".to_string(), Value::List(vec![Value::Null, Value::Bool(true), "s".into()])),
        ]));
        let back = from_dynamic(&to_dynamic(&value).expect("to rhai")).expect("from rhai");
        // rhai maps are sorted by key; compare as JSON objects, where order does not matter.
        assert_eq!(back.to_json(), value.to_json());
        let Value::Map(m) = back else { panic!("not a map") };
        assert!(matches!(m["clip"], Value::File(ref f) if f.kind == FileKind::Video));
    }

    #[test]
    fn unconvertible_results_are_errors() {
        let f = run("|x| x + 1").expect("a function pointer");
        assert!(from_dynamic(&f).is_err());
    }
}
