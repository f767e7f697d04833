//! `/api/roms`: the game files of the library (`roms.read` to see, `roms.write` to change).
//! Each ROM belongs to one platform; deleting a ROM removes it from every collection and
//! deletes every user's properties of it.

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
use crate::store::{Rom, RomFields};

/// The ROM routes with their OpenAPI entries.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_rom, list_roms))
        .routes(routes!(get_rom, update_rom, delete_rom))
}

/// A ROM as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct RomSchema {
    id: i64,
    platform_id: i64,
    name: String,
    /// Unique within the platform.
    file_name: String,
    /// In bytes.
    file_size: i64,
}

impl From<Rom> for RomSchema {
    fn from(rom: Rom) -> RomSchema {
        RomSchema {
            id: rom.id,
            platform_id: rom.platform_id,
            name: rom.name,
            file_name: rom.file_name,
            file_size: rom.file_size,
        }
    }
}

/// One page of ROMs, in the shape RomM's clients read: `items` plus the paging used.
#[derive(Serialize, ToSchema)]
pub struct RomPageSchema {
    items: Vec<RomSchema>,
    /// How many ROMs match the filter, on all pages.
    total: i64,
    limit: i64,
    offset: i64,
}

/// A ROM's fields; every one is required, also when replacing.
#[derive(Deserialize, ToSchema)]
pub struct RomForm {
    /// The id of an existing platform.
    platform_id: i64,
    /// 1 to 255 characters.
    #[schema(min_length = 1, max_length = 255)]
    name: String,
    /// 1 to 255 characters, without folder separators; unique within the platform.
    #[schema(value_type = FileName)]
    file_name: String,
    /// In bytes, at least 0.
    #[schema(minimum = 0)]
    file_size: i64,
}

impl RomForm {
    /// Checks every field and returns the store's view of them.
    fn validate(self) -> Result<RomFields> {
        let mut checks = FieldChecks::default();
        let name = checks.text("name", &self.name);
        checks.file_name("file_name", &self.file_name);
        checks.file_size("file_size", self.file_size);
        checks.finish()?;
        Ok(RomFields {
            platform_id: self.platform_id,
            name,
            file_name: self.file_name,
            file_size: self.file_size,
        })
    }
}

fn rom_not_found() -> ApiError {
    ApiError::NotFound("ROM not found".to_owned())
}

/// Adds a ROM to a platform.
#[utoipa::path(
    post,
    path = "/api/roms",
    tag = "roms",
    request_body = RomForm,
    responses(
        (status = 201, description = "Created", body = RomSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing roms.write"),
        (status = 409, description = "The platform has a ROM with this file name"),
        (status = 422, description = "Invalid field, or no platform has platform_id"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["roms.write"]),
        ("HTTPBasic" = ["roms.write"]),
        ("SessionCookie" = ["roms.write"]),
        ("ClientToken" = ["roms.write"]),
    )
)]
async fn create_rom(
    caller: Authorized<require::RomsWrite>,
    State(state): State<AppState>,
    Json(form): Json<RomForm>,
) -> Result<(StatusCode, Json<RomSchema>)> {
    let user_id = caller.identity.user()?.id;
    let fields = form.validate()?;

    let rom = saved(state.store.create_rom(fields).await?, "ROM not found")?;

    tracing::info!(
        user.id = user_id,
        rom.id = rom.id,
        platform.id = rom.platform_id,
        "ROM created"
    );
    Ok((StatusCode::CREATED, Json(rom.into())))
}

/// Lists ROMs in id order, of one platform when `platform_id` is given.
///
/// An unknown `platform_id` lists nothing rather than failing, as any other filter would.
#[utoipa::path(
    get,
    path = "/api/roms",
    tag = "roms",
    params(PlatformFilter, PageQuery),
    responses(
        (status = 200, description = "One page of ROMs", body = RomPageSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing roms.read"),
        (status = 422, description = "Invalid platform_id, limit or offset"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["roms.read"]),
        ("HTTPBasic" = ["roms.read"]),
        ("SessionCookie" = ["roms.read"]),
        ("ClientToken" = ["roms.read"]),
    )
)]
async fn list_roms(
    _caller: Authorized<require::RomsRead>,
    State(state): State<AppState>,
    Query(filter): Query<PlatformFilter>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<RomPageSchema>> {
    let platform_id = filter.platform_id()?;
    let page = paging.page()?;

    let found = state.store.list_roms(platform_id, page).await?;

    Ok(Json(RomPageSchema {
        items: found.roms.into_iter().map(RomSchema::from).collect(),
        total: found.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// One ROM.
#[utoipa::path(
    get,
    path = "/api/roms/{id}",
    tag = "roms",
    params(("id" = i64, Path, description = "ROM id")),
    responses(
        (status = 200, description = "The ROM", body = RomSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing roms.read"),
        (status = 404, description = "ROM not found"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["roms.read"]),
        ("HTTPBasic" = ["roms.read"]),
        ("SessionCookie" = ["roms.read"]),
        ("ClientToken" = ["roms.read"]),
    )
)]
async fn get_rom(
    _caller: Authorized<require::RomsRead>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<RomSchema>> {
    let rom = state.store.find_rom(id).await?.ok_or_else(rom_not_found)?;
    Ok(Json(rom.into()))
}

/// Replaces a ROM's fields, possibly moving it to another platform.
#[utoipa::path(
    put,
    path = "/api/roms/{id}",
    tag = "roms",
    params(("id" = i64, Path, description = "ROM id")),
    request_body = RomForm,
    responses(
        (status = 200, description = "The changed ROM", body = RomSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing roms.write"),
        (status = 404, description = "ROM not found"),
        (status = 409, description = "The platform has a ROM with this file name"),
        (status = 422, description = "Invalid field, or no platform has platform_id"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["roms.write"]),
        ("HTTPBasic" = ["roms.write"]),
        ("SessionCookie" = ["roms.write"]),
        ("ClientToken" = ["roms.write"]),
    )
)]
async fn update_rom(
    caller: Authorized<require::RomsWrite>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(form): Json<RomForm>,
) -> Result<Json<RomSchema>> {
    let user_id = caller.identity.user()?.id;
    let fields = form.validate()?;

    let rom = saved(state.store.update_rom(id, fields).await?, "ROM not found")?;

    tracing::info!(user.id = user_id, rom.id = id, "ROM updated");
    Ok(Json(rom.into()))
}

/// Deletes a ROM, with every user's properties of it and its place in every collection.
#[utoipa::path(
    delete,
    path = "/api/roms/{id}",
    tag = "roms",
    params(("id" = i64, Path, description = "ROM id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing roms.write"),
        (status = 404, description = "ROM not found"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["roms.write"]),
        ("HTTPBasic" = ["roms.write"]),
        ("SessionCookie" = ["roms.write"]),
        ("ClientToken" = ["roms.write"]),
    )
)]
async fn delete_rom(
    caller: Authorized<require::RomsWrite>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    let user_id = caller.identity.user()?.id;
    if !state.store.delete_rom(id).await? {
        return Err(rom_not_found());
    }
    tracing::info!(user.id = user_id, rom.id = id, "ROM deleted");
    Ok(StatusCode::NO_CONTENT)
}
