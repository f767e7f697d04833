//! The identity middleware: reads the credential, hands it to the route, and keeps the
//! browser's cookies in order on the way out.
//!
//! On the way out it re-sends a session cookie whose lifetime was extended, clears a session
//! cookie that no longer works, and issues a CSRF cookie to any browser that lacks one valid
//! for its session (the desktop app and scripts warm it with `GET /api/heartbeat`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use secrecy::SecretString;

use super::client_address::client_address;
use super::credentials::{cookie, CSRF_COOKIE, SESSION_COOKIE};
use super::identity::{AuthContext, CredentialKind, Outcome};
use crate::state::AppState;

/// Who a request was answered for, left in the response for the request log.
#[derive(Clone, Copy, Debug)]
pub struct AnsweredIdentity {
    pub kind: &'static str,
    pub user_id: Option<i64>,
}

/// Resolves nothing up front; see the module documentation for what it does after.
pub async fn identity_middleware(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let address = client_address(peer, request.headers(), &state.config.trusted_proxies);
    // Only the CSRF cookie is needed after the handler; copying all headers would cost every
    // request an allocation per header.
    let csrf_cookie = cookie(request.headers(), CSRF_COOKIE).map(str::to_owned);
    let context = Arc::new(AuthContext::new(request.headers(), address));
    request.extensions_mut().insert(context.clone());

    let mut response = next.run(request).await;

    // A session cookie that nothing looked at is checked now, so a stale one gets cleared.
    if context.session_cookie().is_some() && context.resolved().is_none() {
        context.resolve(&state).await;
    }
    let outcome = context.resolved();
    let answered = match outcome.and_then(Outcome::identity) {
        Some(identity) => AnsweredIdentity {
            kind: identity.kind.as_str(),
            user_id: identity.user_id(),
        },
        None => AnsweredIdentity {
            kind: "anonymous",
            user_id: None,
        },
    };
    response.extensions_mut().insert(answered);

    maintain_cookies(&state, &context, csrf_cookie.as_deref(), &mut response);
    response
}

fn sets_cookie(response: &Response, name: &str) -> bool {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.starts_with(name) && value[name.len()..].starts_with('='))
}

fn maintain_cookies(
    state: &AppState,
    context: &AuthContext,
    csrf_cookie: Option<&str>,
    response: &mut Response,
) {
    let policy = state.cookie_policy();
    let handler_set_session = sets_cookie(response, SESSION_COOKIE);
    let mut session_cookie = context.browser_session_cookie();

    if !handler_set_session {
        match context.resolved() {
            // In kiosk mode a cookie that resolves to the kiosk identity is just as stale.
            Some(Outcome::Authenticated(identity))
                if identity.kind == CredentialKind::Kiosk && context.session_cookie().is_some() =>
            {
                let expired = policy.expired_cookie(SESSION_COOKIE);
                response.headers_mut().append(header::SET_COOKIE, expired);
                session_cookie = None;
            }
            Some(Outcome::Anonymous {
                stale_session: true,
            }) => {
                let expired = policy.expired_cookie(SESSION_COOKIE);
                response.headers_mut().append(header::SET_COOKIE, expired);
                session_cookie = None;
            }
            Some(Outcome::Authenticated(identity)) => {
                let renewed = identity
                    .session
                    .as_ref()
                    .and_then(|session| session.renewed_max_age_secs);
                if let (Some(max_age), Some(value)) = (renewed, context.session_cookie()) {
                    let value = SecretString::from(value);
                    let cookie = policy.session_cookie(&value, max_age);
                    response.headers_mut().append(header::SET_COOKIE, cookie);
                }
            }
            _ => {}
        }
    }

    // A handler that set either cookie (login, logout) has already issued the CSRF token.
    if handler_set_session || sets_cookie(response, CSRF_COOKIE) {
        return;
    }
    let csrf = state.csrf();
    let current = csrf_cookie;
    if !current.is_some_and(|token| csrf.is_valid(token, session_cookie)) {
        let token = csrf.issue(session_cookie);
        response
            .headers_mut()
            .append(header::SET_COOKIE, policy.csrf_cookie(&token));
    }
}
