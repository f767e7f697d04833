//! Deleting a user, with everything the account owns.

use axum::extract::State;
use axum::http::StatusCode;

use super::user_not_found;
use crate::auth::{require, Authorized};
use crate::error::{ApiError, Result};
use crate::http::extract::Path;
use crate::state::AppState;

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
pub(super) async fn delete_user(
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
