//! Devices and device-authorization requests on PostgreSQL.
//!
//! Approving and polling a request each lock its row, so a request is approved at most once
//! and its token handed out at most once, whichever instances serve them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{
    conflict_on_unique, insert_client_token, lock_user, PostgresStore, CLIENT_TOKEN_COLUMNS,
};
use crate::store::{
    ClientToken, Device, DeviceApproval, DeviceAuthRequest, DeviceFields, DevicePoll, DeviceStore,
    NewClientToken, NewDeviceAuthRequest, StoreError, StoreResult,
};

const DEVICE_COLUMNS: &str = "id, user_id, name, platform, client, client_version, \
    client_device_identifier, hostname, sync_mode, created_at, updated_at";

const DEVICE_AUTH_COLUMNS: &str = "id, client_device_identifier, name, client, platform, \
    client_version, requested_scopes, status, token_id, created_at, expires_at, last_polled_at";

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

    async fn delete_finished_device_auth_requests(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let result = sqlx::query(
            "DELETE FROM device_auth_requests \
             WHERE expires_at <= $1 OR status IN ('denied', 'completed')",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }
}
