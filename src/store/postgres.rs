//! The PostgreSQL backend, for installations that scale out to several instances.
//!
//! Every rule that must hold across instances (one first user, never zero admins) is
//! enforced with row locks or an advisory lock inside the transaction, never in memory.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::{FromRow, PgConnection, PgPool, Row};

use super::{
    ClientToken, Device, DeviceApproval, DeviceAuthRequest, DeviceFields, DevicePoll, Exchange,
    NewClientToken, NewDeviceAuthRequest, NewRefreshGrant, NewRefreshToken, NewSession, NewUser,
    OwnedClientToken, RefreshGrant, RefreshTokenRecord, Rotation, Session, Store, StoreError,
    StoreResult, User, UserUpdate,
};
use super::{ClientTokenStore, DeviceStore, GrantStore, IdentityStore, SessionStore, UserStore};
use crate::auth::scopes::Role;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The columns of `users` in the order [`User`] reads them.
pub(super) const USER_COLUMNS: &str = "id, username, email, password_hash, role, enabled, \
    credential_version, avatar_path, created_at, updated_at, last_login, last_active";

/// The advisory lock that serialises first-run setup across instances.
const FIRST_USER_LOCK: i64 = 0x726f_6d6d_0001;

const SESSION_COLUMNS: &str = "id, public_id, user_id, created_at, last_seen_at, \
    idle_expires_at, absolute_expires_at, user_agent, client_address, oidc_id_token";

pub struct PostgresStore {
    pub(super) pool: PgPool,
}

