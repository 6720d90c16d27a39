//! The human API reference at `/api/v1/docs`: Redoc (MIT, vendored in
//! `api/assets/`), served from the binary, rendering the same OpenAPI
//! document as `/api/v1/openapi.json`. Nothing is loaded from another host:
//! the page's Content-Security-Policy allows this origin only (Redoc's
//! sidebar would otherwise fetch its logo from a CDN).
use axum::{
    Router,
    http::{HeaderValue, header},
    response::IntoResponse,
    routing::get,
};

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kpix API reference</title>
</head>
<body>
<redoc spec-url="openapi.json"></redoc>
<script src="docs/redoc.standalone.js"></script>
</body>
</html>
"#;

const REDOC: &[u8] = include_bytes!("../../assets/redoc.standalone.js");

/// Scripts, styles, images and requests from this origin only; Redoc styles
/// inline and runs its search in a worker made from a blob.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Routes under `/api/v1`, outside the OpenAPI document they show.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/docs", get(page))
        .route("/docs/redoc.standalone.js", get(script))
}

async fn page() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(POLICY),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        PAGE,
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        REDOC,
    )
}
