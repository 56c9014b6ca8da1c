//! WebAssembly plugins through the `reelflow` binary: scaffold, build and install, list,
//! run a workflow of plugin ops, and a server that keeps serving while a hostile plugin
//! loops.

use std::path::Path;

use reelflow_tests::server::{http, is_finished, spawn, wait_until};
use reelflow_tests::{Sandbox, repo_root};
use serde_json::json;

fn build_examples(sandbox: &Sandbox, names: &[&str]) {
    let dirs: Vec<String> = names.iter().map(|n| repo_root().join("plugins").join(n).display().to_string()).collect();
    let mut args = vec!["plugin", "build"];
    args.extend(dirs.iter().map(String::as_str));
    let out = sandbox.run(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for name in names {
        assert!(text.contains(&format!("installed {name} ")), "{text}");
    }
}

#[test]
fn plugins_build_install_list_and_run_in_a_workflow() {
    let sandbox = Sandbox::new();
    build_examples(&sandbox, &["titlecard", "aurora", "filmlook"]);
    let list = sandbox.run(&["plugin", "list", "--json"]);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    let names: Vec<&str> = list["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["aurora", "filmlook", "titlecard"]);
    // `plugin list` compiled them, so the next start loads cached code.
    let again: serde_json::Value =
        serde_json::from_slice(&sandbox.run(&["plugin", "list", "--json"]).stdout).expect("json");
    assert!(again["plugins"].as_array().unwrap().iter().all(|p| p["code"] == "cached"), "{again}");

    let nodes = sandbox.run(&["nodes", "filmlook"]);
    assert!(String::from_utf8_lossy(&nodes.stdout).contains("filmlook"), "plugin ops are listed like native ones");

    let workflow = repo_root().join("workflows/examples/plugins.yaml");
    let out = sandbox.run(&["run", &workflow.display().to_string(), "--set", "seconds=1", "--out", "out", "--json"]);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let video = sandbox.path().join("out");
    let made: Vec<_> = std::fs::read_dir(&video).expect("out dir").flatten().map(|e| e.path()).collect();
    assert!(made.iter().any(|p| p.extension().is_some_and(|e| e == "mp4")), "{made:?}");
    let outputs = std::fs::read_to_string(video.join("outputs.json")).expect("outputs.json");
    assert!(outputs.contains("唐僧相亲记"), "the template's layout is an output: {outputs}");
}

#[test]
fn a_scaffolded_plugin_builds_installs_and_runs() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(&["plugin", "new", "shouty", "--kind", "node"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(sandbox.path().join("shouty/wit/plugin.wit").is_file());
    let out = sandbox.run(&["plugin", "build", "shouty"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let flow = sandbox.file(
        "shout.yaml",
        "reelflow: 1\ninputs:\n  text: {type: string}\nnodes:\n  s:\n    op: shouty.shout\n    inputs: {text: inputs.text}\noutputs:\n  text: s.text\n",
    );
    let out = sandbox.run(&["run", &flow.display().to_string(), "--set", "text=hello", "--out", "out", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let outputs = std::fs::read_to_string(sandbox.path().join("out/outputs.json")).expect("outputs.json");
    assert!(outputs.contains("HELLO"), "{outputs}");
    // Every kind scaffolds into a crate that builds and loads.
    for kind in ["effect", "template", "generator"] {
        let name = format!("my_{kind}");
        assert!(sandbox.run(&["plugin", "new", &name, "--kind", kind]).status.success());
        let out = sandbox.run(&["plugin", "build", &name]);
        assert!(out.status.success(), "{kind}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let list: serde_json::Value =
        serde_json::from_slice(&sandbox.run(&["plugin", "list", "--json"]).stdout).expect("json");
    assert_eq!(list["plugins"].as_array().map(Vec::len), Some(4), "{list}");
    assert_eq!(list["failed"].as_array().map(Vec::len), Some(0), "{list}");
    // A name the host would refuse is refused up front.
    let bad = sandbox.run(&["plugin", "new", "Bad-Name"]);
    assert!(!bad.status.success());
}

const SPIN: &str = "reelflow: 1\nnodes:\n  s:\n    op: hostile.spin\noutputs:\n  text: s.text\n";
const ECHO: &str = "reelflow: 1\ninputs:\n  text: {type: string}\nnodes:\n  e:\n    op: hostile.echo\n    inputs: {text: inputs.text}\noutputs:\n  text: e.text\n";

fn server_config(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("workflows")).unwrap();
    std::fs::write(dir.join("workflows/spin.yaml"), SPIN).unwrap();
    std::fs::write(dir.join("workflows/echo.yaml"), ECHO).unwrap();
    let config = dir.join("reelflow.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\nworkflows_dir = \"{}\"\n[server]\nbind = \"127.0.0.1:0\"\nrate_limit = 0\n[plugins]\ncall_timeout = \"700ms\"\nmax_memory = \"64MiB\"\n",
            dir.join("data").display(),
            dir.join("workflows").display()
        ),
    )
    .unwrap();
    config
}

#[test]
fn the_server_keeps_serving_while_a_hostile_plugin_loops() {
    let sandbox = Sandbox::new();
    build_examples(&sandbox, &["hostile"]);
    let config = server_config(sandbox.path());
    let server = spawn(sandbox.path(), &config, &["serve"]);
    let addr = server.addr();
    let submit = |workflow: &str, inputs: serde_json::Value| {
        let (status, reply) =
            http(&addr, "POST", "/api/v1/runs", Some(&json!({"workflow": workflow, "inputs": inputs})));
        assert_eq!(status, 202, "{reply}");
        reply["id"].as_str().unwrap().to_owned()
    };
    let spinning: Vec<String> = (0..2).map(|_| submit("spin", json!({}))).collect();
    let echo = submit("echo", json!({"text": "still serving"}));
    let done = wait_until(&addr, &format!("/api/v1/runs/{echo}"), is_finished);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["outputs"]["text"], "still serving");
    for id in spinning {
        let run = wait_until(&addr, &format!("/api/v1/runs/{id}"), is_finished);
        assert_eq!(run["status"], "failed", "{run}");
        assert!(run.to_string().contains("time budget"), "{run}");
    }
    let (status, _) = http(&addr, "GET", "/health", None);
    assert_eq!(status, 200);
}
