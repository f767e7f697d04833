//! Users bound to the identities an OpenID Connect provider vouches for.
//!
//! An issuer and subject pair belongs to at most one user; binding one that is taken is a
//! conflict.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{NewUser, StoreResult, User};

/// The bindings between users and OpenID Connect identities.
#[async_trait]
pub trait IdentityStore {
    /// The user bound to this OpenID Connect issuer and subject.
    async fn find_user_by_identity(&self, issuer: &str, subject: &str)
        -> StoreResult<Option<User>>;

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
}
