//! Workflows that use rhai expressions and `script` nodes, loaded and run through the core.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indexmap::IndexMap;
use reelflow_core::{
    CollectSink, Diagnostics, EventKind, Executor, FileKind, LogLevel, NodeState, Plan, Registry, RunReport,
    RunRequest, RunStatus, SourceFile, Value, load_workflow,
};
use reelflow_script::RhaiExpressions;

fn registry() -> Registry {
    let mut reg = Registry::with_builtins();
    reelflow_script::register(&mut reg).expect("`script` is not registered yet");
    reg
}

fn load(yaml: &str) -> Result<Plan, Diagnostics> {
    load_workflow(SourceFile::new("t.yaml", yaml), &registry(), &RhaiExpressions::new())
}

/// A run request with the plan's default inputs and a fresh workspace.
fn request(plan: &Plan, workspace: &Path) -> RunRequest {
    let mut req = RunRequest::new("t", workspace);
    req.inputs = plan.bind_inputs(IndexMap::new(), Path::new(".")).expect("the defaults bind");
    req
}

async fn run(yaml: &str) -> RunReport {
    let plan = load(yaml).unwrap_or_else(|d| panic!("invalid workflow: {:?}", d.items));
    let dir = tempfile::tempdir().expect("a temp dir");
    let req = request(&plan, dir.path());
    Executor::new(Default::default(), None).run(Arc::new(plan), req).await
}

/// The diagnostics of a workflow that must not load.
fn rejected(yaml: &str) -> Diagnostics {
    match load(yaml) {
        Ok(_) => panic!("the workflow loaded"),
        Err(diags) => diags,
    }
}

fn error_of(report: &RunReport, node: &str) -> String {
    report.nodes[node].error.as_ref().map(|chain| chain.join(": ")).unwrap_or_default()
}

#[tokio::test]
async fn expression_params_are_evaluated() {
    let report = run(r#"
reelflow: 1
inputs:
  n: {type: int, default: 3}
nodes:
  r:
    op: list.range
    params: {end: "${{ inputs.n * 2 }}"}
outputs:
  items: r.items
"#)
    .await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.nodes);
    let expected: Vec<Value> = (0..6).map(Value::Int).collect();
    assert_eq!(report.outputs["items"], Value::List(expected));
}

#[tokio::test]
async fn false_conditions_skip_nodes() {
    let report = run(r#"
reelflow: 1
inputs:
  n: {type: int, default: 3}
nodes:
  x:
    op: const
    when: "inputs.n > 5"
    params: {value: big}
  y:
    op: const
    when: "${{ inputs.n <= 5 }}"
    params: {value: small}
outputs:
  y: y.value
"#)
    .await;
    assert_eq!(report.nodes["x"].state, NodeState::Skipped);
    assert_eq!(report.nodes["y"].state, NodeState::Succeeded);
    assert_eq!(report.outputs["y"], Value::from("small"));
}

#[tokio::test]
async fn expressions_read_upstream_outputs_after_they_ran() {
    // `b` and `c` depend on `a` and `two-words` only through their expressions.
    let report = run(r#"
reelflow: 1
nodes:
  c:
    op: const
    params: {value: "${{ nodes.b.value * 10 + nodes[\"two-words\"].value.len() }}"}
  b:
    op: const
    params: {value: "${{ nodes.a.value + 1 }}"}
  a: {op: const, params: {value: 5}}
  two-words: {op: const, params: {value: [1, 2]}}
outputs:
  b: b.value
  c: c.value
"#)
    .await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.nodes);
    assert_eq!(report.outputs["b"], Value::Int(6));
    assert_eq!(report.outputs["c"], Value::Int(62));
}

#[tokio::test]
async fn script_nodes_take_inputs_and_declare_outputs() {
    let report = run(r#"
reelflow: 1
inputs:
  n: {type: int, default: 3}
nodes:
  a: {op: const, params: {value: 5}}
  calc:
    op: script
    inputs: {x: a.value, y: inputs.n}
    params:
      source: |
        #{ sum: x + y, prod: x * y }
      outputs: {sum: int, prod: int}
  label:
    op: script
    inputs: {total: calc.sum}
    params:
      source: '`total: ${total}`'
      outputs: {text: string}
outputs:
  sum: calc.sum
  prod: calc.prod
  text: label.text
"#)
    .await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.nodes);
    assert_eq!(report.outputs["sum"], Value::Int(8));
    assert_eq!(report.outputs["prod"], Value::Int(15));
    assert_eq!(report.outputs["text"], Value::from("total: 8"));
}

#[tokio::test]
async fn scripts_return_files_as_files() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clip = dir.path().join("clip.mp4");
    std::fs::write(&clip, b"not really a video").expect("writing the clip");
    let yaml = format!(
        r#"
reelflow: 1
nodes:
  pick:
    op: script
    params:
      source: '#{{ "$file": {path:?}, kind: "video" }}'
      outputs: {{clip: video}}
outputs:
  clip: pick.clip
"#,
        path = clip.to_string_lossy()
    );
    let report = run(&yaml).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.nodes);
    let Value::File(file) = &report.outputs["clip"] else { panic!("not a file: {:?}", report.outputs["clip"]) };
    assert_eq!(file.kind, FileKind::Video);
    assert_eq!(file.path, clip);
}

