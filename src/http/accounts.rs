//! Accounts made and recovered by link: invites, registration, password resets and
//! forgotten-password requests.
//!
//! An admin hands a link to a person out of band; its token is the only proof the person
//! needs. Tokens are returned once, stored as hashes and never logged. A forgotten-password
//! request only tells the admins: it never sends or logs a usable link, because this server
//! has no mail channel it could trust with one.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::guard::RequiredScopes;
use crate::auth::identity::AuthContext;
use crate::auth::link_token::{generate_link_token, link_token_hash};
use crate::auth::scopes::Role;
use crate::auth::{require, Authorized};
use crate::error::{ApiError, FieldError, Result};
use crate::http::extract::{Json, JsonOrForm, Path, Query};
use crate::http::users::UserSchema;
use crate::state::AppState;
use crate::store::{NewInvite, NewPasswordReset, PasswordResetRequest, Registration, User};
use crate::users::{self, check_password_rules, normalize_username, UserRequest};

/// How long a password-reset link stays usable.
const RESET_LINK_LIFETIME: Duration = Duration::minutes(10);

/// The longest lifetime an admin may give an invite link.
const MAX_INVITE_LIFETIME_SECONDS: i64 = 30 * 24 * 60 * 60;

/// The shortest lifetime an admin may give an invite link.
const MIN_INVITE_LIFETIME_SECONDS: i64 = 60;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_invite_link))
        .routes(routes!(register))
        .routes(routes!(create_reset_link))
        .routes(routes!(reset_password))
        .routes(routes!(forgot_password))
        .routes(routes!(list_reset_requests))
}

/// A link to hand to one person; `url` is the web page that uses `token`.
#[derive(Serialize, ToSchema)]
pub struct LinkSchema {
    token: String,
    /// Absolute when `ROMM_BASE_URL` is set, else a path on this server.
    url: String,
    expires_at: DateTime<Utc>,
}

/// The link to `page` carrying `token`, on the public URL when one is configured.
fn link_url(state: &AppState, page: &str, token: &str) -> String {
    let base = state.config.base_url.as_deref().unwrap_or("");
    format!("{}{page}?token={token}", base.trim_end_matches('/'))
}

/// Who an invite link is for.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct InviteQuery {
    /// The role of the account it registers.
    #[param(value_type = Role)]
    role: String,
    /// Lifetime in seconds, 60 to 2592000; `INVITE_TOKEN_EXPIRY_SECONDS` when absent.
    #[param(value_type = Option<i64>)]
    expiration: Option<String>,
}

/// Checks the query, collecting every problem into one 422.
fn parse_invite_query(state: &AppState, query: &InviteQuery) -> Result<(Role, Duration)> {
    let mut errors = Vec::new();
    let role = query.role.parse::<Role>().map_err(|_| FieldError {
        field: "role".to_owned(),
        message: "must be viewer, editor or admin".to_owned(),
    });
    let default_seconds = i64::try_from(state.config.invite_token_expiry_seconds)
        .unwrap_or(MAX_INVITE_LIFETIME_SECONDS)
        .min(MAX_INVITE_LIFETIME_SECONDS);
    let seconds = match query.expiration.as_deref() {
        None | Some("") => Ok(default_seconds),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|seconds| {
                (MIN_INVITE_LIFETIME_SECONDS..=MAX_INVITE_LIFETIME_SECONDS).contains(seconds)
            })
            .ok_or_else(|| FieldError {
                field: "expiration".to_owned(),
                message: "must be a number of seconds from 60 to 2592000".to_owned(),
            }),
    };
    errors.extend(role.as_ref().err().cloned());
    errors.extend(seconds.as_ref().err().cloned());
    match (role, seconds) {
        (Ok(role), Ok(seconds)) => Ok((role, Duration::seconds(seconds))),
        _ => Err(ApiError::validation(errors)),
    }
}

