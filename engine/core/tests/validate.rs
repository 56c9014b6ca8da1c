//! Every kind of validation error, located and reported together.

use reelflow_core::{Diagnostics, NoExpressions, Registry, SourceFile, load_workflow};

fn errors(yaml: &str) -> Diagnostics {
    let reg = Registry::with_builtins();
    match load_workflow(SourceFile::new("wf.yaml", yaml), &reg, &NoExpressions) {
        Ok(_) => panic!("expected validation errors"),
        Err(d) => d,
    }
}

/// The (code, line, node) of each error.
fn summary(yaml: &str) -> Vec<(String, usize, Option<String>)> {
    errors(yaml).located().into_iter().map(|e| (e.code, e.line, e.node)).collect()
}

fn has(yaml: &str, code: &str, line: usize, node: Option<&str>) {
    let got = summary(yaml);
    assert!(
        got.iter().any(|(c, l, n)| c == code && *l == line && n.as_deref() == node),
        "expected {code} at line {line} (node {node:?}), got {got:?}\n{}",
        errors(yaml).render(false)
    );
}

#[test]
fn a_valid_workflow_passes() {
    let reg = Registry::with_builtins();
    let yaml = "reelflow: 1\nnodes:\n  a: {op: const, params: {value: [1, 2]}}\n  b:\n    op: list.length\n    inputs: {items: a.value}\noutputs:\n  n: b.length\n";
    let plan = load_workflow(SourceFile::new("ok.yaml", yaml), &reg, &NoExpressions).unwrap();
    assert_eq!(plan.nodes.len(), 2);
    assert_eq!(plan.nodes[1].deps, vec![0]);
}

#[test]
fn yaml_syntax_errors_are_located() {
    has("reelflow: 1\nnodes:\n  a: {op: const\n", "syntax", 4, None);
}

#[test]
fn duplicate_node_ids_name_the_first_definition() {
    let yaml = "reelflow: 1\nnodes:\n  a: {op: debug.noop}\n  a: {op: debug.noop}\n";
    has(yaml, "duplicate-key", 4, None);
    assert!(errors(yaml).items[0].message.contains("first defined on line 3"));
}

#[test]
fn unknown_op_suggests_the_closest() {
    let yaml = "reelflow: 1\nnodes:\n  a:\n    op: text.templat\n";
    has(yaml, "unknown-op", 4, Some("a"));
    assert_eq!(
        errors(yaml).items[0].help.as_deref(),
        Some("did you mean `text.template`? (`reelflow nodes` lists every op)")
    );
}

#[test]
fn unknown_input_port_and_unknown_output_port() {
    let yaml = "reelflow: 1\nnodes:\n  a: {op: list.range, params: {end: 3}}\n  b:\n    op: list.length\n    inputs:\n      items: a.values\n      extra: a.items\n";
    has(yaml, "unknown-port", 7, Some("b"));
    has(yaml, "unknown-port", 8, Some("b"));
}

#[test]
fn type_mismatch_names_both_types() {
    let yaml = "reelflow: 1\nnodes:\n  a: {op: list.range, params: {end: 3}}\n  b:\n    op: text.split\n    inputs: {text: a.items}\n";
    has(yaml, "type-mismatch", 6, Some("b"));
    let msg = &errors(yaml).items[0].message;
    assert!(msg.contains("takes string") && msg.contains("list<int>"), "{msg}");
}

#[test]
fn missing_required_input() {
    has("reelflow: 1\nnodes:\n  b:\n    op: list.length\n", "missing-input", 3, Some("b"));
}

