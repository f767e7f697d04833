//! Password authentication shared by login, HTTP Basic and the password grant, and the cache
//! that spares repeated Basic requests the cost of argon2.
//!
//! The cache is keyed by an HMAC of the username and password under a key of its own, so it
//! holds nothing that could be replayed or cracked offline. An entry remembers the user's
//! credential version (bumped by a password or enabled change) and role: when either differs
//! from the stored user, the entry is dropped and the next request verifies afresh.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};

use super::keys::Key;
use super::password::Verification;
use super::scopes::Role;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::User;

/// How long a verified credential is trusted without checking the hash again.
const CACHE_TTL: Duration = Duration::from_secs(10 * 60);

/// Beyond this many entries the cache starts over, bounding its memory.
const CACHE_CAPACITY: usize = 10_000;

/// Why a password did not authenticate.
#[derive(Debug)]
pub enum PasswordFailure {
    /// Too many recent failures for this address or username.
    Throttled { retry_after_secs: u64 },
    /// Unknown user or wrong password; the two are never told apart.
    Incorrect,
    /// The password is right but the account is disabled.
    Disabled,
    /// The password check could not run (a full hashing queue or a database failure).
    Unavailable(ApiError),
}

impl From<ApiError> for PasswordFailure {
    fn from(error: ApiError) -> PasswordFailure {
        PasswordFailure::Unavailable(error)
    }
}

impl From<crate::store::StoreError> for PasswordFailure {
    fn from(error: crate::store::StoreError) -> PasswordFailure {
        PasswordFailure::Unavailable(error.into())
    }
}

/// Checks a username and password, with the failure limits of the contract.
///
/// An unknown username is verified against a dummy hash so that it costs as much as a wrong
/// password, and a disabled account is reported only after its password was right.
pub async fn check_password(
    state: &AppState,
    address: IpAddr,
    username: &str,
    password: &SecretString,
) -> Result<User, PasswordFailure> {
    let username = username.to_lowercase();
    if let Some(wait) = state.throttle.retry_after(address, &username) {
        tracing::warn!(client.address = %address, "password attempts throttled");
        return Err(PasswordFailure::Throttled {
            retry_after_secs: wait.as_secs().max(1),
        });
    }

    // No stored username holds a NUL, and PostgreSQL refuses one in a query: it is unknown.
    let user = if username.contains('\0') {
        None
    } else {
        state.store.find_user_by_username(&username).await?
    };
    let stored_hash = user.as_ref().map(|user| user.password_hash.as_str());
    let verification = state.passwords.verify(password, stored_hash).await?;
    let (Some(user), Verification::Valid { upgraded_hash }) = (user, verification) else {
        state.throttle.record_failure(address, &username);
        tracing::debug!(client.address = %address, "wrong username or password");
        return Err(PasswordFailure::Incorrect);
    };

    state.throttle.record_success(&username);
    if !user.enabled {
        tracing::debug!(
            user.id = user.id,
            "password right but the account is disabled"
        );
        return Err(PasswordFailure::Disabled);
    }
    if upgraded_hash.is_some() {
        tracing::info!(user.id = user.id, "legacy bcrypt hash upgraded to argon2id");
    }
    state
        .store
        .record_login(user.id, Utc::now(), upgraded_hash)
        .await?;
    Ok(user)
}

struct CachedCredential {
    user_id: i64,
    credential_version: i64,
    role: Role,
    verified_at: Instant,
}

/// Basic credentials verified recently, by keyed hash.
#[derive(Default)]
pub struct BasicCache {
    entries: Mutex<HashMap<[u8; 32], CachedCredential>>,
}

/// The cache key of a username and password.
pub fn cache_key(key: &Key, username: &str, password: &SecretString) -> [u8; 32] {
    key.sign(&[
        username.to_lowercase().as_bytes(),
        password.expose_secret().as_bytes(),
    ])
}

impl BasicCache {
    /// The user id remembered for this key, if the entry is fresh.
    pub fn user_id(&self, key: &[u8; 32]) -> Option<i64> {
        let entries = self.entries.lock().expect("basic cache lock");
        let entry = entries.get(key)?;
        (entry.verified_at.elapsed() < CACHE_TTL).then_some(entry.user_id)
    }

    /// Whether the entry still describes `user` as it is stored now.
    pub fn still_matches(&self, key: &[u8; 32], user: &User) -> bool {
        let entries = self.entries.lock().expect("basic cache lock");
        entries.get(key).is_some_and(|entry| {
            entry.user_id == user.id
                && entry.credential_version == user.credential_version
                && entry.role == user.role
        })
    }

    pub fn insert(&self, key: [u8; 32], user: &User) {
        let mut entries = self.entries.lock().expect("basic cache lock");
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        let entry = CachedCredential {
            user_id: user.id,
            credential_version: user.credential_version,
            role: user.role,
            verified_at: Instant::now(),
        };
        entries.insert(key, entry);
    }

    pub fn remove(&self, key: &[u8; 32]) {
        self.entries.lock().expect("basic cache lock").remove(key);
    }
}
