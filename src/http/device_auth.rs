//! `/api/auth/device`: the device-authorization flow that signs a handheld in without a
//! keyboard, in the style of RFC 8628 as RomM 5 serves it.
//!
//! The device starts (`init`, public) and polls (`token`, public); the user approves or
//! denies in the web UI with `me.write`. Flow states are HTTP 400 with the state as a plain
//! `detail` string, because real clients parse exactly that. The client token is made at
//! the one successful poll, so its secret is never stored.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::client_token::{
    code_hash, generate_client_token, generate_code, generate_device_code, normalize_code,
};
use crate::auth::identity::AuthContext;
use crate::auth::scopes::{Scope, ScopeSet};
use crate::auth::{require, Authorized};
use crate::error::{ApiError, FieldError, Result};
use crate::http::client_tokens::{
    parse_expires_in, parse_requested_scopes, scope_names, MAX_ACTIVE_TOKENS,
};
use crate::http::extract::{Json, Path};
use crate::state::{AppState, RequestLimits};
use crate::store::{DeviceApproval, DevicePoll, NewDeviceAuthRequest};

/// How long a device has to be approved.
const REQUEST_LIFETIME_SECS: i64 = 600;

/// The polling interval the device is told to keep.
const POLL_INTERVAL_SECS: i64 = 5;

/// Polls closer together than this are answered `slow_down`; a second of slack absorbs
/// network jitter for clients that wait exactly the interval.
const MIN_POLL_GAP_SECS: i64 = POLL_INTERVAL_SECS - 1;

/// Where the web UI lets the user approve a device, relative to the server's address.
const VERIFICATION_PATH: &str = "/pair/device";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(init))
        .routes(routes!(pending))
        .routes(routes!(approve))
        .routes(routes!(deny))
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

/// A pending request as the approving user sees it.
#[derive(Serialize, ToSchema)]
pub struct PendingRequest {
    user_code: String,
    name: String,
    client: String,
    platform: Option<String>,
    client_version: Option<String>,
    client_device_identifier: String,
    #[schema(value_type = Vec<Scope>)]
    requested_scopes: Vec<String>,
    expires_at: DateTime<Utc>,
}

/// The user's approval.
#[derive(Deserialize, ToSchema)]
pub struct ApproveForm {
    user_code: String,
    /// At least one, none beyond the approving credential's scopes.
    #[schema(value_type = Vec<Scope>, min_items = 1)]
    approved_scopes: Vec<String>,
    /// The device's name, at most 255 characters; the name it asked with by default.
    #[serde(default)]
    #[schema(max_length = 255)]
    device_name: Option<String>,
    /// The token's lifetime: `30d`, `90d`, `1y`, `never` or null.
    #[serde(default)]
    #[schema(pattern = "^(30d|90d|1y|never)$")]
    expires_in: Option<String>,
}

/// The user's refusal.
#[derive(Deserialize, ToSchema)]
pub struct DenyForm {
    user_code: String,
}

/// The outcome of an approval or denial.
#[derive(Serialize, ToSchema)]
pub struct Decision {
    /// `approved` or `denied`.
    status: &'static str,
    /// The device created or updated, on approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    device_id: Option<String>,
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

fn request_not_found() -> ApiError {
    ApiError::NotFound("Invalid or expired user code".to_owned())
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

/// Shows a pending request to the user who is about to approve it.
#[utoipa::path(
    get,
    path = "/api/auth/device/pending/{user_code}",
    tag = "device-auth",
    params(("user_code" = String, Path, description = "The code the device shows")),
    responses(
        (status = 200, description = "The pending request", body = PendingRequest),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing me.read"),
        (status = 404, description = "No pending request with that code"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["me.read"]),
        ("HTTPBasic" = ["me.read"]),
        ("SessionCookie" = ["me.read"]),
        ("ClientToken" = ["me.read"]),
    )
)]
async fn pending(
    _caller: Authorized<require::MeRead>,
    State(state): State<AppState>,
    Path(user_code): Path<String>,
) -> Result<Json<PendingRequest>> {
    let request = state.store.find_device_auth(&code_hash(&user_code)).await?;
    let request = request
        .filter(|request| request.status == "pending" && request.expires_at > Utc::now())
        .ok_or_else(request_not_found)?;
    Ok(Json(PendingRequest {
        user_code: normalize_code(&user_code),
        name: request.name,
        client: request.client,
        platform: request.platform,
        client_version: request.client_version,
        client_device_identifier: request.client_device_identifier,
        requested_scopes: scope_names(request.requested_scopes),
        expires_at: request.expires_at,
    }))
}