impl PostgresStore {
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
pub(super) fn conflict_on_unique(error: sqlx::Error) -> StoreError {
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

/// Reads the user and locks its row until the transaction ends.
async fn lock_user(connection: &mut PgConnection, id: i64) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE");
    Ok(sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(connection)
        .await?)
}

pub(super) async fn insert_user(
    connection: &mut PgConnection,
    user: &NewUser,
) -> StoreResult<User> {
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

const CLIENT_TOKEN_COLUMNS: &str =
    "id, user_id, device_id, name, scopes, expires_at, last_used_at, created_at";

const CLIENT_TOKEN_COLUMNS_OF_T: &str = "t.id, t.user_id, t.device_id, t.name, t.scopes, \
    t.expires_at, t.last_used_at, t.created_at";

const DEVICE_COLUMNS: &str = "id, user_id, name, platform, client, client_version, \
    client_device_identifier, hostname, sync_mode, created_at, updated_at";

const DEVICE_AUTH_COLUMNS: &str = "id, client_device_identifier, name, client, platform, \
    client_version, requested_scopes, status, token_id, created_at, expires_at, last_polled_at";

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

/// Updates the user's device with the same client identifier, or creates one.
async fn upsert_device_in(
    connection: &mut PgConnection,
    user_id: i64,
    fields: &DeviceFields,
    now: DateTime<Utc>,
) -> StoreResult<Device> {
    if let Some(identifier) = &fields.client_device_identifier {
        let sql = format!(
            "UPDATE devices SET name = COALESCE($3, name), platform = COALESCE($4, platform), \
                client = COALESCE($5, client), client_version = COALESCE($6, client_version), \
                hostname = COALESCE($7, hostname), sync_mode = COALESCE($8, sync_mode), \
                updated_at = $9 \
             WHERE user_id = $1 AND client_device_identifier = $2 RETURNING {DEVICE_COLUMNS}"
        );
        let updated: Option<Device> = sqlx::query_as(&sql)
            .bind(user_id)
            .bind(identifier)
            .bind(&fields.name)
            .bind(&fields.platform)
            .bind(&fields.client)
            .bind(&fields.client_version)
            .bind(&fields.hostname)
            .bind(&fields.sync_mode)
            .bind(now)
            .fetch_optional(&mut *connection)
            .await?;
        if let Some(device) = updated {
            return Ok(device);
        }
    }

    let sql = format!(
        "INSERT INTO devices (id, user_id, name, platform, client, client_version, \
            client_device_identifier, hostname, sync_mode, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING {DEVICE_COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(user_id)
        .bind(fields.name.as_deref().unwrap_or("Unnamed device"))
        .bind(&fields.platform)
        .bind(&fields.client)
        .bind(&fields.client_version)
        .bind(&fields.client_device_identifier)
        .bind(&fields.hostname)
        .bind(&fields.sync_mode)
        .bind(now)
        .fetch_one(connection)
        .await
        .map_err(conflict_on_unique)
}

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

async fn insert_identity(
    connection: &mut PgConnection,
    user_id: i64,
    issuer: &str,
    subject: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO user_identities (user_id, issuer, subject, created_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(issuer)
    .bind(subject)
    .bind(now)
    .execute(connection)
    .await
    .map_err(conflict_on_unique)?;
    Ok(())
}

/// The columns of `sessions` under the alias `s`, for joins.
const SESSION_COLUMNS_OF_S: &str = "s.id, s.public_id, s.user_id, s.created_at, \
    s.last_seen_at, s.idle_expires_at, s.absolute_expires_at, s.user_agent, s.client_address, \
    s.oidc_id_token";

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

#[async_trait]
impl IdentityStore for PostgresStore {
    async fn find_user_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<Option<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS_OF_U} FROM users u JOIN user_identities i ON i.user_id = u.id \
             WHERE i.issuer = $1 AND i.subject = $2"
        );
        Ok(sqlx::query_as(&sql)
            .bind(issuer)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn link_identity(
        &self,
        user_id: i64,
        issuer: &str,
        subject: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut connection = self.pool.acquire().await?;
        insert_identity(&mut connection, user_id, issuer, subject, now).await
    }

    async fn create_oidc_user(
        &self,
        user: NewUser,
        issuer: &str,
        subject: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<User> {
        let mut transaction = self.pool.begin().await?;
        let created = insert_user(&mut transaction, &user).await?;
        insert_identity(&mut transaction, created.id, issuer, subject, now).await?;
        transaction.commit().await?;
        Ok(created)
    }
}

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

#[async_trait]
impl ClientTokenStore for PostgresStore {
    async fn create_client_token(
        &self,
        token: NewClientToken,
        max_active: i64,
    ) -> StoreResult<ClientToken> {
        let mut transaction = self.pool.begin().await?;
        // Locking the owner's row serialises token creation per user across instances.
        lock_user(&mut transaction, token.user_id).await?;
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
        // One round trip on the hot path of every request made with a client token.
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
        let mut transaction = self.pool.begin().await?;
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
        let mut transaction = self.pool.begin().await?;
        let token_id: Option<i64> = sqlx::query_scalar(
            "SELECT token_id FROM pairing_codes \
             WHERE code_hash = $1 AND expires_at > $2 FOR UPDATE",
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
}

#[async_trait]
impl DeviceStore for PostgresStore {
    async fn upsert_device(
        &self,
        user_id: i64,
        fields: DeviceFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Device> {
        let mut transaction = self.pool.begin().await?;
        let device = upsert_device_in(&mut transaction, user_id, &fields, now).await?;
        transaction.commit().await?;
        Ok(device)
    }

    async fn list_devices(&self, user_id: i64) -> StoreResult<Vec<Device>> {
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = $1 ORDER BY created_at DESC"
        );
        Ok(sqlx::query_as(&sql)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn find_device(&self, user_id: i64, id: &str) -> StoreResult<Option<Device>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1 AND user_id = $2");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn update_device(
        &self,
        user_id: i64,
        id: &str,
        fields: DeviceFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Device>> {
        let sql = format!(
            "UPDATE devices SET name = COALESCE($3, name), platform = COALESCE($4, platform), \
                client = COALESCE($5, client), client_version = COALESCE($6, client_version), \
                client_device_identifier = COALESCE($7, client_device_identifier), \
                hostname = COALESCE($8, hostname), sync_mode = COALESCE($9, sync_mode), \
                updated_at = $10 \
             WHERE id = $1 AND user_id = $2 RETURNING {DEVICE_COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(id)
            .bind(user_id)
            .bind(&fields.name)
            .bind(&fields.platform)
            .bind(&fields.client)
            .bind(&fields.client_version)
            .bind(&fields.client_device_identifier)
            .bind(&fields.hostname)
            .bind(&fields.sync_mode)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(conflict_on_unique)
    }

    async fn delete_device(&self, user_id: i64, id: &str) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM devices WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn create_device_auth(&self, request: NewDeviceAuthRequest) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO device_auth_requests (device_code_hash, user_code_hash, \
                client_device_identifier, name, client, platform, client_version, \
                requested_scopes, status, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10)",
        )
        .bind(&request.device_code_hash)
        .bind(&request.user_code_hash)
        .bind(&request.client_device_identifier)
        .bind(&request.name)
        .bind(&request.client)
        .bind(&request.platform)
        .bind(&request.client_version)
        .bind(request.requested_scopes)
        .bind(request.created_at)
        .bind(request.expires_at)
        .execute(&self.pool)
        .await
        .map_err(conflict_on_unique)?;
        Ok(())
    }

    async fn find_device_auth(
        &self,
        user_code_hash: &[u8],
    ) -> StoreResult<Option<DeviceAuthRequest>> {
        let sql = format!(
            "SELECT {DEVICE_AUTH_COLUMNS} FROM device_auth_requests WHERE user_code_hash = $1"
        );
        Ok(sqlx::query_as(&sql)
            .bind(user_code_hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn approve_device_auth(
        &self,
        user_code_hash: &[u8],
        approval: DeviceApproval,
    ) -> StoreResult<Option<Device>> {
        let mut transaction = self.pool.begin().await?;
        let sql = format!(
            "SELECT {DEVICE_AUTH_COLUMNS} FROM device_auth_requests \
             WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $2 FOR UPDATE"
        );
        let request: Option<DeviceAuthRequest> = sqlx::query_as(&sql)
            .bind(user_code_hash)
            .bind(approval.now)
            .fetch_optional(&mut *transaction)
            .await?;
        let Some(request) = request else {
            return Ok(None);
        };

        let fields = DeviceFields {
            name: Some(approval.device_name.clone()),
            platform: request.platform.clone(),
            client: Some(request.client.clone()),
            client_version: request.client_version.clone(),
            client_device_identifier: Some(request.client_device_identifier.clone()),
            ..DeviceFields::default()
        };
        let device =
            upsert_device_in(&mut transaction, approval.user_id, &fields, approval.now).await?;

        lock_user(&mut transaction, approval.user_id).await?;
        let active: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM client_tokens \
             WHERE user_id = $1 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(approval.user_id)
        .bind(approval.now)
        .fetch_one(&mut *transaction)
        .await?;
        if active >= approval.max_active_tokens {
            return Err(StoreError::LimitReached(format!(
                "Maximum of {} tokens per user reached",
                approval.max_active_tokens
            )));
        }
        let token = NewClientToken {
            user_id: approval.user_id,
            device_id: Some(device.id.clone()),
            name: approval.device_name,
            token_hash: approval.placeholder_hash,
            scopes: approval.scopes,
            expires_at: approval.token_expires_at,
            created_at: approval.now,
        };
        let token = insert_client_token(&mut transaction, &token).await?;

        sqlx::query(
            "UPDATE device_auth_requests SET status = 'approved', token_id = $2 WHERE id = $1",
        )
        .bind(request.id)
        .bind(token.id)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(Some(device))
    }

    async fn deny_device_auth(
        &self,
        user_code_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE device_auth_requests SET status = 'denied' \
             WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $2",
        )
        .bind(user_code_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn poll_device_auth(
        &self,
        device_code_hash: &[u8],
        token_hash: &[u8],
        now: DateTime<Utc>,
        min_interval: chrono::Duration,
    ) -> StoreResult<DevicePoll> {
        let mut transaction = self.pool.begin().await?;
        let sql = format!(
            "SELECT {DEVICE_AUTH_COLUMNS} FROM device_auth_requests \
             WHERE device_code_hash = $1 FOR UPDATE"
        );
        let request: Option<DeviceAuthRequest> = sqlx::query_as(&sql)
            .bind(device_code_hash)
            .fetch_optional(&mut *transaction)
            .await?;
        let Some(request) = request else {
            return Ok(DevicePoll::Expired);
        };
        if request.expires_at <= now {
            return Ok(DevicePoll::Expired);
        }

        let poll = match (request.status.as_str(), request.token_id) {
            ("approved", Some(token_id)) => {
                sqlx::query("UPDATE device_auth_requests SET status = 'completed' WHERE id = $1")
                    .bind(request.id)
                    .execute(&mut *transaction)
                    .await?;
                let sql = format!(
                    "UPDATE client_tokens SET token_hash = $2 WHERE id = $1 \
                     RETURNING {CLIENT_TOKEN_COLUMNS}"
                );
                let token: Option<ClientToken> = sqlx::query_as(&sql)
                    .bind(token_id)
                    .bind(token_hash)
                    .fetch_optional(&mut *transaction)
                    .await?;
                token.map_or(DevicePoll::Expired, DevicePoll::Completed)
            }
            ("pending", _) => {
                let too_soon = request
                    .last_polled_at
                    .is_some_and(|at| now - at < min_interval);
                sqlx::query("UPDATE device_auth_requests SET last_polled_at = $2 WHERE id = $1")
                    .bind(request.id)
                    .bind(now)
                    .execute(&mut *transaction)
                    .await?;
                if too_soon {
                    DevicePoll::SlowDown
                } else {
                    DevicePoll::Pending
                }
            }
            ("denied", _) => DevicePoll::Denied,
            _ => DevicePoll::Expired,
        };
        transaction.commit().await?;
        Ok(poll)
    }
}
