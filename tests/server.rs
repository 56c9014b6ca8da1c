//! The durability promises with real processes: a server killed with `kill -9` mid-run
//! restarts and finishes every accepted run under the same id without redoing finished
//! nodes; a dead `reelflow worker`'s run is taken over by another worker.

use std::path::Path;

use reelflow_tests::server::{http, is_finished, spawn, wait_until};
use serde_json::json;

/// `first` is quick and cached; `second` takes long enough to be killed in the middle.
const WORK: &str = "reelflow: 1
inputs:
  n: {type: int}
nodes:
  first:
    op: debug.sleep
    inputs: {value: inputs.n}
    params: {ms: 100}
  second:
    op: debug.sleep
    inputs: {value: first.value}
    params: {ms: 1500}
outputs:
  n: second.value
";

/// Short leases so a dead process's runs come back quickly.
fn setup(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("workflows")).expect("mkdir");
    std::fs::write(dir.join("workflows/work.yaml"), WORK).expect("write workflow");
    let config = dir.join("reelflow.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\nworkflows_dir = \"{}\"\n[server]\nbind = \"127.0.0.1:0\"\nrate_limit = 0\nshutdown_grace = \"1s\"\n[worker]\nlease = \"2s\"\nheartbeat = \"300ms\"\npoll = \"100ms\"\n",
            dir.join("data").display(),
            dir.join("workflows").display()
        ),
    )
    .expect("write config");
    config
}

fn submit(addr: &str, n: i64) -> String {
    let (status, reply) = http(addr, "POST", "/api/v1/runs", Some(&json!({"workflow": "work", "inputs": {"n": n}})));
    assert_eq!(status, 202, "{reply}");
    reply["id"].as_str().expect("an id").to_owned()
}

#[test]
fn a_killed_server_restarts_and_finishes_every_accepted_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = setup(dir.path());
    let server = spawn(dir.path(), &config, &["serve"]);
    let addr = server.addr();
    let ids: Vec<String> = (0..6).map(|n| submit(&addr, n)).collect();
    // Kill it when the first run is in its second node: `first` is done (and cached).
    wait_until(&addr, &format!("/api/v1/runs/{}", ids[0]), |run| run["nodes"]["second"]["state"] == "running");
    server.kill_hard();

    let server = spawn(dir.path(), &config, &["serve"]);
    let addr = server.addr();
    for (n, id) in ids.iter().enumerate() {
        let run = wait_until(&addr, &format!("/api/v1/runs/{id}"), is_finished);
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["outputs"]["n"], n as i64, "{run}");
    }
    // The interrupted run was claimed twice, and its finished node was not redone.
    let (_, run) = http(&addr, "GET", &format!("/api/v1/runs/{}", ids[0]), None);
    assert_eq!(run["claims"], 2, "{run}");
    assert_eq!(run["nodes"]["first"]["state"], "cached", "{run}");
    // Its event stream goes on where it stopped: one sequence, no gaps or repeats.
    let (_, page) = http(&addr, "GET", "/api/v1/runs?limit=100", None);
    assert_eq!(page["runs"].as_array().map(Vec::len), Some(ids.len()), "nothing lost, nothing duplicated");
    let events = events_of(&addr, &ids[0]);
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(events.iter().filter(|e| e["type"] == "run_started").count(), 2, "started, then resumed");
}

/// A finished run's events, read over SSE.
fn events_of(addr: &str, id: &str) -> Vec<serde_json::Value> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(stream, "GET /api/v1/runs/{id}/events HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("send");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read");
    text.lines().filter_map(|l| l.strip_prefix("data: ")).filter_map(|d| serde_json::from_str(d).ok()).collect()
}

#[test]
fn a_dead_workers_run_is_taken_over_by_another_worker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = setup(dir.path());
    let api = spawn(dir.path(), &config, &["serve", "--no-worker"]);
    let addr = api.addr();
    let first_worker = spawn(dir.path(), &config, &["worker"]);
    let id = submit(&addr, 7);
    let running = wait_until(&addr, &format!("/api/v1/runs/{id}"), |run| run["nodes"]["second"]["state"] == "running");
    let dead = running["worker"].as_str().expect("a worker holds it").to_owned();
    assert!(first_worker.banner.contains(&dead), "{} vs {dead}", first_worker.banner);
    first_worker.kill_hard();

    let second_worker = spawn(dir.path(), &config, &["worker"]);
    let run = wait_until(&addr, &format!("/api/v1/runs/{id}"), is_finished);
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["outputs"]["n"], 7);
    assert_eq!(run["claims"], 2);
    assert_eq!(run["nodes"]["first"]["state"], "cached");
    drop(second_worker);
}
