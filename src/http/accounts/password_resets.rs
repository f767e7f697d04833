//! Password resets: `POST /api/users/{id}/reset-link` (users.write) makes a link,
//! `POST /api/reset-password` (public, with the link's token) uses it, and
//! `POST /api/forgot-password` (public) asks the admins, who list the requests at
//! `GET /api/users/reset-requests` (users.read).

use std::sync::Arc;

use axum::extract::{Extension, State};
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{link_url, LinkSchema};
use crate::auth::identity::AuthContext;
use crate::auth::link_token::{generate_link_token, link_token_hash};
use crate::auth::scopes::Role;
use crate::auth::{require, Authorized};
use crate::error::{ApiError, FieldError, Result};
use crate::http::extract::{Json, JsonOrForm, Path};
use crate::state::AppState;
use crate::store::{NewPasswordReset, PasswordResetRequest};
use crate::users::{check_password_rules, normalize_username};

/// How long a password-reset link stays usable.
const RESET_LINK_LIFETIME: Duration = Duration::minutes(10);

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_reset_link))
        .routes(routes!(reset_password))
        .routes(routes!(forgot_password))
        .routes(routes!(list_reset_requests))
}

/// Makes a one-use link, valid for 10 minutes, that sets a new password for the user.
///
/// Issuing one replaces the user's earlier unused link and settles their forgotten-password
/// request.
#[utoipa::path(
    post,
    path = "/api/users/{id}/reset-link",
    tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "The link to hand over", body = LinkSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing users.write, or only admins reset an admin"),
        (status = 404, description = "No such user"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["users.write"]),
        ("HTTPBasic" = ["users.write"]),
        ("SessionCookie" = ["users.write"]),
        ("ClientToken" = ["users.write"]),
    )
)]
async fn create_reset_link(
    caller: Authorized<require::UsersWrite>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<LinkSchema>> {
    let admin = caller.identity.user()?;
    let user_not_found = || ApiError::NotFound("User not found".to_owned());
    let target = state
        .store
        .find_user(id)
        .await?
        .ok_or_else(user_not_found)?;
    if target.role == Role::Admin && admin.role != Role::Admin {
        return Err(ApiError::Forbidden(
            "Only an admin can reset an admin's password".to_owned(),
        ));
    }

    let (token, token_hash) = generate_link_token();
    let now = Utc::now();
    let reset = NewPasswordReset {
        token_hash,
        user_id: target.id,
        created_by: admin.id,
        created_at: now,
        expires_at: now + RESET_LINK_LIFETIME,
    };
    let expires_at = reset.expires_at;
    state
        .store
        .create_password_reset(reset)
        .await
        .map_err(|error| match error {
            crate::store::StoreError::NotFound => user_not_found(),
            other => other.into(),
        })?;
    tracing::info!(
        user.id = target.id,
        by.user.id = admin.id,
        "password reset link created"
    );

    let url = link_url(&state, "/reset-password", &token);
    Ok(Json(LinkSchema {
        token,
        url,
        expires_at,
    }))
}

/// A new password, proven by a reset link's token.
#[derive(Deserialize, ToSchema)]
pub struct ResetPasswordForm {
    /// The reset link's token.
    #[schema(value_type = String)]
    token: SecretString,
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 256)]
    new_password: SecretString,
}

fn invalid_reset_link() -> ApiError {
    ApiError::BadRequest("Invalid or expired password reset link".to_owned())
}

