//! Browser sessions on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{user_from_prefixed_row, PostgresStore, SESSION_COLUMNS_OF_S, USER_COLUMNS_AS_U};
use crate::store::{NewSession, Session, SessionStore, StoreResult, User};

const SESSION_COLUMNS: &str = "id, public_id, user_id, created_at, last_seen_at, \
    idle_expires_at, absolute_expires_at, user_agent, client_address, oidc_id_token";

#[async_trait]
impl SessionStore for PostgresStore {
    async fn create_session(&self, session: NewSession) -> StoreResult<Session> {
        let sql = format!(
            "INSERT INTO sessions (public_id, token_hash, user_id, created_at, last_seen_at, \
                idle_expires_at, absolute_expires_at, user_agent, client_address, oidc_id_token) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9) RETURNING {SESSION_COLUMNS}"
        );
        Ok(sqlx::query_as(&sql)
            .bind(&session.public_id)
            .bind(&session.token_hash)
            .bind(session.user_id)
            .bind(session.created_at)
            .bind(session.idle_expires_at)
            .bind(session.absolute_expires_at)
            .bind(&session.user_agent)
            .bind(&session.client_address)
            .bind(&session.oidc_id_token)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn find_session(&self, token_hash: &[u8]) -> StoreResult<Option<(Session, User)>> {
        // One round trip on the hot path of every cookie-authenticated request.
        let sql = format!(
            "SELECT {SESSION_COLUMNS_OF_S}, {USER_COLUMNS_AS_U} \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1"
        );
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some((
            Session::from_row(&row)?,
            user_from_prefixed_row(&row)?,
        )))
    }

    async fn touch_session(
        &self,
        session_id: i64,
        at: DateTime<Utc>,
        idle_expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut transaction = self.pool.begin().await?;
        let user_id: Option<i64> = sqlx::query_scalar(
            "UPDATE sessions SET last_seen_at = $2, idle_expires_at = $3 \
             WHERE id = $1 RETURNING user_id",
        )
        .bind(session_id)
        .bind(at)
        .bind(idle_expires_at)
        .fetch_optional(&mut *transaction)
        .await?;
        if let Some(user_id) = user_id {
            sqlx::query("UPDATE users SET last_active = $2 WHERE id = $1")
                .bind(user_id)
                .bind(at)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn delete_session(&self, session_id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list_sessions(&self, user_id: i64, now: DateTime<Utc>) -> StoreResult<Vec<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions \
             WHERE user_id = $1 AND idle_expires_at > $2 AND absolute_expires_at > $2 \
             ORDER BY created_at DESC, id DESC"
        );
        Ok(sqlx::query_as(&sql)
            .bind(user_id)
            .bind(now)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn delete_user_session(&self, user_id: i64, public_id: &str) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND public_id = $2")
            .bind(user_id)
            .bind(public_id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let result = sqlx::query(
            "DELETE FROM sessions WHERE idle_expires_at <= $1 OR absolute_expires_at <= $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }
}
