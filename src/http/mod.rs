//! The HTTP API: one router per feature, merged here, and the layers every request passes.

pub mod accounts;
pub mod client_tokens;
pub mod device_auth;
pub mod devices;
pub mod docs;
pub mod extract;
pub mod heartbeat;
pub mod library;
pub mod login;
pub mod oidc;
pub mod sessions;
pub mod timestamps;
pub mod token;
pub mod users;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::middleware::identity_middleware;
use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Request header blocks larger than this are refused with 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How long one request may take, body included, before it is answered with 408.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Every documented route, with its OpenAPI entries.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(<docs::ApiDoc as utoipa::OpenApi>::openapi())
        .merge(accounts::router())
        .merge(client_tokens::router())
        .merge(device_auth::router())
        .merge(devices::router())
        .merge(heartbeat::router())
        .merge(library::router())
        .merge(login::router())
        .merge(oidc::router())
        .merge(sessions::router())
        .merge(token::router())
        .merge(users::router())
}

/// The documented routes, and the OpenAPI document completed with what they all share.
fn api_parts() -> (Router<AppState>, OpenApi) {
    let (routes, mut openapi) = api_routes().split_for_parts();
    docs::document_shared_responses(&mut openapi);
    (routes, openapi)
}

/// The OpenAPI document, generated from the routes.
pub fn openapi() -> OpenApi {
    api_parts().1
}

/// The whole application: every route and every layer, ready to serve or to test.
///
/// Paths are served with and without a trailing slash, as RomM serves them.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = api_parts();
    let routes = api
        .merge(docs::router(openapi))
        .fallback(|| async { ApiError::NotFound("Not Found".to_owned()) })
        .method_not_allowed_fallback(|| async {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                axum::Json(serde_json::json!({"detail": "Method Not Allowed"})),
            )
        });

    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(middleware::from_fn(telemetry::log_request))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(middleware::map_response(strip_cors_without_origin))
        .option_layer(cors_layer(&state))
        .layer(middleware::from_fn(limit_headers))
        .layer(middleware::from_fn(limit_duration))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            identity_middleware,
        ));

    let routes = routes.layer(layers).with_state(state);
    Router::new().fallback_service(routes.map_request(trim_trailing_slash))
}

/// Serves `/api/users/` as `/api/users`, as RomM does; the docs UI keeps its own slashes.
fn trim_trailing_slash(mut request: Request) -> Request {
    let path = request.uri().path();
    if path.len() <= 1 || !path.ends_with('/') || path.starts_with("/api/docs") {
        return request;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_owned(),
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(path_and_query) = path_and_query.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// CORS for the configured origins only; none configured means no cross-origin access.
fn cors_layer(state: &AppState) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = state
        .config
        .cors_allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("x-csrftoken"),
        ])
        .max_age(Duration::from_secs(600));
    Some(layer)
}

/// Drops the CORS headers that the CORS layer adds even for an origin it does not allow, so
/// an unlisted origin learns nothing about what would be allowed.
async fn strip_cors_without_origin(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        return response;
    }
    for name in [
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        header::ACCESS_CONTROL_ALLOW_METHODS,
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        header::ACCESS_CONTROL_MAX_AGE,
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
    ] {
        headers.remove(name);
    }
    response
}

/// Refuses oversized header blocks with a JSON 431.
async fn limit_headers(request: Request, next: Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        let body = serde_json::json!({"detail": "Request headers too large"});
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            axum::Json(body),
        )
            .into_response();
    }
    next.run(request).await
}

/// Answers 408 when a request (a slow body upload, say) takes longer than allowed.
async fn limit_duration(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let body = serde_json::json!({"detail": "Request timed out"});
            (StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response()
        }
    }
}
