//! An in-process server for tests: temp data and workflows directories, a real SQLite
//! store, a real worker, and `app().oneshot(...)` for requests.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use reelflow_core::workflow::DurationSpec;
use reelflow_runtime::{Config, Runtime};
use reelflow_server::{AppParts, AppState, app};
use reelflow_store::{RunStore, SqliteStore};
use reelflow_worker::{RunHub, Worker, WorkerMetrics, WorkerOptions};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Guards tests against hanging forever; not a performance limit.
const HANG_GUARD: Duration = Duration::from_secs(60);

pub const WORKFLOWS: &[(&str, &str)] = &[
    (
        "hello.yaml",
        "reelflow: 1\ndescription: Greets someone and writes it down.\ninputs:\n  who: {type: string, default: world}\nnodes:\n  greet:\n    op: text.template\n    inputs: {who: inputs.who}\n    params: {template: 'hello {{who}}'}\n  save:\n    op: text.write\n    inputs: {text: greet.text}\n    params: {name: greeting.txt}\noutputs:\n  text: greet.text\n  file: save.file\n",
    ),
    (
        "slow.yaml",
        "reelflow: 1\ninputs:\n  ms: {type: int, default: 200}\nnodes:\n  wait:\n    op: debug.sleep\n    params: {ms: '${{ inputs.ms }}'}\noutputs:\n  value: wait.value\n",
    ),
    (
        "flaky.yaml",
        "reelflow: 1\ninputs:\n  switch: {type: file}\nnodes:\n  expensive:\n    op: debug.sleep\n    params: {ms: 300}\n  read:\n    op: text.read\n    inputs: {file: inputs.switch}\n  check:\n    op: script\n    inputs: {text: read.text, n: expensive.value}\n    params:\n      source: 'if text == \"fail\" { throw \"switch says fail\" } text'\n      outputs: {result: string}\noutputs:\n  checked: check.result\n",
    ),
    (
        "readfile.yaml",
        "reelflow: 1\ninputs:\n  doc: {type: file}\nnodes:\n  read:\n    op: text.read\n    inputs: {file: inputs.doc}\noutputs:\n  text: read.text\n",
    ),
    ("nested/deep.yaml", "reelflow: 1\nnodes:\n  n: {op: list.range, params: {start: 0, end: 1}}\n"),
];

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    /// The input root tests put client files in.
    pub media: PathBuf,
    pub state: AppState,
    pub app: Router,
    pub shutdown: CancellationToken,
    worker: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(worker) = self.worker.take() {
            worker.abort();
        }
    }
}

/// A config for tests: everything in `dir`, short leases, no rate limit.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config { data_dir: dir.join("data"), workflows_dir: dir.join("workflows"), ..Default::default() };
    config.server.input_roots = vec![dir.join("media")];
    config.server.rate_limit = 0;
    config.worker.lease = DurationSpec::Text("3s".into());
    config.worker.heartbeat = DurationSpec::Text("200ms".into());
    config.worker.poll = DurationSpec::Text("50ms".into());
    config.server.shutdown_grace = DurationSpec::Text("1s".into());
    config
}

pub fn write_workflows(dir: &std::path::Path) {
    for (name, text) in WORKFLOWS {
        let path = dir.join("workflows").join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write workflow");
    }
}

pub async fn harness(adjust: impl FnOnce(&mut Config)) -> Harness {
    let dir = tempfile::tempdir().expect("a temp dir");
    write_workflows(dir.path());
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).expect("mkdir media");
    let mut config = test_config(dir.path());
    adjust(&mut config);
    let data = config.data_dir.clone();
    std::fs::create_dir_all(&data).expect("mkdir data");
    let embedded = config.server.embedded_worker;
    let opts = WorkerOptions::from_config(&config).expect("worker options");
    let store: Arc<dyn RunStore> = Arc::new(SqliteStore::open(config.db_path()).expect("open the store"));
    let runtime = Arc::new(Runtime::new(config).expect("a runtime"));
    let hub = RunHub::new();
    let metrics = WorkerMetrics::default();
    let shutdown = CancellationToken::new();
    let worker = embedded.then(|| Worker::new(store.clone(), runtime.clone(), hub.clone(), metrics.clone(), opts));
    let state = AppState::new(AppParts {
        store,
        runtime,
        hub,
        worker_metrics: metrics,
        worker: worker.clone(),
        shutdown: shutdown.clone(),
    })
    .expect("app state");
    let worker = worker.map(|w| {
        let stop = shutdown.clone();
        tokio::spawn(async move { w.run(stop).await })
    });
    Harness { app: app(state.clone()), state, dir, data, media, shutdown, worker }
}

impl Harness {
    /// Writes a file into the input root and returns its path.
    pub fn media_file(&self, name: &str, content: &str) -> String {
        let path = self.media.join(name);
        std::fs::write(&path, content).expect("write media file");
        path.to_string_lossy().into_owned()
    }

    pub async fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.expect("a body").to_bytes().to_vec();
        (status, headers, body)
    }

    async fn json_call(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let (status, _, bytes) = self.send(request.body(body).expect("a request")).await;
        let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        (status, json)
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.json_call(Method::GET, uri, None).await
    }

    pub async fn put(&self, uri: &str) -> (StatusCode, Value) {
        self.json_call(Method::PUT, uri, None).await
    }

    pub async fn delete(&self, uri: &str) -> (StatusCode, Value) {
        self.json_call(Method::DELETE, uri, None).await
    }

    pub async fn post(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        self.json_call(Method::POST, uri, Some(body)).await
    }

    pub async fn post_raw(&self, uri: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let request = Request::post(uri).header("content-type", content_type).body(Body::from(body)).expect("request");
        let (status, _, bytes) = self.send(request).await;
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub async fn get_raw(&self, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut request = Request::get(uri);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        self.send(request.body(Body::empty()).expect("request")).await
    }

    pub async fn upload(&self, filename: &str, bytes: &[u8]) -> (StatusCode, Value) {
        let boundary = "reelflow-test-boundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: text/plain\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.post_raw("/api/v1/uploads", &format!("multipart/form-data; boundary={boundary}"), body).await
    }

    /// Polls the run until `done` says so.
    pub async fn wait_for(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let (status, run) = self.get(&format!("/api/v1/runs/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{run}");
            if done(&run) {
                return run;
            }
            assert!(started.elapsed() < HANG_GUARD, "run {id} is stuck: {run}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_finished(&self, id: &str) -> Value {
        self.wait_for(id, |run| matches!(run["status"].as_str(), Some("succeeded" | "failed" | "cancelled"))).await
    }
}
