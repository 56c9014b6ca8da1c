//! Expressions inside workflow files (`${{ ... }}` params and `when` conditions).
//!
//! The core does not know the expression language; `reelflow-script` supplies rhai through
//! the [`ExpressionEngine`] trait, so the core builds without it.

use std::sync::{Arc, LazyLock};

use indexmap::IndexMap;
use regex::Regex;

use crate::value::Value;

/// An expression error, with a position inside the expression source when known.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
    /// 1-based line and column inside the expression text.
    pub position: Option<(usize, usize)>,
}

impl ExprError {
    pub fn new(message: impl Into<String>) -> Self {
        ExprError { message: message.into(), position: None }
    }
}

/// What an expression can see.
#[derive(Clone, Debug, Default)]
pub struct ExprScope {
    /// Workflow inputs (or, inside a map body, the body's inputs).
    pub inputs: IndexMap<String, Value>,
    /// Outputs of the nodes this expression refers to: node id → port → value.
    pub nodes: IndexMap<String, IndexMap<String, Value>>,
}

/// A parsed expression, ready to evaluate many times.
pub trait CompiledExpr: Send + Sync {
    fn eval(&self, scope: &ExprScope) -> Result<Value, ExprError>;
}

/// An expression whose value is known when the workflow loads (`when: false`).
pub struct Constant(pub Value);

impl CompiledExpr for Constant {
    fn eval(&self, _: &ExprScope) -> Result<Value, ExprError> {
        Ok(self.0.clone())
    }
}

/// An expression language.
pub trait ExpressionEngine: Send + Sync {
    /// Parses `source`; syntax errors carry their position.
    fn compile(&self, source: &str) -> Result<Arc<dyn CompiledExpr>, ExprError>;
}

/// Used when no expression language is configured: every expression is an error.
pub struct NoExpressions;

impl ExpressionEngine for NoExpressions {
    fn compile(&self, _: &str) -> Result<Arc<dyn CompiledExpr>, ExprError> {
        Err(ExprError::new("expressions need the rhai engine (reelflow-script), which is not configured"))
    }
}

/// If `text` is an expression param (`${{ ... }}`), the expression inside it.
pub fn expression_in(text: &str) -> Option<&str> {
    let t = text.trim();
    t.strip_prefix("${{").and_then(|r| r.strip_suffix("}}")).map(str::trim)
}

/// The `when` condition source: `${{ }}` is optional there.
pub fn condition_source(text: &str) -> &str {
    expression_in(text).unwrap_or(text.trim())
}

static NODE_REF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\bnodes\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*"([^"]+)"\s*\])"#).expect("valid regex")
});

/// Node ids an expression refers to through `nodes.<id>` or `nodes["<id>"]`; these become
/// dependencies of the node that holds the expression.
pub fn referenced_nodes(source: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for cap in NODE_REF.captures_iter(source) {
        let id = cap.get(1).or_else(|| cap.get(2)).map(|m| m.as_str().to_owned());
        if let Some(id) = id
            && !out.contains(&id)
        {
            out.push(id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_are_recognised() {
        assert_eq!(expression_in("${{ inputs.a + 1 }}"), Some("inputs.a + 1"));
        assert_eq!(expression_in("plain"), None);
        assert_eq!(condition_source("inputs.a > 1"), "inputs.a > 1");
    }

    #[test]
    fn node_references_are_found() {
        let refs = referenced_nodes(r#"nodes.split.items.len() + nodes["two-words"].x + nodes.split.y"#);
        assert_eq!(refs, vec!["split".to_string(), "two-words".to_string()]);
    }
}
