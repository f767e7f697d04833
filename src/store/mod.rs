//! The storage trait, its records, and the choice of backend from the database URL.
//!
//! Handlers and services call named operations on `Arc<dyn Store>`; each backend keeps its
//! own SQL dialect and migrations (`migrations/sqlite`, `migrations/postgres`). Every method
//! is one unit of work: a method that writes more than once does so in one transaction.

mod accounts;
mod library;
mod postgres;
mod postgres_accounts;
mod postgres_library;
mod records;
mod sqlite;
mod sqlite_accounts;
mod sqlite_cache;
mod sqlite_library;
mod sqlite_reader;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

pub use accounts::{
    AccountStore, NewInvite, NewPasswordReset, PasswordResetRequest, PendingInvite, Registration,
};
pub use library::{
    Collection, CollectionFields, Firmware, FirmwareFields, LibraryStore, Page, Platform,
    PlatformFields, PlatformRemoval, Reference, Rom, RomFields, RomPage, RomProps, Saved,
};
pub use records::{
    ClientToken, Device, DeviceApproval, DeviceAuthRequest, DeviceFields, DevicePoll, Exchange,
    NewClientToken, NewDeviceAuthRequest, NewRefreshGrant, NewRefreshToken, NewSession, NewUser,
    OwnedClientToken, RefreshGrant, RefreshTokenRecord, Rotation, Session, User, UserUpdate,
};

