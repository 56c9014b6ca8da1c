//! `POST /api/v1/batch`: many clips in one request, with the document's advanced fields.
//!
//! - Every clip is checked before anything is queued; one bad clip refuses the batch with
//!   its code and index (`clips[1]: …`), so a client never has half a batch to clean up.
//! - The clips become runs of one store batch: `parallel` bounds how many run at once, and
//!   the bound is enforced where workers claim runs (it holds across workers and restarts).
//! - `priority`: `high` | `normal` | `low` (or an integer); higher runs are claimed first.
//! - `error_policy`: `continue` (default) lets the other clips go on after a failure;
//!   `stop` cancels the clips that have not started (running ones finish).
//! - `notification_url`: once every clip has finished, the batch's result (the response
//!   shape below plus `tasks`) is POSTed there as JSON. A non-2xx answer or no answer is
//!   retried with exponential backoff (1 s, 2 s, 4 s … at most 60 s apart, 6 tries). The
//!   delivery state is in the store, so a restart resumes it.
//!
//! A batch's state is also at `GET /api/v1/status?task_id=batch_…`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use reelflow_store::{BatchRecord, Delivery, ErrorPolicy, NewBatch, RunRecord, RunState};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::{ClipError, ClipRequest, clip_response, task_id, workflow_inputs};
use crate::runs::{SubmitRun, prepare_run};
use crate::state::AppState;

/// Deliveries of one notification before giving up.
const MAX_DELIVERIES: u32 = 6;
/// Each delivery's time limit.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The most clips one batch may hold.
const MAX_CLIPS: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct BatchClipRequest {
    clips: Vec<serde_json::Value>,
    #[serde(default = "one")]
    parallel: i64,
    #[serde(default)]
    priority: Option<serde_json::Value>,
    #[serde(default)]
    notification_url: Option<String>,
    #[serde(default)]
    error_policy: Option<String>,
}

fn one() -> i64 {
    1
}

fn priority_value(given: Option<&serde_json::Value>) -> Result<i64, ClipError> {
    match given {
        None | Some(serde_json::Value::Null) => Ok(0),
        Some(serde_json::Value::String(s)) => match s.as_str() {
            "high" => Ok(10),
            "normal" | "medium" => Ok(0),
            "low" => Ok(-10),
            other => Err(ClipError::new(1001, format!("priority `{other}` is not one of high, normal, low"))),
        },
        Some(serde_json::Value::Number(n)) => {
            n.as_i64().ok_or_else(|| ClipError::new(1001, format!("priority {n} is not an integer")))
        }
        Some(other) => Err(ClipError::new(1001, format!("priority {other} is not high, normal, low or an integer"))),
    }
}

/// An http(s) URL whose host the operator allows (`server.notify_hosts`, empty: any) and
/// which is not a forbidden address literal (see [`forbidden_address`]).
fn check_url(url: &str, allowed_hosts: &[String]) -> Result<String, ClipError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| ClipError::new(1001, format!("notification_url `{url}`: {e}")))?;
    let Some(host) = parsed.host_str().filter(|_| matches!(parsed.scheme(), "http" | "https")) else {
        return Err(ClipError::new(1001, format!("notification_url `{url}` is not an http(s) URL")));
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if !allowed_hosts.is_empty() && !allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(bare)) {
        return Err(ClipError::new(1001, format!("notification_url host `{bare}` is not in server.notify_hosts")));
    }
    if bare.parse::<IpAddr>().is_ok_and(forbidden_address) {
        return Err(ClipError::new(1001, format!("notification_url `{url}`: that address is not allowed")));
    }
    Ok(parsed.to_string())
}

/// Addresses a webhook must never reach, whatever the allowlist: link-local (cloud
/// metadata services answer at 169.254.169.254 and fe80::), unspecified, multicast and
/// broadcast. Loopback and private networks stay allowed (webhooks to services beside
/// the server are the common case); `server.notify_hosts` narrows further.
fn forbidden_address(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_unicast_link_local() || v6.is_unspecified() || v6.is_multicast(),
    }
}

/// A client for one delivery, pinned to addresses of `url`'s host that were checked here,
/// so a name cannot resolve to a forbidden address between the check and the request.
async fn pinned_client(url: &str) -> Result<reqwest::Client, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    let host = parsed.host_str().ok_or("no host")?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host((host.as_str(), port)).await.map_err(|e| format!("resolving {host}: {e}"))?.collect();
    if addrs.is_empty() || addrs.iter().any(|a| forbidden_address(a.ip())) {
        return Err(format!("{host} resolves to an address webhooks may not reach"));
    }
    reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .resolve_to_addrs(&host, &addrs)
        .build()
        .map_err(|e| e.to_string())
}

pub fn batch_id(store_id: &str) -> String {
    format!("batch_{}", store_id.strip_prefix("batch-").unwrap_or(store_id))
}

