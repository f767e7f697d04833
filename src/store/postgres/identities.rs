//! OpenID Connect identities on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{conflict_on_unique, insert_user, PostgresStore, USER_COLUMNS_OF_U};
use crate::store::{IdentityStore, NewUser, StoreResult, User};

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
