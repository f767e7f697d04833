//! Reading accounts: the user directory, one user by id, and the caller's own account.

use axum::extract::State;

use super::{user_not_found, UserSchema};
use crate::auth::{require, Authorized};
use crate::error::Result;
use crate::http::extract::{Json, Path};
use crate::state::AppState;

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
pub(super) async fn list_users(
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
pub(super) async fn me(caller: Authorized<require::MeRead>) -> Result<Json<UserSchema>> {
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
pub(super) async fn get_user(
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
