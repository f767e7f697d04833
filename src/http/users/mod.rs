//! `/api/users`: first-run setup, the user directory and account changes.
//!
//! Listing and reading others needs `users.read`; creating, deleting and changing others,
//! roles or the enabled flag needs `users.write`; reading yourself needs `me.read` and
//! changing your own username, email or password needs `me.write`.
//!
//! This module holds the user as the API shows it, which other modules answer with too, and
//! the route table: the methods of one path live in different files, so they are listed here.

mod create;
mod delete;
mod read;
mod update;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::guard::RequiredScopes;
use crate::auth::require;
use crate::auth::scopes::{Role, ScopeSet};
use crate::error::ApiError;
use crate::http::timestamps;
use crate::state::AppState;
use crate::store::User;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create::create_user, read::list_users))
        .routes(routes!(read::me))
        .routes(routes!(
            read::get_user,
            update::update_user,
            delete::delete_user
        ))
}

/// A user as the API shows it; never a password hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserSchema {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub enabled: bool,
    pub role: Role,
    /// The scopes the user's role grants, in canonical order.
    pub oauth_scopes: Vec<&'static str>,
    pub avatar_path: String,
    /// The device bound to the calling client token; set only on `/api/users/me`.
    pub current_device_id: Option<String>,
    #[serde(serialize_with = "timestamps::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamps::serialize")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamps::serialize_optional")]
    pub last_login: Option<DateTime<Utc>>,
    #[serde(serialize_with = "timestamps::serialize_optional")]
    pub last_active: Option<DateTime<Utc>>,
}

impl From<&User> for UserSchema {
    fn from(user: &User) -> UserSchema {
        UserSchema {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            enabled: user.enabled,
            role: user.role,
            oauth_scopes: user.role.scopes().names(),
            avatar_path: user.avatar_path.clone(),
            current_device_id: None,
            created_at: user.created_at,
            updated_at: user.updated_at,
            last_login: user.last_login,
            last_active: user.last_active,
        }
    }
}

fn user_not_found() -> ApiError {
    ApiError::NotFound("User not found".to_owned())
}

/// The scope for creating users and for changes beyond your own details; the handlers
/// check it themselves, because the route's guard alone cannot tell which case applies.
fn require_users_write() -> ScopeSet {
    <require::UsersWrite as RequiredScopes>::SCOPES
}
