//! The storage traits, their records, and the choice of backend from the database URL.
//!
//! Handlers and services call named operations on `Arc<dyn Store>`, declared one trait per
//! resource next to that resource's records. Each backend implements them in a folder of its
//! own, one file per resource, with its own SQL dialect and migrations (`migrations/sqlite`,
//! `migrations/postgres`). Every method is one unit of work: a method that writes more than
//! once does so in one transaction.

mod accounts;
mod client_tokens;
mod devices;
mod identities;
mod library;
mod oauth_grants;
mod postgres;
mod sessions;
mod sqlite;
mod users;

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

pub use accounts::{
    AccountStore, NewInvite, NewPasswordReset, PasswordResetRequest, PendingInvite, Registration,
};
pub use client_tokens::{
    ClientToken, ClientTokenStore, Exchange, NewClientToken, OwnedClientToken,
};
pub use devices::{
    Device, DeviceApproval, DeviceAuthRequest, DeviceFields, DevicePoll, DeviceStore,
    NewDeviceAuthRequest,
};
pub use identities::IdentityStore;
pub use library::{
    Collection, CollectionFields, Firmware, FirmwareFields, LibraryStore, Page, Platform,
    PlatformFields, PlatformRemoval, Reference, Rom, RomFields, RomPage, RomProps, Saved,
};
pub use oauth_grants::{
    GrantStore, NewRefreshGrant, NewRefreshToken, RefreshGrant, RefreshTokenRecord, Rotation,
};
pub use sessions::{NewSession, Session, SessionStore};
pub use users::{NewUser, User, UserStore, UserUpdate};

/// The ways a store operation can fail, as the API needs to tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record the operation needs does not exist.
    #[error("record not found")]
    NotFound,
    /// A uniqueness rule or a rule on the data's state was broken; the text is for users.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A per-user limit (such as the number of active tokens) would be exceeded.
    #[error("limit reached: {0}")]
    LimitReached(String),
    /// The database failed or refused the statement.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Anything else, such as a stored value that cannot be read back.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// What every store operation returns.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the server keeps, as named operations.
///
/// It sums up one trait per resource; what belongs to no single resource (settings, the
/// number of users) is declared here.
#[async_trait]
pub trait Store:
    UserStore
    + IdentityStore
    + SessionStore
    + GrantStore
    + ClientTokenStore
    + DeviceStore
    + AccountStore
    + LibraryStore
    + Send
    + Sync
    + 'static
{
    /// Which backend this is, for logs: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Returns the named setting, storing `candidate` first if none is stored yet.
    ///
    /// Concurrent callers with different candidates all get the one value that won.
    async fn setting_or_insert(&self, name: &str, candidate: &str) -> StoreResult<String>;

    /// How many users exist; zero means first-run setup is still open.
    async fn count_users(&self) -> StoreResult<i64>;
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
