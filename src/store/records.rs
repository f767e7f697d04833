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
    /// Whether applying this update ends the user's sessions: a password, role or enabled
    /// change.
    pub fn ends_sessions(&self) -> bool {
        self.password_hash.is_some() || self.role.is_some() || self.enabled.is_some()
    }

    /// Whether it also bumps the credential version, revoking OAuth2 access and refresh
    /// tokens: a password or enabled change.
    ///
    /// A role change does not: bearer tokens are intersected with the current role on every
    /// request, so a demotion shrinks them at once without ending them.
    pub fn bumps_credential_version(&self) -> bool {
        self.password_hash.is_some() || self.enabled.is_some()
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

/// An OAuth2 password grant: the family its refresh tokens belong to.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefreshGrant {
    pub id: i64,
    pub user_id: i64,
    /// The scopes granted, as [`crate::auth::scopes::ScopeSet`] bits.
    pub scopes: i64,
    /// The user's credential version when the grant was made; a later one revokes it.
    pub credential_version: i64,
    pub created_at: DateTime<Utc>,
    /// The family's absolute end, whatever its refreshes.
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

/// A grant to create with its first refresh token.
pub struct NewRefreshGrant {
    pub user_id: i64,
    pub scopes: i64,
    pub credential_version: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub first_token: NewRefreshToken,
}

/// A refresh token to store: only its hash.
pub struct NewRefreshToken {
    pub token_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
}

/// A stored refresh token with the grant it belongs to.
#[derive(Clone, Debug)]
pub struct RefreshTokenRecord {
    pub token_id: i64,
    pub expires_at: DateTime<Utc>,
    pub consumed_at: Option<DateTime<Utc>>,
    pub grant: RefreshGrant,
}

/// What presenting a refresh token for rotation did.
#[derive(Debug)]
pub enum Rotation {
    /// It was live and is now consumed; the replacement is stored.
    Rotated(RefreshGrant),
    /// It had been consumed before: the whole grant is now revoked.
    Reused { grant_id: i64, user_id: i64 },
    /// Expired, or its grant is revoked or expired.
    Dead,
    /// No such token.
    Unknown,
}
