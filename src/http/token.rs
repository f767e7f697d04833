//! `POST /api/token`: the OAuth2 password and refresh-token grants.
//!
//! The endpoint is public and CSRF-exempt; it takes a form (urlencoded or multipart) as RFC
//! 6749 says, with `grant_type` defaulting to `password` because real RomM clients send
//! none. Errors carry RFC 6749's `error` beside RomM's `detail`. Refresh tokens rotate on
//! every use, and a consumed one presented again revokes its whole grant.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::access_token::AccessTokens;
use crate::auth::basic::{check_password, PasswordFailure};
use crate::auth::identity::AuthContext;
use crate::auth::scopes::ScopeSet;
use crate::auth::session::hash_session_cookie as sha256;
use crate::error::{ApiError, Result};
use crate::http::extract::{parse_form, read_bytes, read_multipart, BodyFormat, Json};
use crate::state::AppState;
use crate::store::{NewRefreshGrant, NewRefreshToken, Rotation, User};

/// A grant family ends this long after the password grant, however often it is refreshed.
const GRANT_LIFETIME_DAYS: i64 = 30;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(token))
}

/// The token request, as RFC 6749 names its fields.
///
/// All are optional so that each missing one gets its own clear error. Other fields, such as
/// `client_id` and `client_secret`, are ignored: there are no registered OAuth2 clients.
#[derive(Default, Deserialize, ToSchema)]
pub struct TokenForm {
    /// `password` (the default) or `refresh_token`.
    grant_type: Option<String>,
    username: Option<String>,
    #[schema(format = Password)]
    password: Option<String>,
    /// Space-separated scopes; absent means every scope of the user.
    scope: Option<String>,
    refresh_token: Option<String>,
}

/// A successful grant: RomM's fields and RFC 6749's.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    refresh_token: String,
    /// Always `bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires (RomM's name).
    expires: i64,
    /// Seconds until the refresh token expires.
    refresh_expires: i64,
    /// Seconds until the access token expires (RFC 6749's name).
    expires_in: i64,
    /// The granted scopes, space-separated.
    scope: String,
}

fn oauth_error(status: StatusCode, code: &'static str, description: &str) -> ApiError {
    ApiError::OAuth {
        status,
        code,
        description: description.to_owned(),
    }
}

fn invalid_request(description: &str) -> ApiError {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn invalid_grant(description: &str) -> ApiError {
    oauth_error(StatusCode::UNAUTHORIZED, "invalid_grant", description)
}

fn invalid_scope(description: &str) -> ApiError {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", description)
}

/// Issues tokens by password or by refresh token.
#[utoipa::path(
    post,
    path = "/api/token",
    tag = "auth",
    request_body(content(
        (TokenForm = "application/x-www-form-urlencoded"),
        (TokenForm = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponse),
        (status = 400, description = "invalid_request, invalid_scope or unsupported_grant_type"),
        (status = 401, description = "invalid_grant: bad password or refresh token"),
        (status = 403, description = "Password login is disabled"),
        (status = 429, description = "Too many failed attempts"),
    )
)]
async fn token(
    Extension(context): Extension<Arc<AuthContext>>,
    State(state): State<AppState>,
    request: Request,
) -> Result<Response> {
    let form = read_token_form(request, &state).await?;
    let tokens = match form.grant_type.as_deref().unwrap_or("password") {
        "password" => password_grant(&state, &context, &form).await?,
        "refresh_token" => refresh_grant(&state, &form).await?,
        _ => {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only the password and refresh_token grants are supported",
            ))
        }
    };

    let mut response = Json(tokens).into_response();
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

async fn read_token_form(request: Request, state: &AppState) -> Result<TokenForm> {
    match BodyFormat::of(request.headers()) {
        Some(BodyFormat::UrlEncoded) | None => {
            let bytes = read_bytes(request, state).await?;
            parse_form(&bytes).map_err(|_| invalid_request("The form could not be read"))
        }
        Some(BodyFormat::Multipart) => {
            let fields = read_multipart(request, state)
                .await
                .map_err(|_| invalid_request("The multipart form could not be read"))?;
            let encoded = serde_urlencoded::to_string(&fields)
                .map_err(|_| invalid_request("The multipart form could not be read"))?;
            parse_form(encoded.as_bytes())
                .map_err(|_| invalid_request("The form could not be read"))
        }
        Some(BodyFormat::Json) => Err(invalid_request(
            "The token endpoint takes a form body (application/x-www-form-urlencoded)",
        )),
    }
}

/// Parses the optional `scope` parameter; unknown names are an error.
fn requested_scopes(form: &TokenForm) -> Result<Option<ScopeSet>> {
    let Some(scope) = form
        .scope
        .as_deref()
        .filter(|scope| !scope.trim().is_empty())
    else {
        return Ok(None);
    };
    ScopeSet::parse(scope.split_whitespace())
        .map(Some)
        .map_err(|unknown| invalid_scope(&format!("Unknown scope: {}", unknown.0)))
}

/// `requested ∩ allowed`, refusing an empty result.
fn grant_scopes(requested: Option<ScopeSet>, allowed: ScopeSet) -> Result<ScopeSet> {
    let granted = requested.map_or(allowed, |requested| requested.intersection(allowed));
    if granted.is_empty() {
        return Err(invalid_scope("None of the requested scopes can be granted"));
    }
    Ok(granted)
}

