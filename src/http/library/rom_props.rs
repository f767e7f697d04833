//! `/api/roms/{id}/props`: the caller's own rating, status, notes and last play of a ROM
//! (`roms.user.read` to see, `roms.user.write` to change). Nobody sees another user's.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::FieldChecks;
use crate::auth::{require, Authorized};
use crate::error::{ApiError, Result};
use crate::http::extract::{Json, Path};
use crate::state::AppState;
use crate::store::RomProps;

/// The play statuses RomM's clients know.
const STATUSES: [&str; 5] = [
    "incomplete",
    "finished",
    "completed_100",
    "retired",
    "never_playing",
];

/// The longest notes, in characters.
const MAX_NOTES_CHARS: usize = 10_000;

/// The per-user ROM property routes with their OpenAPI entries.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_rom_props, update_rom_props))
}

/// Your own data about a ROM; a ROM you never touched shows the defaults.
#[derive(Serialize, ToSchema)]
pub struct RomPropsSchema {
    /// 0 to 10; 0 means unrated.
    #[schema(minimum = 0, maximum = 10)]
    rating: i64,
    /// One of `incomplete`, `finished`, `completed_100`, `retired`, `never_playing`.
    status: Option<String>,
    notes: Option<String>,
    last_played: Option<DateTime<Utc>>,
}

impl From<RomProps> for RomPropsSchema {
    fn from(props: RomProps) -> RomPropsSchema {
        RomPropsSchema {
            rating: props.rating,
            status: props.status,
            notes: props.notes,
            last_played: props.last_played,
        }
    }
}

/// The whole of your data about a ROM: a field left out is reset to its default.
#[derive(Deserialize, ToSchema)]
pub struct RomPropsForm {
    /// 0 to 10; 0 (unrated) when absent.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10)]
    rating: Option<i64>,
    /// One of `incomplete`, `finished`, `completed_100`, `retired`, `never_playing`.
    #[serde(default)]
    #[schema(pattern = "^(incomplete|finished|completed_100|retired|never_playing)$")]
    status: Option<String>,
    /// At most 10 000 characters.
    #[serde(default)]
    #[schema(max_length = 10000)]
    notes: Option<String>,
    /// ISO 8601 with a UTC offset.
    #[serde(default)]
    last_played: Option<DateTime<Utc>>,
}

impl RomPropsForm {
    /// Checks every field and returns the store's view of them.
    fn validate(self) -> Result<RomProps> {
        let mut checks = FieldChecks::default();
        let rating = self.rating.unwrap_or(0);
        if !(0..=10).contains(&rating) {
            checks.fail("rating", "must be an integer from 0 to 10");
        }
        if let Some(status) = &self.status {
            if !STATUSES.contains(&status.as_str()) {
                let message = format!("must be one of {}", STATUSES.join(", "));
                checks.fail("status", message);
            }
        }
        if let Some(notes) = &self.notes {
            checks.long_text("notes", notes, MAX_NOTES_CHARS);
        }
        checks.finish()?;
        Ok(RomProps {
            rating,
            status: self.status,
            notes: self.notes,
            last_played: self.last_played,
        })
    }
}

fn rom_not_found() -> ApiError {
    ApiError::NotFound("ROM not found".to_owned())
}

/// Your data about a ROM.
#[utoipa::path(
    get,
    path = "/api/roms/{id}/props",
    tag = "roms",
    params(("id" = i64, Path, description = "ROM id")),
    responses(
        (status = 200, description = "Your data about the ROM", body = RomPropsSchema),
        (status = 401, description = "Not authenticated, or no user (kiosk)"),
        (status = 403, description = "Missing roms.user.read"),
        (status = 404, description = "ROM not found"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["roms.user.read"]),
        ("HTTPBasic" = ["roms.user.read"]),
        ("SessionCookie" = ["roms.user.read"]),
        ("ClientToken" = ["roms.user.read"]),
    )
)]
async fn get_rom_props(
    caller: Authorized<require::RomsUserRead>,
    State(state): State<AppState>,
    Path(rom_id): Path<i64>,
) -> Result<Json<RomPropsSchema>> {
    let user_id = caller.identity.user()?.id;
    let props = state
        .store
        .find_rom_props(rom_id, user_id)
        .await?
        .ok_or_else(rom_not_found)?;
    Ok(Json(props.into()))
}

/// Replaces your data about a ROM.
#[utoipa::path(
    put,
    path = "/api/roms/{id}/props",
    tag = "roms",
    params(("id" = i64, Path, description = "ROM id")),
    request_body = RomPropsForm,
    responses(
        (status = 200, description = "Your data as stored now", body = RomPropsSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing roms.user.write"),
        (status = 404, description = "ROM not found"),
        (status = 422, description = "Invalid field"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["roms.user.write"]),
        ("HTTPBasic" = ["roms.user.write"]),
        ("SessionCookie" = ["roms.user.write"]),
        ("ClientToken" = ["roms.user.write"]),
    )
)]
async fn update_rom_props(
    caller: Authorized<require::RomsUserWrite>,
    State(state): State<AppState>,
    Path(rom_id): Path<i64>,
    Json(form): Json<RomPropsForm>,
) -> Result<Json<RomPropsSchema>> {
    let user_id = caller.identity.user()?.id;
    let props = form.validate()?;

    let saved = state
        .store
        .save_rom_props(rom_id, user_id, props, Utc::now())
        .await?
        .ok_or_else(rom_not_found)?;

    tracing::info!(user.id = user_id, rom.id = rom_id, "ROM properties saved");
    Ok(Json(saved.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(rating: Option<i64>, status: Option<&str>) -> RomPropsForm {
        RomPropsForm {
            rating,
            status: status.map(str::to_owned),
            notes: None,
            last_played: None,
        }
    }

    #[test]
    fn absent_fields_take_their_defaults() {
        let props = form(None, None).validate().unwrap();
        assert_eq!(props, RomProps::default());
    }

    #[test]
    fn ratings_run_from_zero_to_ten_and_statuses_are_romms() {
        assert_eq!(
            form(Some(10), Some("finished")).validate().unwrap().rating,
            10
        );
        assert!(form(Some(11), None).validate().is_err());
        assert!(form(Some(-1), None).validate().is_err());
        assert!(form(None, Some("playing")).validate().is_err());
    }
}
