//! Accounts made and recovered by link: invites, registration, password resets and
//! forgotten-password requests.
//!
//! An admin hands a link to a person out of band; its token is the only proof the person
//! needs. Tokens are returned once, stored as hashes and never logged. A forgotten-password
//! request only tells the admins: it never sends or logs a usable link, because this server
//! has no mail channel it could trust with one.

mod invites;
mod password_resets;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(invites::router())
        .merge(password_resets::router())
}

/// A link to hand to one person; `url` is the web page that uses `token`.
#[derive(Serialize, ToSchema)]
pub struct LinkSchema {
    pub(super) token: String,
    /// Absolute when `ROMM_BASE_URL` is set, else a path on this server.
    pub(super) url: String,
    pub(super) expires_at: DateTime<Utc>,
}

/// The link to `page` carrying `token`, on the public URL when one is configured.
fn link_url(state: &AppState, page: &str, token: &str) -> String {
    let base = state.config.base_url.as_deref().unwrap_or("");
    format!("{}{page}?token={token}", base.trim_end_matches('/'))
}
