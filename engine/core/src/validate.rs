//! Parsing and validation: source text → [`Plan`], or every problem at once.
//!
//! Nothing runs before a workflow passes here. Checks: syntax, unknown fields, format
//! version, node ids (valid, unique), references (`node.port`, `inputs.name`), unknown ops
//! and ports, type mismatches, missing required inputs, cycles (named), expression syntax,
//! params against each op's JSON Schema, retry and timeout values, outputs.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use indexmap::IndexMap;
use petgraph::graph::DiGraph;
use regex::Regex;
use serde::de::DeserializeOwned;

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::expr::{
    CompiledExpr, Constant, ExprError, ExpressionEngine, condition_source, expression_in, referenced_nodes,
};
use crate::node::{NodePorts, PortSpec, ResourceClass};
use crate::plan::{Binding, ParamTemplate, Plan, PlanInput, PlanKind, PlanNode, PlanOutput, Retry};
use crate::registry::{MAP_OP, Registry, closest, map_spec};
use crate::source::{Doc, DocKind, PathSeg, SourceFile, Span, path_text};
use crate::value::{Value, ValueType};
use crate::workflow::{Condition, FORMAT_VERSION, InputDecl, NodeDecl, Workflow};

const TOP_LEVEL_KEYS: [&str; 8] = ["reelflow", "name", "description", "inputs", "nodes", "outputs", "fail_fast", "ui"];
/// Names a node may not take, because references give them a meaning already.
const RESERVED_IDS: [&str; 2] = ["inputs", "nodes"];
const MAX_RETRY_ATTEMPTS: u32 = 100;

static NODE_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$").expect("valid regex"));

/// Loads and validates a workflow file. On failure, every problem found is returned.
pub fn load_workflow(
    src: Arc<SourceFile>,
    registry: &Registry,
    exprs: &dyn ExpressionEngine,
) -> Result<Plan, Diagnostics> {
    let mut v = Validator { src: &src, registry, exprs, doc: None, diags: Vec::new() };
    let plan = v.run();
    match plan {
        Some(plan) if v.diags.is_empty() => Ok(plan),
        _ => {
            if v.diags.is_empty() {
                v.diags.push(Diagnostic::new("invalid", "the workflow is invalid"));
            }
            v.diags.sort_by_key(|d| d.span.map_or(0, |s| s.offset));
            Err(Diagnostics { file: src.clone(), items: v.diags })
        }
    }
}

struct Validator<'a> {
    src: &'a SourceFile,
    registry: &'a Registry,
    exprs: &'a dyn ExpressionEngine,
    doc: Option<Doc>,
    diags: Vec<Diagnostic>,
}

/// One graph scope: the workflow itself, or a map body.
struct Scope<'s> {
    /// Path of the mapping that holds `nodes` and `outputs`.
    base: Vec<PathSeg>,
    nodes: &'s IndexMap<String, NodeDecl>,
    /// Nodes that failed to decode: references to them are not reported again.
    broken: HashSet<String>,
    outputs: &'s IndexMap<String, String>,
    input_types: IndexMap<String, ValueType>,
}

/// What the syntactic pass learns about one node.
#[derive(Default)]
struct NodeRefs {
    bindings: Vec<(String, Binding)>,
    exprs: Vec<(Vec<PathSeg>, Arc<dyn CompiledExpr>)>,
    when: Option<Arc<dyn CompiledExpr>>,
    expr_nodes: Vec<(String, usize)>,
    deps: Vec<usize>,
}

/// What the typed pass learns about one node.
struct Resolved {
    /// Params after the op's `prepare`.
    params: IndexMap<String, serde_json::Value>,
    kind: PlanKind,
    inline: bool,
    version: u32,
    input_types: IndexMap<String, ValueType>,
    output_types: IndexMap<String, ValueType>,
    validator: Option<Arc<jsonschema::Validator>>,
    resource: ResourceClass,
    deterministic: bool,
}

fn key(k: &str) -> PathSeg {
    PathSeg::Key(k.to_owned())
}

fn with(base: &[PathSeg], more: &[&str]) -> Vec<PathSeg> {
    let mut p = base.to_vec();
    p.extend(more.iter().map(|k| key(k)));
    p
}

impl<'a> Validator<'a> {
    fn doc(&self) -> &Doc {
        self.doc.as_ref().expect("document loaded before use")
    }

    fn span(&self, path: &[PathSeg]) -> Span {
        self.doc().locate(path)
    }

