//! Every user's tokens, for administrators: list them with their owners, or delete any one.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{token_not_found, ClientTokenSchema};
use crate::auth::{require, Authorized};
use crate::error::Result;
use crate::http::extract::{Json, Path};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_all_tokens))
        .routes(routes!(admin_delete_token))
}

/// A token with its owner's username, for administrators.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnedClientTokenSchema {
    #[serde(flatten)]
    pub token: ClientTokenSchema,
    pub username: String,
}

/// Lists every user's tokens with their owners.
#[utoipa::path(
    get,
    path = "/api/client-tokens/all",
    tag = "client-tokens",
    responses(
        (status = 200, description = "All tokens", body = Vec<OwnedClientTokenSchema>),
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
async fn list_all_tokens(
    _caller: Authorized<require::UsersRead>,
    State(state): State<AppState>,
) -> Result<Json<Vec<OwnedClientTokenSchema>>> {
    let tokens = state.store.list_all_client_tokens().await?;
    let tokens = tokens
        .into_iter()
        .map(|owned| OwnedClientTokenSchema {
            token: owned.token.into(),
            username: owned.username,
        })
        .collect();
    Ok(Json(tokens))
}

/// Deletes any user's token.
#[utoipa::path(
    delete,
    path = "/api/client-tokens/{id}/admin",
    tag = "client-tokens",
    params(("id" = i64, Path, description = "Token id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing users.write"),
        (status = 404, description = "Token not found"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["users.write"]),
        ("HTTPBasic" = ["users.write"]),
        ("SessionCookie" = ["users.write"]),
        ("ClientToken" = ["users.write"]),
    )
)]
async fn admin_delete_token(
    caller: Authorized<require::UsersWrite>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    if !state.store.delete_client_token(id, None).await? {
        return Err(token_not_found());
    }
    tracing::info!(
        by.user.id = caller.identity.user_id(),
        token.id = id,
        "client token revoked by an admin"
    );
    Ok(StatusCode::NO_CONTENT)
}
