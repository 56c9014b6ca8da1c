//! `POST /api/v1/uploads` (multipart, streamed to disk, size-limited, deduplicated by
//! SHA-256) and `GET /api/v1/artifacts/{id}` (with Range requests).

use std::io::SeekFrom;
use std::path::PathBuf;

use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reelflow_store::UploadRecord;
use reelflow_worker::hex;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiPath, ApiResult, ErrorBody};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    pub id: String,
    pub sha256: String,
    pub size: u64,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    /// Pass this as a file input's value: `"upload:<id>"`.
    pub input: String,
    /// True when the same bytes were uploaded before and that upload is reused.
    pub deduplicated: bool,
}

/// The multipart form for an upload: one part named `file`.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "describes the form for OpenAPI only")]
pub struct UploadForm {
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
}

/// Stores a file for use as a run input. The body streams to disk while it is hashed; a
/// file over the size limit is refused (413) and nothing of it is kept.
#[utoipa::path(post, path = "/api/v1/uploads", tag = "files",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = Uploaded), (status = 200, description = "Same bytes as an earlier upload", body = Uploaded),
        (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn upload(State(state): State<AppState>, mut form: Multipart) -> ApiResult<Response> {
    let dir = state.runtime().config().uploads_dir();
    while let Some(mut field) = form.next_field().await? {
        if field.name() != Some("file") {
            continue;
        }
        let filename = field.file_name().map(sanitize_filename);
        let content_type = field.content_type().map(str::to_owned);
        let tmp = dir.join(format!(".upload-{:016x}", rand::random::<u64>()));
        let mut file = tokio::fs::File::create(&tmp).await.map_err(|e| ApiError::internal("creating an upload", e))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let written: ApiResult<()> = async {
            while let Some(chunk) = field.chunk().await? {
                size += chunk.len() as u64;
                if size > state.inner.max_upload {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        format!("uploads are limited to {} bytes", state.inner.max_upload),
                    ));
                }
                hasher.update(&chunk);
                file.write_all(&chunk).await.map_err(|e| ApiError::internal("writing an upload", e))?;
            }
            file.sync_all().await.map_err(|e| ApiError::internal("syncing an upload", e))
        }
        .await;
        drop(file);
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        let sha256 = hex(&hasher.finalize());
        if let Some(existing) = state.store().find_upload_by_sha256(&sha256).await?
            && tokio::fs::metadata(&existing.path).await.is_ok()
        {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Ok((StatusCode::OK, Json(uploaded(existing, true))).into_response());
        }
        // Named by content, with the client's extension (media ops look at it).
        let ext = filename
            .as_deref()
            .and_then(|f| std::path::Path::new(f).extension())
            .and_then(|e| e.to_str())
            .filter(|e| e.len() <= 16 && e.chars().all(|c| c.is_ascii_alphanumeric()))
            .map(|e| format!(".{}", e.to_ascii_lowercase()))
            .unwrap_or_default();
        let path: PathBuf = dir.join(format!("{sha256}{ext}"));
        tokio::fs::rename(&tmp, &path).await.map_err(|e| ApiError::internal("keeping an upload", e))?;
        let record = UploadRecord {
            id: format!("upl-{}", &sha256[..24]),
            sha256,
            size,
            path: path.to_string_lossy().into_owned(),
            filename,
            content_type,
        };
        state.store().put_upload(record.clone()).await?;
        return Ok((StatusCode::CREATED, Json(uploaded(record, false))).into_response());
    }
    Err(ApiError::bad_request("the multipart form has no part named `file`"))
}

fn uploaded(record: UploadRecord, deduplicated: bool) -> Uploaded {
    Uploaded {
        input: format!("upload:{}", record.id),
        id: record.id,
        sha256: record.sha256,
        size: record.size,
        filename: record.filename,
        content_type: record.content_type,
        deduplicated,
    }
}

/// Only the last path segment, without control characters: a name to show, never a path.
fn sanitize_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    last.chars().filter(|c| !c.is_control()).take(255).collect()
}

/// A file a run produced. Supports `Range: bytes=…` (one range) for players and resumable
/// downloads.
#[utoipa::path(get, path = "/api/v1/artifacts/{id}", tag = "files",
    params(("id" = String, Path, description = "Artifact id")),
    responses((status = 200, description = "The file"), (status = 206, description = "Part of the file"),
        (status = 404, body = ErrorBody), (status = 416, body = ErrorBody)))]
pub async fn artifact(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let record = state.store().get_artifact(&id).await?.ok_or_else(|| ApiError::not_found("artifact", &id))?;
    let mut file = tokio::fs::File::open(&record.path).await.map_err(|e| {
        tracing::warn!(artifact = %id, error = %e, "artifact file is gone");
        ApiError::new(StatusCode::GONE, "gone", format!("artifact `{id}` is no longer on disk"))
    })?;
    let size = file.metadata().await.map_err(|e| ApiError::internal("reading an artifact", e))?.len();
    let content_type = record.content_type.clone().unwrap_or_else(|| "application/octet-stream".into());
    let name = std::path::Path::new(&record.path).file_name().and_then(|n| n.to_str()).unwrap_or("artifact").to_owned();

    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(spec) => match parse_range(spec, size) {
            Some(range) => Some(range),
            None => {
                return Err(ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    format!("cannot serve `{spec}` of {size} bytes"),
                )
                .with_header("content-range", format!("bytes */{size}")));
            }
        },
    };
    let (status, start, len) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        None => (StatusCode::OK, 0, size),
    };
    file.seek(SeekFrom::Start(start)).await.map_err(|e| ApiError::internal("seeking an artifact", e))?;
    let body = Body::from_stream(ReaderStream::new(file.take(len)));
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", record.sha256)) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", start + len - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(response)
}

/// One `bytes=` range as inclusive `(start, end)` within `size`: `a-b`, `a-`, or `-n`
/// (the last n bytes). `None` if it is malformed, a multi-range, or outside the file.
fn parse_range(spec: &str, size: u64) -> Option<(u64, u64)> {
    let spec = spec.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return None;
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() { size - 1 } else { b.parse::<u64>().ok()?.min(size - 1) };
        (start, end)
    };
    (start <= end && start < size).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_within_the_file() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=95-200", 100), Some((95, 99)));
        assert_eq!(parse_range("bytes=-500", 100), Some((0, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-2", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=-0", 100), None);
    }

    #[test]
    fn filenames_lose_their_directories() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("C:\\x\\clip.mp4"), "clip.mp4");
        assert_eq!(sanitize_filename("a\nb.srt"), "ab.srt");
    }
}