    /// Span of the key that ends `path` (falls back to the value's span).
    fn key_span(&self, path: &[PathSeg]) -> Span {
        if let Some((PathSeg::Key(last), parent)) = path.split_last() {
            let parent_doc = locate_doc(self.doc(), parent);
            if let Some(span) = parent_doc.and_then(|d| d.key_span(last)) {
                return span;
            }
        }
        self.span(path)
    }

    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn run(&mut self) -> Option<Plan> {
        let doc = match Doc::load(self.src) {
            Ok(doc) => doc,
            Err(errors) => {
                for e in errors {
                    let code = if e.message.starts_with("duplicate key") { "duplicate-key" } else { "syntax" };
                    self.error(Diagnostic::new(code, e.message).at(e.span, e.label));
                }
                return None;
            }
        };
        let entries = match &doc.kind {
            DocKind::Map(entries) => entries.clone(),
            _ => {
                self.error(
                    Diagnostic::new("not-a-workflow", "a workflow file is a mapping with `reelflow: 1` and `nodes`")
                        .at(doc.span, "expected a mapping"),
                );
                return None;
            }
        };
        self.doc = Some(doc);
        for (k, span, _) in &entries {
            if !TOP_LEVEL_KEYS.contains(&k.as_str()) {
                self.error(
                    Diagnostic::new("unknown-field", format!("unknown top-level field `{k}`"))
                        .at(*span, "unknown field")
                        .help(format!("expected one of: {}", TOP_LEVEL_KEYS.join(", "))),
                );
            }
        }
        match self.doc().get("reelflow").map(|d| (d.kind.clone(), d.span)) {
            None => self.error(
                Diagnostic::new("missing-version", "missing `reelflow: 1` (the format version)")
                    .at(Span::new(0, 0), "expected here"),
            ),
            Some((DocKind::Int(v), _)) if v == i64::from(FORMAT_VERSION) => {}
            Some((_, span)) => self.error(
                Diagnostic::new("unsupported-version", "unsupported format version")
                    .at(span, format!("this engine reads `reelflow: {FORMAT_VERSION}`")),
            ),
        }
        let name = match self.doc().get("name").map(|d| (d.as_str().map(str::to_owned), d.span)) {
            Some((Some(n), _)) => n,
            Some((None, span)) => {
                self.error(Diagnostic::new("invalid-field", "`name` must be a string").at(span, "not a string"));
                String::new()
            }
            None => workflow_name_from_file(&self.src.name),
        };
        let description = self.decode::<Option<String>>(&[key("description")], None).flatten();
        let ui = self.decode::<Option<serde_json::Value>>(&[key("ui")], None).flatten();
        let fail_fast = self.decode::<Option<bool>>(&[key("fail_fast")], None).flatten().unwrap_or(false);

        let (input_decls, _) = self.decode_entries::<InputDecl>(&[key("inputs")]);
        if self.doc().get("nodes").is_none() {
            self.error(
                Diagnostic::new("missing-nodes", "a workflow needs `nodes`").at(Span::new(0, 0), "expected `nodes:`"),
            );
        }
        let (node_decls, broken) = self.decode_entries::<NodeDecl>(&[key("nodes")]);
        let output_decls =
            self.decode::<IndexMap<String, String>>(&[key("outputs")], Some(IndexMap::new())).unwrap_or_default();

        let inputs = self.check_inputs(&input_decls);
        let scope = Scope {
            base: vec![],
            nodes: &node_decls,
            broken,
            outputs: &output_decls,
            input_types: inputs.iter().map(|(k, v)| (k.clone(), v.ty.clone())).collect(),
        };
        let (nodes, outputs) = self.build_graph(&scope)?;
        let decl = Workflow {
            reelflow: FORMAT_VERSION,
            name: Some(name.clone()),
            description: description.clone(),
            inputs: input_decls,
            nodes: node_decls.clone(),
            outputs: output_decls.clone(),
            fail_fast,
            ui,
        };
        Some(Plan { name, description, inputs, nodes, outputs, decl: Some(decl), base_dir: self.src.base_dir.clone() })
    }

    /// Deserializes the value at `path` (absent → `default`, or an error when `None`).
    fn decode<T: DeserializeOwned>(&mut self, path: &[PathSeg], default: Option<T>) -> Option<T> {
        let Some(node) = locate_doc(self.doc(), path).filter(|_| !path.is_empty()) else {
            return default;
        };
        let json = node.to_json();
        match serde_path_to_error::deserialize::<_, T>(json) {
            Ok(v) => Some(v),
            Err(e) => {
                self.serde_error(path, &e, None);
                None
            }
        }
    }

    /// Deserializes each entry of the mapping at `path` on its own, so one broken entry
    /// does not hide the problems of the others. Returns the good entries and the names of
    /// the broken ones.
    fn decode_entries<T: DeserializeOwned>(&mut self, path: &[PathSeg]) -> (IndexMap<String, T>, HashSet<String>) {
        let mut good = IndexMap::new();
        let mut broken = HashSet::new();
        let Some(node) = locate_doc(self.doc(), path).cloned() else {
            return (good, broken);
        };
        let DocKind::Map(entries) = &node.kind else {
            if node.kind != DocKind::Null {
                self.error(
                    Diagnostic::new("invalid-field", format!("`{}` must be a mapping", path_text(path)))
                        .at(node.span, "expected a mapping of name → entry"),
                );
            }
            return (good, broken);
        };
        for (name, _, value) in entries {
            let entry_path: Vec<PathSeg> = path.iter().cloned().chain([key(name)]).collect();
            match serde_path_to_error::deserialize::<_, T>(value.to_json()) {
                Ok(v) => {
                    good.insert(name.clone(), v);
                }
                Err(e) => {
                    let node = if path.last() == Some(&key("nodes")) { Some(name.clone()) } else { None };
                    self.serde_error(&entry_path, &e, node);
                    broken.insert(name.clone());
                }
            }
        }
        (good, broken)
    }

