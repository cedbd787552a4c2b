//! The routes. Every error is JSON `{"error", "status"}`: `status` is the video's typed status where there is
//! one (`unreadable`, `too_large`, ...), else a short code (`not_found`, `unauthorized`, `queue_full`,
//! `bad_request`, `upload_timeout`).
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /v1/jobs` (multipart, field `video`; `plots=1` for pictures) | 202 `{"id", "state"}` |
//! | `GET /v1/jobs/{id}` | 200 [`JobView`](super::jobs::JobView) |
//! | `GET /v1/jobs/{id}/plots/{name}.png` | 200 `image/png` |
//! | `DELETE /v1/jobs/{id}` | 204 |
//! | `GET /healthz` | 200 `{"status": "ok", ...}` |
//! | `GET /metrics` | 200 Prometheus text |
//! | `GET /` | the web page |

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::jobs::{Job, JobState};
use super::upload::{receive, UploadError};
use super::{metrics, page, Service, PLOTS};

/// Multipart framing (boundaries, part headers, small fields) allowed on top of the video's own limit.
const FORM_OVERHEAD: u64 = 1 << 20;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub code: StatusCode,
    pub status: String,
    pub error: String,
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(code: StatusCode, status: &str, error: impl Into<String>) -> Self {
        ApiError { code, status: status.into(), error: error.into(), retry_after_s: None }
    }

    fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.code, Json(json!({"error": self.error, "status": self.status}))).into_response();
        let headers = response.headers_mut();
        if let Some(s) = self.retry_after_s {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.code == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// All routes over `service`.
pub fn router(service: Arc<Service>) -> Router {
    let limit = usize::try_from(service.config.max_upload_bytes.saturating_add(FORM_OVERHEAD)).unwrap_or(usize::MAX);
    let api = Router::new()
        .route("/v1/jobs", axum::routing::post(create_job).layer(DefaultBodyLimit::max(limit)))
        .route("/v1/jobs/{id}", get(job).delete(delete_job))
        .route("/v1/jobs/{id}/plots/{file}", get(plot))
        .route("/metrics", get(metrics_text))
        .route_layer(axum::middleware::from_fn_with_state(service.clone(), authorize));
    Router::new()
        .merge(api)
        .route("/healthz", get(healthz))
        .route("/", get(|| async { page::asset("index.html") }))
        .route("/{file}", get(|Path(file): Path<String>| async move { page::asset(&file) }))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
        })
        .with_state(service)
}

/// The bearer token, when the service has one.
async fn authorize(State(service): State<Arc<Service>>, request: Request, next: Next) -> Response {
    let Some(token) = &service.config.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(given) if same(given.as_bytes(), token.as_bytes()) => next.run(request).await,
        _ => {
            if request.uri().path() == "/v1/jobs" && request.method() == axum::http::Method::POST {
                service.jobs.reject("unauthorized");
            }
            let error = if given.is_some() { "wrong bearer token" } else { "a bearer token is required" };
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", error).into_response()
        }
    }
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn create_job(State(service): State<Arc<Service>>, request: Request) -> Result<Response, ApiError> {
    let limit = service.config.max_upload_bytes;
    let too_large = |service: &Service| {
        service.jobs.reject("too_large");
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("the upload is larger than {limit} bytes"))
    };
    // A declared length over the limit is refused before a byte is read.
    let declared = content_length(request.headers());
    if declared.is_some_and(|n| n > limit.saturating_add(FORM_OVERHEAD)) {
        return Err(too_large(&service));
    }
    let slot = service.jobs.reserve().map_err(|_| ApiError {
        retry_after_s: Some(service.config.retry_after_s),
        ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "queue_full", "the queue is full; retry later")
    })?;
    let form = Multipart::from_request(request, &()).await.map_err(|e| {
        service.jobs.reject("bad_request");
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text())
    })?;
    let id = format!("{:032x}", rand::random::<u128>());
    let dir = service.work_dir().join(&id);
    tokio::fs::create_dir(&dir).await.map_err(|e| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", format!("creating the job folder: {e}"))
    })?;
    let received = tokio::time::timeout(service.config.upload_timeout, receive(form, &dir, limit)).await;
    let Ok(received) = received else {
        let _ = tokio::fs::remove_dir_all(&dir).await;
        service.jobs.reject("upload_timeout");
        let secs = service.config.upload_timeout.as_secs_f64();
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "upload_timeout",
            format!("the upload did not arrive within {secs} s"),
        ));
    };
    let uploaded = match received {
        Ok(u) => u,
        Err(e) => {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            return Err(match e {
                UploadError::TooLarge { .. } => too_large(&service),
                UploadError::Io { .. } => {
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", e.to_string())
                }
                UploadError::NoVideo | UploadError::Empty | UploadError::Malformed(_) => {
                    service.jobs.reject("bad_request");
                    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
                }
            });
        }
    };
    let job = Job {
        id: id.clone(),
        file: uploaded.file,
        state: JobState::Queued,
        stage: None,
        dir,
        video: uploaded.path,
        plots: uploaded.plots,
        started: None,
        finished: None,
        result: None,
        failure: None,
        plots_error: None,
    };
    service.jobs.submit(slot, job);
    let location = HeaderValue::from_str(&format!("/v1/jobs/{id}")).expect("hex ids are valid header values");
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(json!({"id": id, "state": "queued"})))
        .into_response())
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

async fn job(State(service): State<Arc<Service>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let view = service.jobs.view(&id).ok_or_else(|| ApiError::not_found(format!("no job `{id}`")))?;
    Ok(Json(view).into_response())
}

async fn delete_job(State(service): State<Arc<Service>>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if service.jobs.delete(&id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no job `{id}`")))
    }
}

async fn plot(
    State(service): State<Arc<Service>>,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let dir = service.jobs.dir(&id).ok_or_else(|| ApiError::not_found(format!("no job `{id}`")))?;
    // Only the known names: nothing from the request reaches the file system.
    let name = PLOTS
        .iter()
        .find(|p| **p == file)
        .ok_or_else(|| ApiError::not_found(format!("no picture `{file}`; there are {}", PLOTS.join(", "))))?;
    let path = dir.join(super::PLOTS_FOLDER).join(name);
    match tokio::fs::read(&path).await {
        Ok(bytes) => Ok(([(header::CONTENT_TYPE, "image/png")], Body::from(bytes)).into_response()),
        Err(_) => {
            Err(ApiError::not_found(format!("job `{id}` has no {name} (ask for pictures with the form field plots=1)")))
        }
    }
}

async fn healthz(State(service): State<Arc<Service>>) -> Json<serde_json::Value> {
    let models: Vec<_> = service
        .models
        .iter()
        .map(|m| json!({"arch": m.arch, "input_size": m.input_size, "sha256": m.sha256}))
        .collect();
    Json(json!({
        "status": "ok",
        "device": service.device,
        "models": models,
        "queue": service.jobs.queue_depth(),
        "capacity": service.config.queue,
        "max_upload_bytes": service.config.max_upload_bytes,
        "auth": service.config.token.is_some(),
    }))
}

async fn metrics_text(State(service): State<Arc<Service>>) -> Response {
    let text = metrics::render(&service.jobs.snapshot());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"", b"a"));
    }
}
