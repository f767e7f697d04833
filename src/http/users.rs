//! `/api/users`: first-run setup, the user directory and account changes.
//!
//! Listing and reading others needs `users.read`; creating, deleting and changing others,
//! roles or the enabled flag needs `users.write`; reading yourself needs `me.read` and
//! changing your own username, email or password needs `me.write`.

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::guard::{require_scopes, RequiredScopes};
use crate::auth::password::Verification;
use crate::auth::scopes::{Role, ScopeSet};
use crate::auth::{require, Authorized, Identity};
use crate::error::{ApiError, Challenge, FieldError, Result};
use crate::http::extract::{Json, JsonOrForm, Path};
use crate::http::timestamps;
use crate::state::AppState;
use crate::store::{User, UserUpdate};
use crate::users::{self, check_password_rules, normalize_email, normalize_username, UserRequest};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(me))
        .routes(routes!(get_user, update_user, delete_user))
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

/// Changes to an account; absent or empty fields stay as they are (an empty email removes it).
#[derive(Deserialize, ToSchema)]
pub struct UpdateUserForm {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
    /// Required to change your own password.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    current_password: Option<SecretString>,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    enabled: Option<bool>,
}

fn user_not_found() -> ApiError {
    ApiError::NotFound("User not found".to_owned())
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
async fn create_user(
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

fn require_users_write() -> ScopeSet {
    <require::UsersWrite as RequiredScopes>::SCOPES
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

/// Lists every user.
#[utoipa::path(
    get,
    path = "/api/users",
    tag = "users",
    responses(
        (status = 200, description = "All users", body = Vec<UserSchema>),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing users.read"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["users.read"]),
        ("HTTPBasic" = ["users.read"]),
        ("SessionCookie" = ["users.read"]),
        ("ClientToken" = ["users.read"]),
    )
)]
async fn list_users(
    _caller: Authorized<require::UsersRead>,
    State(state): State<AppState>,
) -> Result<Json<Vec<UserSchema>>> {
    let users = state.store.list_users().await?;
    Ok(Json(users.iter().map(UserSchema::from).collect()))
}

/// The calling user.
#[utoipa::path(
    get,
    path = "/api/users/me",
    tag = "users",
    responses(
        (status = 200, description = "You", body = UserSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing me.read"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["me.read"]),
        ("HTTPBasic" = ["me.read"]),
        ("SessionCookie" = ["me.read"]),
        ("ClientToken" = ["me.read"]),
    )
)]
async fn me(caller: Authorized<require::MeRead>) -> Result<Json<UserSchema>> {
    let identity = &caller.identity;
    let mut me = UserSchema::from(identity.user()?);
    me.current_device_id = identity
        .client_token
        .as_ref()
        .and_then(|token| token.device_id.clone());
    Ok(Json(me))
}

/// One user by id.
#[utoipa::path(
    get,
    path = "/api/users/{id}",
    tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing users.read"),
        (status = 404, description = "No such user"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["users.read"]),
        ("HTTPBasic" = ["users.read"]),
        ("SessionCookie" = ["users.read"]),
        ("ClientToken" = ["users.read"]),
    )
)]
async fn get_user(
    _caller: Authorized<require::UsersRead>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<UserSchema>> {
    let user = state
        .store
        .find_user(id)
        .await?
        .ok_or_else(user_not_found)?;
    Ok(Json(UserSchema::from(&user)))
}

/// Changes a user. Yourself: username, email and password (with `current_password`).
/// Anyone, and any role or enabled change: `users.write`.
#[utoipa::path(
    put,
    path = "/api/users/{id}",
    tag = "users",
    params(("id" = i64, Path, description = "User id")),
    request_body(content(
        (UpdateUserForm = "application/x-www-form-urlencoded"),
        (UpdateUserForm = "multipart/form-data"),
        (UpdateUserForm = "application/json"),
    )),
    responses(
        (status = 200, description = "The changed user", body = UserSchema),
        (status = 400, description = "Wrong current password"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing me.write, or users.write for this change"),
        (status = 404, description = "No such user"),
        (status = 409, description = "Username or email taken, or the last admin"),
        (status = 422, description = "Invalid field"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["me.write"]),
        ("HTTPBasic" = ["me.write"]),
        ("SessionCookie" = ["me.write"]),
        ("ClientToken" = ["me.write"]),
    )
)]
async fn update_user(
    caller: Authorized<require::MeWrite>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    request: Request,
) -> Result<Json<UserSchema>> {
    let identity = &caller.identity;
    let caller_user = identity.user()?;
    let is_self = caller_user.id == id;
    if !is_self {
        require_scopes(identity, require_users_write())?;
    }
    let JsonOrForm(form) = JsonOrForm::<UpdateUserForm>::from_request(request, &state).await?;
    if form.role.is_some() || form.enabled.is_some() {
        require_scopes(identity, require_users_write())?;
    }
    let target = state
        .store
        .find_user(id)
        .await?
        .ok_or_else(user_not_found)?;

    let update = build_update(&state, &form, is_self.then_some(&target)).await?;
    let keep_session = if is_self && update.role.is_none() && update.enabled.is_none() {
        identity.session_id()
    } else {
        None
    };
    let revokes = update.ends_sessions();
    let user = state.store.update_user(id, update, keep_session).await?;
    if revokes {
        tracing::info!(
            user.id = id,
            by.user.id = caller_user.id,
            "user credentials revoked by a change"
        );
    } else {
        tracing::info!(user.id = id, by.user.id = caller_user.id, "user changed");
    }
    Ok(Json(UserSchema::from(&user)))
}

