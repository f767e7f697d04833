//! `/api/devices`: the caller's own devices (`devices.read` to see, `devices.write` to
//! change). Deleting a device revokes every client token bound to it.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{require, Authorized};
use crate::error::{ApiError, FieldError, Result};
use crate::http::extract::{Json, Path};
use crate::state::AppState;
use crate::store::{Device, DeviceFields};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_device, list_devices))
        .routes(routes!(get_device, update_device, delete_device))
}

/// A device as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct DeviceSchema {
    /// A UUID.
    id: String,
    name: String,
    platform: Option<String>,
    client: Option<String>,
    client_version: Option<String>,
    client_device_identifier: Option<String>,
    hostname: Option<String>,
    sync_mode: Option<String>,
    user_id: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Device> for DeviceSchema {
    fn from(device: Device) -> DeviceSchema {
        DeviceSchema {
            id: device.id,
            name: device.name,
            platform: device.platform,
            client: device.client,
            client_version: device.client_version,
            client_device_identifier: device.client_device_identifier,
            hostname: device.hostname,
            sync_mode: device.sync_mode,
            user_id: device.user_id,
            created_at: device.created_at,
            updated_at: device.updated_at,
        }
    }
}

/// What registering a device returns, as RomM's clients read it.
#[derive(Serialize, ToSchema)]
pub struct DeviceCreated {
    device_id: String,
    name: String,
    created_at: DateTime<Utc>,
}

/// A device's fields, each at most 255 characters; on update, absent ones stay as they are.
#[derive(Deserialize, ToSchema)]
pub struct DeviceForm {
    /// Required, and not blank, when registering.
    #[serde(default)]
    #[schema(max_length = 255)]
    name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 255)]
    platform: Option<String>,
    #[serde(default)]
    #[schema(max_length = 255)]
    client: Option<String>,
    #[serde(default)]
    #[schema(max_length = 255)]
    client_version: Option<String>,
    /// The client's own stable id for the device; registering it again updates the device.
    #[serde(default)]
    #[schema(max_length = 255)]
    client_device_identifier: Option<String>,
    #[serde(default)]
    #[schema(max_length = 255)]
    hostname: Option<String>,
    #[serde(default)]
    #[schema(max_length = 255)]
    sync_mode: Option<String>,
}

impl DeviceForm {
    /// Checks every field's length and returns the store's view of them.
    fn validate(self, name_required: bool) -> Result<DeviceFields> {
        let mut errors = Vec::new();
        if name_required
            && self
                .name
                .as_deref()
                .is_none_or(|name| name.trim().is_empty())
        {
            errors.push(FieldError {
                field: "name".to_owned(),
                message: "is required".to_owned(),
            });
        }
        let fields = [
            ("name", &self.name),
            ("platform", &self.platform),
            ("client", &self.client),
            ("client_version", &self.client_version),
            ("client_device_identifier", &self.client_device_identifier),
            ("hostname", &self.hostname),
            ("sync_mode", &self.sync_mode),
        ];
        for (field, value) in fields {
            if value
                .as_deref()
                .is_some_and(|value| value.chars().count() > 255)
            {
                let message = "must be at most 255 characters long".to_owned();
                errors.push(FieldError {
                    field: field.to_owned(),
                    message,
                });
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        Ok(DeviceFields {
            name: self
                .name
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty()),
            platform: self.platform,
            client: self.client,
            client_version: self.client_version,
            client_device_identifier: self.client_device_identifier,
            hostname: self.hostname,
            sync_mode: self.sync_mode,
        })
    }
}

fn device_not_found() -> ApiError {
    ApiError::NotFound("Device not found".to_owned())
}

/// Registers a device, or updates yours with the same `client_device_identifier`.
#[utoipa::path(
    post,
    path = "/api/devices",
    tag = "devices",
    request_body = DeviceForm,
    responses(
        (status = 201, description = "Registered", body = DeviceCreated),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing devices.write"),
        (status = 422, description = "Invalid field"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["devices.write"]),
        ("HTTPBasic" = ["devices.write"]),
        ("SessionCookie" = ["devices.write"]),
        ("ClientToken" = ["devices.write"]),
    )
)]
async fn create_device(
    caller: Authorized<require::DevicesWrite>,
    State(state): State<AppState>,
    Json(form): Json<DeviceForm>,
) -> Result<(StatusCode, Json<DeviceCreated>)> {
    let user_id = caller.identity.user()?.id;
    let fields = form.validate(true)?;
    let device = state
        .store
        .upsert_device(user_id, fields, Utc::now())
        .await?;
    tracing::info!(user.id = user_id, device.id = %device.id, "device registered");
    let created = DeviceCreated {
        device_id: device.id,
        name: device.name,
        created_at: device.created_at,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Lists your devices, newest first.
#[utoipa::path(
    get,
    path = "/api/devices",
    tag = "devices",
    responses(
        (status = 200, description = "Your devices", body = Vec<DeviceSchema>),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing devices.read"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["devices.read"]),
        ("HTTPBasic" = ["devices.read"]),
        ("SessionCookie" = ["devices.read"]),
        ("ClientToken" = ["devices.read"]),
    )
)]
async fn list_devices(
    caller: Authorized<require::DevicesRead>,
    State(state): State<AppState>,
) -> Result<Json<Vec<DeviceSchema>>> {
    let devices = state.store.list_devices(caller.identity.user()?.id).await?;
    Ok(Json(devices.into_iter().map(DeviceSchema::from).collect()))
}

