//! Devices users sign in from, and the device-authorization requests that enrol them.
//!
//! Approving a request creates or updates the device and binds a client token to it; the
//! device collects the token's secret at its next poll.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ClientToken, StoreResult};

/// A device a user signs in from.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Device {
    /// A UUID, as RomM's clients expect a string.
    pub id: String,
    pub user_id: i64,
    pub name: String,
    pub platform: Option<String>,
    pub client: Option<String>,
    pub client_version: Option<String>,
    pub client_device_identifier: Option<String>,
    pub hostname: Option<String>,
    pub sync_mode: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A device's fields as a client gives them; `None` leaves a stored field as it is.
#[derive(Clone, Debug, Default)]
pub struct DeviceFields {
    pub name: Option<String>,
    pub platform: Option<String>,
    pub client: Option<String>,
    pub client_version: Option<String>,
    pub client_device_identifier: Option<String>,
    pub hostname: Option<String>,
    pub sync_mode: Option<String>,
}

/// A device-authorization request of the RFC 8628 style flow.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeviceAuthRequest {
    pub id: i64,
    pub client_device_identifier: String,
    pub name: String,
    pub client: String,
    pub platform: Option<String>,
    pub client_version: Option<String>,
    pub requested_scopes: i64,
    /// `pending`, `approved`, `denied` or `completed`.
    pub status: String,
    pub token_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_polled_at: Option<DateTime<Utc>>,
}

/// A device-authorization request to store; both codes only as hashes.
pub struct NewDeviceAuthRequest {
    pub device_code_hash: Vec<u8>,
    pub user_code_hash: Vec<u8>,
    pub client_device_identifier: String,
    pub name: String,
    pub client: String,
    pub platform: Option<String>,
    pub client_version: Option<String>,
    pub requested_scopes: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An approval: the device to create or update and the token to bind to it.
pub struct DeviceApproval {
    pub user_id: i64,
    pub device_name: String,
    pub scopes: i64,
    pub token_expires_at: Option<DateTime<Utc>>,
    /// An unusable placeholder; the real secret is made at the successful poll.
    pub placeholder_hash: Vec<u8>,
    pub max_active_tokens: i64,
    pub now: DateTime<Utc>,
}

/// What one poll of the device-token endpoint found.
#[derive(Debug)]
pub enum DevicePoll {
    Pending,
    /// Polled again sooner than the interval allows.
    SlowDown,
    Denied,
    /// Unknown, expired, or already completed.
    Expired,
    /// Approved: the token now has the secret whose hash was given, exactly once.
    Completed(ClientToken),
}

/// Users' devices and the device-authorization flow.
#[async_trait]
pub trait DeviceStore {
    /// Creates a device, or updates the user's device with the same client identifier.
    async fn upsert_device(
        &self,
        user_id: i64,
        fields: DeviceFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Device>;

    /// The user's devices, newest first.
    async fn list_devices(&self, user_id: i64) -> StoreResult<Vec<Device>>;

    /// The user's device with this id; another user's device is `None`, as a missing one.
    async fn find_device(&self, user_id: i64, id: &str) -> StoreResult<Option<Device>>;

    /// Changes the user's device; `None` when the user has no such device.
    async fn update_device(
        &self,
        user_id: i64,
        id: &str,
        fields: DeviceFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Device>>;

    /// Deletes the user's device and every token bound to it.
    async fn delete_device(&self, user_id: i64, id: &str) -> StoreResult<bool>;

    /// Stores a new pending device authorization request.
    async fn create_device_auth(&self, request: NewDeviceAuthRequest) -> StoreResult<()>;

    /// The request with this user code, whatever its state.
    async fn find_device_auth(
        &self,
        user_code_hash: &[u8],
    ) -> StoreResult<Option<DeviceAuthRequest>>;

    /// Approves a pending, unexpired request: creates or updates the device and a token bound
    /// to it, in one transaction; `None` when there is no such pending request.
    async fn approve_device_auth(
        &self,
        user_code_hash: &[u8],
        approval: DeviceApproval,
    ) -> StoreResult<Option<Device>>;

    /// Denies a pending, unexpired request; `false` when there is none.
    async fn deny_device_auth(
        &self,
        user_code_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// One poll by the device: reports the state, and completes an approved request exactly
    /// once by giving its token the secret whose hash is `token_hash`.
    async fn poll_device_auth(
        &self,
        device_code_hash: &[u8],
        token_hash: &[u8],
        now: DateTime<Utc>,
        min_interval: chrono::Duration,
    ) -> StoreResult<DevicePoll>;

    /// Deletes device-authorization requests that expired, were denied or were completed;
    /// returns how many. An approved request stays until it expires, so the device can
    /// still collect its token.
    async fn delete_finished_device_auth_requests(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}
