//! OpenID Connect sign-in, from the redirect to the provider to the session it ends in.
//!
//! `GET /api/login/openid` sends the browser to the provider and `GET /api/oauth/openid`
//! takes it back. `GET /api/config/oidc` (`users.read`) shows administrators the effective
//! configuration.
//!
//! Users are found by their (issuer, subject) link; an existing account is linked once by an
//! email the provider has verified, never matched by email again. Every failure is a 4xx:
//! JSON for API callers, a redirect to `/login?error=<code>` for browsers.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::credentials::cookie;
use crate::auth::identity::AuthContext;
use crate::auth::scopes::Role;
use crate::auth::{require, Authorized};
use crate::error::Result;
use crate::http::extract::Json;
use crate::http::login::{begin_session, header_text};
use crate::oidc::{FlowState, OidcFailure, OidcProvider, VerifiedLogin, FLOW_LIFETIME_SECS};
use crate::state::AppState;
use crate::store::{NewUser, StoreError, User, UserUpdate};
use crate::users::USERNAME_LENGTH;

/// The cookie that carries a sign-in's state between the two redirects.
const FLOW_COOKIE: &str = "romm_oidc_flow";

/// Marks a password hash that verifies nothing: accounts created by OIDC have no password.
const NO_PASSWORD: &str = "!oidc";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(callback))
        .routes(routes!(effective_config))
}

/// What the provider sends the browser back with.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// A failed sign-in, answered as the caller can read it.
struct SignInFailure {
    failure: OidcFailure,
    browser: bool,
}

impl IntoResponse for SignInFailure {
    fn into_response(self) -> Response {
        let mut response = if self.browser {
            let location = format!("/login?error={}", self.failure.code());
            redirect(&location)
        } else {
            let body =
                serde_json::json!({"detail": self.failure.detail(), "error": self.failure.code()});
            (status_of(&self.failure), axum::Json(body)).into_response()
        };
        response
            .headers_mut()
            .append(header::SET_COOKIE, clear_flow_cookie());
        response
    }
}

fn status_of(failure: &OidcFailure) -> StatusCode {
    match failure {
        OidcFailure::Disabled => StatusCode::NOT_FOUND,
        OidcFailure::Misconfigured(_) | OidcFailure::ProviderUnavailable(_) => {
            StatusCode::BAD_REQUEST
        }
        OidcFailure::ProviderRefused(_) | OidcFailure::InvalidToken(_) => StatusCode::UNAUTHORIZED,
        OidcFailure::InvalidState => StatusCode::BAD_REQUEST,
        OidcFailure::EmailNotVerified => StatusCode::CONFLICT,
        OidcFailure::RegistrationDisabled
        | OidcFailure::NoRoleGranted
        | OidcFailure::UserDisabled => StatusCode::FORBIDDEN,
    }
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    let location = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
    response.headers_mut().insert(header::LOCATION, location);
    response
}

fn is_browser(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    accept.contains("text/html")
}

fn clear_flow_cookie() -> HeaderValue {
    let cookie = format!("{FLOW_COOKIE}=; HttpOnly; Max-Age=0; Path=/api; SameSite=Lax");
    HeaderValue::from_str(&cookie).expect("the cookie is ASCII")
}

fn provider(state: &AppState) -> Result<&Arc<OidcProvider>, OidcFailure> {
    state.oidc.as_ref().ok_or(OidcFailure::Disabled)
}

/// Sends the browser to the provider, with `state`, `nonce` and PKCE (S256).
#[utoipa::path(
    get,
    path = "/api/login/openid",
    tag = "oidc",
    responses(
        (status = 302, description = "To the provider's authorization endpoint"),
        (status = 400, description = "OIDC is misconfigured or the provider is unreachable"),
        (status = 404, description = "OIDC is not enabled"),
    )
)]
async fn start(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let browser = is_browser(&headers);
    let result = async {
        let provider = provider(&state)?;
        provider.authorization_request(Utc::now().timestamp()).await
    };
    let (url, flow) = match result.await {
        Ok(request) => request,
        Err(failure) => {
            tracing::warn!(reason = failure.code(), "cannot start an OIDC sign-in");
            return SignInFailure { failure, browser }.into_response();
        }
    };

    let secure = if state.cookie_policy().secure {
        "; Secure"
    } else {
        ""
    };
    let sealed = flow.seal(&state.keys.oidc_state);
    let cookie = format!(
        "{FLOW_COOKIE}={sealed}; HttpOnly; Max-Age={FLOW_LIFETIME_SECS}; Path=/api; \
         SameSite=Lax{secure}"
    );
    let mut response = redirect(&url);
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Takes the browser back from the provider, verifies everything and starts a session.
#[utoipa::path(
    get,
    path = "/api/oauth/openid",
    tag = "oidc",
    params(CallbackQuery),
    responses(
        (status = 302,
            description = "Signed in: to `/`; or, for browsers, to `/login?error=<code>`"),
        (status = 400, description = "Expired or foreign sign-in, or OIDC misconfigured"),
        (status = 401, description = "The provider refused, or its answer failed verification"),
        (status = 403, description = "Registration disabled, no role granted, or disabled user"),
        (status = 404, description = "OIDC is not enabled"),
        (status = 409,
            description = "An account has this email, which the provider has not verified"),
    )
)]
async fn callback(
    Extension(context): Extension<Arc<AuthContext>>,
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let browser = is_browser(&headers);
    match sign_in(&state, &context, &headers, query).await {
        Ok(mut response) => {
            response
                .headers_mut()
                .append(header::SET_COOKIE, clear_flow_cookie());
            response
        }
        Err(failure) => {
            tracing::info!(reason = failure.code(), "OIDC sign-in refused");
            SignInFailure { failure, browser }.into_response()
        }
    }
}

