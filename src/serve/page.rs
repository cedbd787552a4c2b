//! The web page at `/`: plain HTML, CSS and JavaScript compiled into the binary (no CDN, no build step).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The page's files: name, content type, bytes.
const ASSETS: [(&str, &str, &str); 3] = [
    ("index.html", "text/html; charset=utf-8", include_str!("page/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("page/app.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("page/style.css")),
];

/// Everything the page loads comes from here; pictures may also be `blob:` URLs (fetched with the token).
const CSP: &str =
    "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The asset `name`, or a JSON 404.
pub fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => super::api::ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route").into_response(),
    }
}
