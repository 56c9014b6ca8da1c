//! The generic API through `app().oneshot(...)`: an in-process server with a real SQLite
//! store, a real worker and real workflows, and no socket. Socket-level behaviour (SSE and
//! WebSocket streaming) is in `stream.rs`; process crashes are in the root `tests/`.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::{Harness, harness};

async fn submit(h: &Harness, body: Value) -> String {
    let (status, reply) = h.post("/api/v1/runs", body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    reply["id"].as_str().expect("a run id").to_owned()
}

#[tokio::test]
async fn a_named_workflow_runs_to_completion_with_artifacts() {
    let h = harness(|_| {}).await;
    let id = submit(&h, json!({"workflow": "hello", "inputs": {"who": "Ada"}})).await;
    let run = h.wait_finished(&id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["outputs"]["text"], "hello Ada");
    assert_eq!(run["progress"]["fraction"], 1.0);
    assert_eq!(run["progress"]["total"], 2);
    assert_eq!(run["nodes"]["greet"]["state"], "succeeded");
    assert_eq!(run["claims"], 1);

    // The file output is an artifact with a download link, a content type and Range support.
    let url = run["outputs"]["file"]["url"].as_str().expect("an artifact url").to_owned();
    let (status, headers, body) = h.get_raw(&url, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"hello Ada");
    assert_eq!(headers["content-type"], "text/plain");
    assert_eq!(headers["accept-ranges"], "bytes");
    let (status, headers, body) = h.get_raw(&url, &[("range", "bytes=6-")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, b"Ada");
    assert_eq!(headers["content-range"], "bytes 6-8/9");
    let (status, _, _) = h.get_raw(&url, &[("range", "bytes=50-60")]).await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    let (status, reply) = h.get("/api/v1/artifacts/art-nope").await;
    assert_eq!((status, reply["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
}

#[tokio::test]
async fn inline_workflows_run_as_text_or_as_objects() {
    let h = harness(|_| {}).await;
    let source = "reelflow: 1\nnodes:\n  n: {op: list.range, params: {start: 0, end: 3}}\noutputs: {items: n.items}\n";
    let id = submit(&h, json!({"source": source, "name": "three"})).await;
    let run = h.wait_finished(&id).await;
    assert_eq!((run["status"].as_str(), &run["outputs"]["items"]), (Some("succeeded"), &json!([0, 1, 2])));
    assert_eq!(run["workflow"], "inline:three");

    let definition = json!({"reelflow": 1, "nodes": {"n": {"op": "list.range", "params": {"start": 5, "end": 7}}},
        "outputs": {"items": "n.items"}});
    let id = submit(&h, json!({"definition": definition})).await;
    assert_eq!(h.wait_finished(&id).await["outputs"]["items"], json!([5, 6]));
}

#[tokio::test]
async fn invalid_submissions_get_located_errors_and_never_enter_the_queue() {
    let h = harness(|_| {}).await;
    let (status, reply) =
        h.post("/api/v1/runs", json!({"source": "reelflow: 1\nnodes:\n  a: {op: text.tempalte}\n"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply["error"]["code"], "invalid_workflow");
    let first = &reply["error"]["details"]["errors"][0];
    assert_eq!(
        (first["code"].as_str(), first["line"].as_u64(), first["node"].as_str()),
        (Some("unknown-op"), Some(3), Some("a"))
    );
    assert!(reply["error"]["details"]["rendered"].as_str().unwrap_or("").contains("text.template"), "{reply}");

    let (status, reply) = h.post("/api/v1/runs", json!({"workflow": "hello", "inputs": {"who": 3, "extra": 1}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    assert_eq!(reply["error"]["code"], "invalid_inputs");
    assert_eq!(reply["error"]["details"]["errors"].as_array().map(Vec::len), Some(2), "{reply}");

    let (status, reply) = h.post("/api/v1/runs", json!({"workflow": "nope"})).await;
    assert_eq!((status, reply["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, reply) = h.post("/api/v1/runs", json!({"workflow": "../secrets"})).await;
    assert_eq!((status, reply["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, reply) = h.post("/api/v1/runs", json!({"workflow": "hello", "source": "x"})).await;
    assert_eq!((status, reply["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));
    let (status, reply) = h.post("/api/v1/runs", json!({"workflow": "hello", "bogus": 1})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    assert_eq!(reply["error"]["code"], "invalid_request");
    let (status, reply) = h.post_raw("/api/v1/runs", "application/json", b"{not json".to_vec()).await;
    assert_eq!((status, reply["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));

    let (_, page) = h.get("/api/v1/runs").await;
    assert_eq!(page["runs"], json!([]), "nothing was queued");
}

#[tokio::test]
async fn runs_list_newest_first_by_status_in_pages() {
    let h = harness(|_| {}).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(submit(&h, json!({"workflow": "hello", "inputs": {"who": format!("n{i}")}})).await);
    }
    for id in &ids {
        h.wait_finished(id).await;
    }
    let mut seen = Vec::new();
    let mut uri = "/api/v1/runs?status=succeeded&limit=2".to_owned();
    loop {
        let (status, page) = h.get(&uri).await;
        assert_eq!(status, StatusCode::OK);
        for run in page["runs"].as_array().expect("runs") {
            assert_eq!(run["status"], "succeeded");
            seen.push(run["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/api/v1/runs?status=succeeded&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);
    let (status, reply) = h.get("/api/v1/runs?status=done").await;
    assert_eq!((status, reply["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));
    let (_, page) = h.get("/api/v1/runs?status=failed").await;
    assert_eq!(page["runs"], json!([]));
}

#[tokio::test]
async fn cancelling_stops_a_running_run_promptly_and_a_queued_one_at_once() {
    let h = harness(|_| {}).await;
    let id = submit(&h, json!({"workflow": "slow", "inputs": {"ms": 60_000}})).await;
    h.wait_for(&id, |run| run["nodes"]["wait"]["state"] == "running").await;
    let started = std::time::Instant::now();
    let (status, reply) = h.delete(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    let run = h.wait_finished(&id).await;
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["nodes"]["wait"]["state"], "cancelled");
    // Not a timing test: a 60 s sleep that ended means cancellation reached the node.
    assert!(started.elapsed() < Duration::from_secs(50));
    let (status, reply) = h.delete(&format!("/api/v1/runs/{id}")).await;
    assert_eq!((status, reply["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));

    // Without a worker, a run stays queued; cancelling it ends it and its event stream.
    let idle = harness(|c| c.server.embedded_worker = false).await;
    let id = submit(&idle, json!({"workflow": "hello", "inputs": {"who": "x"}})).await;
    let (status, _) = idle.delete(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, run) = idle.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(run["status"], "cancelled");
    let (_, _, body) = idle.get_raw(&format!("/api/v1/runs/{id}/events"), &[]).await;
    let text = String::from_utf8(body).expect("utf-8");
    assert!(text.contains("event: run_finished"), "{text}");
    let (status, _) = idle.delete("/api/v1/runs/run-missing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn retry_reruns_only_what_failed() {
    let h = harness(|_| {}).await;
    let switch = h.media_file("switch.txt", "fail");
    let id = submit(&h, json!({"workflow": "flaky", "inputs": {"switch": switch}})).await;
    let run = h.wait_finished(&id).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["nodes"]["expensive"]["state"], "succeeded");
    assert_eq!(run["nodes"]["check"]["state"], "failed");
    let message = run["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("node `check` failed") && message.contains("switch says fail"), "{run}");
    assert_eq!(run["error"]["nodes"][0]["node"], "check");

    std::fs::write(h.media.join("switch.txt"), "go").expect("flip the switch");
    let (status, reply) = h.post(&format!("/api/v1/runs/{id}/retry"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    let run = h.wait_finished(&id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["nodes"]["expensive"]["state"], "cached", "finished nodes are not redone");
    assert_eq!(run["outputs"]["checked"], "go");
    assert_eq!(run["claims"], 2);

    let (status, reply) = h.post(&format!("/api/v1/runs/{id}/retry"), json!({})).await;
    assert_eq!((status, reply["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
}

#[tokio::test]
async fn uploads_stream_to_disk_deduplicate_and_become_inputs() {
    let h = harness(|c| c.server.max_upload = "1KiB".into()).await;
    let (status, up) = h.upload("notes.txt", b"uploaded words").await;
    assert_eq!(status, StatusCode::CREATED, "{up}");
    assert_eq!(up["size"], 14);
    let sha = up["sha256"].as_str().unwrap_or_default();
    assert!(sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()), "{up}");
    assert_eq!(up["deduplicated"], false);
    let (status, again) = h.upload("other-name.txt", b"uploaded words").await;
    assert_eq!((status, &again["id"], &again["deduplicated"]), (StatusCode::OK, &up["id"], &json!(true)));

    let id = submit(&h, json!({"workflow": "readfile", "inputs": {"doc": up["input"]}})).await;
    let run = h.wait_finished(&id).await;
    assert_eq!(run["outputs"]["text"], "uploaded words", "{run}");
    let id = submit(&h, json!({"workflow": "readfile", "inputs": {"doc": {"upload": up["id"]}}})).await;
    assert_eq!(h.wait_finished(&id).await["outputs"]["text"], "uploaded words");
    let (status, reply) =
        h.post("/api/v1/runs", json!({"workflow": "readfile", "inputs": {"doc": "upload:upl-nope"}})).await;
    assert_eq!((status, reply["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_inputs")));

    // Over the limit: refused, and nothing of it stays on disk.
    let (status, reply) = h.upload("big.bin", &vec![7u8; 4096]).await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")),
        "{reply}"
    );
    let left: Vec<_> =
        std::fs::read_dir(h.data.join("uploads")).expect("uploads dir").flatten().map(|e| e.file_name()).collect();
    assert_eq!(left.len(), 1, "only the first upload is kept: {left:?}");
    let (status, reply) = h.post_raw("/api/v1/uploads", "multipart/form-data; boundary=x", b"--x--\r\n".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
}

#[tokio::test]
async fn input_paths_stay_inside_the_input_roots() {
    let h = harness(|_| {}).await;
    let inside = h.media_file("ok.txt", "fine");
    let id = submit(&h, json!({"workflow": "readfile", "inputs": {"doc": inside}})).await;
    assert_eq!(h.wait_finished(&id).await["outputs"]["text"], "fine");
    // Relative paths resolve against the first input root.
    let id = submit(&h, json!({"workflow": "readfile", "inputs": {"doc": "ok.txt"}})).await;
    assert_eq!(h.wait_finished(&id).await["outputs"]["text"], "fine");

    let secret = h.dir.path().join("secret.txt");
    std::fs::write(&secret, "top secret").expect("write");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&secret, h.media.join("link.txt")).expect("symlink");
    let attempts = [
        json!("../secret.txt"),
        json!(secret.to_str().expect("utf-8")),
        json!("/etc/passwd"),
        json!(format!("{}/../secret.txt", h.media.display())),
        json!({"$file": secret.to_str().expect("utf-8"), "kind": "file"}),
        json!("link.txt"),
    ];
    for doc in attempts {
        let (status, reply) = h.post("/api/v1/runs", json!({"workflow": "readfile", "inputs": {"doc": doc}})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{doc} → {reply}");
        assert_eq!(reply["error"]["code"], "invalid_inputs");
        assert!(!reply.to_string().contains("top secret"));
    }
    // An inline workflow's own defaults are confined too.
    let source = format!(
        "reelflow: 1\ninputs:\n  doc: {{type: file, default: '{}'}}\nnodes:\n  r: {{op: text.read, inputs: {{file: inputs.doc}}}}\noutputs: {{text: r.text}}\n",
        secret.display()
    );
    let (status, reply) = h.post("/api/v1/runs", json!({"source": source})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
}

#[tokio::test]
async fn workflows_nodes_and_validation_are_listed() {
    let h = harness(|_| {}).await;
    let (status, list) = h.get("/api/v1/workflows").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> =
        list["workflows"].as_array().expect("list").iter().filter_map(|w| w["name"].as_str()).collect();
    assert_eq!(names, ["flaky", "hello", "nested/deep", "readfile", "slow"]);
    let (status, hello) = h.get("/api/v1/workflows/hello").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hello["inputs"]["who"]["type"], "string");
    assert_eq!(hello["inputs"]["who"]["default"], "world");
    assert_eq!(hello["nodes"][0], json!({"id": "greet", "op": "text.template"}));
    let (status, _) = h.get("/api/v1/workflows/nested/deep").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h.get("/api/v1/workflows/nested/../hello").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, nodes) = h.get("/api/v1/nodes").await;
    assert!(nodes["nodes"].as_array().expect("nodes").iter().any(|n| n["op"] == "text.template"));

    let (status, ok) = h.post("/api/v1/workflows/validate", json!({"source": "reelflow: 1\nnodes: {}\n"})).await;
    assert_eq!((status, &ok["valid"]), (StatusCode::OK, &json!(true)));
    let (_, bad) = h
        .post("/api/v1/workflows/validate", json!({"source": "reelflow: 1\nnodes:\n  a: {op: x}\n  a: {op: y}\n"}))
        .await;
    assert_eq!(bad["valid"], false);
    let codes: Vec<&str> =
        bad["errors"].as_array().expect("errors").iter().filter_map(|e| e["code"].as_str()).collect();
    assert!(codes.contains(&"duplicate-key"), "{bad}");
}

#[tokio::test]
async fn a_token_guards_everything_but_health_and_docs() {
    let h = harness(|c| c.server.token = Some("s3cret".into())).await;
    let (status, reply) = h.get("/api/v1/runs").await;
    assert_eq!((status, reply["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    let (status, _, _) = h.get_raw("/api/v1/runs", &[("authorization", "Bearer wrong")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = h.get_raw("/api/v1/runs", &[("authorization", "Bearer s3cret")]).await;
    assert_eq!(status, StatusCode::OK);
    for open in ["/health", "/openapi.json", "/docs"] {
        assert_eq!(h.get_raw(open, &[]).await.0, StatusCode::OK, "{open}");
    }
}

#[tokio::test]
async fn clients_over_the_rate_get_429_with_retry_after() {
    let h = harness(|c| {
        c.server.rate_limit = 1;
        c.server.rate_burst = 3;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(h.get("/api/v1/nodes").await.0, StatusCode::OK);
    }
    let (status, headers, body) = h.get_raw("/api/v1/nodes", &[]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key("retry-after"));
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
}

#[tokio::test]
async fn health_metrics_openapi_and_docs_are_served() {
    let h = harness(|_| {}).await;
    let id = submit(&h, json!({"workflow": "hello"})).await;
    h.wait_finished(&id).await;
    let (status, health) = h.get("/health").await;
    assert_eq!((status, &health["status"]), (StatusCode::OK, &json!("ok")));
    assert!(health["worker"]["id"].is_string());
    // The GPU is named once it has been opened (lavapipe in CI), in the background.
    let mut health = health;
    for _ in 0..300 {
        if !health["gpu"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        health = h.get("/health").await.1;
    }
    let gpu = &health["gpu"];
    assert!(gpu["available"].is_boolean(), "{health}");
    if gpu["available"] == json!(true) {
        assert!(gpu["adapter"].is_string() && gpu["backend"].is_string(), "{gpu}");
    } else {
        assert!(gpu["error"].is_string(), "no GPU, so a reason: {gpu}");
    }

    let (status, _, body) = h.get_raw("/metrics", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body).expect("utf-8");
    for series in [
        "reelflow_runs{state=\"succeeded\"} 1",
        "reelflow_queue_depth 0",
        "reelflow_node_duration_seconds_count{op=\"text.template\"} 1",
        "reelflow_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/runs\",status=\"202\"} 1",
        "reelflow_queue_wait_seconds_count 1",
    ] {
        assert!(text.contains(series), "missing `{series}` in\n{text}");
    }

    let (_, doc) = h.get("/openapi.json").await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in ["/api/v1/runs", "/api/v1/runs/{id}/events", "/api/v1/uploads", "/api/v1/artifacts/{id}", "/metrics"] {
        assert!(doc["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    assert!(doc["components"]["schemas"]["RunView"].is_object());
    let (status, headers, page) = h.get_raw("/docs", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap_or("").starts_with("text/html"));
    let page = String::from_utf8(page).expect("utf-8");
    assert!(!page.contains("http://") && !page.contains("https://"), "no CDN: {page}");
    let (status, _, js) = h.get_raw("/docs/swagger-ui-bundle.js", &[]).await;
    assert!(status == StatusCode::OK && js.len() > 100_000);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let h = harness(|_| {}).await;
    let (status, reply) = h.get("/api/v1/nothing").await;
    assert_eq!((status, reply["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, reply) = h.put("/api/v1/runs").await;
    assert_eq!((status, reply["error"]["code"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")));
    let (status, reply) = h.get("/api/v1/runs/run-missing").await;
    assert_eq!((status, reply["error"]["message"].as_str()), (StatusCode::NOT_FOUND, Some("no run `run-missing`")));
}

#[tokio::test]
async fn oversized_json_bodies_are_refused_in_the_error_shape() {
    let h = harness(|c| c.server.max_body = "1KiB".into()).await;
    let big = "x".repeat(4096);
    let (status, reply) = h.post("/api/v1/runs", json!({"workflow": "hello", "inputs": {"who": big}})).await;
    assert_eq!((status, reply["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));
}

#[tokio::test]
async fn cors_answers_preflights_for_configured_origins_only() {
    let h = harness(|c| c.server.cors_origins = vec!["https://studio.example".into()]).await;
    let preflight = |origin: &'static str| {
        axum::http::Request::builder()
            .method("OPTIONS")
            .uri("/api/v1/runs")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .body(axum::body::Body::empty())
            .expect("request")
    };
    let (_, headers, _) = h.send(preflight("https://studio.example")).await;
    assert_eq!(headers["access-control-allow-origin"], "https://studio.example");
    let (_, headers, _) = h.send(preflight("https://evil.example")).await;
    assert!(!headers.contains_key("access-control-allow-origin"));
}
