//! The two redirects of a sign-in: out to the provider, and back to a new session.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::Utc;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::account::{find_or_create_user, granted_role};
use crate::auth::credentials::cookie;
use crate::auth::identity::AuthContext;
use crate::http::login::{begin_session, header_text};
use crate::oidc::{FlowState, OidcFailure, OidcProvider, FLOW_LIFETIME_SECS};
use crate::state::AppState;

/// The cookie that carries a sign-in's state between the two redirects.
const FLOW_COOKIE: &str = "romm_oidc_flow";

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(callback))
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
