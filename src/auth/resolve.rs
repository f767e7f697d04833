//! How each kind of presented credential is checked and turned into an [`Outcome`].
//!
//! The resolution order is fixed by [`Presented`]: an `Authorization` header alone decides
//! when there is one, otherwise the session cookie. Every refusal is logged at debug with its
//! reason and never with the credential.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{Duration, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::access_token::{AccessTokens, Rejection};
use super::basic::{cache_key, check_password, PasswordFailure};
use super::client_token::client_token_hash;
use super::credentials::Presented;
use super::identity::{ClientTokenRef, CredentialKind, Identity, Outcome, Refusal, SessionRef};
use super::password::QUEUE_FULL_DETAIL;
use super::scopes::{ScopeSet, READ_SCOPES};
use super::session::hash_session_cookie;
use crate::error::{ApiError, Challenge};
use crate::state::AppState;

/// A session is marked used at most this often, so that reads do not all become writes.
const SESSION_TOUCH_INTERVAL_SECS: i64 = 60;

/// A client token's `last_used_at` is written at most this often.
const TOKEN_TOUCH_INTERVAL_SECS: i64 = 60;

/// Checks the presented credential against the store and the keys.
///
/// A malformed, unknown, expired or revoked credential is refused, and an unknown session
/// cookie leaves the caller anonymous; a full password-hashing queue is refused with 429.
/// Only a check that could not run, such as one the store failed, is [`Outcome::Failed`], so a
/// bad credential never becomes a 5xx.
pub(super) async fn resolve(state: &AppState, presented: &Presented, address: IpAddr) -> Outcome {
    let result = match presented {
        Presented::None => Ok(anonymous(state, false)),
        Presented::Malformed { basic, reason } => {
            tracing::debug!(reason, "unreadable authorization header");
            let challenge = if *basic {
                Challenge::Basic
            } else {
                Challenge::InvalidBearer
            };
            Ok(Outcome::Refused(Refusal::new(
                "Not authenticated",
                challenge,
            )))
        }
        Presented::Basic { username, password } => {
            resolve_basic(state, address, username, password).await
        }
        Presented::Jwt(token) => resolve_access_token(state, token).await,
        Presented::ClientToken(token) => resolve_client_token(state, token).await,
        Presented::Session(cookie) => resolve_session(state, cookie).await,
    };
    result.unwrap_or_else(|error| {
        tracing::error!(error = %error, "credential check failed");
        Outcome::Failed(Arc::new(error))
    })
}

fn anonymous(state: &AppState, stale_session: bool) -> Outcome {
    if !state.config.kiosk_mode {
        return Outcome::Anonymous { stale_session };
    }
    let kiosk = Identity {
        kind: CredentialKind::Kiosk,
        scopes: READ_SCOPES,
        user: None,
        session: None,
        client_token: None,
    };
    Outcome::Authenticated(kiosk)
}

async fn resolve_basic(
    state: &AppState,
    address: IpAddr,
    username: &str,
    password: &SecretString,
) -> anyhow::Result<Outcome> {
    if state.config.disable_userpass_login {
        tracing::debug!("basic credentials refused: password login is disabled");
        return Ok(Outcome::Refused(Refusal::new(
            "Not authenticated",
            Challenge::Basic,
        )));
    }

    let key = cache_key(&state.keys.basic_cache, username, password);
    if let Some(user_id) = state.basic_cache.user_id(&key) {
        let user = state.store.find_user(user_id).await?;
        match user {
            Some(user)
                if user.enabled
                    && state.basic_cache.still_matches(&key, &user)
                    && user.username == username.to_lowercase() =>
            {
                return Ok(Outcome::Authenticated(Identity::for_user(
                    CredentialKind::Basic,
                    user,
                )));
            }
            _ => state.basic_cache.remove(&key),
        }
    }

    let refusal = match check_password(state, address, username, password).await {
        Ok(user) => {
            state.basic_cache.insert(key, &user);
            return Ok(Outcome::Authenticated(Identity::for_user(
                CredentialKind::Basic,
                user,
            )));
        }
        Err(PasswordFailure::Incorrect) => {
            Refusal::new("Incorrect username or password", Challenge::Basic)
        }
        Err(PasswordFailure::Disabled) => Refusal::new("Disabled user", Challenge::Basic),
        Err(PasswordFailure::Throttled { retry_after_secs }) => Refusal {
            retry_after_secs: Some(retry_after_secs),
            ..Refusal::new(
                "Too many failed attempts; try again later",
                Challenge::Basic,
            )
        },
        // A full hashing queue sheds the request with 429, as login and the token endpoint do.
        Err(PasswordFailure::Unavailable(ApiError::TooManyRequests {
            retry_after_secs, ..
        })) => Refusal {
            retry_after_secs: Some(retry_after_secs),
            ..Refusal::new(QUEUE_FULL_DETAIL, Challenge::Basic)
        },
        Err(PasswordFailure::Unavailable(error)) => return Err(anyhow::anyhow!("{error}")),
    };
    Ok(Outcome::Refused(refusal))
}

