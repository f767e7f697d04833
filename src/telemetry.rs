//! Logging: the subscriber set-up and the one line each request logs.
//!
//! The request line carries the method, the matched route (never the raw URI, which may hold
//! a pairing code), the status, the latency, and who was answered: the credential kind and
//! user id. Nothing in it comes from a header value.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::auth::middleware::AnsweredIdentity;

/// Installs the global subscriber: `RUST_LOG` filters (default `info`), `json` or `pretty`.
pub fn init(log_format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if log_format == "json" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    } else {
        builder.init();
    }
}

/// Runs the request inside its span and logs one line when it is answered.
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let span = tracing::info_span!("request", %method, route, request.id = request_id);

    let response = next.run(request).instrument(span.clone()).await;

    let status = response.status().as_u16();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let answered = response.extensions().get::<AnsweredIdentity>().copied();
    let kind = answered.map_or("anonymous", |answered| answered.kind);
    let user_id = answered.and_then(|answered| answered.user_id);
    let _entered = span.enter();
    if route == "/api/heartbeat" {
        tracing::debug!(
            http.status = status,
            duration_ms,
            credential.kind = kind,
            user.id = user_id,
            "request"
        );
    } else {
        tracing::info!(
            http.status = status,
            duration_ms,
            credential.kind = kind,
            user.id = user_id,
            "request"
        );
    }
    response
}
