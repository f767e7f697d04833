//! Browser sign-in and sign-out, at `/api/auth/login` and `/api/auth/logout`.
//!
//! RomM's paths `/api/login` and `/api/logout` serve the same. Both are public: login takes
//! a password, logout ends the session the cookie names.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::basic::{check_password, PasswordFailure};
use crate::auth::credentials::{Presented, CSRF_COOKIE, SESSION_COOKIE};
use crate::auth::guard::enforce_csrf_for;
use crate::auth::identity::{AuthContext, Outcome};
use crate::auth::session::{hash_session_cookie, SessionSecret};
use crate::error::{ApiError, Challenge, Result};
use crate::http::extract::{parse_form, parse_json, read_bytes, BodyFormat, Json};
use crate::http::users::UserSchema;
use crate::state::AppState;
use crate::store::{NewSession, User};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(login_alias))
        .routes(routes!(logout))
        .routes(routes!(logout_alias))
}

/// Credentials in the body, for clients that do not send HTTP Basic.
#[derive(Deserialize, ToSchema)]
pub struct LoginForm {
    username: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// Signs in with a password and starts a browser session.
///
/// Credentials come from an HTTP Basic header (with an empty, `null` or `{}` body, as RomM's
/// web UI sends) or from a JSON or form body. The response sets `romm_session` and a fresh
/// `romm_csrftoken`.
#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "auth",
    request_body(content(
        (Option<LoginForm> = "application/json"),
        (Option<LoginForm> = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Signed in; cookies set", body = UserSchema),
        (status = 400, description = "No credentials given"),
        (status = 401, description = "Incorrect username or password, or disabled user"),
        (status = 403, description = "Password login is disabled"),
        (status = 429, description = "Too many failed attempts"),
    ),
    security(("HTTPBasic" = []), ())
)]
async fn login(
    Extension(context): Extension<Arc<AuthContext>>,
    State(state): State<AppState>,
    request: Request,
) -> Result<Response> {
    sign_in(context, state, request).await
}

/// RomM's path for [`login`].
#[utoipa::path(
    post,
    path = "/api/login",
    tag = "auth",
    request_body(content(
        (Option<LoginForm> = "application/json"),
        (Option<LoginForm> = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Signed in; cookies set", body = UserSchema),
        (status = 400, description = "No credentials given"),
        (status = 401, description = "Incorrect username or password, or disabled user"),
        (status = 403, description = "Password login is disabled"),
        (status = 429, description = "Too many failed attempts"),
    ),
    security(("HTTPBasic" = []), ())
)]
async fn login_alias(
    Extension(context): Extension<Arc<AuthContext>>,
    State(state): State<AppState>,
    request: Request,
) -> Result<Response> {
    sign_in(context, state, request).await
}

async fn sign_in(context: Arc<AuthContext>, state: AppState, request: Request) -> Result<Response> {
    if state.config.disable_userpass_login {
        return Err(ApiError::Forbidden("Password login is disabled".to_owned()));
    }
    let user_agent = header_text(request.headers(), header::USER_AGENT);

    let user = match &context.presented {
        Presented::Basic { .. } => match context.resolve(&state).await {
            Outcome::Authenticated(identity) => identity.user()?.clone(),
            Outcome::Refused(refusal) => return Err(refusal.to_error()),
            other => return Err(anyhow::anyhow!("unexpected basic outcome {other:?}").into()),
        },
        Presented::None | Presented::Session(_) => {
            let form = read_login_form(request, &state).await?;
            password_user(&state, &context, &form).await?
        }
        _ => match context.resolve(&state).await {
            Outcome::Refused(refusal) => return Err(refusal.to_error()),
            _ => return Err(ApiError::not_authenticated(Challenge::InvalidBearer)),
        },
    };

    let mut response = Json(UserSchema::from(&user)).into_response();
    begin_session(&state, &context, &user, user_agent, None, &mut response).await?;
    tracing::info!(user.id = user.id, "signed in; session started");
    Ok(response)
}

/// Starts a browser session for `user` and sets its cookies on `response`.
///
/// The session the browser had, if any, is ended first: every sign-in gets a new id, so a
/// session id planted before sign-in is worth nothing after it.
pub(crate) async fn begin_session(
    state: &AppState,
    context: &AuthContext,
    user: &User,
    user_agent: Option<String>,
    oidc_id_token: Option<String>,
    response: &mut Response,
) -> Result<()> {
    if let Some(old_cookie) = context.browser_session_cookie() {
        let old = state
            .store
            .find_session(&hash_session_cookie(old_cookie))
            .await?;
        if let Some((old, _)) = old {
            state.store.delete_session(old.id).await?;
        }
    }
    let (session_cookie, max_age) =
        start_session(state, user, user_agent, context, oidc_id_token).await?;

    let policy = state.cookie_policy();
    let csrf_token = state.csrf().issue(Some(session_cookie.expose_secret()));
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        policy.session_cookie(&session_cookie, max_age),
    );
    headers.append(header::SET_COOKIE, policy.csrf_cookie(&csrf_token));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(())
}

pub(crate) fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?;
    Some(value.chars().take(255).collect())
}

