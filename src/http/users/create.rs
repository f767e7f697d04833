//! Creating a user: by an administrator, or by anyone during first-run setup.

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{require_users_write, UserSchema};
use crate::auth::guard::require_scopes;
use crate::auth::scopes::Role;
use crate::auth::Identity;
use crate::error::{ApiError, Challenge, Result};
use crate::http::extract::{Json, JsonOrForm};
use crate::state::AppState;
use crate::users::{self, UserRequest};

/// A new account.
#[derive(Deserialize, ToSchema)]
pub struct CreateUserForm {
    /// Stored lower-case.
    #[schema(min_length = 3, max_length = 255, pattern = "^[A-Za-z0-9_-]+$")]
    username: String,
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 256)]
    password: SecretString,
    #[serde(default)]
    email: Option<String>,
    /// Ignored during first-run setup, which always creates an admin.
    #[serde(default = "default_role")]
    role: Role,
}

fn default_role() -> Role {
    Role::Viewer
}

/// Creates a user; open to anyone while no user exists, and then it creates an admin.
#[utoipa::path(
    post,
    path = "/api/users",
    tag = "users",
    request_body(content(
        (CreateUserForm = "application/json"),
        (CreateUserForm = "application/x-www-form-urlencoded"),
        (CreateUserForm = "multipart/form-data"),
    )),
    responses(
        (status = 201, description = "Created", body = UserSchema),
        (status = 401, description = "Not authenticated (after first-run setup)"),
        (status = 403, description = "Missing users.write, or only admins create admins"),
        (status = 409, description = "Username or email taken"),
        (status = 422, description = "Invalid field"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["users.write"]),
        ("HTTPBasic" = ["users.write"]),
        ("SessionCookie" = ["users.write"]),
        ("ClientToken" = ["users.write"]),
        (),
    )
)]
pub(super) async fn create_user(
    identity: Option<Identity>,
    State(state): State<AppState>,
    request: Request,
) -> Result<(StatusCode, Json<UserSchema>)> {
    // First-run setup is decided before the body is read, so that 422 never reaches an
    // anonymous caller once setup is over.
    // A kiosk identity has no user behind it: for setup it counts as anonymous.
    let has_user = identity
        .as_ref()
        .is_some_and(|identity| identity.user.is_some());
    let first_run = !has_user && state.needs_setup().await?;
    if !first_run {
        let identity = identity.ok_or_else(|| ApiError::not_authenticated(Challenge::Bearer))?;
        require_scopes(&identity, require_users_write())?;
        let JsonOrForm(form) = JsonOrForm::<CreateUserForm>::from_request(request, &state).await?;
        if form.role == Role::Admin && identity.user()?.role != Role::Admin {
            return Err(ApiError::Forbidden(
                "Only an admin can create an admin".to_owned(),
            ));
        }
        let user = users::create_user(state.store.as_ref(), &state.passwords, form.into(), false)
            .await?
            .ok_or_else(|| anyhow::anyhow!("create_user returned no user"))?;
        tracing::info!(
            user.id = user.id,
            by.user.id = identity.user_id(),
            "user created"
        );
        return Ok((StatusCode::CREATED, Json(UserSchema::from(&user))));
    }

    let JsonOrForm(form) = JsonOrForm::<CreateUserForm>::from_request(request, &state).await?;
    let request = UserRequest {
        role: Role::Admin,
        ..form.into()
    };
    let created = users::create_user(state.store.as_ref(), &state.passwords, request, true).await?;
    // Another request finished setup first; this caller is now an anonymous stranger.
    let user = created.ok_or_else(|| ApiError::not_authenticated(Challenge::Bearer))?;
    tracing::info!(user.id = user.id, "first admin created by first-run setup");
    Ok((StatusCode::CREATED, Json(UserSchema::from(&user))))
}

impl From<CreateUserForm> for UserRequest {
    fn from(form: CreateUserForm) -> UserRequest {
        UserRequest {
            username: form.username,
            email: form.email,
            password: form.password,
            role: form.role,
        }
    }
}
