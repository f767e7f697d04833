//! Browser sessions, found by the hash of the secret their cookie holds.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{StoreResult, User};

/// A browser session; the cookie holds a secret whose SHA-256 is `token_hash`.
#[derive(Clone, sqlx::FromRow)]
pub struct Session {
    pub id: i64,
    /// The id shown to the user when listing sessions; never the cookie value.
    pub public_id: String,
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub idle_expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub client_address: Option<String>,
    /// For a session started through OIDC, the provider's ID token, sent back only as the
    /// hint when asking the provider to end its session too.
    pub oidc_id_token: Option<String>,
}

impl fmt::Debug for Session {
    /// Leaves out the ID token and the client's details.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Session")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("absolute_expires_at", &self.absolute_expires_at)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Whether the idle or the absolute lifetime has run out at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.idle_expires_at || now >= self.absolute_expires_at
    }
}

/// A session to create.
pub struct NewSession {
    pub public_id: String,
    pub token_hash: Vec<u8>,
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    pub idle_expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub client_address: Option<String>,
    pub oidc_id_token: Option<String>,
}

/// Browser sessions with their idle and absolute expiry.
#[async_trait]
pub trait SessionStore {
    /// Stores a new session; only the hash of its cookie value is kept.
    async fn create_session(&self, session: NewSession) -> StoreResult<Session>;

    /// Finds a session with its user by the hash of the cookie value.
    async fn find_session(&self, token_hash: &[u8]) -> StoreResult<Option<(Session, User)>>;

    /// Marks a session used now and pushes its idle expiry to `idle_expires_at`.
    async fn touch_session(
        &self,
        session_id: i64,
        at: DateTime<Utc>,
        idle_expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Ends one session, as logout does.
    async fn delete_session(&self, session_id: i64) -> StoreResult<()>;

    /// The user's sessions that have not expired, newest first.
    async fn list_sessions(&self, user_id: i64, now: DateTime<Utc>) -> StoreResult<Vec<Session>>;

    /// Ends the user's session with that public id; `false` when the user has none such.
    async fn delete_user_session(&self, user_id: i64, public_id: &str) -> StoreResult<bool>;

    /// Deletes sessions whose idle or absolute expiry has passed; returns how many.
    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}
