//! Over a real socket: SSE and WebSocket event streams (order, replay, live), and a
//! graceful shutdown that ends open streams.

mod support;

use std::time::Duration;

use futures::StreamExt;
use reelflow_server::Server;
use serde_json::{Value, json};
use support::{test_config, write_workflows};

struct Live {
    base: String,
    client: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn live_server() -> Live {
    let dir = tempfile::tempdir().expect("a temp dir");
    write_workflows(dir.path());
    let mut config = test_config(dir.path());
    config.server.bind = "127.0.0.1:0".parse().expect("an address");
    let server = Server::start(config).await.expect("the server starts");
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    Live { base, client: reqwest::Client::new(), stop, served, _dir: dir }
}

impl Live {
    async fn submit(&self, body: Value) -> String {
        let reply: Value = self
            .client
            .post(format!("{}/api/v1/runs", self.base))
            .json(&body)
            .send()
            .await
            .expect("submit")
            .json()
            .await
            .expect("json");
        reply["id"].as_str().expect("an id").to_owned()
    }

    /// Reads an SSE stream to its end: `(id, event, data)` per message.
    async fn sse(&self, id: &str, last_event_id: Option<u64>) -> Vec<(u64, String, Value)> {
        let mut request = self.client.get(format!("{}/api/v1/runs/{id}/events", self.base));
        if let Some(last) = last_event_id {
            request = request.header("last-event-id", last.to_string());
        }
        let response = request.send().await.expect("events");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let text = tokio::time::timeout(Duration::from_secs(60), response.text())
            .await
            .expect("the stream ends")
            .expect("text");
        parse_sse(&text)
    }
}

fn parse_sse(text: &str) -> Vec<(u64, String, Value)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let (mut id, mut event, mut data) = (None, None, None);
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id: ").or_else(|| line.strip_prefix("id:")) {
                id = v.trim().parse::<u64>().ok();
            } else if let Some(v) = line.strip_prefix("event: ").or_else(|| line.strip_prefix("event:")) {
                event = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("data: ").or_else(|| line.strip_prefix("data:")) {
                data = serde_json::from_str::<Value>(v).ok();
            }
        }
        if let (Some(id), Some(event), Some(data)) = (id, event, data) {
            out.push((id, event, data));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_streams_live_then_replays_from_any_event_id() {
    let live = live_server().await;
    let id = live.submit(json!({"workflow": "slow", "inputs": {"ms": 300}})).await;
    // Connected while the run is going: receives everything, live, then the stream ends.
    let events = live.sse(&id, None).await;
    let seqs: Vec<u64> = events.iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "contiguous, in order");
    assert_eq!(events.first().map(|e| e.1.as_str()), Some("run_started"));
    assert_eq!(events.last().map(|e| e.1.as_str()), Some("run_finished"));
    assert_eq!(events.last().map(|e| e.2["status"].clone()), Some(json!("succeeded")));
    for (seq, kind, data) in &events {
        assert_eq!(
            (data["seq"].as_u64(), data["type"].as_str(), data["run_id"].as_str()),
            (Some(*seq), Some(kind.as_str()), Some(id.as_str()))
        );
    }
    // By the time `run_finished` arrives, the run reads as finished.
    let run: Value = live
        .client
        .get(format!("{}/api/v1/runs/{id}", live.base))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(run["status"], "succeeded");

    // Replay after event 2: exactly the rest, identical.
    let rest = live.sse(&id, Some(2)).await;
    assert_eq!(rest, events[2..].to_vec());
    // `?after=` does the same.
    let response =
        live.client.get(format!("{}/api/v1/runs/{id}/events?after=3", live.base)).send().await.expect("events");
    assert_eq!(parse_sse(&response.text().await.expect("text")), events[3..].to_vec());
    let _ = live.stop.send(());
    live.served.await.expect("the server stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_sends_the_same_events_and_closes_at_the_end() {
    let live = live_server().await;
    let id = live.submit(json!({"workflow": "hello", "inputs": {"who": "ws"}})).await;
    let ws_url = format!("{}/api/v1/runs/{id}/events", live.base.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(&ws_url).await.expect("a websocket");
    let mut received = Vec::new();
    let read = async {
        while let Some(message) = socket.next().await {
            match message.expect("a message") {
                tokio_tungstenite::tungstenite::Message::Text(text) => {
                    received.push(serde_json::from_str::<Value>(&text).expect("json"));
                }
                tokio_tungstenite::tungstenite::Message::Close(_) => break,
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read).await.expect("the socket closes");
    let sse = live.sse(&id, None).await;
    assert_eq!(received, sse.iter().map(|(_, _, data)| data.clone()).collect::<Vec<_>>());
    assert_eq!(received.last().and_then(|e| e["type"].as_str()), Some("run_finished"));

    // Replay over WebSocket from `?after=`.
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{ws_url}?after=4")).await.expect("a websocket");
    let first = socket.next().await.expect("a message").expect("ok");
    let first: Value = serde_json::from_str(first.to_text().expect("text")).expect("json");
    assert_eq!(first["seq"], 5);
    let _ = live.stop.send(());
    live.served.await.expect("the server stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_streams_and_hands_running_runs_back() {
    let live = live_server().await;
    let id = live.submit(json!({"workflow": "slow", "inputs": {"ms": 60_000}})).await;
    let response = live.client.get(format!("{}/api/v1/runs/{id}/events", live.base)).send().await.expect("events");
    let mut body = response.bytes_stream();
    // Wait until the node is running (its `node_started` arrived).
    let mut seen = String::new();
    while !seen.contains("node_started") {
        let chunk = tokio::time::timeout(Duration::from_secs(60), body.next())
            .await
            .expect("events")
            .expect("a chunk")
            .expect("ok");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let _ = live.stop.send(());
    // The grace period (1 s in tests) passes, the run is handed back, the stream ends.
    tokio::time::timeout(Duration::from_secs(60), live.served).await.expect("shutdown completes").expect("joined");
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(60), body.next()).await {}
    let db = live._dir.path().join("data/reelflow.db");
    let store = reelflow_store::SqliteStore::open(db).expect("the store");
    use reelflow_store::RunStore;
    let run = store.get_run(&id).await.expect("read").expect("the run");
    assert_eq!(run.status, reelflow_store::RunState::Queued, "handed back, to resume on the next start");
    assert_eq!(run.lease_owner, None);
}
