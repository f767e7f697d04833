//! Invites, password resets and forgotten-password requests on PostgreSQL.
//!
//! Using a link is an `UPDATE … WHERE used_at IS NULL`: a second request with the same link
//! waits for the first one's row lock and then finds the link used.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{conflict_on_unique, insert_user, PostgresStore, USER_COLUMNS};
use crate::store::users::parse_stored_role;
use crate::store::{
    AccountStore, NewInvite, NewPasswordReset, NewUser, PasswordResetRequest, PendingInvite,
    Registration, StoreError, StoreResult, User, UserStore,
};

#[async_trait]
impl AccountStore for PostgresStore {
    async fn create_invite(&self, invite: NewInvite) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO invites (token_hash, role, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&invite.token_hash)
        .bind(invite.role.as_str())
        .bind(invite.created_by)
        .bind(invite.created_at)
        .bind(invite.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_pending_invite(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<PendingInvite>> {
        let row = sqlx::query(
            "SELECT id, role, created_by, expires_at FROM invites \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };

        let Some(inviter) = self.find_user(row.try_get("created_by")?).await? else {
            return Ok(None);
        };
        Ok(Some(PendingInvite {
            id: row.try_get("id")?,
            role: parse_stored_role(row.try_get("role")?)?,
            expires_at: row.try_get("expires_at")?,
            inviter,
        }))
    }

    async fn register_with_invite(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
        registration: Registration,
    ) -> StoreResult<Option<User>> {
        let mut transaction = self.pool.begin().await?;
        let claimed: Option<(i64, String)> = sqlx::query_as(
            "UPDATE invites SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING id, role",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some((invite_id, role)) = claimed else {
            return Ok(None);
        };

        let new_user = NewUser {
            username: registration.username,
            email: registration.email,
            password_hash: registration.password_hash,
            role: parse_stored_role(&role)?,
        };
        let user = insert_user(&mut transaction, &new_user).await?;
        sqlx::query("UPDATE invites SET registered_user_id = $2 WHERE id = $1")
            .bind(invite_id)
            .bind(user.id)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(Some(user))
    }

    async fn create_password_reset(&self, reset: NewPasswordReset) -> StoreResult<()> {
        let mut transaction = self.pool.begin().await?;
        let user_exists: Option<i64> =
            sqlx::query_scalar("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                .bind(reset.user_id)
                .fetch_optional(&mut *transaction)
                .await?;
        if user_exists.is_none() {
            return Err(StoreError::NotFound);
        }

        sqlx::query("DELETE FROM password_resets WHERE user_id = $1 AND used_at IS NULL")
            .bind(reset.user_id)
            .execute(&mut *transaction)
            .await?;
        sqlx::query(
            "INSERT INTO password_resets (token_hash, user_id, created_by, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&reset.token_hash)
        .bind(reset.user_id)
        .bind(reset.created_by)
        .bind(reset.created_at)
        .bind(reset.expires_at)
        .execute(&mut *transaction)
        .await?;
        sqlx::query("DELETE FROM password_reset_requests WHERE user_id = $1")
            .bind(reset.user_id)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    async fn find_pending_password_reset(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM password_resets \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn reset_password(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
        password_hash: &str,
    ) -> StoreResult<Option<User>> {
        let mut transaction = self.pool.begin().await?;
        let user_id: Option<i64> = sqlx::query_scalar(
            "UPDATE password_resets SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING user_id",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(user_id) = user_id else {
            return Ok(None);
        };

        // The new credential version ends access tokens and refresh grants; sessions go
        // explicitly, all of them, since whoever held the old password may hold one.
        let sql = format!(
            "UPDATE users SET password_hash = $2, credential_version = credential_version + 1, \
             updated_at = $3 WHERE id = $1 RETURNING {USER_COLUMNS}"
        );
        let user: User = sqlx::query_as(&sql)
            .bind(user_id)
            .bind(password_hash)
            .bind(now)
            .fetch_one(&mut *transaction)
            .await
            .map_err(conflict_on_unique)?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(Some(user))
    }

    async fn record_password_reset_request(
        &self,
        username: &str,
        at: DateTime<Utc>,
        client_address: Option<&str>,
    ) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "INSERT INTO password_reset_requests \
                 (user_id, first_requested_at, last_requested_at, request_count, client_address) \
             SELECT id, $2, $2, 1, $3 FROM users WHERE username = $1 \
             ON CONFLICT (user_id) DO UPDATE SET \
                 last_requested_at = excluded.last_requested_at, \
                 request_count = password_reset_requests.request_count + 1, \
                 client_address = excluded.client_address \
             RETURNING user_id",
        )
        .bind(username)
        .bind(at)
        .bind(client_address)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn list_password_reset_requests(&self) -> StoreResult<Vec<PasswordResetRequest>> {
        Ok(sqlx::query_as(
            "SELECT r.user_id, u.username, r.first_requested_at, r.last_requested_at, \
                 r.request_count, r.client_address \
             FROM password_reset_requests r JOIN users u ON u.id = r.user_id \
             ORDER BY r.last_requested_at DESC, r.user_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn delete_finished_invites(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let deleted =
            sqlx::query("DELETE FROM invites WHERE used_at IS NOT NULL OR expires_at <= $1")
                .bind(now)
                .execute(&self.pool)
                .await?;
        Ok(deleted.rows_affected())
    }

    async fn delete_finished_password_resets(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let deleted = sqlx::query(
            "DELETE FROM password_resets WHERE used_at IS NOT NULL OR expires_at <= $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected())
    }
}
