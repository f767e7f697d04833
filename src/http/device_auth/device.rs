//! The device's side of the flow: start a request, then poll until the token is given.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::client_token::{
    code_hash, generate_client_token, generate_code, generate_device_code,
};
use crate::auth::identity::AuthContext;
use crate::auth::scopes::{Scope, ScopeSet};
use crate::error::{ApiError, FieldError, Result};
use crate::http::client_tokens::scope_names;
use crate::http::extract::Json;
use crate::state::{AppState, RequestLimits};
use crate::store::{DevicePoll, NewDeviceAuthRequest};

/// How long a device has to be approved.
const REQUEST_LIFETIME_SECS: i64 = 600;

/// The polling interval the device is told to keep.
const POLL_INTERVAL_SECS: i64 = 5;

/// Polls closer together than this are answered `slow_down`; a second of slack absorbs
/// network jitter for clients that wait exactly the interval.
const MIN_POLL_GAP_SECS: i64 = POLL_INTERVAL_SECS - 1;

/// Where the web UI lets the user approve a device, relative to the server's address.
const VERIFICATION_PATH: &str = "/pair/device";

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(init))
        .routes(routes!(poll_token))
}

/// A device asking to be signed in.
#[derive(Deserialize, ToSchema)]
pub struct InitForm {
    /// The client's stable id for this device, 1 to 255 characters.
    #[schema(min_length = 1, max_length = 255)]
    client_device_identifier: String,
    /// 1 to 255 characters.
    #[schema(min_length = 1, max_length = 255)]
    name: String,
    /// The client program, 1 to 50 characters.
    #[schema(min_length = 1, max_length = 50)]
    client: String,
    /// 1 to 255 characters.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255)]
    platform: Option<String>,
    /// 1 to 255 characters.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255)]
    client_version: Option<String>,
    /// At least one known scope.
    #[schema(value_type = Vec<Scope>, min_items = 1)]
    requested_scopes: Vec<String>,
}

/// The codes of a new request, and how to use them.
#[derive(Serialize, ToSchema)]
pub struct InitResponse {
    /// The device's secret for polling: 64 hex digits.
    device_code: String,
    /// What the user confirms in the web UI: 8 characters.
    user_code: String,
    /// Relative to the server's address.
    verification_path: &'static str,
    /// The same with the user code filled in.
    verification_path_complete: String,
    expires_in: i64,
    interval: i64,
}

/// A device's poll.
#[derive(Deserialize, ToSchema)]
pub struct PollForm {
    device_code: String,
}

/// The token, given exactly once.
#[derive(Serialize, ToSchema)]
pub struct DeviceToken {
    /// A client token, `rmm_` and 64 hex digits.
    access_token: String,
    token_type: &'static str,
    device_id: Option<String>,
    #[schema(value_type = Vec<Scope>)]
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
}

fn flow_state(state: &'static str) -> ApiError {
    ApiError::OAuth {
        status: StatusCode::BAD_REQUEST,
        code: state,
        description: state.to_owned(),
    }
}

fn check_length(errors: &mut Vec<FieldError>, field: &str, value: Option<&str>, max: usize) {
    let Some(value) = value else {
        return;
    };
    let length = value.chars().count();
    if length == 0 || length > max {
        let message = format!("must be 1 to {max} characters long");
        errors.push(FieldError {
            field: field.to_owned(),
            message,
        });
    }
}

