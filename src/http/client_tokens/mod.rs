//! `/api/client-tokens`: long-lived API tokens for scripts and companion apps, and the codes
//! that pair a token with a device.
//!
//! Your own tokens need `me.read` to list and `me.write` to change; every user's need
//! `users.read` and `users.write`. Checking a pairing code and exchanging it are public.
//!
//! This module holds what its route files share: the token as the API shows it, the limit on
//! active tokens, and the checks on requested scopes and lifetimes, which the device flow
//! reuses.

mod admin;
mod own;
mod pairing;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::scopes::{Scope, ScopeSet};
use crate::auth::Identity;
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::store::ClientToken;

/// How many unexpired tokens one user may hold.
pub const MAX_ACTIVE_TOKENS: i64 = 25;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(own::router())
        .merge(admin::router())
        .merge(pairing::router())
}

/// A token as its owner sees it; never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientTokenSchema {
    pub id: i64,
    pub name: String,
    /// In canonical order.
    #[schema(value_type = Vec<Scope>)]
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub user_id: i64,
    /// The device the token is bound to, if any.
    pub device_id: Option<String>,
}

impl From<ClientToken> for ClientTokenSchema {
    fn from(token: ClientToken) -> ClientTokenSchema {
        ClientTokenSchema {
            id: token.id,
            name: token.name,
            scopes: scope_names(token.scopes),
            expires_at: token.expires_at,
            last_used_at: token.last_used_at,
            created_at: token.created_at,
            user_id: token.user_id,
            device_id: token.device_id,
        }
    }
}

/// Scope names in canonical order from stored bits.
pub fn scope_names(bits: i64) -> Vec<String> {
    let scopes = ScopeSet::from_bits(u32::try_from(bits).unwrap_or(0));
    scopes.names().into_iter().map(str::to_owned).collect()
}

/// A token with its secret: the only response that ever carries one.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientTokenWithSecret {
    #[serde(flatten)]
    pub token: ClientTokenSchema,
    /// `rmm_` and 64 hex digits; shown once and never again.
    pub raw_token: String,
}

/// Parses `expires_in` into an absolute expiry; `None` means the token never expires.
pub fn parse_expires_in(value: Option<&str>, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let lifetime = match value {
        None | Some("never") => return Ok(None),
        Some("30d") => Duration::days(30),
        Some("90d") => Duration::days(90),
        Some("1y") => Duration::days(365),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "expires_in",
                "must be one of 30d, 90d, 1y, never or null",
            ))
        }
    };
    Ok(Some(now + lifetime))
}

/// Parses requested scopes: at least one, all known, none beyond what the caller holds.
pub fn parse_requested_scopes(
    field: &str,
    names: &[String],
    caller: &Identity,
) -> Result<ScopeSet> {
    if names.is_empty() {
        return Err(ApiError::invalid_field(
            field,
            "must name at least one scope",
        ));
    }
    let requested = ScopeSet::parse(names.iter().map(String::as_str)).map_err(|unknown| {
        ApiError::invalid_field(field, format!("unknown scope {}", unknown.0))
    })?;
    let excess = requested.difference(caller.scopes);
    if !excess.is_empty() {
        let names = excess.names().join(", ");
        return Err(ApiError::Forbidden(format!(
            "Requested scopes exceed your permissions: {names}"
        )));
    }
    Ok(requested)
}

fn token_not_found() -> ApiError {
    ApiError::NotFound("Token not found".to_owned())
}