/// Makes a one-use link that registers an account with the given role.
///
/// Only an admin can invite an admin.
#[utoipa::path(
    post,
    path = "/api/users/invite-link",
    tag = "users",
    params(InviteQuery),
    responses(
        (status = 201, description = "The link to hand over", body = LinkSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing users.write, or only admins invite admins"),
        (status = 422, description = "Invalid role or expiration"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["users.write"]),
        ("HTTPBasic" = ["users.write"]),
        ("SessionCookie" = ["users.write"]),
        ("ClientToken" = ["users.write"]),
    )
)]
async fn create_invite_link(
    caller: Authorized<require::UsersWrite>,
    State(state): State<AppState>,
    Query(query): Query<InviteQuery>,
) -> Result<(StatusCode, Json<LinkSchema>)> {
    let inviter = caller.identity.user()?;
    let (role, lifetime) = parse_invite_query(&state, &query)?;
    if !may_invite(inviter, role) {
        return Err(ApiError::Forbidden(
            "Only an admin can invite an admin".to_owned(),
        ));
    }

    let (token, token_hash) = generate_link_token();
    let now = Utc::now();
    let invite = NewInvite {
        token_hash,
        role,
        created_by: inviter.id,
        created_at: now,
        expires_at: now + lifetime,
    };
    let expires_at = invite.expires_at;
    state.store.create_invite(invite).await?;
    tracing::info!(
        by.user.id = inviter.id,
        role = role.as_str(),
        %expires_at,
        "invite link created"
    );

    let url = link_url(&state, "/register", &token);
    let link = LinkSchema {
        token,
        url,
        expires_at,
    };
    Ok((StatusCode::CREATED, Json(link)))
}

/// Whether `inviter` may hand out an account with `role`, now.
///
/// Asked again when the invite is used, so that an invite dies with its inviter's authority.
fn may_invite(inviter: &User, role: Role) -> bool {
    let can_write_users = inviter
        .role
        .scopes()
        .contains_all(<require::UsersWrite as RequiredScopes>::SCOPES);
    inviter.enabled && can_write_users && (role != Role::Admin || inviter.role == Role::Admin)
}

/// A new account made from an invite.
#[derive(Deserialize, ToSchema)]
pub struct RegisterForm {
    /// The invite link's token.
    #[schema(value_type = String)]
    token: SecretString,
    /// Stored lower-case.
    #[schema(min_length = 3, max_length = 255, pattern = "^[A-Za-z0-9_-]+$")]
    username: String,
    #[serde(default)]
    email: Option<String>,
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 256)]
    password: SecretString,
}

fn invalid_invite() -> ApiError {
    ApiError::BadRequest("Invalid or expired invite link".to_owned())
}

/// Registers an account with an invite link's token; each link registers one account.
#[utoipa::path(
    post,
    path = "/api/users/register",
    tag = "users",
    request_body(content(
        (RegisterForm = "application/json"),
        (RegisterForm = "application/x-www-form-urlencoded"),
        (RegisterForm = "multipart/form-data"),
    )),
    responses(
        (status = 201, description = "The new account, with the invite's role", body = UserSchema),
        (status = 400, description = "Invalid, used or expired invite link"),
        (status = 409, description = "Username or email taken; the invite stays usable"),
        (status = 422, description = "Invalid field"),
    ),
    security(())
)]
async fn register(
    State(state): State<AppState>,
    JsonOrForm(form): JsonOrForm<RegisterForm>,
) -> Result<(StatusCode, Json<UserSchema>)> {
    // The invite is checked first, so that only its holder learns which names are taken.
    let token_hash = link_token_hash(form.token.expose_secret()).ok_or_else(invalid_invite)?;
    let invite = state
        .store
        .find_pending_invite(&token_hash, Utc::now())
        .await?
        .ok_or_else(invalid_invite)?;
    if !may_invite(&invite.inviter, invite.role) {
        tracing::info!(
            invite.by.user.id = invite.inviter.id,
            "invite refused: its inviter may no longer invite"
        );
        return Err(invalid_invite());
    }

    let request = UserRequest {
        username: form.username,
        email: form.email,
        password: form.password,
        role: invite.role,
    };
    let (username, email) = users::validate(&request)?;
    let registration = Registration {
        username,
        email,
        password_hash: state.passwords.hash(&request.password).await?,
    };
    let user = state
        .store
        .register_with_invite(&token_hash, Utc::now(), registration)
        .await?
        .ok_or_else(invalid_invite)?;
    tracing::info!(
        user.id = user.id,
        invite.by.user.id = invite.inviter.id,
        role = user.role.as_str(),
        "user registered with an invite"
    );
    Ok((StatusCode::CREATED, Json(UserSchema::from(&user))))
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