/// Sets a new password with a reset link's token, once.
///
/// Every session, refresh token and access token of the user stops working; client API
/// tokens stay, as they do on any password change.
#[utoipa::path(
    post,
    path = "/api/reset-password",
    tag = "users",
    request_body(content(
        (ResetPasswordForm = "application/json"),
        (ResetPasswordForm = "application/x-www-form-urlencoded"),
        (ResetPasswordForm = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "Password changed; the body is `null`"),
        (status = 400, description = "Invalid, used or expired reset link"),
        (status = 422, description = "Invalid new password"),
    ),
    security(())
)]
async fn reset_password(
    State(state): State<AppState>,
    JsonOrForm(form): JsonOrForm<ResetPasswordForm>,
) -> Result<Json<()>> {
    let token_hash = link_token_hash(form.token.expose_secret()).ok_or_else(invalid_reset_link)?;
    state
        .store
        .find_pending_password_reset(&token_hash, Utc::now())
        .await?
        .ok_or_else(invalid_reset_link)?;
    if let Err(message) = check_password_rules(&form.new_password) {
        return Err(ApiError::validation(vec![FieldError {
            field: "new_password".to_owned(),
            message,
        }]));
    }

    let password_hash = state.passwords.hash(&form.new_password).await?;
    let user = state
        .store
        .reset_password(&token_hash, Utc::now(), &password_hash)
        .await?
        .ok_or_else(invalid_reset_link)?;
    tracing::info!(
        user.id = user.id,
        "password reset with a link; credentials revoked"
    );
    Ok(Json(()))
}

/// Who forgot their password.
#[derive(Deserialize, ToSchema)]
pub struct ForgotPasswordForm {
    username: String,
}

/// Asks the admins for a password-reset link.
///
/// Always answers `null` with 200, whether or not the user exists. The request is listed at
/// `GET /api/users/reset-requests` for an admin to act on.
#[utoipa::path(
    post,
    path = "/api/forgot-password",
    tag = "users",
    request_body(content(
        (ForgotPasswordForm = "application/json"),
        (ForgotPasswordForm = "application/x-www-form-urlencoded"),
        (ForgotPasswordForm = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "Noted; the body is `null`"),
        (status = 422, description = "No username in the body"),
    ),
    security(())
)]
async fn forgot_password(
    State(state): State<AppState>,
    Extension(context): Extension<Arc<AuthContext>>,
    JsonOrForm(form): JsonOrForm<ForgotPasswordForm>,
) -> Result<Json<()>> {
    let Ok(username) = normalize_username(form.username.trim()) else {
        tracing::debug!("password reset requested for a malformed username");
        return Ok(Json(()));
    };
    let address = context.address.to_string();
    let recorded = state
        .store
        .record_password_reset_request(&username, Utc::now(), Some(&address))
        .await?;
    if let Some(user_id) = recorded {
        tracing::info!(
            user.id = user_id,
            "password reset requested; waiting for an admin"
        );
    } else {
        tracing::debug!("password reset requested for an unknown username");
    }
    Ok(Json(()))
}

/// A user waiting for a password-reset link.
#[derive(Serialize, ToSchema)]
pub struct ResetRequestSchema {
    user_id: i64,
    username: String,
    first_requested_at: DateTime<Utc>,
    last_requested_at: DateTime<Utc>,
    /// How often the user asked since the last link.
    request_count: i64,
    /// Where the latest request came from.
    client_address: Option<String>,
}

impl From<PasswordResetRequest> for ResetRequestSchema {
    fn from(request: PasswordResetRequest) -> ResetRequestSchema {
        ResetRequestSchema {
            user_id: request.user_id,
            username: request.username,
            first_requested_at: request.first_requested_at,
            last_requested_at: request.last_requested_at,
            request_count: request.request_count,
            client_address: request.client_address,
        }
    }
}

/// Lists the forgotten-password requests no reset link has settled yet, latest first.
#[utoipa::path(
    get,
    path = "/api/users/reset-requests",
    tag = "users",
    responses(
        (status = 200, description = "Waiting requests", body = Vec<ResetRequestSchema>),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing users.read"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["users.read"]),
        ("HTTPBasic" = ["users.read"]),
        ("SessionCookie" = ["users.read"]),
        ("ClientToken" = ["users.read"]),
    )
)]
async fn list_reset_requests(
    _caller: Authorized<require::UsersRead>,
    State(state): State<AppState>,
) -> Result<Json<Vec<ResetRequestSchema>>> {
    let requests = state.store.list_password_reset_requests().await?;
    Ok(Json(requests.into_iter().map(Into::into).collect()))
}
