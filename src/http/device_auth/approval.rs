//! The approving user's side of the flow: see a pending request, then approve or deny it.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::client_token::{code_hash, generate_client_token, normalize_code};
use crate::auth::scopes::Scope;
use crate::auth::{require, Authorized};
use crate::error::{ApiError, Result};
use crate::http::client_tokens::{
    parse_expires_in, parse_requested_scopes, scope_names, MAX_ACTIVE_TOKENS,
};
use crate::http::extract::{Json, Path};
use crate::state::AppState;
use crate::store::DeviceApproval;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pending))
        .routes(routes!(approve))
        .routes(routes!(deny))
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

fn request_not_found() -> ApiError {
    ApiError::NotFound("Invalid or expired user code".to_owned())
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
