//! The PostgreSQL backend, for installations that scale out to several instances.
//!
//! Every rule that must hold across instances (one first user, never zero admins) is
//! enforced with row locks or an advisory lock inside the transaction, never in memory.
//!
//! This module holds what the resources share: connecting, the column lists and the row
//! helpers. Each resource's operations live in a module of their own.

mod accounts;
mod client_tokens;
mod collections;
mod devices;
mod identities;
mod library;
mod oauth_grants;
mod sessions;
mod users;

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::Utc;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool, Row};

use crate::store::{ClientToken, NewClientToken, NewUser, Store, StoreError, StoreResult, User};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The columns of `users` in the order [`User`] reads them.
const USER_COLUMNS: &str = "id, username, email, password_hash, role, enabled, \
    credential_version, avatar_path, created_at, updated_at, last_login, last_active";

/// The columns of `users` under the alias `u`, for joins.
const USER_COLUMNS_OF_U: &str = "u.id, u.username, u.email, u.password_hash, u.role, \
    u.enabled, u.credential_version, u.avatar_path, u.created_at, u.updated_at, u.last_login, \
    u.last_active";

/// The same columns renamed `u_<column>`, for rows that also hold another table's `id`.
const USER_COLUMNS_AS_U: &str = "u.id AS u_id, u.username AS u_username, u.email AS u_email, \
    u.password_hash AS u_password_hash, u.role AS u_role, u.enabled AS u_enabled, \
    u.credential_version AS u_credential_version, u.avatar_path AS u_avatar_path, \
    u.created_at AS u_created_at, u.updated_at AS u_updated_at, u.last_login AS u_last_login, \
    u.last_active AS u_last_active";

/// The columns of `sessions` under the alias `s`, for joins.
const SESSION_COLUMNS_OF_S: &str = "s.id, s.public_id, s.user_id, s.created_at, \
    s.last_seen_at, s.idle_expires_at, s.absolute_expires_at, s.user_agent, s.client_address, \
    s.oidc_id_token";

const CLIENT_TOKEN_COLUMNS: &str =
    "id, user_id, device_id, name, scopes, expires_at, last_used_at, created_at";

const CLIENT_TOKEN_COLUMNS_OF_T: &str = "t.id, t.user_id, t.device_id, t.name, t.scopes, \
    t.expires_at, t.last_used_at, t.created_at";

/// The store on one PostgreSQL database, which several instances may share.
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at `url` and applies pending migrations.
    pub async fn connect(url: &str) -> anyhow::Result<PostgresStore> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .context("cannot connect to PostgreSQL (DATABASE_URL)")?;
        MIGRATIONS
            .run(&pool)
            .await
            .context("cannot apply the PostgreSQL migrations")?;
        Ok(PostgresStore { pool })
    }
}

/// Turns a broken unique constraint into a conflict the API can explain.
fn conflict_on_unique(error: sqlx::Error) -> StoreError {
    let Some(database_error) = error.as_database_error() else {
        return error.into();
    };
    if !database_error.is_unique_violation() {
        return error.into();
    }
    let constraint = database_error.constraint().unwrap_or_default();
    if constraint == "users_username_key" {
        StoreError::Conflict("Username already exists".to_owned())
    } else if constraint == "users_email_unique" {
        StoreError::Conflict("Email already exists".to_owned())
    } else {
        StoreError::Conflict("Already exists".to_owned())
    }
}

/// Reads the user and locks its row until the transaction ends.
async fn lock_user(connection: &mut PgConnection, id: i64) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE");
    Ok(sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(connection)
        .await?)
}

async fn insert_user(connection: &mut PgConnection, user: &NewUser) -> StoreResult<User> {
    let now = Utc::now();
    let sql = format!(
        "INSERT INTO users (username, email, password_hash, role, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING {USER_COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(&user.username)
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(now)
        .fetch_one(connection)
        .await
        .map_err(conflict_on_unique)
}

async fn insert_client_token(
    connection: &mut PgConnection,
    token: &NewClientToken,
) -> StoreResult<ClientToken> {
    let sql = format!(
        "INSERT INTO client_tokens (user_id, device_id, name, token_hash, scopes, expires_at, \
            created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {CLIENT_TOKEN_COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(token.user_id)
        .bind(&token.device_id)
        .bind(&token.name)
        .bind(&token.token_hash)
        .bind(token.scopes)
        .bind(token.expires_at)
        .bind(token.created_at)
        .fetch_one(connection)
        .await
        .map_err(conflict_on_unique)
}

/// Reads a user from a row where its columns are named `u_<column>`.
fn user_from_prefixed_row(row: &sqlx::postgres::PgRow) -> Result<User, sqlx::Error> {
    let role: String = row.try_get("u_role")?;
    Ok(User {
        id: row.try_get("u_id")?,
        username: row.try_get("u_username")?,
        email: row.try_get("u_email")?,
        password_hash: row.try_get("u_password_hash")?,
        role: role
            .parse()
            .map_err(|error: String| sqlx::Error::Decode(error.into()))?,
        enabled: row.try_get("u_enabled")?,
        credential_version: row.try_get("u_credential_version")?,
        avatar_path: row.try_get("u_avatar_path")?,
        created_at: row.try_get("u_created_at")?,
        updated_at: row.try_get("u_updated_at")?,
        last_login: row.try_get("u_last_login")?,
        last_active: row.try_get("u_last_active")?,
    })
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn setting_or_insert(&self, name: &str, candidate: &str) -> StoreResult<String> {
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(candidate)
            .execute(&self.pool)
            .await?;
        let value = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(value)
    }

    async fn count_users(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }
}