#[test]
fn cycles_name_their_nodes() {
    let yaml = "reelflow: 1\nnodes:\n  a:\n    op: debug.noop\n    inputs: {value: c.value}\n  b:\n    op: debug.noop\n    inputs: {value: a.value}\n  c:\n    op: debug.noop\n    inputs: {value: b.value}\n  d:\n    op: debug.noop\n    inputs: {value: d.value}\n";
    let d = errors(yaml);
    let cycles: Vec<&str> = d.items.iter().filter(|i| i.code == "cycle").map(|i| i.message.as_str()).collect();
    assert_eq!(cycles.len(), 2, "{cycles:?}");
    assert!(cycles.iter().any(|m| m.contains('a') && m.contains('b') && m.contains('c')), "{cycles:?}");
    assert!(cycles.iter().any(|m| m.contains("d → d")), "{cycles:?}");
}

#[test]
fn references_to_unknown_nodes_and_inputs() {
    let yaml = "reelflow: 1\ninputs:\n  n: {type: int}\nnodes:\n  a:\n    op: debug.noop\n    inputs: {value: inputz.n}\n  b:\n    op: debug.noop\n    inputs: {value: inputs.m}\n  c:\n    op: debug.noop\n    inputs: {value: nonsense}\n";
    has(yaml, "unknown-node", 7, Some("a"));
    has(yaml, "unknown-input", 10, Some("b"));
    has(yaml, "bad-reference", 13, Some("c"));
    // A broken reference is reported once, not again as a missing input.
    assert!(
        !summary("reelflow: 1\nnodes:\n  b:\n    op: list.length\n    inputs: {items: zz.items}\n")
            .iter()
            .any(|(code, _, _)| code == "missing-input")
    );
}

#[test]
fn params_are_checked_against_the_op_schema() {
    let yaml = "reelflow: 1\nnodes:\n  a:\n    op: list.range\n    params:\n      end: three\n      stride: 2\n  b:\n    op: list.range\n";
    has(yaml, "invalid-params", 6, Some("a"));
    has(yaml, "invalid-params", 7, Some("a"));
    has(yaml, "invalid-params", 9, Some("b"));
}

#[test]
fn structural_errors_in_one_node_do_not_hide_others() {
    let yaml = "reelflow: 1\nnodes:\n  a:\n    op: debug.noop\n    colour: red\n  b:\n    opp: debug.noop\n  c:\n    op: nope\n";
    has(yaml, "invalid-field", 5, Some("a"));
    has(yaml, "invalid-field", 7, Some("b"));
    has(yaml, "unknown-op", 9, Some("c"));
}

#[test]
fn version_and_top_level_fields() {
    has("nodes: {}\n", "missing-version", 1, None);
    has("reelflow: 2\nnodes: {}\n", "unsupported-version", 1, None);
    has("reelflow: 1\nnodes: {}\nnodez: {}\n", "unknown-field", 3, None);
    has("reelflow: 1\n", "missing-nodes", 1, None);
    has("- just\n- a list\n", "not-a-workflow", 1, None);
}

#[test]
fn ids_durations_and_retry_are_checked() {
    has("reelflow: 1\nnodes:\n  9lives: {op: debug.noop}\n", "invalid-id", 3, Some("9lives"));
    has("reelflow: 1\nnodes:\n  inputs: {op: debug.noop}\n", "invalid-id", 3, Some("inputs"));
    has("reelflow: 1\nnodes:\n  a:\n    op: debug.noop\n    timeout: 3 fortnights\n", "invalid-duration", 5, Some("a"));
    has("reelflow: 1\nnodes:\n  a:\n    op: debug.noop\n    retry: {attempts: 0}\n", "invalid-retry", 5, Some("a"));
}

#[test]
fn inputs_are_typed() {
    has("reelflow: 1\ninputs:\n  n: {type: integer}\nnodes: {}\n", "unknown-type", 3, None);
    has("reelflow: 1\ninputs:\n  n: {type: int, default: x}\nnodes: {}\n", "type-mismatch", 3, None);
    has("reelflow: 1\ninputs:\n  n: {type: int, default: 4, enum: [1, 2]}\nnodes: {}\n", "invalid-default", 3, None);
}