async fn password_grant(
    state: &AppState,
    context: &AuthContext,
    form: &TokenForm,
) -> Result<TokenResponse> {
    if state.config.disable_userpass_login {
        return Err(oauth_error(
            StatusCode::FORBIDDEN,
            "access_denied",
            "Password login is disabled",
        ));
    }
    let (Some(username), Some(password)) = (form.username.as_deref(), form.password.as_deref())
    else {
        return Err(invalid_request("Missing username or password"));
    };
    let requested = requested_scopes(form)?;

    let password = SecretString::from(password);
    let user = match check_password(state, context.address, username, &password).await {
        Ok(user) => user,
        Err(PasswordFailure::Incorrect) => {
            return Err(invalid_grant("Incorrect username or password"))
        }
        Err(PasswordFailure::Disabled) => return Err(invalid_grant("Disabled user")),
        Err(PasswordFailure::Throttled { retry_after_secs }) => {
            return Err(ApiError::TooManyRequests {
                detail: "Too many failed attempts; try again later".to_owned(),
                retry_after_secs,
            })
        }
        Err(PasswordFailure::Unavailable(error)) => return Err(error),
    };
    let scopes = grant_scopes(requested, user.role.scopes())?;

    let now = Utc::now();
    let grant_expires_at = now + Duration::days(GRANT_LIFETIME_DAYS);
    let (refresh_token, refresh_expires_at) = new_refresh_token(state, now, grant_expires_at);
    let grant = NewRefreshGrant {
        user_id: user.id,
        scopes: i64::from(scopes.bits()),
        credential_version: user.credential_version,
        created_at: now,
        expires_at: grant_expires_at,
        first_token: NewRefreshToken {
            token_hash: sha256(&refresh_token),
            expires_at: refresh_expires_at,
        },
    };
    let grant_id = state.store.create_refresh_grant(grant).await?;
    tracing::info!(
        user.id = user.id,
        grant.id = grant_id,
        "password grant issued tokens"
    );
    Ok(issue(
        state,
        &user,
        scopes,
        refresh_token,
        refresh_expires_at,
        now,
    ))
}

async fn refresh_grant(state: &AppState, form: &TokenForm) -> Result<TokenResponse> {
    let Some(presented) = form
        .refresh_token
        .as_deref()
        .filter(|token| !token.is_empty())
    else {
        return Err(invalid_request("Missing refresh_token"));
    };
    let requested = requested_scopes(form)?;
    let presented_hash = sha256(presented);

    // Everything that can refuse the request is checked before the token is consumed, so a
    // refused refresh leaves the client's token usable.
    let Some(record) = state.store.find_refresh_token(&presented_hash).await? else {
        tracing::debug!("unknown refresh token");
        return Err(invalid_grant("Invalid refresh token"));
    };
    let grant = &record.grant;
    let user = state.store.find_user(grant.user_id).await?;
    let Some(user) =
        user.filter(|user| user.enabled && user.credential_version == grant.credential_version)
    else {
        tracing::debug!(
            grant.id = grant.id,
            "refresh grant revoked by a user change"
        );
        state.store.revoke_refresh_grant(grant.id).await?;
        return Err(invalid_grant("Invalid refresh token"));
    };
    let original = ScopeSet::from_bits(u32::try_from(grant.scopes).unwrap_or(0));
    let scopes = grant_scopes(requested, original.intersection(user.role.scopes()))?;

    let now = Utc::now();
    let (refresh_token, refresh_expires_at) = new_refresh_token(state, now, grant.expires_at);
    let replacement = NewRefreshToken {
        token_hash: sha256(&refresh_token),
        expires_at: refresh_expires_at,
    };
    match state
        .store
        .rotate_refresh_token(&presented_hash, replacement, now)
        .await?
    {
        Rotation::Rotated(grant) => {
            tracing::info!(
                user.id = user.id,
                grant.id = grant.id,
                "refresh token rotated"
            );
            Ok(issue(
                state,
                &user,
                scopes,
                refresh_token,
                refresh_expires_at,
                now,
            ))
        }
        Rotation::Reused { grant_id, user_id } => {
            tracing::warn!(
                user.id = user_id,
                grant.id = grant_id,
                "consumed refresh token presented again; grant revoked"
            );
            Err(invalid_grant("Invalid refresh token"))
        }
        Rotation::Dead | Rotation::Unknown => {
            tracing::debug!("expired or revoked refresh token");
            Err(invalid_grant("Invalid refresh token"))
        }
    }
}

/// A new random refresh token and its expiry, never beyond the grant's end.
fn new_refresh_token(
    state: &AppState,
    now: DateTime<Utc>,
    grant_expires_at: DateTime<Utc>,
) -> (String, DateTime<Utc>) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let lifetime = Duration::seconds(state.config.refresh_token_expire_seconds as i64);
    (token, (now + lifetime).min(grant_expires_at))
}

fn issue(
    state: &AppState,
    user: &User,
    scopes: ScopeSet,
    refresh_token: String,
    refresh_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> TokenResponse {
    let lifetime = state.config.access_token_expire_seconds as i64;
    let tokens = AccessTokens {
        key: &state.keys.access_token,
    };
    let access_token = tokens.issue(
        user.id,
        user.credential_version,
        scopes,
        now,
        now + Duration::seconds(lifetime),
    );
    TokenResponse {
        access_token,
        refresh_token,
        token_type: "bearer",
        expires: lifetime,
        refresh_expires: (refresh_expires_at - now).num_seconds(),
        expires_in: lifetime,
        scope: scopes.to_string(),
    }
}