/// The ways a store operation can fail, as the API needs to tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("record not found")]
    NotFound,
    /// A uniqueness rule or a rule on the data's state was broken; the text is for users.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A per-user limit (such as the number of active tokens) would be exceeded.
    #[error("limit reached: {0}")]
    LimitReached(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the server keeps, as named operations.
#[async_trait]
pub trait Store: AccountStore + LibraryStore + Send + Sync + 'static {
    /// Which backend this is, for logs: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Returns the named setting, storing `candidate` first if none is stored yet.
    ///
    /// Concurrent callers with different candidates all get the one value that won.
    async fn setting_or_insert(&self, name: &str, candidate: &str) -> StoreResult<String>;

    async fn count_users(&self) -> StoreResult<i64>;

    /// Creates a user; a taken username or email is a conflict.
    async fn create_user(&self, user: NewUser) -> StoreResult<User>;

    /// Creates the user only while no user exists, atomically across instances.
    ///
    /// Returns `None` when some user already exists.
    async fn create_first_user(&self, user: NewUser) -> StoreResult<Option<User>>;

    async fn find_user(&self, id: i64) -> StoreResult<Option<User>>;

    /// Looks a user up by username, which is stored lower-case.
    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>>;

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

    async fn delete_session(&self, session_id: i64) -> StoreResult<()>;

    /// The user's sessions that have not expired, newest first.
    async fn list_sessions(&self, user_id: i64, now: DateTime<Utc>) -> StoreResult<Vec<Session>>;

    /// Ends the user's session with that public id; `false` when the user has none such.
    async fn delete_user_session(&self, user_id: i64, public_id: &str) -> StoreResult<bool>;

    /// The user bound to this OpenID Connect issuer and subject.
    async fn find_user_by_identity(&self, issuer: &str, subject: &str)
        -> StoreResult<Option<User>>;

    /// The user with this email address, compared case-insensitively.
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;

    /// Binds an existing user to an OpenID Connect issuer and subject.
    async fn link_identity(
        &self,
        user_id: i64,
        issuer: &str,
        subject: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Creates a user already bound to an OpenID Connect identity, in one transaction.
    async fn create_oidc_user(
        &self,
        user: NewUser,
        issuer: &str,
        subject: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<User>;

    /// Deletes sessions whose idle or absolute expiry has passed; returns how many.
    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Stores a new password grant with its first refresh token; returns the grant id.
    async fn create_refresh_grant(&self, grant: NewRefreshGrant) -> StoreResult<i64>;

    /// Finds a refresh token with its grant by the token's hash, without changing anything.
    async fn find_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<RefreshTokenRecord>>;

    /// Consumes a live refresh token and stores its replacement in the same grant.
    ///
    /// Exactly one of several concurrent calls with the same token rotates it, also across
    /// instances; a token presented after it was consumed revokes its whole grant.
    async fn rotate_refresh_token(
        &self,
        token_hash: &[u8],
        replacement: NewRefreshToken,
        now: DateTime<Utc>,
    ) -> StoreResult<Rotation>;

    /// Revokes a grant and so every refresh token of it.
    async fn revoke_refresh_grant(&self, grant_id: i64) -> StoreResult<()>;

    /// Deletes grants that expired or were revoked, with their tokens; returns how many.
    async fn delete_dead_refresh_grants(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Creates a client token unless its owner already has `max_active` unexpired ones.
    ///
    /// The count and the insert are one transaction serialised per user, so the limit holds
    /// under concurrent creation and across instances.
    async fn create_client_token(
        &self,
        token: NewClientToken,
        max_active: i64,
    ) -> StoreResult<ClientToken>;

    /// The user's tokens, newest first.
    async fn list_client_tokens(&self, user_id: i64) -> StoreResult<Vec<ClientToken>>;

    /// Every user's tokens with the owner's username, newest first.
    async fn list_all_client_tokens(&self) -> StoreResult<Vec<OwnedClientToken>>;

    /// Finds a token with its owner by the hash of its secret.
    async fn find_client_token(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<(ClientToken, User)>>;

    /// Deletes the token; with `owner`, only when it belongs to that user.
    async fn delete_client_token(&self, id: i64, owner: Option<i64>) -> StoreResult<bool>;

    /// Gives the user's token a new secret; the old one stops working at once.
    async fn regenerate_client_token(
        &self,
        id: i64,
        owner: i64,
        token_hash: &[u8],
    ) -> StoreResult<Option<ClientToken>>;

    /// Records a use of the token, unless one was recorded since `stale_before`.
    async fn touch_client_token(
        &self,
        id: i64,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Stores a pairing code for the user's token, replacing any earlier one; `false` when
    /// the user has no such token.
    async fn create_pairing_code(
        &self,
        token_id: i64,
        owner: i64,
        code_hash: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Whether a live pairing code has this hash.
    async fn pairing_code_is_pending(
        &self,
        code_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Uses a live pairing code once: its token gets the secret whose hash is given.
    async fn exchange_pairing_code(
        &self,
        code_hash: &[u8],
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Exchange>;

    /// Creates a device, or updates the user's device with the same client identifier.
    async fn upsert_device(
        &self,
        user_id: i64,
        fields: DeviceFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Device>;

    /// The user's devices, newest first.
    async fn list_devices(&self, user_id: i64) -> StoreResult<Vec<Device>>;

    async fn find_device(&self, user_id: i64, id: &str) -> StoreResult<Option<Device>>;

    /// Changes the user's device; `None` when the user has no such device.
    async fn update_device(
        &self,
        user_id: i64,
        id: &str,
        fields: DeviceFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Device>>;

    /// Deletes the user's device and every token bound to it.
    async fn delete_device(&self, user_id: i64, id: &str) -> StoreResult<bool>;

    async fn create_device_auth(&self, request: NewDeviceAuthRequest) -> StoreResult<()>;

    /// The request with this user code, whatever its state.
    async fn find_device_auth(
        &self,
        user_code_hash: &[u8],
    ) -> StoreResult<Option<DeviceAuthRequest>>;

    /// Approves a pending, unexpired request: creates or updates the device and a token bound
    /// to it, in one transaction; `None` when there is no such pending request.
    async fn approve_device_auth(
        &self,
        user_code_hash: &[u8],
        approval: DeviceApproval,
    ) -> StoreResult<Option<Device>>;

    /// Denies a pending, unexpired request; `false` when there is none.
    async fn deny_device_auth(
        &self,
        user_code_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// One poll by the device: reports the state, and completes an approved request exactly
    /// once by giving its token the secret whose hash is `token_hash`.
    async fn poll_device_auth(
        &self,
        device_code_hash: &[u8],
        token_hash: &[u8],
        now: DateTime<Utc>,
        min_interval: chrono::Duration,
    ) -> StoreResult<DevicePoll>;
}

/// Opens the database named by the URL, creating a SQLite file and its folder if missing,
/// and applies pending migrations.
pub async fn connect(database_url: &SecretString) -> anyhow::Result<Arc<dyn Store>> {
    let url = database_url.expose_secret();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PostgresStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else {
        anyhow::bail!("DATABASE_URL must start with sqlite:// or postgres://")
    }
}
