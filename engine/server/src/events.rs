//! `GET /api/v1/runs/{id}/events`: a run's events over WebSocket (when the request asks to
//! upgrade) or Server-Sent Events, replayed from the store after a given sequence number,
//! then live until the run finishes.
//!
//! Both read the store, which is the one true order; the hub only says "look again now".
//! Events written by a worker in another process are picked up by polling.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use reelflow_core::{Event, EventKind};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use utoipa::IntoParams;

use crate::error::{ApiError, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::runs::replay_from;
use crate::state::AppState;

/// Events read from the store per query.
const PAGE: u32 = 1000;
/// How often to look at the store when no notice arrives (runs in other processes).
const POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Replay events with `seq` greater than this (default 0: everything). SSE clients may
    /// send `Last-Event-ID` instead.
    pub after: Option<u64>,
}

/// The run's events: WebSocket (text frames, one JSON event each) when the request is an
/// upgrade, else `text/event-stream` with `id:` = `seq` and `event:` = the event type.
#[utoipa::path(get, path = "/api/v1/runs/{id}/events", tag = "runs",
    params(("id" = String, Path, description = "Run id"), EventsQuery),
    responses(
        (status = 200, description = "SSE stream of events", content_type = "text/event-stream"),
        (status = 101, description = "WebSocket: one JSON event per text message"),
        (status = 404, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    if state.store().get_run(&id).await?.is_none() {
        return Err(ApiError::not_found("run", &id));
    }
    let after = replay_from(&headers, q.after);
    let wants_upgrade = headers.get("upgrade").is_some();
    match ws {
        Ok(upgrade) => Ok(upgrade.on_upgrade(move |socket| send_over_websocket(state, id, after, socket))),
        Err(rejection) if wants_upgrade => Err(ApiError::bad_request(rejection.body_text())),
        Err(_) => Ok(sse(state, id, after).into_response()),
    }
}

fn sse(state: AppState, id: String, after: u64) -> impl IntoResponse {
    let (tx, rx) = mpsc::channel::<Result<SseEvent, Infallible>>(64);
    tokio::spawn(async move {
        follow(&state, &id, after, |event| {
            let tx = tx.clone();
            async move {
                let kind = serde_json::to_value(&event.kind)
                    .ok()
                    .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
                    .unwrap_or_else(|| "event".into());
                let data = serde_json::to_string(&event).unwrap_or_default();
                let message = SseEvent::default().id(event.seq.to_string()).event(kind).data(data);
                tx.send(Ok(message)).await.is_ok()
            }
        })
        .await;
    });
    Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::default())
}

async fn send_over_websocket(state: AppState, id: String, after: u64, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::channel::<Event>(64);
    let follower = {
        let (state, id) = (state.clone(), id.clone());
        tokio::spawn(async move {
            follow(&state, &id, after, |event| {
                let tx = tx.clone();
                async move { tx.send(event).await.is_ok() }
            })
            .await;
        })
    };
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Some(event) => {
                    let text = serde_json::to_string(&event).unwrap_or_default();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                None => {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
            },
            // The client may close, or send pings (answered by axum); anything else is ignored.
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    follower.abort();
}

/// Feeds `send` every event after `after`, in order, until the run finished and its last
/// event was sent, the client went away (`send` returned false), or the server shuts down.
async fn follow<F, Fut>(state: &AppState, id: &str, mut after: u64, send: F)
where
    F: Fn(Event) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    // Subscribe before the first read, so nothing written in between is missed.
    let mut notices = state.hub().subscribe();
    let store = state.store();
    let mut quiet_after_finish = 0;
    loop {
        let events = match store.events_after(id, after, PAGE).await {
            Ok(events) => events,
            Err(e) => {
                tracing::error!(error = %e, run = id, "reading events failed");
                return;
            }
        };
        let full_page = events.len() == PAGE as usize;
        for event in events {
            after = event.seq;
            let last = matches!(event.kind, EventKind::RunFinished { .. });
            if !send(event).await || last {
                return;
            }
        }
        if full_page {
            continue;
        }
        // Nothing new. A run that ended without a `run_finished` event (never started, or
        // its worker failed to record it) must not hold the stream open forever.
        match store.get_run(id).await {
            Ok(Some(run)) if run.status.is_finished() => {
                // The worker writes `run_finished` just after finishing the run: give it a
                // moment before deciding the event will not come.
                quiet_after_finish += 1;
                if quiet_after_finish > 4 {
                    return;
                }
            }
            Ok(Some(_)) => {}
            _ => return,
        }
        let wait_for_notice = async {
            loop {
                match notices.recv().await {
                    Ok(changed) if &*changed == id => return,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        };
        tokio::select! {
            () = wait_for_notice => {}
            () = tokio::time::sleep(POLL) => {}
            () = state.inner.shutdown.cancelled() => return,
        }
    }
}
