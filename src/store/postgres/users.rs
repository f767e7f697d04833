//! User accounts on PostgreSQL.
//!
//! The first user is created under an advisory lock, and every change that could remove the
//! last enabled admin locks the admins' rows first, so both rules hold across instances.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{conflict_on_unique, insert_user, lock_user, PostgresStore, USER_COLUMNS};
use crate::auth::scopes::Role;
use crate::store::{NewUser, StoreError, StoreResult, User, UserStore, UserUpdate};

/// The advisory lock that serialises first-run setup across instances.
const FIRST_USER_LOCK: i64 = 0x726f_6d6d_0001;

async fn count_enabled_admins(connection: &mut PgConnection) -> StoreResult<i64> {
    // Locking the admins' rows serialises every change that could remove the last one.
    let admins: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM users WHERE role = 'admin' AND enabled ORDER BY id FOR UPDATE",
    )
    .fetch_all(connection)
    .await?;
    Ok(admins.len() as i64)
}

async fn fetch_user(connection: &mut PgConnection, id: i64) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    Ok(sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(connection)
        .await?)
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let mut connection = self.pool.acquire().await?;
        insert_user(&mut connection, &user).await
    }

    async fn create_first_user(&self, user: NewUser) -> StoreResult<Option<User>> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FIRST_USER_LOCK)
            .execute(&mut *transaction)
            .await?;
        let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *transaction)
            .await?;
        if existing > 0 {
            return Ok(None);
        }
        let created = insert_user(&mut transaction, &user).await?;
        transaction.commit().await?;
        Ok(Some(created))
    }

    async fn find_user(&self, id: i64) -> StoreResult<Option<User>> {
        let mut connection = self.pool.acquire().await?;
        fetch_user(&mut connection, id).await
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        Ok(sqlx::query_as(&sql)
            .bind(username)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)");
        Ok(sqlx::query_as(&sql)
            .bind(email)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id");
        Ok(sqlx::query_as(&sql).fetch_all(&self.pool).await?)
    }

    async fn update_user(
        &self,
        id: i64,
        update: UserUpdate,
        keep_session: Option<i64>,
    ) -> StoreResult<User> {
        let mut transaction = self.pool.begin().await?;
        // Admins first, in id order, then the target: every writer locks in the same order,
        // so two admins changing each other wait instead of deadlocking.
        count_enabled_admins(&mut transaction).await?;
        let current = lock_user(&mut transaction, id)
            .await?
            .ok_or(StoreError::NotFound)?;

        let stays_admin = update.role.unwrap_or(current.role) == Role::Admin
            && update.enabled.unwrap_or(current.enabled);
        let is_active_admin = current.role == Role::Admin && current.enabled;
        if is_active_admin && !stays_admin && count_enabled_admins(&mut transaction).await? <= 1 {
            return Err(StoreError::Conflict(
                "The last admin cannot be demoted or disabled".to_owned(),
            ));
        }

        let sql = format!(
            "UPDATE users SET \
                username = COALESCE($2, username), \
                email = CASE WHEN $3 THEN $4 ELSE email END, \
                password_hash = COALESCE($5, password_hash), \
                role = COALESCE($6, role), \
                enabled = COALESCE($7, enabled), \
                credential_version = credential_version + $8, \
                updated_at = $9 \
             WHERE id = $1 RETURNING {USER_COLUMNS}"
        );
        let updated: User = sqlx::query_as(&sql)
            .bind(id)
            .bind(&update.username)
            .bind(update.email.is_some())
            .bind(update.email.clone().flatten())
            .bind(&update.password_hash)
            .bind(update.role.map(Role::as_str))
            .bind(update.enabled)
            .bind(i64::from(update.bumps_credential_version()))
            .bind(Utc::now())
            .fetch_one(&mut *transaction)
            .await
            .map_err(conflict_on_unique)?;

        if update.ends_sessions() {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id IS DISTINCT FROM $2")
                .bind(id)
                .bind(keep_session)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(updated)
    }

    async fn delete_user(&self, id: i64) -> StoreResult<()> {
        let mut transaction = self.pool.begin().await?;
        count_enabled_admins(&mut transaction).await?;
        let user = lock_user(&mut transaction, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let is_active_admin = user.role == Role::Admin && user.enabled;
        if is_active_admin && count_enabled_admins(&mut transaction).await? <= 1 {
            return Err(StoreError::Conflict(
                "The last admin cannot be deleted".to_owned(),
            ));
        }
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    async fn record_login(
        &self,
        user_id: i64,
        at: DateTime<Utc>,
        upgraded_hash: Option<String>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE users SET last_login = $2, last_active = $2, \
             password_hash = COALESCE($3, password_hash) WHERE id = $1",
        )
        .bind(user_id)
        .bind(at)
        .bind(upgraded_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