    fn serde_error(
        &mut self,
        base: &[PathSeg],
        e: &serde_path_to_error::Error<serde_json::Error>,
        node: Option<String>,
    ) {
        let mut path = base.to_vec();
        for seg in e.path().iter() {
            match seg {
                serde_path_to_error::Segment::Map { key: k } => path.push(key(k)),
                serde_path_to_error::Segment::Seq { index } => path.push(PathSeg::Index(*index)),
                _ => {}
            }
        }
        let message = e.inner().to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
        // Point at the offending key itself where serde names it.
        let span = match backticked(&message, "unknown field `") {
            Some(field) => {
                let mut p = path.clone();
                if p.last() != Some(&key(field)) {
                    p.push(key(field));
                }
                self.key_span(&p)
            }
            None => self.span(&path),
        };
        let mut d = Diagnostic::new("invalid-field", format!("{}: {message}", path_text(&path))).at(span, "here");
        if let Some(n) = node {
            d = d.node(n);
        }
        self.error(d);
    }

    fn check_inputs(&mut self, decls: &IndexMap<String, InputDecl>) -> IndexMap<String, PlanInput> {
        let mut out = IndexMap::new();
        for (name, decl) in decls {
            let path = with(&[], &["inputs", name]);
            if !NODE_ID.is_match(name) {
                let span = self.key_span(&path);
                self.error(
                    Diagnostic::new("invalid-id", format!("input name `{name}` is not a valid identifier"))
                        .at(span, "invalid name")
                        .help("names are letters, digits, `_` and `-`, not starting with a digit"),
                );
            }
            let ty = match self.registry.parse_type(&decl.ty) {
                Ok(t) => t,
                Err(msg) => {
                    let span = self.span(&with(&path, &["type"]));
                    self.error(
                        Diagnostic::new("unknown-type", format!("input `{name}`: {msg}"))
                            .at(span, "unknown type")
                            .help(
                                "types: any, bool, int, float, string, json, file, text, video, audio, image, list<T>",
                            ),
                    );
                    continue;
                }
            };
            let mut ok = true;
            let default = decl.default.as_ref().map(Value::from_json);
            if let Some(d) = &default {
                // A file-typed default may be a plain path; it is resolved when inputs are bound.
                let path_for_file = ty.holds_files() && paths_only(d);
                if !ty.check(d) && !path_for_file {
                    let span = self.span(&with(&path, &["default"]));
                    self.error(
                        Diagnostic::new("type-mismatch", format!("the default of input `{name}` is not {ty}"))
                            .at(span, format!("this is {}", d.type_name())),
                    );
                    ok = false;
                }
            }
            let allowed: Option<Vec<Value>> = decl.allowed.as_ref().map(|a| a.iter().map(Value::from_json).collect());
            if let Some(list) = &allowed {
                for (i, v) in list.iter().enumerate() {
                    if !ty.check(v) {
                        let mut p = with(&path, &["enum"]);
                        p.push(PathSeg::Index(i));
                        let span = self.span(&p);
                        self.error(
                            Diagnostic::new("type-mismatch", format!("enum value of input `{name}` is not {ty}"))
                                .at(span, format!("this is {}", v.type_name())),
                        );
                        ok = false;
                    }
                }
                if let Some(d) = &default
                    && !list.contains(d)
                {
                    let span = self.span(&with(&path, &["default"]));
                    self.error(
                        Diagnostic::new("invalid-default", format!("the default of input `{name}` is not in its enum"))
                            .at(span, "not an allowed value"),
                    );
                    ok = false;
                }
            }
            if ok {
                let default = default.map(|d| ty.coerce(d));
                out.insert(
                    name.clone(),
                    PlanInput { ty, default, allowed, optional: decl.optional, description: decl.description.clone() },
                );
            } else {
                out.insert(
                    name.clone(),
                    PlanInput { ty, default: None, allowed: None, optional: true, description: None },
                );
            }
        }
        out
    }

