//! rhai as the language of `${{ }}` params and `when` conditions.

use std::sync::Arc;

use reelflow_core::{CompiledExpr, ExprError, ExprScope, ExpressionEngine, Value};
use rhai::{AST, Dynamic, Engine, Scope};

use crate::engine::{
    ScriptLimits, eval_error, from_dynamic, json_to_dynamic, sandboxed_engine, set_host_entries, syntax_error,
};
use crate::error::Error;

/// The variables an expression sees.
const INPUTS: &str = "inputs";
const NODES: &str = "nodes";

/// The rhai [`ExpressionEngine`]: expressions see `inputs` (the workflow inputs) and
/// `nodes` (node id → output port → value) as read-only object maps.
///
/// Variables are strict: an expression that names anything other than `inputs`, `nodes`
/// or its own `let`s (a typo such as `input.n`) is rejected when the workflow is loaded.
pub struct RhaiExpressions {
    engine: Arc<Engine>,
    limits: Arc<ScriptLimits>,
}

impl RhaiExpressions {
    /// With [`ScriptLimits::for_expressions`].
    pub fn new() -> Self {
        RhaiExpressions::with_limits(ScriptLimits::for_expressions())
    }

    pub fn with_limits(limits: ScriptLimits) -> Self {
        let mut engine = sandboxed_engine(&limits);
        engine.set_strict_variables(true);
        set_host_entries(&mut engine, 2);
        RhaiExpressions { engine: Arc::new(engine), limits: Arc::new(limits) }
    }
}

impl Default for RhaiExpressions {
    fn default() -> Self {
        RhaiExpressions::new()
    }
}

impl ExpressionEngine for RhaiExpressions {
    fn compile(&self, source: &str) -> Result<Arc<dyn CompiledExpr>, ExprError> {
        if source.trim().is_empty() {
            return Err(ExprError::new("the expression is empty"));
        }
        // Declares the two names for the strict-variables check. They are plain variables
        // here, not constants: the optimizer would fold a constant's placeholder value
        // into the compiled expression.
        let mut names = Scope::new();
        names.push_dynamic(INPUTS, Dynamic::UNIT);
        names.push_dynamic(NODES, Dynamic::UNIT);
        let ast = self.engine.compile_with_scope(&names, source).map_err(|e| ExprError::from(syntax_error(&e)))?;
        Ok(Arc::new(RhaiExpr { ast, engine: self.engine.clone(), limits: self.limits.clone() }))
    }
}

/// One compiled expression; shares its engine with every other expression of the engine.
struct RhaiExpr {
    ast: AST,
    engine: Arc<Engine>,
    limits: Arc<ScriptLimits>,
}

impl RhaiExpr {
    fn eval_rhai(&self, scope: &ExprScope) -> Result<Value, Error> {
        let inputs: serde_json::Map<String, serde_json::Value> =
            scope.inputs.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
        let nodes: serde_json::Map<String, serde_json::Value> = scope
            .nodes
            .iter()
            .map(|(id, ports)| {
                let ports = ports.iter().map(|(port, v)| (port.clone(), v.to_json())).collect();
                (id.clone(), serde_json::Value::Object(ports))
            })
            .collect();
        let mut vars = Scope::new();
        vars.push_constant_dynamic(INPUTS, json_to_dynamic(&serde_json::Value::Object(inputs))?);
        vars.push_constant_dynamic(NODES, json_to_dynamic(&serde_json::Value::Object(nodes))?);
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut vars, &self.ast)
            .map_err(|e| eval_error(*e, &self.limits))?;
        from_dynamic(&result)
    }
}

impl CompiledExpr for RhaiExpr {
    fn eval(&self, scope: &ExprScope) -> Result<Value, ExprError> {
        self.eval_rhai(scope).map_err(ExprError::from)
    }
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;
    use reelflow_core::{FileKind, FileRef};

    use super::*;

