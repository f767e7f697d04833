//! Changing an account: your own details, or anyone's, role and enabled flag included.

use axum::extract::{FromRequest, Request, State};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{require_users_write, user_not_found, UserSchema};
use crate::auth::guard::require_scopes;
use crate::auth::password::Verification;
use crate::auth::scopes::Role;
use crate::auth::{require, Authorized};
use crate::error::{ApiError, FieldError, Result};
use crate::http::extract::{Json, JsonOrForm, Path};
use crate::state::AppState;
use crate::store::{User, UserUpdate};
use crate::users::{check_password_rules, normalize_email, normalize_username};

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
pub(super) async fn update_user(
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