/// Approves a device: creates or updates it and a token bound to it, with the approved
/// scopes, which may not exceed the approving credential's.
#[utoipa::path(
    post,
    path = "/api/auth/device/approve",
    tag = "device-auth",
    request_body = ApproveForm,
    responses(
        (status = 200, description = "Approved", body = Decision),
        (status = 400, description = "Maximum of 25 tokens per user reached"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing me.write, or scopes beyond the caller's"),
        (status = 404, description = "No pending request with that code"),
        (status = 422, description = "Invalid field"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["me.write"]),
        ("HTTPBasic" = ["me.write"]),
        ("SessionCookie" = ["me.write"]),
        ("ClientToken" = ["me.write"]),
    )
)]
async fn approve(
    caller: Authorized<require::MeWrite>,
    State(state): State<AppState>,
    Json(form): Json<ApproveForm>,
) -> Result<Json<Decision>> {
    let user = caller.identity.user()?;
    let scopes =
        parse_requested_scopes("approved_scopes", &form.approved_scopes, &caller.identity)?;
    let now = Utc::now();
    let token_expires_at = parse_expires_in(form.expires_in.as_deref(), now)?;
    let user_code_hash = code_hash(&form.user_code);
    let request = state
        .store
        .find_device_auth(&user_code_hash)
        .await?
        .ok_or_else(request_not_found)?;
    let device_name = form
        .device_name
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    let device_name = device_name.unwrap_or(request.name);
    if device_name.chars().count() > 255 {
        return Err(ApiError::invalid_field(
            "device_name",
            "must be at most 255 characters long",
        ));
    }

    let approval = DeviceApproval {
        user_id: user.id,
        device_name,
        scopes: i64::from(scopes.bits()),
        token_expires_at,
        // Nobody knows the secret behind this hash; the real one is made at the poll.
        placeholder_hash: generate_client_token().1,
        max_active_tokens: MAX_ACTIVE_TOKENS,
        now,
    };
    let device = state
        .store
        .approve_device_auth(&user_code_hash, approval)
        .await?;
    let device = device.ok_or_else(request_not_found)?;
    tracing::info!(user.id = user.id, device.id = %device.id, "device authorization approved");
    Ok(Json(Decision {
        status: "approved",
        device_id: Some(device.id),
    }))
}

/// Refuses a device.
#[utoipa::path(
    post,
    path = "/api/auth/device/deny",
    tag = "device-auth",
    request_body = DenyForm,
    responses(
        (status = 200, description = "Denied", body = Decision),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing me.write"),
        (status = 404, description = "No pending request with that code"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["me.write"]),
        ("HTTPBasic" = ["me.write"]),
        ("SessionCookie" = ["me.write"]),
        ("ClientToken" = ["me.write"]),
    )
)]
async fn deny(
    caller: Authorized<require::MeWrite>,
    State(state): State<AppState>,
    Json(form): Json<DenyForm>,
) -> Result<Json<Decision>> {
    if !state
        .store
        .deny_device_auth(&code_hash(&form.user_code), Utc::now())
        .await?
    {
        return Err(request_not_found());
    }
    tracing::info!(
        user.id = caller.identity.user_id(),
        "device authorization denied"
    );
    Ok(Json(Decision {
        status: "denied",
        device_id: None,
    }))
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