    /// Validates one graph scope and builds its plan nodes and outputs.
    fn build_graph(&mut self, scope: &Scope<'_>) -> Option<(Vec<PlanNode>, IndexMap<String, PlanOutput>)> {
        let errors_before = self.diags.len();
        let ids: Vec<&String> = scope.nodes.keys().collect();
        let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();

        // Pass 1: ids, references and expressions; this gives the edges.
        let mut refs: Vec<NodeRefs> = Vec::with_capacity(ids.len());
        for (id, decl) in scope.nodes {
            let node_path = with(&scope.base, &["nodes", id]);
            if !NODE_ID.is_match(id) || RESERVED_IDS.contains(&id.as_str()) {
                let span = self.key_span(&node_path);
                self.error(
                    Diagnostic::new("invalid-id", format!("`{id}` is not a valid node id"))
                        .at(span, "invalid id")
                        .node(id.as_str())
                        .help("ids are letters, digits, `_` and `-`, not starting with a digit; `inputs` and `nodes` are reserved"),
                );
            }
            refs.push(self.node_refs(scope, &index, id, decl, &node_path));
        }

        // Pass 2: cycles, named.
        let mut graph = DiGraph::<usize, ()>::with_capacity(ids.len(), ids.len());
        let gnodes: Vec<_> = (0..ids.len()).map(|i| graph.add_node(i)).collect();
        for (i, r) in refs.iter().enumerate() {
            for &d in &r.deps {
                graph.add_edge(gnodes[d], gnodes[i], ());
            }
        }
        let mut in_cycle = vec![false; ids.len()];
        for scc in petgraph::algo::tarjan_scc(&graph) {
            let is_cycle = scc.len() > 1 || graph.contains_edge(scc[0], scc[0]);
            if !is_cycle {
                continue;
            }
            let mut members: Vec<usize> = scc.iter().map(|n| graph[*n]).collect();
            members.sort_unstable();
            for &m in &members {
                in_cycle[m] = true;
            }
            let path = cycle_path(&members, &refs);
            let names: Vec<&str> = path.iter().map(|&i| ids[i].as_str()).collect();
            let first = ids[members[0]];
            let span = self.key_span(&with(&scope.base, &["nodes", first]));
            self.error(
                Diagnostic::new("cycle", format!("cycle between nodes: {}", names.join(" → ")))
                    .at(span, "this node depends on itself through the cycle")
                    .node(first.as_str())
                    .help("a workflow is a DAG: break the cycle by removing one of these references"),
            );
        }

        // Pass 3: in dependency order, resolve ops, ports and types.
        let order = topological_order(&refs, &in_cycle);
        let mut resolved: Vec<Option<Resolved>> = (0..ids.len()).map(|_| None).collect();
        for &i in &order {
            let id = ids[i];
            let decl = &scope.nodes[i];
            let node_path = with(&scope.base, &["nodes", id]);
            let r = self.resolve_node(scope, id, decl, &node_path, &refs[i], &resolved);
            resolved[i] = r;
        }

        // Outputs of this scope.
        let mut outputs = IndexMap::new();
        for (name, reference) in scope.outputs {
            let path = with(&scope.base, &["outputs", name]);
            let Some(binding) = self.parse_reference(scope, &index, reference, &path, None) else { continue };
            let ty = match &binding {
                Binding::Input(n) => scope.input_types.get(n).cloned(),
                Binding::Node { node, port } => match &resolved[*node] {
                    Some(r) => match r.output_types.get(port) {
                        Some(t) => Some(t.clone()),
                        None => {
                            let span = self.span(&path);
                            let known: Vec<&str> = r.output_types.keys().map(String::as_str).collect();
                            self.error(
                                Diagnostic::new(
                                    "unknown-port",
                                    format!("node `{}` has no output `{port}`", ids[*node]),
                                )
                                .at(span, "unknown output port")
                                .help(format!("its outputs: {}", known.join(", "))),
                            );
                            None
                        }
                    },
                    None => None,
                },
            };
            if let Some(ty) = ty {
                outputs.insert(name.clone(), PlanOutput { binding, ty });
            }
        }

        if self.diags.len() > errors_before || !scope.broken.is_empty() {
            return None;
        }
        // Assemble; every node resolved, since there were no errors.
        let mut nodes = Vec::with_capacity(ids.len());
        for (i, (r, res)) in refs.into_iter().zip(resolved).enumerate() {
            let res = res?;
            let decl = &scope.nodes[i];
            let (retry, timeout) = policies(decl);
            let literal = serde_json::Value::Object(res.params.into_iter().collect());
            nodes.push(PlanNode {
                id: ids[i].clone(),
                op: decl.op.clone(),
                version: res.version,
                kind: res.kind,
                bindings: r.bindings,
                input_types: res.input_types,
                output_types: res.output_types,
                params: ParamTemplate {
                    literal,
                    validator: if r.exprs.is_empty() { None } else { res.validator },
                    exprs: r.exprs,
                },
                when: r.when,
                expr_nodes: r.expr_nodes,
                retry,
                timeout,
                // Inline ops cost less to recompute than a cache lookup.
                cacheable: decl.cache.unwrap_or(true) && res.deterministic && !res.inline,
                resource: res.resource,
                inline: res.inline,
                deps: r.deps,
                dependents: Vec::new(),
            });
        }
        for i in 0..nodes.len() {
            for d in nodes[i].deps.clone() {
                nodes[d].dependents.push(i);
            }
        }
        Some((nodes, outputs))
    }

    fn node_refs(
        &mut self,
        scope: &Scope<'_>,
        index: &HashMap<&str, usize>,
        id: &str,
        decl: &NodeDecl,
        node_path: &[PathSeg],
    ) -> NodeRefs {
        let mut r = NodeRefs::default();
        for (port, reference) in &decl.inputs {
            let path = with(node_path, &["inputs", port]);
            if let Some(b) = self.parse_reference(scope, index, reference, &path, Some(id)) {
                if let Binding::Node { node, .. } = &b
                    && !r.deps.contains(node)
                {
                    r.deps.push(*node);
                }
                r.bindings.push((port.clone(), b));
            }
        }
        let mut expr_sources: Vec<(Vec<PathSeg>, String)> = Vec::new();
        for (name, value) in &decl.params {
            collect_expressions(value, vec![key(name)], &mut expr_sources);
        }
        for (rel, source) in expr_sources {
            let path: Vec<PathSeg> = with(node_path, &["params"]).into_iter().chain(rel.iter().cloned()).collect();
            if let Some(compiled) = self.compile_expr(&source, &path, id) {
                r.exprs.push((rel, compiled));
            }
            self.expr_refs(scope, index, &source, &path, id, &mut r);
        }
        match &decl.when {
            None | Some(Condition::Literal(true)) => {}
            Some(Condition::Literal(false)) => r.when = Some(Arc::new(Constant(Value::Bool(false)))),
            Some(Condition::Expression(when)) => {
                let path = with(node_path, &["when"]);
                let source = condition_source(when).to_owned();
                r.when = self.compile_expr(&source, &path, id);
                self.expr_refs(scope, index, &source, &path, id, &mut r);
            }
        }
        r
    }