/// Reads body credentials; an empty, `null` or `{}` body means none were given.
async fn read_login_form(request: Request, state: &AppState) -> Result<LoginForm> {
    let format = BodyFormat::of(request.headers());
    let bytes = read_bytes(request, state).await?;
    let text = std::str::from_utf8(&bytes).unwrap_or("").trim();
    let missing = || ApiError::BadRequest("Missing username or password".to_owned());
    if matches!(text, "" | "null" | "{}") {
        return Err(missing());
    }
    match format {
        Some(BodyFormat::Json) => parse_json(&bytes),
        Some(BodyFormat::UrlEncoded) => parse_form(&bytes),
        _ => Err(ApiError::UnsupportedMediaType(
            "Send credentials as HTTP Basic, JSON or an urlencoded form".to_owned(),
        )),
    }
}

async fn password_user(state: &AppState, context: &AuthContext, form: &LoginForm) -> Result<User> {
    let failure = match check_password(state, context.address, &form.username, &form.password).await
    {
        Ok(user) => return Ok(user),
        Err(failure) => failure,
    };
    let unauthorized = |detail: &str| ApiError::Unauthorized {
        detail: detail.to_owned(),
        challenge: Challenge::Bearer,
    };
    Err(match failure {
        PasswordFailure::Incorrect => unauthorized("Incorrect username or password"),
        PasswordFailure::Disabled => unauthorized("Disabled user"),
        PasswordFailure::Throttled { retry_after_secs } => ApiError::TooManyRequests {
            detail: "Too many failed attempts; try again later".to_owned(),
            retry_after_secs,
        },
        PasswordFailure::Unavailable(error) => error,
    })
}

/// Stores a new session and returns its cookie value with the cookie's `Max-Age`.
async fn start_session(
    state: &AppState,
    user: &User,
    user_agent: Option<String>,
    context: &AuthContext,
    oidc_id_token: Option<String>,
) -> Result<(SecretString, i64)> {
    let now = Utc::now();
    let idle = state.config.session_max_age_seconds as i64;
    let absolute = state.config.session_absolute_max_age_seconds as i64;
    let max_age = idle.min(absolute);
    let secret = SessionSecret::generate();
    let session = NewSession {
        public_id: uuid::Uuid::new_v4().to_string(),
        token_hash: secret.token_hash,
        user_id: user.id,
        created_at: now,
        idle_expires_at: now + Duration::seconds(max_age),
        absolute_expires_at: now + Duration::seconds(absolute),
        user_agent,
        client_address: Some(context.address.to_string()),
        oidc_id_token,
    };
    state.store.create_session(session).await?;
    Ok((secret.cookie_value, max_age))
}

/// Ends the current browser session and clears its cookies.
#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "auth",
    responses(
        (status = 200, description = "Signed out; cookies cleared. `null`, or for an OIDC \
            session `{\"oidc_logout_url\": ...}` to end the provider's session too"),
        (status = 403, description = "CSRF token verification failed"),
    ),
    security(("SessionCookie" = []), ())
)]
async fn logout(
    Extension(context): Extension<Arc<AuthContext>>,
    State(state): State<AppState>,
    request: Request,
) -> Result<Response> {
    sign_out(context, state, request).await
}

/// RomM's path for [`logout`].
#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "auth",
    responses(
        (status = 200, description = "Signed out; cookies cleared. `null`, or for an OIDC \
            session `{\"oidc_logout_url\": ...}` to end the provider's session too"),
        (status = 403, description = "CSRF token verification failed"),
    ),
    security(("SessionCookie" = []), ())
)]
async fn logout_alias(
    Extension(context): Extension<Arc<AuthContext>>,
    State(state): State<AppState>,
    request: Request,
) -> Result<Response> {
    sign_out(context, state, request).await
}

async fn sign_out(
    context: Arc<AuthContext>,
    state: AppState,
    request: Request,
) -> Result<Response> {
    let mut body = serde_json::Value::Null;
    if let Outcome::Authenticated(identity) = context.resolve(&state).await {
        if let Some(session_id) = identity.session_id() {
            let (parts, _) = request.into_parts();
            enforce_csrf_for(&parts, &state, identity)?;
            if let Some(url) = provider_logout_url(&state, &context).await? {
                body = serde_json::json!({ "oidc_logout_url": url });
            }
            state.store.delete_session(session_id).await?;
            tracing::info!(user.id = identity.user_id(), "signed out; session ended");
        }
    }

    let policy = state.cookie_policy();
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, policy.expired_cookie(SESSION_COOKIE));
    headers.append(header::SET_COOKIE, policy.expired_cookie(CSRF_COOKIE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Where to send the browser so the provider ends its session too, for an OIDC session
/// when RP-initiated logout is configured.
async fn provider_logout_url(state: &AppState, context: &AuthContext) -> Result<Option<String>> {
    let (Some(provider), true) = (&state.oidc, state.config.oidc_rp_initiated_logout) else {
        return Ok(None);
    };
    let Some(cookie) = context.session_cookie() else {
        return Ok(None);
    };
    let session = state
        .store
        .find_session(&hash_session_cookie(cookie))
        .await?;
    let Some(id_token) = session.and_then(|(session, _)| session.oidc_id_token) else {
        return Ok(None);
    };
    let Some(endpoint) = provider.end_session_endpoint().await else {
        tracing::warn!("RP-initiated logout is on but the provider has no end-session endpoint");
        return Ok(None);
    };

    let mut query = vec![("id_token_hint", id_token.as_str())];
    if let Some(base_url) = state.config.base_url.as_deref() {
        query.push(("post_logout_redirect_uri", base_url));
    }
    query.push(("client_id", provider.client_id()));
    let query = serde_urlencoded::to_string(&query).map_err(anyhow::Error::from)?;
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    Ok(Some(format!("{endpoint}{separator}{query}")))
}
