//! Records as the store reads and writes them, shared by both backends.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::auth::scopes::Role;

impl TryFrom<String> for Role {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

/// A stored user account.
#[derive(Clone, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    /// Lower-case, unique.
    pub username: String,
    pub email: Option<String>,
    /// An argon2id PHC string, or a bcrypt hash imported from RomM until the next login.
    pub password_hash: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub enabled: bool,
    /// Bumped by every change that must revoke the user's outstanding credentials.
    pub credential_version: i64,
    pub avatar_path: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login: Option<DateTime<Utc>>,
    pub last_active: Option<DateTime<Utc>>,
}

impl fmt::Debug for User {
    /// Leaves out the password hash and the email address, which must not reach logs.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("User")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("enabled", &self.enabled)
            .field("credential_version", &self.credential_version)
            .finish_non_exhaustive()
    }
}

/// A user to create; the username is already normalised and the password hashed.
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub role: Role,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Default)]
pub struct UserUpdate {
    pub username: Option<String>,
    /// `Some(None)` removes the email address.
    pub email: Option<Option<String>>,
    pub password_hash: Option<String>,
    pub role: Option<Role>,
    pub enabled: Option<bool>,
}

impl UserUpdate {
    /// Whether applying this update must revoke the user's sessions and tokens.
    pub fn revokes_credentials(&self) -> bool {
        self.password_hash.is_some() || self.role.is_some() || self.enabled.is_some()
    }
}

/// A browser session; the cookie holds a secret whose SHA-256 is `token_hash`.
#[derive(Clone, Debug, sqlx::FromRow)]
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
}

impl Session {
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
}
