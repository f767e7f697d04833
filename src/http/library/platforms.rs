//! `/api/platforms`: the game systems of the library (`platforms.read` to see,
//! `platforms.write` to change). A platform that still has ROMs or firmware is deleted only
//! with `?cascade=true`, which deletes them too.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{FieldChecks, PageQuery, Query};
use crate::auth::{require, Authorized};
use crate::error::{ApiError, Result};
use crate::http::extract::{Json, Path};
use crate::state::AppState;
use crate::store::{Platform, PlatformFields};

/// The longest slug, in characters.
const MAX_SLUG_CHARS: usize = 64;

/// The platform routes with their OpenAPI entries.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_platform, list_platforms))
        .routes(routes!(get_platform, update_platform, delete_platform))
}

/// A platform as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct PlatformSchema {
    id: i64,
    /// A short unique key such as `n64`.
    slug: String,
    name: String,
}

impl From<Platform> for PlatformSchema {
    fn from(platform: Platform) -> PlatformSchema {
        PlatformSchema {
            id: platform.id,
            slug: platform.slug,
            name: platform.name,
        }
    }
}

/// A platform's fields; both are required, also when replacing.
#[derive(Deserialize, ToSchema)]
pub struct PlatformForm {
    /// 1 to 64 of `a-z`, `0-9`, `-` and `_`; unique.
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    slug: String,
    /// 1 to 255 characters.
    #[schema(min_length = 1, max_length = 255)]
    name: String,
}

impl PlatformForm {
    /// Checks every field and returns the store's view of them.
    fn validate(self) -> Result<PlatformFields> {
        let mut checks = FieldChecks::default();
        if !is_valid_slug(&self.slug) {
            let message =
                format!("must be 1 to {MAX_SLUG_CHARS} of lower-case letters, digits, '-' and '_'");
            checks.fail("slug", message);
        }
        let name = checks.text("name", &self.name);
        checks.finish()?;
        Ok(PlatformFields {
            slug: self.slug,
            name,
        })
    }
}

/// Whether `slug` is 1 to 64 of `a-z`, `0-9`, `-` and `_`.
fn is_valid_slug(slug: &str) -> bool {
    let is_allowed =
        |byte: u8| byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"-_".contains(&byte);
    (1..=MAX_SLUG_CHARS).contains(&slug.len()) && slug.bytes().all(is_allowed)
}

/// Whether deleting a platform also deletes its ROMs and firmware.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteQuery {
    /// `true` deletes the platform's ROMs and firmware with it; without it, a platform that
    /// has any is refused with 409.
    #[param(value_type = Option<bool>)]
    cascade: Option<String>,
}

impl DeleteQuery {
    fn cascade(&self) -> Result<bool> {
        match self
            .cascade
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(ApiError::invalid_field("cascade", "must be true or false")),
        }
    }
}

fn platform_not_found() -> ApiError {
    ApiError::NotFound("Platform not found".to_owned())
}

/// Adds a platform.
#[utoipa::path(
    post,
    path = "/api/platforms",
    tag = "platforms",
    request_body = PlatformForm,
    responses(
        (status = 201, description = "Created", body = PlatformSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing platforms.write"),
        (status = 409, description = "Another platform has the slug"),
        (status = 422, description = "Invalid field"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["platforms.write"]),
        ("HTTPBasic" = ["platforms.write"]),
        ("SessionCookie" = ["platforms.write"]),
        ("ClientToken" = ["platforms.write"]),
    )
)]
async fn create_platform(
    caller: Authorized<require::PlatformsWrite>,
    State(state): State<AppState>,
    Json(form): Json<PlatformForm>,
) -> Result<(StatusCode, Json<PlatformSchema>)> {
    let user_id = caller.identity.user()?.id;
    let fields = form.validate()?;

    let platform = state.store.create_platform(fields).await?;

    tracing::info!(
        user.id = user_id,
        platform.id = platform.id,
        "platform created"
    );
    Ok((StatusCode::CREATED, Json(platform.into())))
}

