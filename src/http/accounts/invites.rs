//! `POST /api/users/invite-link` (users.write) makes an invite; `POST /api/users/register`
//! (public, with the invite's token) uses it.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{link_url, LinkSchema};
use crate::auth::guard::RequiredScopes;
use crate::auth::link_token::{generate_link_token, link_token_hash};
use crate::auth::scopes::Role;
use crate::auth::{require, Authorized};
use crate::error::{ApiError, FieldError, Result};
use crate::http::extract::{Json, JsonOrForm, Query};
use crate::http::users::UserSchema;
use crate::state::AppState;
use crate::store::{NewInvite, Registration, User};
use crate::users::{self, UserRequest};

/// The longest lifetime an admin may give an invite link.
const MAX_INVITE_LIFETIME_SECONDS: i64 = 30 * 24 * 60 * 60;

/// The shortest lifetime an admin may give an invite link.
const MIN_INVITE_LIFETIME_SECONDS: i64 = 60;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_invite_link))
        .routes(routes!(register))
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