/// Starts a request for a device.
#[utoipa::path(
    post,
    path = "/api/auth/device/init",
    tag = "device-auth",
    request_body = InitForm,
    responses(
        (status = 201, description = "Started", body = InitResponse),
        (status = 422, description = "Invalid field or unknown scope"),
        (status = 429, description = "More than 10 requests a minute from this address"),
    )
)]
async fn init(
    Extension(context): Extension<Arc<AuthContext>>,
    State(state): State<AppState>,
    Json(form): Json<InitForm>,
) -> Result<(StatusCode, Json<InitResponse>)> {
    let detail = "Too many device authorization requests; try again later";
    RequestLimits::admit(&state.limits.device_init, context.address, detail)?;

    let mut errors = Vec::new();
    check_length(
        &mut errors,
        "client_device_identifier",
        Some(&form.client_device_identifier),
        255,
    );
    check_length(&mut errors, "name", Some(&form.name), 255);
    check_length(&mut errors, "client", Some(&form.client), 50);
    check_length(&mut errors, "platform", form.platform.as_deref(), 255);
    check_length(
        &mut errors,
        "client_version",
        form.client_version.as_deref(),
        255,
    );
    if form.requested_scopes.is_empty() {
        let message = "must name at least one scope".to_owned();
        errors.push(FieldError {
            field: "requested_scopes".to_owned(),
            message,
        });
    }
    let scopes = ScopeSet::parse(form.requested_scopes.iter().map(String::as_str));
    if let Err(unknown) = &scopes {
        let message = format!("unknown scope {}", unknown.0);
        errors.push(FieldError {
            field: "requested_scopes".to_owned(),
            message,
        });
    }
    let (Ok(scopes), true) = (scopes, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };

    let device_code = generate_device_code();
    let user_code = generate_code();
    let now = Utc::now();
    let request = NewDeviceAuthRequest {
        device_code_hash: code_hash(&device_code),
        user_code_hash: code_hash(&user_code),
        client_device_identifier: form.client_device_identifier,
        name: form.name,
        client: form.client,
        platform: form.platform,
        client_version: form.client_version,
        requested_scopes: i64::from(scopes.bits()),
        created_at: now,
        expires_at: now + Duration::seconds(REQUEST_LIFETIME_SECS),
    };
    state.store.create_device_auth(request).await?;
    tracing::info!(client.address = %context.address, "device authorization started");

    let response = InitResponse {
        verification_path_complete: format!("{VERIFICATION_PATH}?user_code={user_code}"),
        device_code,
        user_code,
        verification_path: VERIFICATION_PATH,
        expires_in: REQUEST_LIFETIME_SECS,
        interval: POLL_INTERVAL_SECS,
    };
    Ok((StatusCode::CREATED, Json(response)))
}

/// The device's poll: a flow state as 400, or the token exactly once.
#[utoipa::path(
    post,
    path = "/api/auth/device/token",
    tag = "device-auth",
    request_body = PollForm,
    responses(
        (status = 200, description = "Approved: the token, given only this once",
            body = DeviceToken),
        (status = 400,
            description = "authorization_pending, slow_down, access_denied or expired_token"),
        (status = 429, description = "More than 60 polls a minute from this address"),
    )
)]
async fn poll_token(
    Extension(context): Extension<Arc<AuthContext>>,
    State(state): State<AppState>,
    Json(form): Json<PollForm>,
) -> Result<Json<DeviceToken>> {
    let detail = "Too many polls; try again later";
    RequestLimits::admit(&state.limits.device_poll, context.address, detail)?;

    let (raw_token, token_hash) = generate_client_token();
    let device_code_hash = code_hash(&form.device_code);
    let gap = Duration::seconds(MIN_POLL_GAP_SECS);
    match state
        .store
        .poll_device_auth(&device_code_hash, &token_hash, Utc::now(), gap)
        .await?
    {
        DevicePoll::Completed(token) => {
            tracing::info!(
                user.id = token.user_id,
                token.id = token.id,
                "device signed in"
            );
            Ok(Json(DeviceToken {
                access_token: raw_token,
                token_type: "bearer",
                device_id: token.device_id,
                scopes: scope_names(token.scopes),
                expires_at: token.expires_at,
            }))
        }
        DevicePoll::Pending => Err(flow_state("authorization_pending")),
        DevicePoll::SlowDown => Err(flow_state("slow_down")),
        DevicePoll::Denied => Err(flow_state("access_denied")),
        DevicePoll::Expired => Err(flow_state("expired_token")),
    }
}
