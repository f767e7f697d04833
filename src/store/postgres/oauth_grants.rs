//! OAuth2 password grants and their refresh tokens on PostgreSQL.
//!
//! Rotation locks the refresh token's row, so of two requests with the same token only the
//! first finds it unconsumed, whichever instances serve them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::PostgresStore;
use crate::store::{
    GrantStore, NewRefreshGrant, NewRefreshToken, RefreshGrant, RefreshTokenRecord, Rotation,
    StoreResult,
};

/// The columns of a refresh token joined with its grant, as [`TokenRow`] reads them.
const TOKEN_WITH_GRANT: &str = "SELECT t.id AS token_id, t.expires_at AS token_expires_at, \
    t.consumed_at, g.id, g.user_id, g.scopes, g.credential_version, g.created_at, \
    g.expires_at, g.revoked \
    FROM refresh_tokens t JOIN oauth_grants g ON g.id = t.grant_id WHERE t.token_hash = $1";

#[derive(sqlx::FromRow)]
struct TokenRow {
    token_id: i64,
    token_expires_at: DateTime<Utc>,
    consumed_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    grant: RefreshGrant,
}

impl From<TokenRow> for RefreshTokenRecord {
    fn from(row: TokenRow) -> RefreshTokenRecord {
        RefreshTokenRecord {
            token_id: row.token_id,
            expires_at: row.token_expires_at,
            consumed_at: row.consumed_at,
            grant: row.grant,
        }
    }
}

async fn insert_refresh_token(
    connection: &mut PgConnection,
    grant_id: i64,
    token: &NewRefreshToken,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (grant_id, token_hash, issued_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(grant_id)
    .bind(&token.token_hash)
    .bind(now)
    .bind(token.expires_at)
    .execute(connection)
    .await?;
    Ok(())
}

#[async_trait]
impl GrantStore for PostgresStore {
    async fn create_refresh_grant(&self, grant: NewRefreshGrant) -> StoreResult<i64> {
        let mut transaction = self.pool.begin().await?;
        let grant_id: i64 = sqlx::query_scalar(
            "INSERT INTO oauth_grants (user_id, scopes, credential_version, created_at, \
                expires_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(grant.user_id)
        .bind(grant.scopes)
        .bind(grant.credential_version)
        .bind(grant.created_at)
        .bind(grant.expires_at)
        .fetch_one(&mut *transaction)
        .await?;
        insert_refresh_token(
            &mut transaction,
            grant_id,
            &grant.first_token,
            grant.created_at,
        )
        .await?;
        transaction.commit().await?;
        Ok(grant_id)
    }

    async fn find_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        let row: Option<TokenRow> = sqlx::query_as(TOKEN_WITH_GRANT)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(RefreshTokenRecord::from))
    }

    async fn rotate_refresh_token(
        &self,
        token_hash: &[u8],
        replacement: NewRefreshToken,
        now: DateTime<Utc>,
    ) -> StoreResult<Rotation> {
        let mut transaction = self.pool.begin().await?;
        let row: Option<TokenRow> = sqlx::query_as(&format!("{TOKEN_WITH_GRANT} FOR UPDATE OF t"))
            .bind(token_hash)
            .fetch_optional(&mut *transaction)
            .await?;
        let Some(TokenRow {
            token_id,
            token_expires_at,
            consumed_at,
            grant,
        }) = row
        else {
            return Ok(Rotation::Unknown);
        };

        if consumed_at.is_some() {
            sqlx::query("UPDATE oauth_grants SET revoked = TRUE WHERE id = $1")
                .bind(grant.id)
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
            return Ok(Rotation::Reused {
                grant_id: grant.id,
                user_id: grant.user_id,
            });
        }
        if grant.revoked || token_expires_at <= now || grant.expires_at <= now {
            return Ok(Rotation::Dead);
        }

        sqlx::query("UPDATE refresh_tokens SET consumed_at = $2 WHERE id = $1")
            .bind(token_id)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
        insert_refresh_token(&mut transaction, grant.id, &replacement, now).await?;
        transaction.commit().await?;
        Ok(Rotation::Rotated(grant))
    }

    async fn revoke_refresh_grant(&self, grant_id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE oauth_grants SET revoked = TRUE WHERE id = $1")
            .bind(grant_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_dead_refresh_grants(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM oauth_grants WHERE revoked OR expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }
}
