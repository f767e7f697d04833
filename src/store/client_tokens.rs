//! Client API tokens and the pairing codes that hand one to a device.
//!
//! Neither a token's secret nor a pairing code is stored, only their SHA-256.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{StoreResult, User};

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
    /// Whether the token has no expiry or has not reached it at `now`.
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

/// Client API tokens and their one-use pairing codes.
#[async_trait]
pub trait ClientTokenStore {
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

    /// Deletes client tokens whose expiry has passed; returns how many.
    async fn delete_expired_client_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Deletes pairing codes whose expiry has passed; returns how many.
    async fn delete_expired_pairing_codes(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}