/// One of your devices.
#[utoipa::path(
    get,
    path = "/api/devices/{id}",
    tag = "devices",
    params(("id" = String, Path, description = "Device id")),
    responses(
        (status = 200, description = "The device", body = DeviceSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing devices.read"),
        (status = 404, description = "Device not found"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["devices.read"]),
        ("HTTPBasic" = ["devices.read"]),
        ("SessionCookie" = ["devices.read"]),
        ("ClientToken" = ["devices.read"]),
    )
)]
async fn get_device(
    caller: Authorized<require::DevicesRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeviceSchema>> {
    let user_id = caller.identity.user()?.id;
    let device = state
        .store
        .find_device(user_id, &id)
        .await?
        .ok_or_else(device_not_found)?;
    Ok(Json(device.into()))
}

/// Changes one of your devices.
#[utoipa::path(
    put,
    path = "/api/devices/{id}",
    tag = "devices",
    params(("id" = String, Path, description = "Device id")),
    request_body = DeviceForm,
    responses(
        (status = 200, description = "The changed device", body = DeviceSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing devices.write"),
        (status = 404, description = "Device not found"),
        (status = 409, description = "Another device has that client identifier"),
        (status = 422, description = "Invalid field"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["devices.write"]),
        ("HTTPBasic" = ["devices.write"]),
        ("SessionCookie" = ["devices.write"]),
        ("ClientToken" = ["devices.write"]),
    )
)]
async fn update_device(
    caller: Authorized<require::DevicesWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(form): Json<DeviceForm>,
) -> Result<Json<DeviceSchema>> {
    let user_id = caller.identity.user()?.id;
    let fields = form.validate(false)?;
    let device = state
        .store
        .update_device(user_id, &id, fields, Utc::now())
        .await?
        .ok_or_else(device_not_found)?;
    Ok(Json(device.into()))
}

/// Deletes one of your devices and revokes every token bound to it.
#[utoipa::path(
    delete,
    path = "/api/devices/{id}",
    tag = "devices",
    params(("id" = String, Path, description = "Device id")),
    responses(
        (status = 204, description = "Deleted; its tokens are revoked"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing devices.write"),
        (status = 404, description = "Device not found"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["devices.write"]),
        ("HTTPBasic" = ["devices.write"]),
        ("SessionCookie" = ["devices.write"]),
        ("ClientToken" = ["devices.write"]),
    )
)]
async fn delete_device(
    caller: Authorized<require::DevicesWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let user_id = caller.identity.user()?.id;
    if !state.store.delete_device(user_id, &id).await? {
        return Err(device_not_found());
    }
    tracing::info!(user.id = user_id, device.id = %id, "device deleted; its tokens are revoked");
    Ok(StatusCode::NO_CONTENT)
}