async fn sign_in(
    state: &AppState,
    context: &AuthContext,
    headers: &HeaderMap,
    query: CallbackQuery,
) -> Result<Response, OidcFailure> {
    let provider = provider(state)?;
    if let Some(error) = query.error {
        return Err(OidcFailure::ProviderRefused(
            error.chars().take(64).collect(),
        ));
    }
    let sealed = cookie(headers, FLOW_COOKIE).ok_or(OidcFailure::InvalidState)?;
    let flow = FlowState::open(sealed, &state.keys.oidc_state, Utc::now().timestamp())?;
    let (Some(code), Some(returned_state)) = (query.code, query.state) else {
        return Err(OidcFailure::InvalidState);
    };
    if !flow.matches(&returned_state) {
        return Err(OidcFailure::InvalidState);
    }

    let login = provider.complete(&code, &flow).await?;
    let role = granted_role(state, &login)?;
    let user = find_or_create_user(state, &login, role).await?;
    if !user.enabled {
        return Err(OidcFailure::UserDisabled);
    }

    let mut response = redirect("/");
    let user_agent = header_text(headers, header::USER_AGENT);
    begin_session(
        state,
        context,
        &user,
        user_agent,
        Some(login.id_token),
        &mut response,
    )
    .await
    .map_err(|error| OidcFailure::ProviderUnavailable(error.to_string()))?;
    tracing::info!(user.id = user.id, "signed in through OIDC; session started");
    Ok(response)
}

/// The role the provider grants, when a roles claim is configured.
///
/// Membership is exact: the claim must be an array containing the configured value, or a
/// string equal to it. The highest role granted wins; none at all refuses the sign-in.
fn granted_role(state: &AppState, login: &VerifiedLogin) -> Result<Option<Role>, OidcFailure> {
    let config = &state.config;
    if config.oidc_claim_roles.is_empty() {
        return Ok(None);
    }
    let claim = &login.claims[config.oidc_claim_roles.as_str()];
    let holds = |wanted: &str| {
        !wanted.is_empty()
            && match claim {
                serde_json::Value::Array(values) => {
                    values.iter().any(|value| value.as_str() == Some(wanted))
                }
                serde_json::Value::String(value) => value == wanted,
                _ => false,
            }
    };
    let candidates = [
        (Role::Admin, &config.oidc_role_admin),
        (Role::Editor, &config.oidc_role_editor),
        (Role::Viewer, &config.oidc_role_viewer),
    ];
    candidates
        .into_iter()
        .find(|(_, wanted)| holds(wanted))
        .map(|(role, _)| Some(role))
        .ok_or(OidcFailure::NoRoleGranted)
}

async fn find_or_create_user(
    state: &AppState,
    login: &VerifiedLogin,
    role: Option<Role>,
) -> Result<User, OidcFailure> {
    let store = state.store.as_ref();
    let unavailable = |error: StoreError| OidcFailure::ProviderUnavailable(error.to_string());
    let now = Utc::now();

    if let Some(user) = store
        .find_user_by_identity(&login.issuer, &login.subject)
        .await
        .map_err(unavailable)?
    {
        return sync_role(state, user, role).await;
    }

    let existing = match &login.email {
        Some(email) => store.find_user_by_email(email).await.map_err(unavailable)?,
        None => None,
    };
    if let Some(user) = existing {
        if !login.email_verified {
            return Err(OidcFailure::EmailNotVerified);
        }
        store
            .link_identity(user.id, &login.issuer, &login.subject, now)
            .await
            .map_err(unavailable)?;
        tracing::info!(
            user.id = user.id,
            "account linked to an OIDC identity by verified email"
        );
        return sync_role(state, user, role).await;
    }

    if !state.config.oidc_allow_registration {
        return Err(OidcFailure::RegistrationDisabled);
    }
    let username = unique_username(state, login).await.map_err(unavailable)?;
    let new_user = NewUser {
        username,
        // An unverified address is not stored: it could block its real owner later.
        email: login.email.clone().filter(|_| login.email_verified),
        password_hash: NO_PASSWORD.to_owned(),
        role: role.unwrap_or(Role::Viewer),
    };
    let user = store
        .create_oidc_user(new_user, &login.issuer, &login.subject, now)
        .await
        .map_err(unavailable)?;
    tracing::info!(user.id = user.id, "user created by OIDC sign-in");
    Ok(user)
}