/// Validates the form into a store update; `own_account` is set when users change
/// themselves, whose password change needs the current password.
async fn build_update(
    state: &AppState,
    form: &UpdateUserForm,
    own_account: Option<&User>,
) -> Result<UserUpdate> {
    let mut errors = Vec::new();
    let mut update = UserUpdate::default();
    let mut field_error = |field: &str, message: String| {
        errors.push(FieldError {
            field: field.to_owned(),
            message,
        });
    };

    match form
        .username
        .as_deref()
        .filter(|name| !name.is_empty())
        .map(normalize_username)
    {
        Some(Ok(username)) => update.username = Some(username),
        Some(Err(message)) => field_error("username", message),
        None => {}
    }
    match form.email.as_deref().map(normalize_email) {
        Some(Ok(email)) => update.email = Some(email),
        Some(Err(message)) => field_error("email", message),
        None => {}
    }
    let new_password = form
        .password
        .as_ref()
        .filter(|password| !secrecy::ExposeSecret::expose_secret(*password).is_empty());
    if let Some(password) = new_password {
        if let Err(message) = check_password_rules(password) {
            field_error("password", message);
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }

    if let Some(password) = new_password {
        if let Some(account) = own_account {
            verify_current_password(state, account, form.current_password.as_ref()).await?;
        }
        update.password_hash = Some(state.passwords.hash(password).await?);
    }
    update.role = form.role;
    update.enabled = form.enabled;
    Ok(update)
}

async fn verify_current_password(
    state: &AppState,
    account: &User,
    current_password: Option<&SecretString>,
) -> Result<()> {
    let Some(current_password) = current_password else {
        return Err(ApiError::BadRequest(
            "current_password is required to change your password".to_owned(),
        ));
    };
    let verification = state
        .passwords
        .verify(current_password, Some(&account.password_hash))
        .await?;
    if verification == Verification::Invalid {
        return Err(ApiError::BadRequest(
            "Current password is incorrect".to_owned(),
        ));
    }
    Ok(())
}

/// Deletes a user with everything it owns; not yourself, and not the last admin.
#[utoipa::path(
    delete,
    path = "/api/users/{id}",
    tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "You cannot delete yourself"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing users.write"),
        (status = 404, description = "No such user"),
        (status = 409, description = "The last admin"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["users.write"]),
        ("HTTPBasic" = ["users.write"]),
        ("SessionCookie" = ["users.write"]),
        ("ClientToken" = ["users.write"]),
    )
)]
async fn delete_user(
    caller: Authorized<require::UsersWrite>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    let caller_id = caller.identity.user()?.id;
    if caller_id == id {
        return Err(ApiError::BadRequest(
            "You cannot delete yourself".to_owned(),
        ));
    }
    state
        .store
        .find_user(id)
        .await?
        .ok_or_else(user_not_found)?;
    state.store.delete_user(id).await?;
    tracing::info!(user.id = id, by.user.id = caller_id, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}