#[tokio::test]
async fn script_prints_become_node_logs() {
    let plan = load(
        r#"
reelflow: 1
nodes:
  talk:
    op: script
    params: {source: 'print("hello from rhai"); 1'}
"#,
    )
    .expect("valid");
    let dir = tempfile::tempdir().expect("a temp dir");
    let sink = Arc::new(CollectSink(Mutex::new(Vec::new())));
    let mut req = request(&plan, dir.path());
    req.events = sink.clone();
    let report = Executor::new(Default::default(), None).run(Arc::new(plan), req).await;
    assert_eq!(report.status, RunStatus::Succeeded);
    let logged = sink.events().into_iter().any(|e| {
        matches!(e.kind, EventKind::NodeLog { ref node, level: LogLevel::Info, ref message }
            if node == "talk" && message == "hello from rhai")
    });
    assert!(logged, "no log event for the print");
}

#[test]
fn script_syntax_errors_fail_validation_with_the_rhai_line() {
    let diags = rejected(
        r#"
reelflow: 1
nodes:
  calc:
    op: script
    params:
      source: |
        let a = 1;
        let b = 2;
        let c = (a + ;
        c
"#,
    );
    let item = diags.items.iter().find(|d| d.node.as_deref() == Some("calc")).expect("a diagnostic for `calc`");
    assert!(item.message.contains("script line 3, column"), "{}", item.message);
}

#[test]
fn unknown_output_types_fail_validation() {
    let diags = rejected(
        r#"
reelflow: 1
nodes:
  calc:
    op: script
    params: {source: "1", outputs: {n: integer}}
"#,
    );
    assert!(diags.items.iter().any(|d| d.message.contains("unknown type `integer`")), "{:?}", diags.items);
}

#[test]
fn unparsable_expressions_fail_validation() {
    let diags = rejected(
        r#"
reelflow: 1
nodes:
  r:
    op: list.range
    params: {end: "${{ 1 + }}"}
"#,
    );
    assert!(diags.items.iter().any(|d| d.code == "expression" && d.node.as_deref() == Some("r")), "{:?}", diags.items);
}

#[tokio::test]
async fn hostile_scripts_fail_their_node_and_siblings_still_run() {
    let report = run(r#"
reelflow: 1
nodes:
  spin:
    op: script
    params: {source: "let x = 0; loop { x += 1; }"}
  recurse:
    op: script
    params: {source: "fn f(x) { f(x + 1) } f(0)"}
  grow:
    op: script
    params: {source: 'let s = "x"; loop { s += s; }'}
  hoard:
    op: script
    params: {source: "let a = []; loop { a.push(0); }"}
  spin-expr:
    op: const
    params: {value: "${{ loop {} }}"}
  fine:
    op: script
    params: {source: "6 * 7"}
outputs:
  answer: fine.result
"#)
    .await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.nodes["fine"].state, NodeState::Succeeded);
    assert_eq!(report.outputs["answer"], Value::Int(42));
    for (node, expected) in [
        ("spin", "too many operations"),
        ("recurse", "nested too deeply"),
        ("grow", "Length of string too large"),
        ("hoard", "Size of array/BLOB too large"),
        ("spin-expr", "too many operations"),
    ] {
        assert_eq!(report.nodes[node].state, NodeState::Failed, "{node}");
        let error = error_of(&report, node);
        assert!(error.contains(expected), "{node}: {error}");
    }
    assert!(error_of(&report, "spin").contains("script line 1, column"), "{}", error_of(&report, "spin"));
}

#[tokio::test]
async fn cancelling_the_run_stops_a_running_script() {
    let plan = load(
        r#"
reelflow: 1
nodes:
  spin:
    op: script
    params:
      source: "let x = 0; loop { x += 1 }"
      max_operations: 10000000000
"#,
    )
    .expect("valid");
    let dir = tempfile::tempdir().expect("a temp dir");
    let req = request(&plan, dir.path());
    let cancel = req.cancel.clone();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel();
    });
    let report =
        tokio::time::timeout(Duration::from_secs(30), Executor::new(Default::default(), None).run(Arc::new(plan), req))
            .await
            .expect("the run ended after it was cancelled");
    canceller.await.expect("the canceller ran");
    assert_eq!(report.nodes["spin"].state, NodeState::Cancelled, "{:?}", report.nodes["spin"]);
    assert_eq!(report.status, RunStatus::Cancelled);
}

