//! Client tokens and their pairing codes on SQLite.
//!
//! Creating a token counts its owner's active ones and inserts it in one `BEGIN IMMEDIATE`
//! transaction, so the per-user limit holds however many requests race.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{
    conflict_on_unique, insert_client_token, user_from_prefixed_row, SqliteStore,
    CLIENT_TOKEN_COLUMNS, CLIENT_TOKEN_COLUMNS_OF_T, USER_COLUMNS_AS_U,
};
use crate::store::{
    ClientToken, ClientTokenStore, Exchange, NewClientToken, OwnedClientToken, StoreError,
    StoreResult, User,
};

#[async_trait]
impl ClientTokenStore for SqliteStore {
    async fn create_client_token(
        &self,
        token: NewClientToken,
        max_active: i64,
    ) -> StoreResult<ClientToken> {
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let active: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM client_tokens \
             WHERE user_id = $1 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(token.user_id)
        .bind(token.created_at)
        .fetch_one(&mut *transaction)
        .await?;
        if active >= max_active {
            return Err(StoreError::LimitReached(format!(
                "Maximum of {max_active} tokens per user reached"
            )));
        }
        let created = insert_client_token(&mut transaction, &token).await?;
        transaction.commit().await?;
        Ok(created)
    }

    async fn list_client_tokens(&self, user_id: i64) -> StoreResult<Vec<ClientToken>> {
        let sql = format!(
            "SELECT {CLIENT_TOKEN_COLUMNS} FROM client_tokens WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC"
        );
        Ok(sqlx::query_as(&sql)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn list_all_client_tokens(&self) -> StoreResult<Vec<OwnedClientToken>> {
        let sql = format!(
            "SELECT {CLIENT_TOKEN_COLUMNS_OF_T}, u.username FROM client_tokens t \
             JOIN users u ON u.id = t.user_id ORDER BY t.created_at DESC, t.id DESC"
        );
        Ok(sqlx::query_as(&sql).fetch_all(&self.pool).await?)
    }

    async fn find_client_token(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<(ClientToken, User)>> {
        if let Some(reader) = &self.reader {
            return reader.find_client_token(token_hash);
        }
        // One round trip on the hot path of every client-token request.
        let sql = format!(
            "SELECT {CLIENT_TOKEN_COLUMNS_OF_T}, {USER_COLUMNS_AS_U} \
             FROM client_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1"
        );
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some((
            ClientToken::from_row(&row)?,
            user_from_prefixed_row(&row)?,
        )))
    }

    async fn delete_client_token(&self, id: i64, owner: Option<i64>) -> StoreResult<bool> {
        let result =
            sqlx::query("DELETE FROM client_tokens WHERE id = $1 AND ($2 IS NULL OR user_id = $2)")
                .bind(id)
                .bind(owner)
                .execute(&self.pool)
                .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn regenerate_client_token(
        &self,
        id: i64,
        owner: i64,
        token_hash: &[u8],
    ) -> StoreResult<Option<ClientToken>> {
        let sql = format!(
            "UPDATE client_tokens SET token_hash = $3 WHERE id = $1 AND user_id = $2 \
             RETURNING {CLIENT_TOKEN_COLUMNS}"
        );
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .bind(owner)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn touch_client_token(
        &self,
        id: i64,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE client_tokens SET last_used_at = $2 \
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(id)
        .bind(at)
        .bind(stale_before)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn create_pairing_code(
        &self,
        token_id: i64,
        owner: i64,
        code_hash: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let owned: Option<i64> =
            sqlx::query_scalar("SELECT id FROM client_tokens WHERE id = $1 AND user_id = $2")
                .bind(token_id)
                .bind(owner)
                .fetch_optional(&mut *transaction)
                .await?;
        if owned.is_none() {
            return Ok(false);
        }
        sqlx::query("DELETE FROM pairing_codes WHERE token_id = $1 OR expires_at <= $2")
            .bind(token_id)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
        sqlx::query(
            "INSERT INTO pairing_codes (code_hash, token_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(code_hash)
        .bind(token_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *transaction)
        .await
        .map_err(conflict_on_unique)?;
        transaction.commit().await?;
        Ok(true)
    }

    async fn pairing_code_is_pending(
        &self,
        code_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT token_id FROM pairing_codes WHERE code_hash = $1 AND expires_at > $2",
        )
        .bind(code_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn exchange_pairing_code(
        &self,
        code_hash: &[u8],
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Exchange> {
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let token_id: Option<i64> = sqlx::query_scalar(
            "SELECT token_id FROM pairing_codes WHERE code_hash = $1 AND expires_at > $2",
        )
        .bind(code_hash)
        .bind(now)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(token_id) = token_id else {
            return Ok(Exchange::Invalid);
        };
        let owner_enabled: bool = sqlx::query_scalar(
            "SELECT u.enabled FROM client_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.id = $1",
        )
        .bind(token_id)
        .fetch_one(&mut *transaction)
        .await?;
        if !owner_enabled {
            return Ok(Exchange::OwnerDisabled);
        }

        sqlx::query("DELETE FROM pairing_codes WHERE code_hash = $1")
            .bind(code_hash)
            .execute(&mut *transaction)
            .await?;
        let sql = format!(
            "UPDATE client_tokens SET token_hash = $2 WHERE id = $1 \
             RETURNING {CLIENT_TOKEN_COLUMNS}"
        );
        let token: ClientToken = sqlx::query_as(&sql)
            .bind(token_id)
            .bind(token_hash)
            .fetch_one(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(Exchange::Exchanged(token))
    }

    async fn delete_expired_client_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let result = sqlx::query(
            "DELETE FROM client_tokens WHERE expires_at IS NOT NULL AND expires_at <= $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    async fn delete_expired_pairing_codes(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM pairing_codes WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }
}