#[test]
fn map_nodes_need_a_list_and_a_body() {
    has(
        "reelflow: 1\nnodes:\n  a: {op: const, params: {value: 3}}\n  m:\n    op: map\n    inputs: {items: a.value}\n    body: {nodes: {}, outputs: {}}\n",
        "type-mismatch",
        6,
        Some("m"),
    );
    has(
        "reelflow: 1\nnodes:\n  a: {op: list.range, params: {end: 3}}\n  m:\n    op: map\n    inputs: {items: a.items}\n",
        "missing-body",
        4,
        Some("m"),
    );
    // Errors inside the body are located inside the body.
    let yaml = "reelflow: 1\nnodes:\n  a: {op: list.range, params: {end: 3}}\n  m:\n    op: map\n    inputs: {items: a.items}\n    body:\n      nodes:\n        t:\n          op: text.split\n          inputs: {text: inputs.item}\n      outputs: {parts: t.items}\n";
    has(yaml, "type-mismatch", 11, Some("t"));
}

#[test]
fn map_nodes_take_no_retry_or_timeout() {
    let yaml = "reelflow: 1\nnodes:\n  a: {op: list.range, params: {end: 3}}\n  m:\n    op: map\n    inputs: {items: a.items}\n    timeout: 5s\n    body:\n      nodes: {n: {op: debug.noop}}\n      outputs: {v: n.value}\n";
    has(yaml, "invalid-field", 7, Some("m"));
}

#[test]
fn file_inputs_take_paths_as_defaults() {
    let reg = Registry::with_builtins();
    let yaml =
        "reelflow: 1\ninputs:\n  clip: {type: video, default: media/in.mp4}\n  n: {type: int, default: 3}\nnodes: {}\n";
    // Defaults resolve next to the workflow file; given paths next to the caller.
    let plan = load_workflow(SourceFile::in_dir("f.yaml", yaml, "/data"), &reg, &NoExpressions).unwrap();
    let bound = plan.bind_inputs(Default::default(), std::path::Path::new("/elsewhere")).unwrap();
    match &bound["clip"] {
        reelflow_core::Value::File(f) => {
            assert_eq!(f.path, std::path::Path::new("/data/media/in.mp4"));
            assert_eq!(f.kind, reelflow_core::FileKind::Video);
        }
        other => panic!("expected a file, got {other:?}"),
    }
    let given = [("clip".to_string(), reelflow_core::Value::from("x.mp4"))].into_iter().collect();
    let bound = plan.bind_inputs(given, std::path::Path::new("/elsewhere")).unwrap();
    assert!(
        matches!(&bound["clip"], reelflow_core::Value::File(f) if f.path == std::path::Path::new("/elsewhere/x.mp4"))
    );
    has("reelflow: 1\ninputs:\n  clip: {type: video, default: 3}\nnodes: {}\n", "type-mismatch", 3, None);
}

#[test]
fn all_errors_are_reported_together_and_rendered() {
    let yaml = "reelflow: 1\nnodes:\n  a:\n    op: nope\n  b:\n    op: list.length\n  c:\n    op: debug.noop\n    inputs: {value: zz.value}\n";
    let d = errors(yaml);
    assert_eq!(d.items.len(), 3, "{d}");
    let text = d.render(false);
    assert!(text.contains("wf.yaml:4:9"), "{text}");
    assert!(text.contains("unknown op `nope`"), "{text}");
    assert!(text.contains("3 errors in wf.yaml"), "{text}");
    // The plain Display form is one `file:line:col: message` line per error.
    assert_eq!(d.to_string().lines().count(), 3);
}

#[test]
fn huge_and_hostile_documents_fail_cleanly() {
    let big = format!("reelflow: 1\nnodes: {{}}\ndescription: \"{}\"\n", "x".repeat(5 * 1024 * 1024));
    has(&big, "syntax", 1, None);
    has(&"[".repeat(50_000), "syntax", 1, None);
}
