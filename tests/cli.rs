//! End to end through the `reelflow` binary: validate, run, outputs, cache across
//! processes, failures, cancellation, introspection.

use std::time::Duration;

use reelflow_tests::{Sandbox, json_lines, repo_root, stderr};

fn demo() -> String {
    repo_root().join("workflows/examples/demo.yaml").display().to_string()
}

fn report(lines: &[serde_json::Value]) -> &serde_json::Value {
    let last = lines.last().expect("output");
    assert_eq!(last["type"], "run_report", "{last}");
    &last["report"]
}

fn count(lines: &[serde_json::Value], kind: &str) -> usize {
    lines.iter().filter(|l| l["type"] == kind).count()
}

#[test]
fn validate_reports_every_error_with_its_location() {
    let sb = Sandbox::new();
    let wf = sb.file(
        "broken.yaml",
        "reelflow: 1\nnodes:\n  a:\n    op: text.templte\n  b:\n    op: list.length\n    inputs: {items: a.nothing}\n  c:\n    op: debug.noop\n    inputs: {value: d.value}\n  d:\n    op: debug.noop\n    inputs: {value: c.value}\n",
    );
    let out = sb.run(&["validate", wf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("unknown op `text.templte`"), "{err}");
    assert!(err.contains("did you mean `text.template`"), "{err}");
    assert!(err.contains("broken.yaml:4:9"), "{err}");
    assert!(err.contains("cycle between nodes"), "{err}");
    assert!(err.contains("2 errors in"), "{err}");

    let out = sb.run(&["validate", "--json", wf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], false);
    let codes: Vec<&str> = json["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"unknown-op") && codes.contains(&"cycle"), "{codes:?}");
    assert_eq!(json["errors"][0]["line"], 4);
}

#[test]
fn every_shipped_workflow_validates() {
    let sb = Sandbox::new();
    let mut files = Vec::new();
    let mut stack = vec![repo_root().join("workflows")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json") {
                files.push(path.display().to_string());
            }
        }
    }
    assert!(!files.is_empty());
    // Example workflows use the example WASM plugins: install them as a user would.
    let plugins: Vec<String> = ["titlecard", "aurora", "filmlook"]
        .iter()
        .map(|n| repo_root().join("plugins").join(n).display().to_string())
        .collect();
    let mut build = vec!["plugin", "build"];
    build.extend(plugins.iter().map(String::as_str));
    let out = sb.run(&build);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let out = sb.run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn the_demo_runs_and_exports_its_outputs() {
    let sb = Sandbox::new();
    let out = sb.run(&["run", &demo(), "--set", "scenes=3", "--set", "title=Dockside", "--out", "out", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&out);
    let report = report(&lines);
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["outputs"]["scenes"], 3);
    let text = std::fs::read_to_string(sb.path().join("out/storyboard.txt")).unwrap();
    assert_eq!(text.lines().filter(|l| l.starts_with("Scene ")).count(), 3, "{text}");
    assert!(text.starts_with("Scene 1 of “Dockside”, shot noir. "), "{text}");
    // The model wrote something after each scene's heading.
    let heading_words = "Scene 1 of “Dockside”, shot noir.".split(' ').count() as u64;
    assert!(report["outputs"]["words"].as_u64().unwrap() > 3 * heading_words + 3, "{text}");
    let exported: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sb.path().join("out/outputs.json")).unwrap()).unwrap();
    assert!(exported["storyboard"]["$file"].as_str().unwrap().ends_with("out/storyboard.txt"));
    // Each map item reported its own nodes.
    assert!(lines.iter().any(|l| l["type"] == "node_finished" && l["node"] == "outline[2].line"));
    assert_eq!(count(&lines, "node_skipped"), 1, "long_note is skipped for a short storyboard");
}