async fn resolve_access_token(state: &AppState, token: &SecretString) -> anyhow::Result<Outcome> {
    let tokens = AccessTokens {
        key: &state.keys.access_token,
    };
    let refuse = |detail| {
        Ok(Outcome::Refused(Refusal::new(
            detail,
            Challenge::InvalidBearer,
        )))
    };
    let grant = state
        .verified_tokens
        .grant(&tokens, token.expose_secret(), Utc::now());
    let grant = match grant {
        Ok(grant) => grant,
        Err(Rejection::Expired) => {
            tracing::debug!("expired access token");
            return refuse("Token expired");
        }
        Err(Rejection::Invalid) => {
            tracing::debug!("access token with a bad signature, algorithm or claims");
            return refuse("Not authenticated");
        }
    };
    let user_id = grant.user_id;

    let Some(user) = state.store.find_user(user_id).await? else {
        tracing::debug!(user.id = user_id, "access token of a deleted user");
        return refuse("Not authenticated");
    };
    if !user.enabled || user.credential_version != grant.credential_version {
        tracing::debug!(
            user.id = user_id,
            "access token revoked by a password or enabled change"
        );
        return refuse("Not authenticated");
    }

    let effective = grant.scopes.intersection(user.role.scopes());
    let identity = Identity {
        scopes: effective,
        ..Identity::for_user(CredentialKind::Jwt, user)
    };
    Ok(Outcome::Authenticated(identity))
}

async fn resolve_client_token(state: &AppState, token: &SecretString) -> anyhow::Result<Outcome> {
    let refuse = |detail| {
        Ok(Outcome::Refused(Refusal::new(
            detail,
            Challenge::InvalidBearer,
        )))
    };
    // A value of the wrong shape cannot be ours; it costs no database look-up.
    let Some(token_hash) = client_token_hash(token.expose_secret()) else {
        tracing::debug!("malformed client token");
        return refuse("Not authenticated");
    };
    let Some((token, user)) = state.store.find_client_token(&token_hash).await? else {
        tracing::debug!("unknown client token");
        return refuse("Not authenticated");
    };

    let now = Utc::now();
    if !token.is_active(now) {
        tracing::debug!(token.id = token.id, "expired client token");
        return refuse("Token expired");
    }
    if !user.enabled {
        tracing::debug!(token.id = token.id, "client token of a disabled user");
        return refuse("Not authenticated");
    }
    if token
        .last_used_at
        .is_none_or(|at| now - at >= Duration::seconds(TOKEN_TOUCH_INTERVAL_SECS))
    {
        let stale_before = now - Duration::seconds(TOKEN_TOUCH_INTERVAL_SECS);
        state
            .store
            .touch_client_token(token.id, now, stale_before)
            .await?;
    }

    let scopes = ScopeSet::from_bits(u32::try_from(token.scopes).unwrap_or(0));
    let mut identity = Identity::for_user(CredentialKind::ClientToken, user);
    identity.scopes = scopes.intersection(identity.scopes);
    identity.client_token = Some(ClientTokenRef {
        id: token.id,
        device_id: token.device_id,
    });
    Ok(Outcome::Authenticated(identity))
}

async fn resolve_session(state: &AppState, cookie: &SecretString) -> anyhow::Result<Outcome> {
    let token_hash = hash_session_cookie(cookie.expose_secret());
    let Some((session, user)) = state.store.find_session(&token_hash).await? else {
        tracing::debug!("unknown session cookie");
        return Ok(anonymous(state, true));
    };

    let now = Utc::now();
    if session.is_expired(now) {
        tracing::debug!(session.id = session.id, "expired session cookie");
        state.store.delete_session(session.id).await?;
        return Ok(anonymous(state, true));
    }
    if !user.enabled {
        tracing::debug!(user.id = user.id, "session of a disabled user");
        return Ok(anonymous(state, true));
    }

    let mut renewed_max_age_secs = None;
    if (now - session.last_seen_at).num_seconds() >= SESSION_TOUCH_INTERVAL_SECS {
        let idle = Duration::seconds(state.config.session_max_age_seconds as i64);
        let idle_expires_at = (now + idle).min(session.absolute_expires_at);
        state
            .store
            .touch_session(session.id, now, idle_expires_at)
            .await?;
        renewed_max_age_secs = Some((idle_expires_at - now).num_seconds().max(0));
    }

    let mut identity = Identity::for_user(CredentialKind::Session, user);
    identity.session = Some(SessionRef {
        id: session.id,
        renewed_max_age_secs,
    });
    Ok(Outcome::Authenticated(identity))
}