#[tokio::test]
async fn script_files_resolve_next_to_the_workflow_and_are_cached_by_content() {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::create_dir(dir.path().join("scripts")).expect("mkdir");
    let script = dir.path().join("scripts/calc.rhai");
    let yaml = "reelflow: 1\nnodes:\n  calc:\n    op: script\n    params: {file: scripts/calc.rhai, outputs: {n: int}}\noutputs: {n: calc.n}\n";
    let cache = Arc::new(reelflow_core::Cache::open(dir.path().join("cache"), 1 << 30).expect("cache"));
    let exec = Executor::new(Default::default(), Some(cache));
    let load_in_dir =
        || load_workflow(SourceFile::in_dir("wf.yaml", yaml, dir.path()), &registry(), &RhaiExpressions::new());

    std::fs::write(&script, "40 + 2\n").expect("write script");
    let plan = load_in_dir().unwrap_or_else(|d| panic!("{d}"));
    let report = exec.run(Arc::new(plan), RunRequest::new("a", dir.path().join("w"))).await;
    assert_eq!(report.outputs["n"], Value::Int(42));

    // Same file name, new content: not a cache hit.
    std::fs::write(&script, "40 + 3\n").expect("rewrite script");
    let plan = load_in_dir().unwrap_or_else(|d| panic!("{d}"));
    let report = exec.run(Arc::new(plan), RunRequest::new("b", dir.path().join("w"))).await;
    assert_eq!(report.nodes["calc"].state, NodeState::Succeeded);
    assert_eq!(report.outputs["n"], Value::Int(43));

    // `source` and `file` together are ambiguous.
    let both = yaml.replace("{file:", "{source: \"1\", file:");
    let d = load_workflow(SourceFile::in_dir("wf.yaml", both, dir.path()), &registry(), &RhaiExpressions::new())
        .err()
        .expect("rejected");
    assert!(d.items[0].message.contains("exactly one"), "{d}");

    // A syntax error in the file, and a missing file, are validation errors.
    std::fs::write(&script, "let = 1;\n").expect("break script");
    let d = load_in_dir().err().expect("rejected");
    assert!(d.items[0].message.contains("script line 1"), "{d}");
    std::fs::remove_file(&script).expect("remove script");
    let d = load_in_dir().err().expect("rejected");
    assert!(d.items[0].message.contains("calc.rhai"), "{d}");
}

#[test]
fn script_files_outside_the_workflow_directory_are_refused() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let workflows = dir.path().join("workflows");
    std::fs::create_dir(&workflows).expect("mkdir");
    std::fs::write(dir.path().join("secret.rhai"), "\"secret\"\n").expect("write");
    for file in ["../secret.rhai", dir.path().join("secret.rhai").to_str().expect("utf-8")] {
        let yaml = format!("reelflow: 1\nnodes:\n  s:\n    op: script\n    params: {{file: '{file}'}}\n");
        let d = load_workflow(SourceFile::in_dir("wf.yaml", yaml, &workflows), &registry(), &RhaiExpressions::new())
            .err()
            .expect("rejected");
        assert!(d.items[0].message.contains("outside the workflow's directory"), "{d}");
    }
}
