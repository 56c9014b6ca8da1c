//! `reelflow tools`: the API benchmark against a real server, the log analyzer on crafted
//! logs, and the operator sandbox from a script file and from piped input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use reelflow_tests::server::spawn;
use reelflow_tests::{Sandbox, reelflow_bin, stderr};
use serde_json::{Value, json};

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("JSON")
}

/// The one file in `dir` with extension `ext`.
fn only_file(dir: &Path, ext: &str) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().and_then(|n| n.to_str()).expect("a name").to_owned();
    assert!(name.starts_with("api_benchmark_"), "{name}");
    files[0].clone()
}

fn server_config(dir: &Path) -> PathBuf {
    let config = dir.join("reelflow.toml");
    std::fs::create_dir_all(dir.join("workflows")).expect("mkdir");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\nworkflows_dir = \"{}\"\n[server]\nbind = \"127.0.0.1:0\"\nrate_limit = 0\n",
            dir.join("data").display(),
            dir.join("workflows").display()
        ),
    )
    .expect("write config");
    config
}

fn benchmark(base_url: &str, out: &Path, extra: &[&str]) -> Output {
    Command::new(reelflow_bin())
        .args(["tools", "api-benchmark", "--base-url", base_url, "--out"])
        .arg(out)
        .args(extra)
        .env_remove("REELFLOW_TOKEN")
        .output()
        .expect("running reelflow")
}

#[test]
fn api_benchmark_measures_a_running_server_and_writes_json_and_html() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = server_config(dir.path());
    let server = spawn(dir.path(), &config, &["serve"]);
    let base = format!("http://{}", server.addr());

    let out = dir.path().join("health");
    let run = benchmark(&base, &out, &["--endpoint", "/health", "--requests", "50", "--concurrency", "5"]);
    assert!(run.status.success(), "{}\n{}", stdout(&run), stderr(&run));
    let text = stdout(&run);
    assert!(text.starts_with(&format!("GET {base}/health  (50 requests, 5 concurrent)")), "{text}");
    for row in ["requests", "success (2xx)", "errors", "success rate", "throughput", "latency p95", "latency p99"] {
        assert!(text.contains(row), "no `{row}` row:\n{text}");
    }
    assert!(text.contains("100.00 %"), "{text}");
    let json_path = only_file(&out, "json");
    let html_path = only_file(&out, "html");
    assert!(text.contains(&json_path.display().to_string()) && text.contains(&html_path.display().to_string()));

    let report = read_json(&json_path);
    assert_eq!((&report["method"], &report["concurrency"]), (&json!("GET"), &json!(5)), "{report}");
    let summary = &report["summary"];
    assert_eq!(summary["requests"], 50, "{report}");
    assert_eq!(summary["success"], 50, "{report}");
    assert_eq!(summary["errors"], 0, "{report}");
    assert_eq!(summary["success_rate"], 1.0, "{report}");
    assert!(summary["throughput_rps"].as_f64().is_some_and(|t| t > 0.0), "{report}");
    let latency = &summary["latency_ms"];
    let at = |k: &str| latency[k].as_f64().unwrap_or(f64::NAN);
    assert!(at("min") > 0.0 && at("min") <= at("p50") && at("p50") <= at("p95") && at("p99") <= at("max"), "{latency}");
    assert_eq!(report["status_codes"], json!({"200": 50}), "{report}");
    let buckets = report["histogram"].as_array().expect("a histogram");
    assert!(!buckets.is_empty());
    assert_eq!(buckets.iter().map(|b| b["count"].as_u64().unwrap_or(0)).sum::<u64>(), 50, "{report}");

    let html = std::fs::read_to_string(&html_path).expect("read html");
    assert!(html.contains("<svg") && html.contains("</svg>") && html.contains("<rect"), "{html}");
    assert!(html.contains("Success rate") && html.contains("/health"), "{html}");

    // POST with a JSON payload: a valid submission is accepted (so the body was sent) ...
    let payload = dir.path().join("run.json");
    let source = "reelflow: 1\nnodes:\n  t:\n    op: text.template\n    params: {template: hi}\n";
    std::fs::write(&payload, json!({"source": source, "name": "bench"}).to_string()).expect("write payload");
    let out = dir.path().join("post");
    let args = ["--endpoint", "/api/v1/runs", "--method", "POST", "--requests", "12", "--concurrency", "4"];
    let run = benchmark(&base, &out, &[&args[..], &["--payload", payload.to_str().expect("utf-8")]].concat());
    assert!(run.status.success(), "{}", stderr(&run));
    let report = read_json(&only_file(&out, "json"));
    assert_eq!(report["status_codes"], json!({"202": 12}), "{report}");

    // ... and one the server refuses counts as errors, not as a failure of the tool.
    std::fs::write(&payload, json!({"workflow": "no/such/workflow"}).to_string()).expect("write payload");
    let out = dir.path().join("refused");
    let run = benchmark(&base, &out, &[&args[..], &["--payload", payload.to_str().expect("utf-8")]].concat());
    assert!(run.status.success(), "{}", stderr(&run));
    let report = read_json(&only_file(&out, "json"));
    assert_eq!(report["summary"]["success"], 0, "{report}");
    assert_eq!(report["summary"]["errors"], 12, "{report}");
    assert_eq!(report["summary"]["success_rate"], 0.0, "{report}");
    assert_eq!(report["status_codes"], json!({"404": 12}), "{report}");
}

