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

/// A client API token; the secret itself is never stored, only its SHA-256.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClientToken {
    pub id: i64,
    pub user_id: i64,
    pub device_id: Option<String>,
    pub name: String,
    /// The scopes granted, as [`crate::auth::scopes::ScopeSet`] bits.
    pub scopes: i64,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl ClientToken {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|expires_at| expires_at > now)
    }
}

/// A client token with its owner's username, for the admin listing.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OwnedClientToken {
    #[sqlx(flatten)]
    pub token: ClientToken,
    pub username: String,
}

/// A client token to create.
pub struct NewClientToken {
    pub user_id: i64,
    pub device_id: Option<String>,
    pub name: String,
    pub token_hash: Vec<u8>,
    pub scopes: i64,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// What presenting a pairing code for exchange did.
#[derive(Debug)]
pub enum Exchange {
    /// The code was live and is now used; the token has the new secret.
    Exchanged(ClientToken),
    /// The token's owner is disabled; the code is left as it was.
    OwnerDisabled,
    /// No such live code.
    Invalid,
}

/// A device a user signs in from.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Device {
    /// A UUID, as RomM's clients expect a string.
    pub id: String,
    pub user_id: i64,
    pub name: String,
    pub platform: Option<String>,
    pub client: Option<String>,
    pub client_version: Option<String>,
    pub client_device_identifier: Option<String>,
    pub hostname: Option<String>,
    pub sync_mode: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A device's fields as a client gives them; `None` leaves a stored field as it is.
#[derive(Clone, Debug, Default)]
pub struct DeviceFields {
    pub name: Option<String>,
    pub platform: Option<String>,
    pub client: Option<String>,
    pub client_version: Option<String>,
    pub client_device_identifier: Option<String>,
    pub hostname: Option<String>,
    pub sync_mode: Option<String>,
}

/// A device-authorization request of the RFC 8628 style flow.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeviceAuthRequest {
    pub id: i64,
    pub client_device_identifier: String,
    pub name: String,
    pub client: String,
    pub platform: Option<String>,
    pub client_version: Option<String>,
    pub requested_scopes: i64,
    /// `pending`, `approved`, `denied` or `completed`.
    pub status: String,
    pub token_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_polled_at: Option<DateTime<Utc>>,
}

/// A device-authorization request to store; both codes only as hashes.
pub struct NewDeviceAuthRequest {
    pub device_code_hash: Vec<u8>,
    pub user_code_hash: Vec<u8>,
    pub client_device_identifier: String,
    pub name: String,
    pub client: String,
    pub platform: Option<String>,
    pub client_version: Option<String>,
    pub requested_scopes: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An approval: the device to create or update and the token to bind to it.
pub struct DeviceApproval {
    pub user_id: i64,
    pub device_name: String,
    pub scopes: i64,
    pub token_expires_at: Option<DateTime<Utc>>,
    /// An unusable placeholder; the real secret is made at the successful poll.
    pub placeholder_hash: Vec<u8>,
    pub max_active_tokens: i64,
    pub now: DateTime<Utc>,
}

/// What one poll of the device-token endpoint found.
#[derive(Debug)]
pub enum DevicePoll {
    Pending,
    /// Polled again sooner than the interval allows.
    SlowDown,
    Denied,
    /// Unknown, expired, or already completed.
    Expired,
    /// Approved: the token now has the secret whose hash was given, exactly once.
    Completed(ClientToken),
}
