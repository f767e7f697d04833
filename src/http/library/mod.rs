//! The library of SPEC §8: platforms, ROMs and their per-user properties, collections,
//! firmware files and maintenance tasks, one module each.
//!
//! This module holds what they share: a query-string extractor, paging, field checks that
//! gather every problem of a request into one 422, and the reading of a store's [`Saved`].

mod collections;
mod firmware;
mod platforms;
mod rom_props;
mod roms;
mod tasks;

use std::ops::RangeInclusive;

use serde::Deserialize;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::error::{ApiError, FieldError, Result};
use crate::http::extract::Query;
use crate::state::AppState;
use crate::store::{Page, Reference, Saved};

/// Every route of the library, with its OpenAPI entries.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(platforms::router())
        .merge(roms::router())
        .merge(rom_props::router())
        .merge(collections::router())
        .merge(firmware::router())
        .merge(tasks::router())
}

/// How many records a list answers when `limit` is absent.
const DEFAULT_LIMIT: i64 = 50;

/// The most records one list answers.
const MAX_LIMIT: i64 = 500;

/// The longest name or other one-line text field, in characters.
const MAX_TEXT_CHARS: usize = 255;

/// A bare file name in the OpenAPI document, as [`FieldChecks::file_name`] accepts it.
struct FileName;

impl PartialSchema for FileName {
    fn schema() -> RefOr<Schema> {
        // No folder separator or NUL, and no space at either end; `.` and `..` are left to
        // the description, as a pattern would need a look-ahead that not every tool supports.
        let pattern = r"^[^\s/\\\x00]([^/\\\x00]*[^\s/\\\x00])?$";
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_TEXT_CHARS))
            .pattern(Some(pattern))
            .description(Some(
                "A file name, not a path: no folder separator, not `.` or `..`, and no space \
                 at either end",
            ))
            .into()
    }
}

impl ToSchema for FileName {}

/// `limit` and `offset` of a list, as the query string gives them.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// How many records to return: 1 to 500, 50 when absent.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// How many records to skip: 0 or more, 0 when absent.
    #[param(value_type = Option<i64>, minimum = 0)]
    offset: Option<String>,
}

impl PageQuery {
    /// The page asked for, or a 422 naming each bad field.
    fn page(&self) -> Result<Page> {
        let mut checks = FieldChecks::default();
        let limit = checks.integer_in("limit", self.limit.as_deref(), 1..=MAX_LIMIT);
        let offset = checks.integer_in("offset", self.offset.as_deref(), 0..=i64::MAX);
        checks.finish()?;
        Ok(Page {
            limit: limit.unwrap_or(DEFAULT_LIMIT),
            offset: offset.unwrap_or(0),
        })
    }
}

/// The `platform_id` filter of a list, as the query string gives it.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PlatformFilter {
    /// Only records of this platform.
    #[param(value_type = Option<i64>, minimum = 1)]
    platform_id: Option<String>,
}

impl PlatformFilter {
    fn platform_id(&self) -> Result<Option<i64>> {
        let mut checks = FieldChecks::default();
        let platform_id =
            checks.integer_in("platform_id", self.platform_id.as_deref(), 1..=i64::MAX);
        checks.finish()?;
        Ok(platform_id)
    }
}

/// The problems found in one request's fields, answered together as one 422.
#[derive(Default)]
struct FieldChecks {
    errors: Vec<FieldError>,
}

impl FieldChecks {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// A one-line text of 1 to 255 characters, without surrounding spaces.
    fn text(&mut self, field: &str, value: &str) -> String {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.fail(field, "must not be empty");
        } else if trimmed.chars().count() > MAX_TEXT_CHARS {
            self.fail(
                field,
                format!("must be at most {MAX_TEXT_CHARS} characters long"),
            );
        }
        trimmed.to_owned()
    }

    /// A longer free text of at most `max_chars` characters.
    fn long_text(&mut self, field: &str, value: &str, max_chars: usize) {
        if value.chars().count() > max_chars {
            self.fail(
                field,
                format!("must be at most {max_chars} characters long"),
            );
        }
    }

    /// A bare file name: 1 to 255 characters, no folder separators, not `.` or `..`.
    fn file_name(&mut self, field: &str, value: &str) {
        if value.is_empty() || value.chars().count() > MAX_TEXT_CHARS {
            self.fail(
                field,
                format!("must be 1 to {MAX_TEXT_CHARS} characters long"),
            );
        } else if value.contains(['/', '\\', '\0']) || value == "." || value == ".." {
            self.fail(field, "must be a file name, not a path");
        } else if value.trim() != value {
            self.fail(field, "must not start or end with spaces");
        }
    }

    /// A size in bytes, which cannot be negative.
    fn file_size(&mut self, field: &str, value: i64) {
        if value < 0 {
            self.fail(field, "must be at least 0");
        }
    }

    /// An optional integer given as text, which must lie in `range`.
    fn integer_in(
        &mut self,
        field: &str,
        value: Option<&str>,
        range: RangeInclusive<i64>,
    ) -> Option<i64> {
        let value = value?;
        let parsed = value
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| range.contains(n));
        if parsed.is_none() {
            let message = if *range.end() == i64::MAX {
                format!("must be an integer of at least {}", range.start())
            } else {
                format!(
                    "must be an integer from {} to {}",
                    range.start(),
                    range.end()
                )
            };
            self.fail(field, message);
        }
        parsed
    }

    /// Ends the checks: a 422 listing every problem, if there was one.
    fn finish(self) -> Result<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