/// Lists platforms in id order.
#[utoipa::path(
    get,
    path = "/api/platforms",
    tag = "platforms",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of platforms", body = Vec<PlatformSchema>),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing platforms.read"),
        (status = 422, description = "Invalid limit or offset"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["platforms.read"]),
        ("HTTPBasic" = ["platforms.read"]),
        ("SessionCookie" = ["platforms.read"]),
        ("ClientToken" = ["platforms.read"]),
    )
)]
async fn list_platforms(
    _caller: Authorized<require::PlatformsRead>,
    State(state): State<AppState>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<Vec<PlatformSchema>>> {
    let platforms = state.store.list_platforms(paging.page()?).await?;
    Ok(Json(
        platforms.into_iter().map(PlatformSchema::from).collect(),
    ))
}

/// One platform.
#[utoipa::path(
    get,
    path = "/api/platforms/{id}",
    tag = "platforms",
    params(("id" = i64, Path, description = "Platform id")),
    responses(
        (status = 200, description = "The platform", body = PlatformSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing platforms.read"),
        (status = 404, description = "Platform not found"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["platforms.read"]),
        ("HTTPBasic" = ["platforms.read"]),
        ("SessionCookie" = ["platforms.read"]),
        ("ClientToken" = ["platforms.read"]),
    )
)]
async fn get_platform(
    _caller: Authorized<require::PlatformsRead>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<PlatformSchema>> {
    let platform = state
        .store
        .find_platform(id)
        .await?
        .ok_or_else(platform_not_found)?;
    Ok(Json(platform.into()))
}

/// Replaces a platform's slug and name.
#[utoipa::path(
    put,
    path = "/api/platforms/{id}",
    tag = "platforms",
    params(("id" = i64, Path, description = "Platform id")),
    request_body = PlatformForm,
    responses(
        (status = 200, description = "The changed platform", body = PlatformSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing platforms.write"),
        (status = 404, description = "Platform not found"),
        (status = 409, description = "Another platform has the slug"),
        (status = 422, description = "Invalid field"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["platforms.write"]),
        ("HTTPBasic" = ["platforms.write"]),
        ("SessionCookie" = ["platforms.write"]),
        ("ClientToken" = ["platforms.write"]),
    )
)]
async fn update_platform(
    caller: Authorized<require::PlatformsWrite>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(form): Json<PlatformForm>,
) -> Result<Json<PlatformSchema>> {
    let user_id = caller.identity.user()?.id;
    let fields = form.validate()?;

    let platform = state
        .store
        .update_platform(id, fields)
        .await?
        .ok_or_else(platform_not_found)?;

    tracing::info!(user.id = user_id, platform.id = id, "platform updated");
    Ok(Json(platform.into()))
}

/// Deletes a platform; with `cascade=true` also its ROMs and firmware.
#[utoipa::path(
    delete,
    path = "/api/platforms/{id}",
    tag = "platforms",
    params(("id" = i64, Path, description = "Platform id"), DeleteQuery),
    responses(
        (status = 204, description = "Deleted, with its ROMs and firmware if cascading"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing platforms.write"),
        (status = 404, description = "Platform not found"),
        (status = 409, description = "The platform has ROMs or firmware and cascade is off"),
        (status = 422, description = "Invalid cascade"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["platforms.write"]),
        ("HTTPBasic" = ["platforms.write"]),
        ("SessionCookie" = ["platforms.write"]),
        ("ClientToken" = ["platforms.write"]),
    )
)]
async fn delete_platform(
    caller: Authorized<require::PlatformsWrite>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(options): Query<DeleteQuery>,
) -> Result<StatusCode> {
    let user_id = caller.identity.user()?.id;
    let cascade = options.cascade()?;

    let removal = state
        .store
        .delete_platform(id, cascade)
        .await?
        .ok_or_else(platform_not_found)?;

    tracing::info!(
        user.id = user_id,
        platform.id = id,
        roms.deleted = removal.roms,
        firmware.deleted = removal.firmware,
        "platform deleted"
    );
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_short_lower_case_words() {
        for good in ["n64", "sega-genesis", "ps_2", "a", &"z".repeat(64)] {
            assert!(is_valid_slug(good), "{good:?} refused");
        }
        for bad in ["", "N64", "game boy", "gba!", "é", &"z".repeat(65)] {
            assert!(!is_valid_slug(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn cascade_is_off_unless_true_is_given() {
        let query = |value: Option<&str>| DeleteQuery {
            cascade: value.map(str::to_owned),
        };
        assert!(!query(None).cascade().unwrap());
        assert!(!query(Some("false")).cascade().unwrap());
        assert!(query(Some("TRUE")).cascade().unwrap());
        assert!(query(Some("yes")).cascade().is_err());
    }
}
