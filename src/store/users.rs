//! User accounts as the store keeps them, and the operations on them.
//!
//! A user is found by id, by its lower-case username or by email address. Changes that must
//! revoke the user's credentials do so in the same transaction as the change itself.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{StoreError, StoreResult};
use crate::auth::scopes::Role;

impl TryFrom<String> for Role {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

/// Reads a role name stored in a row that is not a whole user, such as an invite's.
pub(super) fn parse_stored_role(stored: &str) -> StoreResult<Role> {
    stored
        .parse()
        .map_err(|error: String| StoreError::Other(anyhow::anyhow!(error)))
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

/// User accounts, created, found, changed and deleted as named operations.
///
/// No operation leaves the server without an enabled admin: one that would is a conflict and
/// changes nothing.
#[async_trait]
pub trait UserStore {
    /// Creates a user; a taken username or email is a conflict.
    async fn create_user(&self, user: NewUser) -> StoreResult<User>;

    /// Creates the user only while no user exists, atomically across instances.
    ///
    /// Returns `None` when some user already exists.
    async fn create_first_user(&self, user: NewUser) -> StoreResult<Option<User>>;

    /// The user with this id, enabled or not.
    async fn find_user(&self, id: i64) -> StoreResult<Option<User>>;

    /// Looks a user up by username, which is stored lower-case.
    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>>;

    /// The user with this email address, compared case-insensitively.
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;

    /// Every user, in id order.
    async fn list_users(&self) -> StoreResult<Vec<User>>;

    /// Applies the changes, revoking what [`UserUpdate::ends_sessions`] and
    /// [`UserUpdate::bumps_credential_version`] say.
    ///
    /// Ended sessions are all of the user's but `keep_session`. Demoting or disabling the
    /// last enabled admin is a conflict and changes nothing.
    async fn update_user(
        &self,
        id: i64,
        update: UserUpdate,
        keep_session: Option<i64>,
    ) -> StoreResult<User>;

    /// Deletes the user with everything it owns; deleting the last enabled admin is a
    /// conflict.
    async fn delete_user(&self, id: i64) -> StoreResult<()>;

    /// Records a successful password login, replacing the hash when it was upgraded.
    ///
    /// An upgraded hash verifies the same password, so it revokes nothing.
    async fn record_login(
        &self,
        user_id: i64,
        at: DateTime<Utc>,
        upgraded_hash: Option<String>,
    ) -> StoreResult<()>;
}
