//! The durability promises with real processes: a server killed with `kill -9` mid-run
//! restarts and finishes every accepted run under the same id without redoing finished
//! nodes; a dead `reelflow worker`'s run is taken over by another worker; a clipsmaster task's
//! timeout outlives the server that accepted it.

use std::path::Path;
use std::time::{Duration, Instant};

use reelflow_tests::repo_root;
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

/// A clipsmaster server without a worker (so accepted tasks stay queued): the shipped
/// workflows, one input root, and SmolLM2 as the English model (the request checks that the
/// planner's model is there before it queues anything).
fn clipsmaster_setup(dir: &Path) -> std::path::PathBuf {
    let inputs = dir.join("inputs");
    let models = dir.join("models");
    std::fs::create_dir_all(&inputs).expect("mkdir");
    std::fs::create_dir_all(models.join("smollm2")).expect("mkdir");
    let model = repo_root().join("models/smollm2/SmolLM2-135M-Instruct.Q8_0.gguf");
    assert!(model.is_file(), "{} is missing: run `bash .ci/setup.sh`", model.display());
    if std::fs::hard_link(&model, models.join("smollm2/smol.gguf")).is_err() {
        std::fs::copy(&model, models.join("smollm2/smol.gguf")).expect("copy the model");
    }
    std::fs::write(
        models.join("models.yaml"),
        "models:\n  - id: smollm2-test\n    task: chat\n    languages: [en]\n    format: gguf\n    licence: Apache-2.0\n    default_quant: Q8_0\n    quantizations:\n      Q8_0: {file: smollm2/smol.gguf, memory_mb: 800}\n    install: run bash .ci/setup.sh\n",
    )
    .expect("write the manifest");
    std::fs::write(models.join("active_model.yaml"), "default_language: en\nlanguages:\n  en: {model: smollm2-test}\n")
        .expect("write the active model");
    // The adapter checks that the files exist and lie in an input root; nothing reads them,
    // because no worker ever runs these tasks.
    std::fs::write(inputs.join("episode.mp4"), b"not read").expect("write");
    std::fs::write(inputs.join("episode.srt"), "1\n00:00:00,000 --> 00:00:01,000\nHi\n").expect("write");
    let config = dir.join("reelflow.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\nworkflows_dir = \"{}\"\n[server]\nbind = \"127.0.0.1:0\"\nrate_limit = 0\nshutdown_grace = \"1s\"\ninput_roots = [\"{}\"]\n[llm]\nmodels_dir = \"{}\"\nactive_config = \"{}\"\n",
            dir.join("data").display(),
            repo_root().join("workflows").display(),
            inputs.display(),
            models.display(),
            models.join("active_model.yaml").display(),
        ),
    )
    .expect("write config");
    config
}

/// Queues a clip with `timeout` seconds and returns its task id.
fn submit_clip(addr: &str, dir: &Path, timeout: f64) -> String {
    let request = json!({
        "video_path": dir.join("inputs/episode.mp4"),
        "srt_path": dir.join("inputs/episode.srt"),
        "lang": "en",
        "timeout": timeout,
    });
    let (status, reply) = http(addr, "POST", "/api/v1/generate?wait=false", Some(&request));
    assert_eq!((status, reply["status"].as_str()), (202, Some("pending")), "{reply}");
    reply["task_id"].as_str().expect("a task id").to_owned()
}

#[test]
fn a_task_timeout_outlives_the_server_that_accepted_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = clipsmaster_setup(dir.path());
    let first = spawn(dir.path(), &config, &["serve", "--no-worker"]);
    let addr = first.addr();
    let submitted = Instant::now();
    let short = submit_clip(&addr, dir.path(), 5.0);
    let long = submit_clip(&addr, dir.path(), 3600.0);
    let (_, status) = http(&addr, "GET", &format!("/api/v1/status?task_id={short}"), None);
    assert_eq!(status["status"], "pending", "{status}");
    // The server that took the tasks dies before the short one is due: nothing in any
    // process is counting down to its deadline any more.
    first.kill_hard();
    assert!(submitted.elapsed() < Duration::from_secs(5), "the first server lived past the deadline");
    std::thread::sleep(Duration::from_secs(5).saturating_sub(submitted.elapsed()) + Duration::from_millis(200));

    // A new server on the same data directory enforces the stored deadline: 3001.
    let second = spawn(dir.path(), &config, &["serve", "--no-worker"]);
    let addr = second.addr();
    let status = wait_until(&addr, &format!("/api/v1/status?task_id={short}"), |s| s["status"] != "pending");
    assert_eq!((status["status"].as_str(), status["code"].as_u64()), (Some("failed"), Some(3001)), "{status}");
    assert!(status["message"].as_str().is_some_and(|m| m.contains("timeout")), "{status}");
    // The task still inside its time is left alone.
    let (_, status) = http(&addr, "GET", &format!("/api/v1/status?task_id={long}"), None);
    assert_eq!(status["status"], "pending", "{status}");
}