#[test]
fn api_benchmark_fails_when_no_server_listens() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let run = benchmark(
        &format!("http://127.0.0.1:{port}"),
        &out,
        &["--endpoint", "/health", "--requests", "40", "--concurrency", "4", "--timeout-s", "5"],
    );
    assert_eq!(run.status.code(), Some(1), "{}", stdout(&run));
    assert!(stderr(&run).contains("could not be reached"), "{}", stderr(&run));
    assert!(std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0) == 0, "no report for a benchmark that never ran");
}

fn access(
    ts: &str,
    method: &str,
    route: &str,
    status: u16,
    latency_ms: f64,
    error: Option<(Option<i64>, &str)>,
) -> String {
    let mut line = json!({
        "ts": ts, "method": method, "route": route, "path": format!("{route}?x=1"),
        "status": status, "latency_ms": latency_ms,
    });
    if let Some((code, message)) = error {
        if let Some(code) = code {
            line["code"] = code.into();
        }
        line["error"] = message.into();
    }
    line.to_string()
}

/// An access log with three malformed lines, two error patterns whose messages differ in
/// numbers and paths, and one slow route; an application log with a repeated warning.
fn write_logs(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut lines = Vec::new();
    for i in 0..6 {
        lines.push(access(&format!("2026-11-23T21:30:0{i}.100Z"), "GET", "/health", 200, 1.0 + f64::from(i), None));
    }
    for (i, file) in ["/media/a1.mp4", "/srv/clips/episode 7.mp4", "/tmp/x.mp4"].iter().enumerate() {
        let message = format!("video_path: {file} does not exist");
        lines.push(access(
            &format!("2026-11-23T21:31:0{i}Z"),
            "POST",
            "/api/v1/generate",
            404,
            12.5,
            Some((Some(1002), &message)),
        ));
    }
    lines.push("this is not JSON".into());
    lines.push(r#"{"ts": "2026-11-23T21:32:00Z", "method": "GET"}"#.into());
    lines.push(r#"{"ts":"2026-11-23T21:32:00Z","method":"GET","route":"/x","status":200,"latency_ms":"#.into());
    for (i, ms) in [1500, 2750].iter().enumerate() {
        let message = format!("model load took {ms} ms, over the 1000 ms budget");
        lines.push(access(
            &format!("2026-11-23T21:33:0{i}Z"),
            "GET",
            "/api/v1/models",
            500,
            40.0,
            Some((None, &message)),
        ));
    }
    lines.push(access("2026-11-23T21:34:00Z", "GET", "/api/v1/report", 200, 2500.0, None));
    lines.push(access("2026-11-23T21:35:00.5Z", "GET", "/api/v1/report", 200, 3000.0, None));
    std::fs::write(dir.join("access.log"), lines.join("\n") + "\n").expect("write access.log");

    let app = "\
2026-11-23T21:30:00.100000Z  INFO reelflow::serve: listening addr=127.0.0.1:8080
2026-11-23T21:30:01.000000Z  WARN reelflow_worker::worker: lease renewal slow run=run-1763940000000-0a1b2c3d took_ms=812
2026-11-23T21:30:02.000000Z  WARN reelflow_worker::worker: lease renewal slow run=run-1763940000001-ffee0011 took_ms=95
2026-11-23T21:30:03.000000Z ERROR run{id=run-9}:node{id=cut}: reelflow_core::executor: node failed path=/srv/in.mp4 error=\"ffmpeg exited with 1\"
    a continuation line of the error above
";
    std::fs::write(dir.join("reelflow.log"), app).expect("write reelflow.log");
}

#[test]
fn log_analyzer_finds_routes_slow_requests_and_error_patterns() {
    let sb = Sandbox::new();
    let logs = sb.path().join("logs");
    write_logs(&logs);
    let run = sb.run(&["tools", "log-analyzer", "--logs", logs.to_str().expect("utf-8"), "--json", "--top", "3"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let report: Value = serde_json::from_slice(&run.stdout).expect("JSON");
    let access = &report["access_log"];
    assert_eq!(access["lines"], 16, "{access}");
    assert_eq!(access["malformed"], 3, "{access}");
    assert_eq!(access["requests"], 13, "{access}");
    assert_eq!(access["errors"], 5, "{access}");
    assert_eq!(access["time_range"]["first"], "2026-11-23T21:30:00.100Z", "{access}");
    assert_eq!(access["time_range"]["last"], "2026-11-23T21:35:00.5Z", "{access}");

    let routes = access["routes"].as_array().expect("routes");
    assert_eq!(routes.len(), 4, "{access}");
    assert_eq!(
        (&routes[0]["method"], &routes[0]["route"], &routes[0]["requests"]),
        (&json!("GET"), &json!("/health"), &json!(6))
    );
    let generate = routes.iter().find(|r| r["route"] == "/api/v1/generate").expect("generate");
    assert_eq!(generate["error_rate"], 1.0);

    let slow = access["slow_routes"].as_array().expect("slow routes");
    assert_eq!(slow.len(), 1, "{access}");
    assert_eq!(slow[0]["route"], "/api/v1/report");
    assert_eq!(slow[0]["p95_ms"], 3000.0);
    let slowest: Vec<f64> = access["slowest_requests"]
        .as_array()
        .expect("slowest")
        .iter()
        .filter_map(|r| r["latency_ms"].as_f64())
        .collect();
    assert_eq!(slowest, [3000.0, 2500.0, 40.0]);

    let patterns = access["error_patterns"].as_array().expect("patterns");
    assert_eq!(patterns.len(), 2, "{access}");
    assert_eq!(patterns[0]["count"], 3);
    assert_eq!(patterns[0]["status"], 404);
    assert_eq!(patterns[0]["code"], 1002);
    assert_eq!(patterns[0]["pattern"], "video_path: <path> does not exist");
    assert_eq!(patterns[0]["example"]["error"], "video_path: /media/a1.mp4 does not exist");
    assert_eq!(patterns[1]["count"], 2);
    assert_eq!(patterns[1]["code"], Value::Null);
    assert_eq!(patterns[1]["pattern"], "model load took <n> ms, over the <n> ms budget");

    let app = &report["app_log"];
    assert_eq!(app["malformed"], 1, "{app}");
    assert_eq!(app["levels"], json!({"ERROR": 1, "INFO": 1, "WARN": 2}), "{app}");
    let patterns = app["patterns"].as_array().expect("patterns");
    assert_eq!(patterns.len(), 2, "{app}");
    assert_eq!(patterns[0]["level"], "ERROR");
    assert_eq!(patterns[0]["target"], "reelflow_core::executor");
    assert_eq!(patterns[0]["pattern"], "node failed path=<path> error=\"<str>\"");
    assert_eq!(patterns[1]["target"], "reelflow_worker::worker");
    assert_eq!(patterns[1]["count"], 2);
    assert_eq!(patterns[1]["pattern"], "lease renewal slow run=run-<n>-<n> took_ms=<n>");

    // The text report, from the data directory's logs by default.
    write_logs(&sb.path().join("data/logs"));
    let run = sb.run(&["tools", "log-analyzer", "--slow-ms", "100"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let text = stdout(&run);
    for part in [
        "Requests per route",
        "Slow routes (p95 > 100 ms)",
        "GET /api/v1/report",
        "Error patterns",
        "video_path: <path> does not exist",
        "ERROR and WARN patterns",
    ] {
        assert!(text.contains(part), "no `{part}` in:\n{text}");
    }
}

#[test]
fn log_analyzer_says_which_files_are_missing() {
    let sb = Sandbox::new();
    let logs = sb.path().join("logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    std::fs::write(logs.join("reelflow.log"), "2026-11-23T21:30:00Z  WARN reelflow::serve: hello\n").expect("write");
    let run = sb.run(&["tools", "log-analyzer", "--logs", logs.to_str().expect("utf-8")]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stderr(&run).contains("access.log is missing"), "{}", stderr(&run));
    assert!(stdout(&run).contains("WARN"), "{}", stdout(&run));

    std::fs::remove_file(logs.join("reelflow.log")).expect("rm");
    let run = sb.run(&["tools", "log-analyzer", "--logs", logs.to_str().expect("utf-8")]);
    assert_eq!(run.status.code(), Some(1));
    let err = stderr(&run);
    assert!(err.contains("access.log is missing") && err.contains("reelflow.log is missing"), "{err}");

    let run = sb.run(&["tools", "log-analyzer", "--logs", "no-such-dir"]);
    assert_eq!(run.status.code(), Some(1));
    assert!(stderr(&run).contains("no-such-dir does not exist"), "{}", stderr(&run));
}

#[test]
fn sandbox_scripts_list_describe_and_run_ops() {
    let sb = Sandbox::new();
    let script = sb.file(
        "try.rhai",
        r#"
let names = ops();
if !names.contains("text.template") { throw "no text.template in ops()"; }
print(`ops: ${names.len()}`);
let spec = describe("text.split");
print(`split: ${spec.inputs[0].name} -> ${spec.outputs[0].name}, params ${spec.params.properties.keys()}`);
let out = run_op("text.template", #{who: "world", n: 3}, #{template: "hello {{who}} x{{n}}"});
print(out.text);
let parts = run_op("text.split", #{text: out.text}, #{separator: " "});
print(`parts: ${parts.items.len()}`);
try { describe("text.templte") } catch (e) { print(`caught: ${e}`) }
try { run_op("text.template", #{}, #{template: 5}) } catch (e) { print(`caught: ${e}`) }
"#,
    );
    let run = sb.run(&["tools", "sandbox", "--script", script.to_str().expect("utf-8")]);
    assert!(run.status.success(), "{}\n{}", stdout(&run), stderr(&run));
    let text = stdout(&run);
    let ops: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("ops: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no op count in:\n{text}"));
    assert!(ops > 10, "{text}");
    assert!(text.contains("split: text -> items, params [\"separator\", \"skip_empty\"]"), "{text}");
    assert!(text.contains("\nhello world x3\n"), "{text}");
    assert!(text.contains("parts: 3"), "{text}");
    assert!(text.contains("caught: no op named `text.templte` (did you mean `text.template`?)"), "{text}");
    assert!(text.contains("caught: run_op(\"text.template\"): ") && text.contains("template"), "{text}");
}

#[test]
fn sandbox_scripts_with_errors_exit_non_zero() {
    let sb = Sandbox::new();
    let bad = sb.file("bad.rhai", "let x = 1;\nlet y = (x + ;\n");
    let run = sb.run(&["tools", "sandbox", "--script", bad.to_str().expect("utf-8")]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(stderr(&run).contains("syntax error") && stderr(&run).contains("line 2"), "{}", stderr(&run));

    let failing = sb.file("fail.rhai", r#"print("before"); run_op("no.such.op", #{}); print("after");"#);
    let run = sb.run(&["tools", "sandbox", "--script", failing.to_str().expect("utf-8")]);
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(stdout(&run), "before\n");
    assert!(stderr(&run).contains("no op named `no.such.op`"), "{}", stderr(&run));

    // The scripting crate's limits hold in the sandbox.
    let endless = sb.file("endless.rhai", "let i = 0; loop { i += 1; }");
    let run = sb.run(&["tools", "sandbox", "--script", endless.to_str().expect("utf-8")]);
    assert_eq!(run.status.code(), Some(1));
    assert!(stderr(&run).contains("Too many operations"), "{}", stderr(&run));
}

#[test]
fn the_sandbox_repl_keeps_its_scope_and_survives_errors() {
    let sb = Sandbox::new();
    let mut child = sb
        .command(&["tools", "sandbox"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the sandbox");
    let input = r#"let x = 40;
fn double(n) {
  let twice = n * 2;
  twice
}
double(x) + 2
let y = ;
run_op("text.template", #{who: "repl"},
       #{template: "hi {{who}}"}).text
:help
x + 1
:quit
print("never")
"#;
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
    let run = child.wait_with_output().expect("the sandbox ends");
    assert!(run.status.success(), "{}", stderr(&run));
    let text = stdout(&run);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first(), Some(&"82"), "{text}");
    assert_eq!(lines.get(1), Some(&"hi repl"), "{text}");
    assert!(text.contains("run_op(op, inputs, params)"), "the help: {text}");
    assert_eq!(lines.last(), Some(&"41"), "{text}");
    assert!(!text.contains("never"), "{text}");
    assert!(stderr(&run).contains("syntax error"), "{}", stderr(&run));
}