#[test]
fn a_second_process_takes_unchanged_nodes_from_the_cache() {
    let sb = Sandbox::new();
    let first = sb.run(&["run", &demo(), "--set", "scenes=2", "--json"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(count(&json_lines(&first), "node_cached"), 0);

    let second = sb.run(&["run", &demo(), "--set", "scenes=2", "--json"]);
    let lines = json_lines(&second);
    let started: Vec<&str> =
        lines.iter().filter(|l| l["type"] == "node_started").map(|l| l["node"].as_str().unwrap()).collect();
    // The slow per-scene work, the script and the file come from the cache; only the map
    // itself and quick inline ops (cheaper to recompute than to look up) run again.
    assert!(!started.iter().any(|n| n.ends_with(".think")), "{started:?}");
    assert!(!started.contains(&"stats") && !started.contains(&"file"), "{started:?}");
    assert_eq!(count(&lines, "node_cached"), 4, "2 think nodes, stats and file");

    // A changed input re-runs what depends on it: the new scene and everything downstream.
    let third = sb.run(&["run", &demo(), "--set", "scenes=3", "--json"]);
    let lines = json_lines(&third);
    let started: Vec<&str> =
        lines.iter().filter(|l| l["type"] == "node_started").map(|l| l["node"].as_str().unwrap()).collect();
    assert!(started.contains(&"outline[2].think"), "{started:?}");
    assert!(!started.contains(&"outline[0].think"), "{started:?}");
    assert!(started.contains(&"stats"), "{started:?}");

    let uncached = sb.run(&["run", &demo(), "--set", "scenes=2", "--json", "--no-cache"]);
    assert_eq!(count(&json_lines(&uncached), "node_cached"), 0);
}

#[test]
fn failures_exit_1_and_show_the_error_chain() {
    let sb = Sandbox::new();
    let wf = sb.file(
        "fail.yaml",
        "reelflow: 1\nnodes:\n  bad:\n    op: debug.fail\n    params: {message: disk on fire}\n  after:\n    op: debug.noop\n    inputs: {value: bad.value}\n  other: {op: debug.noop}\n",
    );
    let out = sb.run(&["run", wf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("node `bad` failed: disk on fire (attempt 1)"), "{err}");
    assert!(err.contains("- after skipped"), "{err}");
    assert!(err.contains("✓ other"), "{err}");
}

#[test]
fn bad_inputs_exit_2() {
    let sb = Sandbox::new();
    let out = sb.run(&["run", &demo(), "--set", "scenes=many", "--set", "colour=red", "--set", "style=western"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("input `scenes` must be int"), "{err}");
    assert!(err.contains("unknown input `colour`"), "{err}");
    assert!(err.contains("input `style` must be one of"), "{err}");
}

#[test]
fn ctrl_c_cancels_the_run_and_exits_130() {
    let sb = Sandbox::new();
    let wf = sb.file("long.yaml", "reelflow: 1\nnodes:\n  wait: {op: debug.sleep, params: {ms: 3600000}}\n");
    let child =
        sb.command(&["run", wf.to_str().unwrap(), "--json"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    // Wait until the node has started, so the signal reaches a running workflow.
    std::thread::sleep(Duration::from_millis(1500));
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(report(&lines)["nodes"]["wait"]["state"], "cancelled");
}

#[test]
fn a_closed_stdout_does_not_crash_the_run() {
    let sb = Sandbox::new();
    let mut child = sb
        .command(&["run", &demo(), "--set", "scenes=2", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `reelflow run --json | head -0`
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn nodes_lists_every_op_with_ports_and_schemas() {
    let sb = Sandbox::new();
    let out = sb.run(&["nodes", "--json"]);
    assert!(out.status.success());
    let specs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = specs.iter().map(|s| s["op"].as_str().unwrap()).collect();
    for op in ["const", "json.get", "text.template", "list.range", "map", "script", "debug.sleep"] {
        assert!(names.contains(&op), "{op} missing from {names:?}");
    }
    let range = specs.iter().find(|s| s["op"] == "list.range").unwrap();
    assert_eq!(range["outputs"][0]["type"], "list<int>");
    assert_eq!(range["params"]["required"], serde_json::json!(["end"]));

    let out = sb.run(&["nodes", "text.template"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("param template: string"));
    assert_eq!(sb.run(&["nodes", "no.such.op"]).status.code(), Some(2));
}

#[test]
fn schema_prints_the_checked_in_json_schema() {
    let sb = Sandbox::new();
    let out = sb.run(&["schema"]);
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("docs/workflow.schema.json")).unwrap()).unwrap();
    assert_eq!(printed, file);
}
