//! The one Identity every credential resolves into, and the request's lazily resolved
//! credential.
//!
//! The middleware parses what a request presents and leaves an [`AuthContext`] in its
//! extensions; the credential is checked only when a handler or guard asks, once per request.
//! Public routes therefore never pay for (or fail on) a stale credential they do not need.

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use super::credentials::{cookie, Presented, SESSION_COOKIE};
use super::resolve;
use super::scopes::ScopeSet;
use crate::error::{ApiError, Challenge};
use crate::state::AppState;
use crate::store::User;

/// How the credential of an identity was presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    Session,
    Basic,
    Jwt,
    ClientToken,
    /// No credential, in kiosk mode: the read scopes and no user.
    Kiosk,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Session => "session",
            CredentialKind::Basic => "basic",
            CredentialKind::Jwt => "jwt",
            CredentialKind::ClientToken => "client_token",
            CredentialKind::Kiosk => "kiosk",
        }
    }

    /// Whether a 403 for this credential carries a bearer `insufficient_scope` challenge.
    pub fn is_bearer(self) -> bool {
        matches!(self, CredentialKind::Jwt | CredentialKind::ClientToken)
    }
}

/// The session behind a session identity.
#[derive(Clone, Debug)]
pub struct SessionRef {
    pub id: i64,
    /// Set when this request extended the session, so its cookie is sent again with the
    /// new lifetime.
    pub renewed_max_age_secs: Option<i64>,
}

/// The client token behind a client-token identity.
#[derive(Clone, Debug)]
pub struct ClientTokenRef {
    pub id: i64,
    /// The device the token is bound to, reported as `current_device_id`.
    pub device_id: Option<String>,
}

/// Who is calling, how, and with which scopes.
#[derive(Clone, Debug)]
pub struct Identity {
    pub kind: CredentialKind,
    pub scopes: ScopeSet,
    /// Absent only for the kiosk identity.
    pub user: Option<Arc<User>>,
    pub session: Option<SessionRef>,
    pub client_token: Option<ClientTokenRef>,
}

impl Identity {
    /// The calling user; the kiosk identity has none and is refused like an anonymous caller.
    pub fn user(&self) -> Result<&User, ApiError> {
        self.user
            .as_deref()
            .ok_or_else(|| ApiError::not_authenticated(Challenge::Bearer))
    }

    pub fn user_id(&self) -> Option<i64> {
        self.user.as_ref().map(|user| user.id)
    }

    pub fn session_id(&self) -> Option<i64> {
        self.session.as_ref().map(|session| session.id)
    }

    pub(super) fn for_user(kind: CredentialKind, user: User) -> Identity {
        Identity {
            kind,
            scopes: user.role.scopes(),
            user: Some(Arc::new(user)),
            session: None,
            client_token: None,
        }
    }
}

/// Why a presented credential was refused; cloneable so every extractor can report it.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub detail: &'static str,
    pub challenge: Challenge,
    /// Set when the refusal is a rate limit (429) rather than a bad credential (401).
    pub retry_after_secs: Option<u64>,
}

impl Refusal {
    pub(super) fn new(detail: &'static str, challenge: Challenge) -> Refusal {
        Refusal {
            detail,
            challenge,
            retry_after_secs: None,
        }
    }

    pub fn to_error(&self) -> ApiError {
        match self.retry_after_secs {
            Some(retry_after_secs) => ApiError::TooManyRequests {
                detail: self.detail.to_owned(),
                retry_after_secs,
            },
            None => ApiError::Unauthorized {
                detail: self.detail.to_owned(),
                challenge: self.challenge,
            },
        }
    }
}

/// What the credential of a request resolved into.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// No credential. `stale_session` is set when a session cookie was sent but is no longer
    /// valid, so the response clears it.
    Anonymous {
        stale_session: bool,
    },
    Authenticated(Identity),
    Refused(Refusal),
    /// The check itself failed (the database is down); a 500, never a 401.
    Failed(Arc<anyhow::Error>),
}

impl Outcome {
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Outcome::Authenticated(identity) => Some(identity),
            _ => None,
        }
    }
}

/// The credential of one request and, once asked for, what it resolved into.
pub struct AuthContext {
    pub presented: Presented,
    pub address: IpAddr,
    /// The browser's session cookie, even when an `Authorization` header decides instead.
    browser_session: Option<SecretString>,
    outcome: OnceCell<Outcome>,
}

impl AuthContext {
    pub fn new(headers: &HeaderMap, address: IpAddr) -> AuthContext {
        let browser_session = cookie(headers, SESSION_COOKIE)
            .filter(|value| !value.is_empty())
            .map(SecretString::from);
        AuthContext {
            presented: Presented::from_headers(headers),
            address,
            browser_session,
            outcome: OnceCell::new(),
        }
    }

    /// Resolves the credential, at most once per request.
    pub async fn resolve(&self, state: &AppState) -> &Outcome {
        self.outcome
            .get_or_init(|| resolve::resolve(state, &self.presented, self.address))
            .await
    }

    /// The outcome if something already asked for it.
    pub fn resolved(&self) -> Option<&Outcome> {
        self.outcome.get()
    }

    /// The raw session cookie, when the session cookie is the request's credential.
    pub fn session_cookie(&self) -> Option<&str> {
        match &self.presented {
            Presented::Session(value) => Some(value.expose_secret()),
            _ => None,
        }
    }

    /// The raw session cookie the browser holds, whatever decides the request.
    pub fn browser_session_cookie(&self) -> Option<&str> {
        self.browser_session
            .as_ref()
            .map(ExposeSecret::expose_secret)
    }
}