pub fn store_batch_id(api_id: &str) -> Option<String> {
    let rest = api_id.strip_prefix("batch_")?;
    (!rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')).then(|| format!("batch-{rest}"))
}

/// `POST /api/v1/batch`.
pub async fn batch(State(state): State<AppState>, body: axum::body::Bytes) -> Result<Response, ClipError> {
    let req: BatchClipRequest =
        serde_json::from_slice(&body).map_err(|e| ClipError::new(1001, format!("the request body: {e}")))?;
    if req.clips.is_empty() {
        return Err(ClipError::new(1001, "`clips` is empty"));
    }
    if req.clips.len() > MAX_CLIPS {
        return Err(ClipError::new(1001, format!("{} clips; one batch takes at most {MAX_CLIPS}", req.clips.len())));
    }
    if !(1..=64).contains(&req.parallel) {
        return Err(ClipError::new(1001, format!("parallel {} is outside 1–64", req.parallel)));
    }
    let priority = priority_value(req.priority.as_ref())?;
    let error_policy = match req.error_policy.as_deref() {
        None | Some("continue") => ErrorPolicy::Continue,
        Some("stop") => ErrorPolicy::Stop,
        Some(other) => return Err(ClipError::new(1001, format!("error_policy `{other}` is not continue or stop"))),
    };
    let allowed_hosts = &state.runtime().config().server.notify_hosts;
    let notification_url = req.notification_url.as_deref().map(|u| check_url(u, allowed_hosts)).transpose()?;

    let mut runs = Vec::with_capacity(req.clips.len());
    for (i, clip) in req.clips.iter().enumerate() {
        let at = |e: ClipError| ClipError { detail: format!("clips[{i}]: {}", e.detail), ..e };
        let clip: ClipRequest =
            serde_json::from_value(clip.clone()).map_err(|e| ClipError::new(1001, format!("clips[{i}]: {e}")))?;
        let inputs = workflow_inputs(&state, &clip).map_err(at)?;
        let submit = SubmitRun {
            workflow: Some(super::GENERATE_WORKFLOW.into()),
            source: None,
            definition: None,
            name: None,
            inputs,
            priority,
        };
        let (run, _) = prepare_run(&state, submit).await.map_err(|e| at(e.into()))?;
        runs.push(run);
    }
    let new_batch = NewBatch {
        parallel: req.parallel as u32,
        error_policy,
        notification_url,
        request: serde_json::from_slice(&body).unwrap_or_default(),
    };
    let (record, runs) = state.store().create_batch(new_batch, runs).await?;
    state.hub().run_queued();
    tracing::info!(batch = %record.id, clips = runs.len(), parallel = record.parallel, "clipsmaster: batch queued");
    let mut view = batch_view(&record, &runs);
    view["message"] = "Batch task submitted, processing".into();
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

/// The document's `BatchClipResponse`, plus each task's state (`tasks`).
pub fn batch_view(batch: &BatchRecord, runs: &[RunRecord]) -> serde_json::Value {
    let finished = runs.iter().filter(|r| r.status.is_finished()).count();
    let succeeded = runs.iter().filter(|r| r.status == RunState::Succeeded).count();
    let (status, message) = if finished < runs.len() {
        let status = if runs.iter().all(|r| r.status == RunState::Queued) { "pending" } else { "processing" };
        (status, format!("{finished} of {} clips finished", runs.len()))
    } else if succeeded == runs.len() {
        ("success", format!("All {} clips generated successfully", runs.len()))
    } else {
        ("failed", format!("{} of {} clips failed", runs.len() - succeeded, runs.len()))
    };
    let tasks: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| {
            let c = clip_response(r, 0.0);
            serde_json::json!({
                "task_id": c.task_id,
                "status": c.status,
                "message": c.message,
                "code": c.code,
                "video_path": c.video_path,
                "project_path": c.project_path,
                "render_time": c.render_time,
            })
        })
        .collect();
    serde_json::json!({
        "batch_id": batch_id(&batch.id),
        "task_ids": runs.iter().map(|r| task_id(&r.id)).collect::<Vec<_>>(),
        "status": status,
        "completed": finished,
        "total": runs.len(),
        "message": message,
        "parallel": batch.parallel,
        "error_policy": batch.error_policy.as_str(),
        "tasks": tasks,
        "notification": batch.notification_url.as_ref().map(|url| serde_json::json!({
            "url": url,
            "attempts": batch.notification.attempts,
            "delivered": batch.notification.delivered_at.is_some(),
            "last_error": batch.notification.last_error,
        })),
    })
}

/// `GET /api/v1/status?task_id=batch_…`.
pub async fn batch_status(state: &AppState, api_id: &str) -> Result<Response, ClipError> {
    let not_found = || ClipError { code: 1001, detail: format!("no batch `{api_id}`"), task_id: Some(api_id.into()) };
    let id = store_batch_id(api_id).ok_or_else(not_found)?;
    let record = state.store().get_batch(&id).await?.ok_or_else(not_found)?;
    let runs = state.store().batch_runs(&id).await?;
    Ok(Json(batch_view(&record, &runs)).into_response())
}

/// Delivers due batch notifications until `stop` fires: woken by run changes, and every
/// second for retries that fall due.
pub async fn deliver_notifications(state: AppState, stop: CancellationToken) {
    let mut changes = state.hub().subscribe();
    loop {
        match state.store().due_notifications().await {
            Ok(due) => {
                for batch in due {
                    deliver(&state, &batch).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "clipsmaster: reading due notifications failed"),
        }
        // Run changes wake this loop, throttled: progress events come many per second.
        tokio::select! {
            () = stop.cancelled() => return,
            _ = changes.recv() => tokio::time::sleep(Duration::from_millis(200)).await,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn deliver(state: &AppState, batch: &BatchRecord) {
    let Some(url) = &batch.notification_url else { return };
    let runs = match state.store().batch_runs(&batch.id).await {
        Ok(runs) => runs,
        Err(e) => {
            tracing::warn!(batch = %batch.id, error = %e, "clipsmaster: reading the batch failed");
            return;
        }
    };
    let mut body = batch_view(batch, &runs);
    body["event"] = "batch.finished".into();
    if let Some(map) = body.as_object_mut() {
        map.remove("notification");
    }
    let attempt = batch.notification.attempts + 1;
    let error = match pinned_client(url).await {
        Ok(client) => {
            match client.post(url).header("x-reelflow-attempt", attempt.to_string()).json(&body).send().await {
                Ok(response) if response.status().is_success() => None,
                Ok(response) => Some(format!("HTTP {}", response.status())),
                Err(e) => Some(format!("{e}")),
            }
        }
        Err(e) => Some(e),
    };
    let delivery = match error {
        None => Delivery::Delivered,
        Some(error) if attempt >= MAX_DELIVERIES => Delivery::GaveUp { error },
        Some(error) => {
            let backoff = Duration::from_secs((1u64 << (attempt - 1).min(6)).min(60));
            Delivery::RetryAt { error, at: crate::monitor::now_ms() + backoff.as_millis() as u64 }
        }
    };
    match &delivery {
        Delivery::Delivered => {
            tracing::info!(batch = %batch.id, url, attempt, "clipsmaster: batch notification delivered")
        }
        Delivery::RetryAt { error, .. } => {
            tracing::warn!(batch = %batch.id, url, attempt, error, "clipsmaster: batch notification failed; will retry")
        }
        Delivery::GaveUp { error } => {
            tracing::error!(batch = %batch.id, url, attempt, error, "clipsmaster: batch notification failed; giving up")
        }
    }
    if let Err(e) = state.store().record_delivery(&batch.id, delivery).await {
        tracing::warn!(batch = %batch.id, error = %e, "clipsmaster: recording the delivery failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_priorities_parse() {
        assert_eq!(batch_id("batch-1700000000000-0a0b0c0d"), "batch_1700000000000-0a0b0c0d");
        assert_eq!(store_batch_id("batch_1700000000000-0a0b0c0d").as_deref(), Some("batch-1700000000000-0a0b0c0d"));
        assert!(store_batch_id("batch_../x").is_none());
        assert_eq!(priority_value(Some(&serde_json::json!("high"))).ok(), Some(10));
        assert_eq!(priority_value(Some(&serde_json::json!(3))).ok(), Some(3));
        assert!(priority_value(Some(&serde_json::json!("urgent!"))).is_err());
        assert!(check_url("ftp://x/y", &[]).is_err());
        assert!(check_url("http://127.0.0.1:9/hook", &[]).is_ok());
        assert!(check_url("http://10.1.2.3/hook", &[]).is_ok());
        for forbidden in [
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/x",
            "http://0.0.0.0:8080/x",
            "http://[::ffff:169.254.169.254]/x",
            "http://255.255.255.255/x",
        ] {
            assert_eq!(check_url(forbidden, &[]).map_err(|e| e.code), Err(1001), "{forbidden}");
        }
        let allowed = ["hooks.example.com".to_string(), "127.0.0.1".to_string()];
        assert!(check_url("https://HOOKS.example.com/done", &allowed).is_ok());
        assert!(check_url("http://127.0.0.1:9/hook", &allowed).is_ok());
        assert!(check_url("https://evil.example.net/", &allowed).is_err());
    }

    #[tokio::test]
    async fn deliveries_refuse_names_that_resolve_to_forbidden_addresses() {
        assert!(pinned_client("http://127.0.0.1:9/hook").await.is_ok());
        assert!(pinned_client("http://localhost:9/hook").await.is_ok());
        let err = pinned_client("http://169.254.169.254/x").await.unwrap_err();
        assert!(err.contains("may not reach"), "{err}");
    }
}