/// Applies the provider's role to an existing user, but never demotes the last admin.
async fn sync_role(state: &AppState, user: User, role: Option<Role>) -> Result<User, OidcFailure> {
    let Some(role) = role.filter(|role| *role != user.role) else {
        return Ok(user);
    };
    let update = UserUpdate {
        role: Some(role),
        ..UserUpdate::default()
    };
    match state.store.update_user(user.id, update, None).await {
        Ok(updated) => {
            tracing::info!(user.id = user.id, role = %role, "role changed by the OIDC provider");
            Ok(updated)
        }
        Err(StoreError::Conflict(_)) => {
            tracing::warn!(
                user.id = user.id,
                "the provider would demote the last admin; role kept"
            );
            Ok(user)
        }
        Err(error) => Err(OidcFailure::ProviderUnavailable(error.to_string())),
    }
}

/// A valid, unused username from the configured claim (or the email's local part).
async fn unique_username(state: &AppState, login: &VerifiedLogin) -> Result<String, StoreError> {
    let claimed = login.claims[state.config.oidc_username_attribute.as_str()].as_str();
    let local_part = login
        .email
        .as_deref()
        .and_then(|email| email.split('@').next());
    let raw = claimed.or(local_part).unwrap_or("user");
    let mut base: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect::<String>()
        .to_ascii_lowercase();
    base.truncate(*USERNAME_LENGTH.end() - 8);
    while base.len() < *USERNAME_LENGTH.start() {
        base.push_str("user");
    }

    let mut candidate = base.clone();
    for suffix in 2.. {
        if state
            .store
            .find_user_by_username(&candidate)
            .await?
            .is_none()
        {
            return Ok(candidate);
        }
        candidate = format!("{base}-{suffix}");
        if suffix > 1000 {
            break;
        }
    }
    Ok(format!(
        "{base}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    ))
}

/// The effective OIDC configuration, with the secret redacted.
#[derive(Serialize, ToSchema)]
pub struct OidcConfigSchema {
    enabled: bool,
    provider: String,
    client_id: String,
    /// `"********"` when a secret is set; never the secret.
    client_secret: Option<&'static str>,
    redirect_uri: String,
    server_application_url: String,
    claim_roles: String,
    role_viewer: String,
    role_editor: String,
    role_admin: String,
    username_attribute: String,
    allow_registration: bool,
    autologin: bool,
    rp_initiated_logout: bool,
    end_session_endpoint: Option<String>,
    tls_cacertfile: Option<String>,
    /// Whether the discovery document and keys can be fetched right now.
    discovery_ok: bool,
    /// Why discovery fails, when it does.
    discovery_error: Option<String>,
}

/// Shows the effective OIDC configuration and whether discovery currently succeeds.
#[utoipa::path(
    get,
    path = "/api/config/oidc",
    tag = "oidc",
    responses(
        (status = 200, description = "The configuration", body = OidcConfigSchema),
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
async fn effective_config(
    _caller: Authorized<require::UsersRead>,
    State(state): State<AppState>,
) -> Result<Json<OidcConfigSchema>> {
    let config = &state.config;
    let (discovery_ok, discovery_error, end_session_endpoint) = match &state.oidc {
        Some(provider) => {
            let check = provider.check_discovery().await;
            (
                check.is_ok(),
                check.err(),
                provider.end_session_endpoint().await,
            )
        }
        None => (false, Some("OIDC is not enabled".to_owned()), None),
    };
    Ok(Json(OidcConfigSchema {
        enabled: config.oidc_enabled,
        provider: config.oidc_provider.clone(),
        client_id: config.oidc_client_id.clone(),
        client_secret: config.oidc_client_secret.as_ref().map(|_| "********"),
        redirect_uri: config.oidc_redirect_uri.clone(),
        server_application_url: config.oidc_server_application_url.clone(),
        claim_roles: config.oidc_claim_roles.clone(),
        role_viewer: config.oidc_role_viewer.clone(),
        role_editor: config.oidc_role_editor.clone(),
        role_admin: config.oidc_role_admin.clone(),
        username_attribute: config.oidc_username_attribute.clone(),
        allow_registration: config.oidc_allow_registration,
        autologin: config.oidc_autologin,
        rp_initiated_logout: config.oidc_rp_initiated_logout,
        end_session_endpoint,
        tls_cacertfile: config
            .oidc_tls_cacertfile
            .as_ref()
            .map(|path| path.display().to_string()),
        discovery_ok,
        discovery_error,
    }))
}