    fn scope() -> ExprScope {
        ExprScope {
            inputs: IndexMap::from([
                ("count".to_string(), Value::Int(21)),
                ("clip".to_string(), Value::File(FileRef::new("/tmp/a.mp4", FileKind::Video))),
            ]),
            nodes: IndexMap::from([
                (
                    "split".to_string(),
                    IndexMap::from([("items".to_string(), Value::List(vec!["a".into(), "b".into(), "c".into()]))]),
                ),
                ("two-words".to_string(), IndexMap::from([("text".to_string(), Value::from("hi"))])),
            ]),
        }
    }

    fn eval(source: &str) -> Result<Value, ExprError> {
        RhaiExpressions::new().compile(source)?.eval(&scope())
    }

    #[test]
    fn expressions_read_inputs_and_node_outputs() {
        assert_eq!(eval("inputs.count * 2"), Ok(Value::Int(42)));
        assert_eq!(eval("nodes.split.items.len() > 3"), Ok(Value::Bool(false)));
        assert_eq!(eval(r#"nodes["two-words"].text + "!""#), Ok(Value::from("hi!")));
        assert_eq!(eval("inputs.count / 2.0"), Ok(Value::Float(10.5)));
        assert_eq!(eval("let x = inputs.count;\nx + 1"), Ok(Value::Int(22)));
        assert_eq!(eval("inputs.nothing"), Ok(Value::Null));
    }

    #[test]
    fn files_are_maps_inside_and_files_outside() {
        assert_eq!(eval(r#"inputs.clip["$file"]"#), Ok(Value::from("/tmp/a.mp4")));
        assert_eq!(eval("inputs.clip.kind"), Ok(Value::from("video")));
        let Ok(Value::File(f)) = eval("inputs.clip") else { panic!("not a file") };
        assert_eq!(f.path, std::path::Path::new("/tmp/a.mp4"));
    }

    #[test]
    fn inputs_cannot_be_changed() {
        let err = eval("inputs.count = 1; 2").expect_err("assigned to a constant");
        assert!(err.message.contains("constant"), "{}", err.message);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = RhaiExpressions::new().compile("1 +").err().expect("a syntax error");
        assert_eq!(err.position.map(|p| p.0), Some(1));
        let err = RhaiExpressions::new().compile("1 +\n\n (2").err().expect("a syntax error");
        assert_eq!(err.position.map(|p| p.0), Some(3), "{err:?}");
        assert!(RhaiExpressions::new().compile("  ").is_err());
    }

    #[test]
    fn unknown_variables_are_rejected_when_compiled() {
        let err = RhaiExpressions::new().compile("input.count > 1").err().expect("strict variables");
        assert!(err.message.contains("input"), "{}", err.message);
        assert!(RhaiExpressions::new().compile("let y = 2; [1, 2].map(|x| x * y)").is_ok());
    }

    #[test]
    fn expressions_have_a_smaller_operations_budget() {
        let err = eval("let i = 0; while i < 200_000 { i += 1; } i").expect_err("too long for an expression");
        assert!(err.message.contains("too many operations") && err.message.contains("100000"), "{}", err.message);
        assert!(err.position.is_some());
        let relaxed = RhaiExpressions::with_limits(ScriptLimits { max_operations: 10_000_000, ..Default::default() });
        let value = relaxed.compile("let i = 0; while i < 200_000 { i += 1; } i").expect("compiles").eval(&scope());
        assert_eq!(value, Ok(Value::Int(200_000)));
    }

    #[test]
    fn workflow_values_may_exceed_what_scripts_may_build() {
        let mut scope = scope();
        scope.inputs.insert("transcript".into(), Value::from("word ".repeat(1_000_000)));
        let exprs = RhaiExpressions::new();
        let eval = |source: &str| exprs.compile(source).expect("compiles").eval(&scope);
        assert_eq!(eval("inputs.count * 2"), Ok(Value::Int(42)));
        assert_eq!(eval("inputs.transcript.len()"), Ok(Value::Int(5_000_000)));
    }

    #[test]
    fn print_in_an_expression_is_dropped() {
        assert_eq!(eval(r#"print("hello"); debug(1); 7"#), Ok(Value::Int(7)));
    }
}