/// The record a library write stored, or why it stored nothing: a 404 with `not_found`
/// for the URL, or a 422 for the field that names a missing record.
fn saved<T>(outcome: Saved<T>, not_found: &str) -> Result<T> {
    match outcome {
        Saved::Record(record) => Ok(record),
        Saved::Missing => Err(ApiError::NotFound(not_found.to_owned())),
        Saved::UnknownReference(Reference::Platform(id)) => Err(ApiError::invalid_field(
            "platform_id",
            format!("no platform has id {id}"),
        )),
        Saved::UnknownReference(Reference::Rom(id)) => Err(ApiError::invalid_field(
            "rom_ids",
            format!("no ROM has id {id}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_of(limit: Option<&str>, offset: Option<&str>) -> Result<Page> {
        let query = PageQuery {
            limit: limit.map(str::to_owned),
            offset: offset.map(str::to_owned),
        };
        query.page()
    }

    fn detail(error: ApiError) -> String {
        match error {
            ApiError::Validation { detail, .. } | ApiError::NotFound(detail) => detail,
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn paging_defaults_to_the_first_fifty() {
        let page = page_of(None, None).unwrap();
        assert_eq!(
            page,
            Page {
                limit: 50,
                offset: 0
            }
        );
    }

    #[test]
    fn paging_accepts_the_bounds_and_refuses_beyond_them() {
        assert_eq!(page_of(Some("1"), Some("0")).unwrap().limit, 1);
        assert_eq!(page_of(Some("500"), None).unwrap().limit, 500);

        let refused = detail(page_of(Some("0"), Some("-1")).unwrap_err());
        assert_eq!(
            refused,
            "limit: must be an integer from 1 to 500; offset: must be an integer of at least 0"
        );
        let refused = detail(page_of(Some("501"), None).unwrap_err());
        assert_eq!(refused, "limit: must be an integer from 1 to 500");
        let refused = detail(page_of(None, Some("ten")).unwrap_err());
        assert_eq!(refused, "offset: must be an integer of at least 0");
    }

    #[test]
    fn file_names_must_not_be_paths() {
        for bad in ["", "..", ".", "roms/mario.z64", "a\\b", " padded.bin"] {
            let mut checks = FieldChecks::default();
            checks.file_name("file_name", bad);
            assert!(checks.finish().is_err(), "{bad:?} passed");
        }
        let mut checks = FieldChecks::default();
        checks.file_name("file_name", "Super Mario 64 (USA).z64");
        assert!(checks.finish().is_ok());
    }

    #[test]
    fn texts_are_trimmed_and_bounded() {
        let mut checks = FieldChecks::default();
        assert_eq!(checks.text("name", "  Nintendo 64 "), "Nintendo 64");
        assert!(checks.finish().is_ok());

        let mut checks = FieldChecks::default();
        checks.text("name", "   ");
        checks.text("title", &"x".repeat(256));
        let refused = detail(checks.finish().unwrap_err());
        assert_eq!(
            refused,
            "name: must not be empty; title: must be at most 255 characters long"
        );
    }

    #[test]
    fn a_write_naming_a_missing_record_blames_the_field() {
        let unknown_platform = Saved::<()>::UnknownReference(Reference::Platform(7));
        let refused = detail(saved(unknown_platform, "ROM not found").unwrap_err());
        assert_eq!(refused, "platform_id: no platform has id 7");

        let unknown_rom = Saved::<()>::UnknownReference(Reference::Rom(3));
        let refused = detail(saved(unknown_rom, "Collection not found").unwrap_err());
        assert_eq!(refused, "rom_ids: no ROM has id 3");

        let missing = detail(saved(Saved::<()>::Missing, "ROM not found").unwrap_err());
        assert_eq!(missing, "ROM not found");
    }
}