    fn expr_refs(
        &mut self,
        scope: &Scope<'_>,
        index: &HashMap<&str, usize>,
        source: &str,
        path: &[PathSeg],
        id: &str,
        r: &mut NodeRefs,
    ) {
        for target in referenced_nodes(source) {
            match index.get(target.as_str()) {
                Some(&n) => {
                    if !r.deps.contains(&n) {
                        r.deps.push(n);
                    }
                    if !r.expr_nodes.iter().any(|(t, _)| *t == target) {
                        r.expr_nodes.push((target, n));
                    }
                }
                None if scope.broken.contains(&target) => {}
                None => {
                    let span = self.span(path);
                    let mut d =
                        Diagnostic::new("unknown-node", format!("the expression refers to unknown node `{target}`"))
                            .at(span, "unknown node")
                            .node(id);
                    if let Some(s) = closest(&target, scope.nodes.keys().map(String::as_str)) {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    self.error(d);
                }
            }
        }
    }

    fn compile_expr(&mut self, source: &str, path: &[PathSeg], id: &str) -> Option<Arc<dyn CompiledExpr>> {
        match self.exprs.compile(source) {
            Ok(c) => Some(c),
            Err(ExprError { message, position }) => {
                let span = self.span(path);
                let at = position.map(|(l, c)| format!(" (expression line {l}, column {c})")).unwrap_or_default();
                self.error(
                    Diagnostic::new("expression", format!("invalid expression: {message}{at}"))
                        .at(span, "in this expression")
                        .node(id),
                );
                None
            }
        }
    }

    /// Parses `node.port` or `inputs.name` and checks that the source exists.
    fn parse_reference(
        &mut self,
        scope: &Scope<'_>,
        index: &HashMap<&str, usize>,
        reference: &str,
        path: &[PathSeg],
        node: Option<&str>,
    ) -> Option<Binding> {
        // Spans are looked up only for errors: locating walks the document.
        let attach = |d: Diagnostic| match node {
            Some(n) => d.node(n),
            None => d,
        };
        let Some((source, port)) = reference.trim().split_once('.') else {
            self.error(attach(
                Diagnostic::new("bad-reference", format!("`{reference}` is not a reference"))
                    .at(self.span(path), "expected `node.port` or `inputs.name`"),
            ));
            return None;
        };
        if source == "inputs" {
            if scope.input_types.contains_key(port) {
                return Some(Binding::Input(port.to_owned()));
            }
            let known: Vec<&str> = scope.input_types.keys().map(String::as_str).collect();
            let help = if known.is_empty() {
                "no inputs are declared here".to_owned()
            } else {
                format!("inputs here: {}", known.join(", "))
            };
            self.error(attach(
                Diagnostic::new("unknown-input", format!("unknown input `{port}`"))
                    .at(self.span(path), "not declared")
                    .help(help),
            ));
            return None;
        }
        match index.get(source) {
            Some(&i) => Some(Binding::Node { node: i, port: port.to_owned() }),
            None if scope.broken.contains(source) => None,
            None => {
                let mut d = Diagnostic::new("unknown-node", format!("unknown node `{source}`"))
                    .at(self.span(path), "no such node");
                if let Some(s) = closest(source, scope.nodes.keys().map(String::as_str)) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                self.error(attach(d));
                None
            }
        }
    }

    fn resolve_node(
        &mut self,
        scope: &Scope<'_>,
        id: &str,
        decl: &NodeDecl,
        node_path: &[PathSeg],
        refs: &NodeRefs,
        resolved: &[Option<Resolved>],
    ) -> Option<Resolved> {
        // The type of every wired source, where known.
        let mut source_types: IndexMap<String, Option<ValueType>> = IndexMap::new();
        for (port, binding) in &refs.bindings {
            let ty = match binding {
                Binding::Input(name) => scope.input_types.get(name).cloned(),
                Binding::Node { node, port: src_port } => match &resolved[*node] {
                    Some(r) => match r.output_types.get(src_port) {
                        Some(t) => Some(t.clone()),
                        None => {
                            let span = self.span(&with(node_path, &["inputs", port]));
                            let known: Vec<&str> = r.output_types.keys().map(String::as_str).collect();
                            let src_id = scope.nodes.get_index(*node).map(|(k, _)| k.as_str()).unwrap_or("?");
                            self.error(
                                Diagnostic::new("unknown-port", format!("node `{src_id}` has no output `{src_port}`"))
                                    .at(span, "unknown output port")
                                    .node(id)
                                    .help(format!("its outputs: {}", known.join(", "))),
                            );
                            None
                        }
                    },
                    None => None,
                },
            };
            source_types.insert(port.clone(), ty);
        }
        // A port whose reference was already reported as broken counts as wired, so it is
        // not reported a second time as missing.
        for port in decl.inputs.keys() {
            source_types.entry(port.clone()).or_insert(None);
        }
        if decl.op == MAP_OP {
            return self.resolve_map(id, decl, node_path, &source_types);
        }
        if decl.body.is_some() {
            let span = self.key_span(&with(node_path, &["body"]));
            self.error(
                Diagnostic::new("unexpected-body", "only `map` nodes have a `body`")
                    .at(span, "not allowed here")
                    .node(id),
            );
        }
        let Some(op) = self.registry.get(&decl.op).cloned() else {
            let span = self.span(&with(node_path, &["op"]));
            let help = match self.registry.suggest(&decl.op) {
                Some(s) => format!("did you mean `{s}`? (`reelflow nodes` lists every op)"),
                None => "`reelflow nodes` lists every op".into(),
            };
            self.error(
                Diagnostic::new("unknown-op", format!("unknown op `{}`", decl.op))
                    .at(span, "unknown op")
                    .node(id)
                    .help(help),
            );
            return None;
        };
        let spec = op.spec().clone();
        let mut params_map: serde_json::Map<String, serde_json::Value> = decl.params.clone().into_iter().collect();
        if let Err(msg) = op.prepare(&mut params_map, &self.src.base_dir) {
            let span = self.span(&with(node_path, &["params"]));
            self.error(Diagnostic::new("invalid-params", msg).at(span, "here").node(id));
            return None;
        }
        let params: IndexMap<String, serde_json::Value> = params_map.clone().into_iter().collect();
        let ports = match op.ports(&params_map) {
            Ok(Some(p)) => p,
            Ok(None) => NodePorts { inputs: spec.inputs.clone(), outputs: spec.outputs.clone() },
            Err(msg) => {
                let span = self.span(&with(node_path, &["params"]));
                self.error(Diagnostic::new("invalid-params", msg).at(span, "here").node(id));
                return None;
            }
        };
        let input_types = self.check_ports(id, &decl.op, node_path, &ports.inputs, spec.variadic_inputs, &source_types);
        let validator = self.check_params(id, node_path, &spec.op, &spec.params, &params, &spec);
        self.check_policies(id, node_path, decl);
        Some(Resolved {
            params,
            inline: spec.inline && decl.timeout.is_none(),
            kind: PlanKind::Op(op),
            version: spec.version,
            input_types,
            output_types: ports.outputs.iter().map(|p| (p.name.clone(), p.ty.clone())).collect(),
            validator,
            resource: spec.resource,
            deterministic: spec.deterministic,
        })
    }

    /// Wired ports must exist and take the source's type; required ports must be wired.
    fn check_ports(
        &mut self,
        id: &str,
        op: &str,
        node_path: &[PathSeg],
        ports: &[PortSpec],
        variadic: bool,
        source_types: &IndexMap<String, Option<ValueType>>,
    ) -> IndexMap<String, ValueType> {
        let mut input_types = IndexMap::new();
        for (port, src_ty) in source_types {
            let path = with(node_path, &["inputs", port]);
            match ports.iter().find(|p| &p.name == port) {
                Some(p) => {
                    if let Some(src_ty) = src_ty
                        && !p.ty.accepts(src_ty)
                    {
                        let span = self.span(&path);
                        self.error(
                            Diagnostic::new(
                                "type-mismatch",
                                format!("port `{port}` of `{op}` takes {}, but this is {src_ty}", p.ty),
                            )
                            .at(span, format!("this is {src_ty}"))
                            .node(id),
                        );
                    }
                    input_types.insert(port.clone(), p.ty.clone());
                }
                None if variadic => {
                    input_types.insert(port.clone(), ValueType::Any);
                }
                None => {
                    let span = self.key_span(&path);
                    let known: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
                    self.error(
                        Diagnostic::new("unknown-port", format!("`{op}` has no input `{port}`"))
                            .at(span, "unknown input port")
                            .node(id)
                            .help(if known.is_empty() {
                                format!("`{op}` takes no inputs")
                            } else {
                                format!("its inputs: {}", known.join(", "))
                            }),
                    );
                }
            }
        }
        for p in ports {
            if !p.optional && !source_types.contains_key(&p.name) {
                let span = self.key_span(node_path);
                self.error(
                    Diagnostic::new(
                        "missing-input",
                        format!("required input `{}` ({}) of `{op}` is not wired", p.name, p.ty),
                    )
                    .at(span, "in this node")
                    .node(id)
                    .help(format!("add `inputs: {{{}: <node>.<port>}}`", p.name)),
                );
            }
        }
        input_types
    }

    /// Checks literal params against the op's schema; expression-valued params are
    /// checked after evaluation, at run time.
    fn check_params(
        &mut self,
        id: &str,
        node_path: &[PathSeg],
        op: &str,
        schema: &serde_json::Value,
        params: &IndexMap<String, serde_json::Value>,
        spec: &crate::node::NodeSpec,
    ) -> Option<Arc<jsonschema::Validator>> {
        let dynamic: Vec<&String> = params.iter().filter(|(_, v)| contains_expression(v)).map(|(k, _)| k).collect();
        let instance: serde_json::Map<String, serde_json::Value> =
            params.iter().filter(|(k, _)| !dynamic.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        let validator = match if dynamic.is_empty() {
            self.registry.params_validator(spec)
        } else {
            let mut relaxed = schema.clone();
            if let Some(req) = relaxed.get_mut("required").and_then(|r| r.as_array_mut()) {
                req.retain(|r| !dynamic.iter().any(|d| r.as_str() == Some(d.as_str())));
            }
            jsonschema::validator_for(&relaxed).map(Arc::new).map_err(|e| e.to_string())
        } {
            Ok(v) => v,
            Err(msg) => {
                self.error(Diagnostic::new("internal", msg).node(id));
                return None;
            }
        };
        let instance = serde_json::Value::Object(instance);
        for err in validator.iter_errors(&instance) {
            let mut path = with(node_path, &["params"]);
            for seg in err.instance_path().as_str().split('/').filter(|s| !s.is_empty()) {
                let seg = seg.replace("~1", "/").replace("~0", "~");
                match seg.parse::<usize>() {
                    Ok(i) => path.push(PathSeg::Index(i)),
                    Err(_) => path.push(PathSeg::Key(seg)),
                }
            }
            let message = err.to_string();
            let span = match backticked_quote(&message) {
                Some(extra) if message.contains("Additional properties") => self.key_span(&with(&path, &[extra])),
                _ => self.span(&path),
            };
            self.error(
                Diagnostic::new("invalid-params", format!("params of `{op}`: {message}"))
                    .at(span, "does not match the op's params schema")
                    .node(id)
                    .help(format!("`reelflow nodes {op}` shows the params schema")),
            );
        }
        if dynamic.is_empty() { None } else { self.registry.params_validator(spec).ok() }
    }

    fn check_policies(&mut self, id: &str, node_path: &[PathSeg], decl: &NodeDecl) {
        if let Some(retry) = &decl.retry {
            if retry.attempts == 0 || retry.attempts > MAX_RETRY_ATTEMPTS {
                let span = self.span(&with(node_path, &["retry", "attempts"]));
                self.error(
                    Diagnostic::new("invalid-retry", format!("retry attempts must be 1 to {MAX_RETRY_ATTEMPTS}"))
                        .at(span, "out of range")
                        .node(id),
                );
            }
            if !(retry.factor.is_finite() && (1.0..=10.0).contains(&retry.factor)) {
                let span = self.span(&with(node_path, &["retry", "factor"]));
                self.error(
                    Diagnostic::new("invalid-retry", "retry factor must be 1 to 10").at(span, "out of range").node(id),
                );
            }
            for (field, d) in [("backoff", &retry.backoff), ("max_backoff", &retry.max_backoff)] {
                if let Err(msg) = d.to_duration() {
                    let span = self.span(&with(node_path, &["retry", field]));
                    self.error(Diagnostic::new("invalid-duration", msg).at(span, "invalid duration").node(id));
                }
            }
        }
        if let Some(t) = &decl.timeout {
            match t.to_duration() {
                Ok(d) if d.is_zero() => {
                    let span = self.span(&with(node_path, &["timeout"]));
                    self.error(
                        Diagnostic::new("invalid-duration", "a timeout must be positive").at(span, "zero").node(id),
                    );
                }
                Ok(_) => {}
                Err(msg) => {
                    let span = self.span(&with(node_path, &["timeout"]));
                    self.error(Diagnostic::new("invalid-duration", msg).at(span, "invalid duration").node(id));
                }
            }
        }
    }

    fn resolve_map(
        &mut self,
        id: &str,
        decl: &NodeDecl,
        node_path: &[PathSeg],
        source_types: &IndexMap<String, Option<ValueType>>,
    ) -> Option<Resolved> {
        let spec = map_spec();
        let mut body_inputs = IndexMap::new();
        match source_types.get("items") {
            None => {
                let span = self.key_span(node_path);
                self.error(
                    Diagnostic::new("missing-input", "a `map` node needs `inputs: {items: <node>.<port>}`")
                        .at(span, "in this node")
                        .node(id),
                );
            }
            Some(Some(t)) => match t.element() {
                Some(elem) => {
                    body_inputs.insert("item".to_owned(), elem);
                }
                None => {
                    let span = self.span(&with(node_path, &["inputs", "items"]));
                    self.error(
                        Diagnostic::new("type-mismatch", format!("`items` of a map must be a list, but this is {t}"))
                            .at(span, format!("this is {t}"))
                            .node(id),
                    );
                }
            },
            Some(None) => {}
        }
        body_inputs.entry("item".to_owned()).or_insert(ValueType::Any);
        body_inputs.insert("index".to_owned(), ValueType::Int);
        for (port, ty) in source_types {
            if port == "items" {
                continue;
            }
            if port == "item" || port == "index" {
                let span = self.key_span(&with(node_path, &["inputs", port]));
                self.error(
                    Diagnostic::new("reserved-port", format!("`{port}` is set by the map itself"))
                        .at(span, "reserved")
                        .node(id),
                );
            }
            body_inputs.insert(port.clone(), ty.clone().unwrap_or(ValueType::Any));
        }
        let validator = self.check_params(id, node_path, MAP_OP, &spec.params, &decl.params, &spec);
        drop(validator);
        let parallel = match decl.params.get("parallel") {
            None => 4,
            Some(v) => match v.as_u64() {
                Some(n) => n as usize,
                None => {
                    if contains_expression(v) {
                        let span = self.span(&with(node_path, &["params", "parallel"]));
                        self.error(
                            Diagnostic::new("invalid-params", "`parallel` of a map must be a literal number")
                                .at(span, "expression not allowed here")
                                .node(id),
                        );
                    }
                    1
                }
            },
        };
        for (field, set) in [("retry", decl.retry.is_some()), ("timeout", decl.timeout.is_some())] {
            if set {
                let span = self.key_span(&with(node_path, &[field]));
                self.error(
                    Diagnostic::new("invalid-field", format!("a `map` node takes no `{field}`"))
                        .at(span, "not allowed on a map")
                        .node(id)
                        .help(format!("put `{field}` on the nodes inside the body")),
                );
            }
        }
        let Some(body) = &decl.body else {
            let span = self.key_span(node_path);
            self.error(
                Diagnostic::new("missing-body", "a `map` node needs a `body` with `nodes` and `outputs`")
                    .at(span, "in this node")
                    .node(id),
            );
            return None;
        };
        let body_scope = Scope {
            base: with(node_path, &["body"]),
            nodes: &body.nodes,
            broken: HashSet::new(),
            outputs: &body.outputs,
            input_types: body_inputs.clone(),
        };
        let (nodes, outputs) = self.build_graph(&body_scope)?;
        let output_types = outputs.iter().map(|(k, o)| (k.clone(), ValueType::List(Box::new(o.ty.clone())))).collect();
        let inputs = body_inputs
            .into_iter()
            .map(|(k, ty)| (k, PlanInput { ty, default: None, allowed: None, optional: true, description: None }))
            .collect();
        let body = Plan {
            name: format!("{id}.body"),
            description: None,
            inputs,
            nodes,
            outputs,
            decl: None,
            base_dir: self.src.base_dir.clone(),
        };
        let mut input_types: IndexMap<String, ValueType> =
            source_types.keys().map(|k| (k.clone(), ValueType::Any)).collect();
        input_types.insert("items".into(), ValueType::List(Box::new(ValueType::Any)));
        Some(Resolved {
            params: decl.params.clone(),
            inline: false,
            kind: PlanKind::Map { body: Arc::new(body), parallel: parallel.max(1) },
            version: spec.version,
            input_types,
            output_types,
            validator: None,
            resource: ResourceClass::Cpu,
            deterministic: false,
        })
    }
}

/// A string, or a list of strings: what a file-typed value may be given as.
fn paths_only(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::List(items) => items.iter().all(paths_only),
        _ => false,
    }
}

fn policies(decl: &NodeDecl) -> (Retry, Option<std::time::Duration>) {
    let mut retry = Retry::default();
    if let Some(r) = &decl.retry {
        retry.attempts = r.attempts.max(1);
        retry.backoff = r.backoff.to_duration().unwrap_or(retry.backoff);
        retry.max_backoff = r.max_backoff.to_duration().unwrap_or(retry.max_backoff);
        retry.factor = r.factor;
        retry.jitter = r.jitter;
    }
    (retry, decl.timeout.as_ref().and_then(|t| t.to_duration().ok()))
}

fn locate_doc<'d>(doc: &'d Doc, path: &[PathSeg]) -> Option<&'d Doc> {
    let mut here = doc;
    for seg in path {
        here = match (seg, &here.kind) {
            (PathSeg::Key(k), DocKind::Map(_)) => here.get(k)?,
            (PathSeg::Index(i), DocKind::Seq(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(here)
}

fn collect_expressions(value: &serde_json::Value, path: Vec<PathSeg>, out: &mut Vec<(Vec<PathSeg>, String)>) {
    match value {
        serde_json::Value::String(s) => {
            if let Some(e) = expression_in(s) {
                out.push((path, e.to_owned()));
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mut p = path.clone();
                p.push(PathSeg::Index(i));
                collect_expressions(v, p, out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let mut p = path.clone();
                p.push(key(k));
                collect_expressions(v, p, out);
            }
        }
        _ => {}
    }
}

fn contains_expression(value: &serde_json::Value) -> bool {
    let mut found = Vec::new();
    collect_expressions(value, vec![], &mut found);
    !found.is_empty()
}

/// Kahn's algorithm over the nodes outside cycles.
fn topological_order(refs: &[NodeRefs], in_cycle: &[bool]) -> Vec<usize> {
    let n = refs.len();
    let mut indegree = vec![0usize; n];
    let mut dependents = vec![Vec::new(); n];
    for (i, r) in refs.iter().enumerate() {
        for &d in &r.deps {
            indegree[i] += 1;
            dependents[d].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0 && !in_cycle[i]).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop() {
        order.push(i);
        for &d in &dependents[i] {
            indegree[d] -= 1;
            if indegree[d] == 0 && !in_cycle[d] {
                ready.push(d);
            }
        }
    }
    order
}

/// One concrete loop through a strongly connected component, for the error message.
fn cycle_path(members: &[usize], refs: &[NodeRefs]) -> Vec<usize> {
    let start = members[0];
    let mut path = vec![start];
    let mut seen = HashSet::from([start]);
    let mut cur = start;
    // Follow dependency edges that stay inside the component until a node repeats.
    while let Some(&next) = refs[cur].deps.iter().find(|d| members.contains(d)) {
        path.push(next);
        if !seen.insert(next) {
            break;
        }
        cur = next;
    }
    // Trim the lead-in so the path starts and ends at the same node, and read it in
    // data-flow order (a → b means b uses a).
    if let Some(&last) = path.last()
        && let Some(first) = path.iter().position(|&p| p == last)
    {
        path.drain(..first);
    }
    path.reverse();
    path
}

fn backticked<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    rest.split('`').next()
}

fn backticked_quote(message: &str) -> Option<&str> {
    let start = message.find('\'')? + 1;
    let end = start + message[start..].find('\'')?;
    Some(&message[start..end])
}

fn workflow_name_from_file(file: &str) -> String {
    let stem = std::path::Path::new(file).file_stem().map(|s| s.to_string_lossy().into_owned());
    stem.unwrap_or_else(|| file.to_owned())
}
