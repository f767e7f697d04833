//! Invite links, password-reset links and forgotten-password requests, on both backends.
//!
//! Both kinds of link are one-use bearer secrets stored as hashes. Using one is a single
//! transaction: the link is marked used and the account change is made together, or neither
//! happens, so a link cannot be spent twice and a failed registration leaves it usable.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{StoreResult, User};
use crate::auth::scopes::Role;

/// An invite link to store; only the hash of its token is kept.
pub struct NewInvite {
    pub token_hash: Vec<u8>,
    /// The role the registered account gets.
    pub role: Role,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An invite that has been neither used nor outlived, with who made it.
#[derive(Clone, Debug)]
pub struct PendingInvite {
    pub id: i64,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    /// The inviter as they are now, so their authority can be checked again at use.
    pub inviter: User,
}

/// The account an invite registers, already validated and hashed; the role is the invite's.
pub struct Registration {
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
}

/// A password-reset link to store; only the hash of its token is kept.
pub struct NewPasswordReset {
    pub token_hash: Vec<u8>,
    pub user_id: i64,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A user's forgotten-password requests, folded into one row for the admins to act on.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PasswordResetRequest {
    pub user_id: i64,
    pub username: String,
    pub first_requested_at: DateTime<Utc>,
    pub last_requested_at: DateTime<Utc>,
    pub request_count: i64,
    /// Where the latest request came from.
    pub client_address: Option<String>,
}

/// Invite links, password-reset links and forgotten-password requests.
#[async_trait]
pub trait AccountStore {
    /// Stores a new invite; only the hash of its token is kept.
    async fn create_invite(&self, invite: NewInvite) -> StoreResult<()>;

    /// The invite with this token hash, if it is unused and has not expired by `now`.
    async fn find_pending_invite(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<PendingInvite>>;

    /// Marks the invite used and creates its account, in one transaction.
    ///
    /// `None` when the invite was used or expired meanwhile. A taken username or email is a
    /// conflict, and then the invite stays usable.
    async fn register_with_invite(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
        registration: Registration,
    ) -> StoreResult<Option<User>>;

    /// Stores a reset link for the user, replacing any unused one and settling the user's
    /// forgotten-password request.
    async fn create_password_reset(&self, reset: NewPasswordReset) -> StoreResult<()>;

    /// The user a reset link belongs to, if it is unused and has not expired by `now`.
    async fn find_pending_password_reset(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>>;

    /// Marks the link used and sets the new password, in one transaction, revoking every
    /// session, refresh grant and access token of the user.
    ///
    /// `None` when the link was used or expired meanwhile.
    async fn reset_password(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
        password_hash: &str,
    ) -> StoreResult<Option<User>>;

    /// Records a forgotten-password request; returns the user's id when such a user exists.
    ///
    /// An unknown username stores nothing, so strangers cannot fill the table.
    async fn record_password_reset_request(
        &self,
        username: &str,
        at: DateTime<Utc>,
        client_address: Option<&str>,
    ) -> StoreResult<Option<i64>>;

    /// The requests no reset link has settled yet, latest first.
    async fn list_password_reset_requests(&self) -> StoreResult<Vec<PasswordResetRequest>>;

    /// Deletes invites that were used or expired by `now`.
    async fn delete_finished_invites(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Deletes reset links that were used or expired by `now`.
    async fn delete_finished_password_resets(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}
