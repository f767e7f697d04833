//! OAuth2 password grants and the refresh tokens each of them issues.
//!
//! A refresh token is used once: rotating it stores its replacement in the same grant, and
//! presenting it again revokes the whole grant.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;

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

/// OAuth2 password grants and their rotating refresh tokens.
#[async_trait]
pub trait GrantStore {
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
}
