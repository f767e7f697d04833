//! `/api/firmware`: BIOS and other system files of a platform (`firmware.read` to see,
//! `firmware.write` to change).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{saved, FieldChecks, FileName, PageQuery, PlatformFilter, Query};
use crate::auth::{require, Authorized};
use crate::error::{ApiError, Result};
use crate::http::extract::{Json, Path};
use crate::state::AppState;
use crate::store::{Firmware, FirmwareFields};

/// The firmware routes with their OpenAPI entries.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_firmware, list_firmware))
        .routes(routes!(get_firmware, update_firmware, delete_firmware))
}

/// A firmware file as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct FirmwareSchema {
    id: i64,
    platform_id: i64,
    /// Unique within the platform.
    file_name: String,
    /// In bytes.
    file_size: i64,
    /// 32 lower-case hexadecimal digits.
    md5: String,
}

impl From<Firmware> for FirmwareSchema {
    fn from(firmware: Firmware) -> FirmwareSchema {
        FirmwareSchema {
            id: firmware.id,
            platform_id: firmware.platform_id,
            file_name: firmware.file_name,
            file_size: firmware.file_size,
            md5: firmware.md5,
        }
    }
}

/// A firmware file's fields; every one is required, also when replacing.
#[derive(Deserialize, ToSchema)]
pub struct FirmwareForm {
    /// The id of an existing platform.
    platform_id: i64,
    /// 1 to 255 characters, without folder separators; unique within the platform.
    #[schema(value_type = FileName)]
    file_name: String,
    /// In bytes, at least 0.
    #[schema(minimum = 0)]
    file_size: i64,
    /// 32 lower-case hexadecimal digits.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    md5: String,
}

impl FirmwareForm {
    /// Checks every field and returns the store's view of them.
    fn validate(self) -> Result<FirmwareFields> {
        let mut checks = FieldChecks::default();
        checks.file_name("file_name", &self.file_name);
        checks.file_size("file_size", self.file_size);
        if !is_md5_hex(&self.md5) {
            checks.fail("md5", "must be 32 lower-case hexadecimal digits");
        }
        checks.finish()?;
        Ok(FirmwareFields {
            platform_id: self.platform_id,
            file_name: self.file_name,
            file_size: self.file_size,
            md5: self.md5,
        })
    }
}

/// Whether `value` is an MD5 digest written as 32 lower-case hexadecimal digits.
fn is_md5_hex(value: &str) -> bool {
    value.len() == 32
        && value
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

fn firmware_not_found() -> ApiError {
    ApiError::NotFound("Firmware not found".to_owned())
}

/// Adds a firmware file to a platform.
#[utoipa::path(
    post,
    path = "/api/firmware",
    tag = "firmware",
    request_body = FirmwareForm,
    responses(
        (status = 201, description = "Created", body = FirmwareSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing firmware.write"),
        (status = 409, description = "The platform has a firmware file with this file name"),
        (status = 422, description = "Invalid field, or no platform has platform_id"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["firmware.write"]),
        ("HTTPBasic" = ["firmware.write"]),
        ("SessionCookie" = ["firmware.write"]),
        ("ClientToken" = ["firmware.write"]),
    )
)]
async fn create_firmware(
    caller: Authorized<require::FirmwareWrite>,
    State(state): State<AppState>,
    Json(form): Json<FirmwareForm>,
) -> Result<(StatusCode, Json<FirmwareSchema>)> {
    let user_id = caller.identity.user()?.id;
    let fields = form.validate()?;

    let created = state.store.create_firmware(fields).await?;
    let firmware = saved(created, "Firmware not found")?;

    tracing::info!(
        user.id = user_id,
        firmware.id = firmware.id,
        "firmware created"
    );
    Ok((StatusCode::CREATED, Json(firmware.into())))
}

/// Lists firmware files in id order, of one platform when `platform_id` is given.
#[utoipa::path(
    get,
    path = "/api/firmware",
    tag = "firmware",
    params(PlatformFilter, PageQuery),
    responses(
        (status = 200, description = "One page of firmware files", body = Vec<FirmwareSchema>),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing firmware.read"),
        (status = 422, description = "Invalid platform_id, limit or offset"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["firmware.read"]),
        ("HTTPBasic" = ["firmware.read"]),
        ("SessionCookie" = ["firmware.read"]),
        ("ClientToken" = ["firmware.read"]),
    )
)]
async fn list_firmware(
    _caller: Authorized<require::FirmwareRead>,
    State(state): State<AppState>,
    Query(filter): Query<PlatformFilter>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<Vec<FirmwareSchema>>> {
    let platform_id = filter.platform_id()?;
    let page = paging.page()?;
    let firmware = state.store.list_firmware(platform_id, page).await?;
    Ok(Json(
        firmware.into_iter().map(FirmwareSchema::from).collect(),
    ))
}

/// One firmware file.
#[utoipa::path(
    get,
    path = "/api/firmware/{id}",
    tag = "firmware",
    params(("id" = i64, Path, description = "Firmware id")),
    responses(
        (status = 200, description = "The firmware file", body = FirmwareSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing firmware.read"),
        (status = 404, description = "Firmware not found"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["firmware.read"]),
        ("HTTPBasic" = ["firmware.read"]),
        ("SessionCookie" = ["firmware.read"]),
        ("ClientToken" = ["firmware.read"]),
    )
)]
async fn get_firmware(
    _caller: Authorized<require::FirmwareRead>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<FirmwareSchema>> {
    let firmware = state
        .store
        .find_firmware(id)
        .await?
        .ok_or_else(firmware_not_found)?;
    Ok(Json(firmware.into()))
}

/// Replaces a firmware file's fields.
#[utoipa::path(
    put,
    path = "/api/firmware/{id}",
    tag = "firmware",
    params(("id" = i64, Path, description = "Firmware id")),
    request_body = FirmwareForm,
    responses(
        (status = 200, description = "The changed firmware file", body = FirmwareSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing firmware.write"),
        (status = 404, description = "Firmware not found"),
        (status = 409, description = "The platform has a firmware file with this file name"),
        (status = 422, description = "Invalid field, or no platform has platform_id"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["firmware.write"]),
        ("HTTPBasic" = ["firmware.write"]),
        ("SessionCookie" = ["firmware.write"]),
        ("ClientToken" = ["firmware.write"]),
    )
)]
async fn update_firmware(
    caller: Authorized<require::FirmwareWrite>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(form): Json<FirmwareForm>,
) -> Result<Json<FirmwareSchema>> {
    let user_id = caller.identity.user()?.id;
    let fields = form.validate()?;

    let updated = state.store.update_firmware(id, fields).await?;
    let firmware = saved(updated, "Firmware not found")?;

    tracing::info!(user.id = user_id, firmware.id = id, "firmware updated");
    Ok(Json(firmware.into()))
}

/// Deletes a firmware file.
#[utoipa::path(
    delete,
    path = "/api/firmware/{id}",
    tag = "firmware",
    params(("id" = i64, Path, description = "Firmware id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing firmware.write"),
        (status = 404, description = "Firmware not found"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["firmware.write"]),
        ("HTTPBasic" = ["firmware.write"]),
        ("SessionCookie" = ["firmware.write"]),
        ("ClientToken" = ["firmware.write"]),
    )
)]
async fn delete_firmware(
    caller: Authorized<require::FirmwareWrite>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    let user_id = caller.identity.user()?.id;
    if !state.store.delete_firmware(id).await? {
        return Err(firmware_not_found());
    }
    tracing::info!(user.id = user_id, firmware.id = id, "firmware deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_digests_are_32_lower_case_hex_digits() {
        assert!(is_md5_hex("d41d8cd98f00b204e9800998ecf8427e"));
        assert!(!is_md5_hex("D41D8CD98F00B204E9800998ECF8427E"));
        assert!(!is_md5_hex("d41d8cd98f00b204e9800998ecf8427"));
        assert!(!is_md5_hex("g41d8cd98f00b204e9800998ecf8427e"));
        assert!(!is_md5_hex(""));
    }
}
