//! The caller's own tokens: create and list them, delete one, or give one a new secret.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    parse_expires_in, parse_requested_scopes, token_not_found, ClientTokenSchema,
    ClientTokenWithSecret, MAX_ACTIVE_TOKENS,
};
use crate::auth::client_token::generate_client_token;
use crate::auth::scopes::Scope;
use crate::auth::{require, Authorized};
use crate::error::{ApiError, FieldError, Result};
use crate::http::extract::{Json, Path};
use crate::state::AppState;
use crate::store::NewClientToken;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(delete_token))
        .routes(routes!(regenerate_token))
}

/// A new token.
#[derive(Deserialize, ToSchema)]
pub struct CreateTokenForm {
    /// 1 to 255 characters.
    #[schema(min_length = 1, max_length = 255)]
    name: String,
    /// At least one known scope, none beyond the calling credential's.
    #[schema(value_type = Vec<Scope>, min_items = 1)]
    scopes: Vec<String>,
    /// `30d`, `90d`, `1y`, `never` or null (never).
    #[serde(default)]
    #[schema(pattern = "^(30d|90d|1y|never)$")]
    expires_in: Option<String>,
}

/// Creates a token with the given scopes and lifetime.
#[utoipa::path(
    post,
    path = "/api/client-tokens",
    tag = "client-tokens",
    request_body = CreateTokenForm,
    responses(
        (status = 201, description = "Created; the secret is shown only now",
            body = ClientTokenWithSecret),
        (status = 400, description = "Maximum of 25 tokens per user reached"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing me.write, or scopes beyond the caller's"),
        (status = 422, description = "Invalid field"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["me.write"]),
        ("HTTPBasic" = ["me.write"]),
        ("SessionCookie" = ["me.write"]),
        ("ClientToken" = ["me.write"]),
    )
)]
async fn create_token(
    caller: Authorized<require::MeWrite>,
    State(state): State<AppState>,
    Json(form): Json<CreateTokenForm>,
) -> Result<(StatusCode, Json<ClientTokenWithSecret>)> {
    let user = caller.identity.user()?;
    let name = form.name.trim();
    let length = name.chars().count();
    if !(1..=255).contains(&length) {
        let message = "must be 1 to 255 characters long".to_owned();
        return Err(ApiError::validation(vec![FieldError {
            field: "name".to_owned(),
            message,
        }]));
    }
    let scopes = parse_requested_scopes("scopes", &form.scopes, &caller.identity)?;
    let now = Utc::now();
    let expires_at = parse_expires_in(form.expires_in.as_deref(), now)?;

    let (raw_token, token_hash) = generate_client_token();
    let new_token = NewClientToken {
        user_id: user.id,
        device_id: None,
        name: name.to_owned(),
        token_hash,
        scopes: i64::from(scopes.bits()),
        expires_at,
        created_at: now,
    };
    let token = state
        .store
        .create_client_token(new_token, MAX_ACTIVE_TOKENS)
        .await?;
    tracing::info!(
        user.id = user.id,
        token.id = token.id,
        "client token created"
    );
    let created = ClientTokenWithSecret {
        token: token.into(),
        raw_token,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Lists your tokens, newest first.
#[utoipa::path(
    get,
    path = "/api/client-tokens",
    tag = "client-tokens",
    responses(
        (status = 200, description = "Your tokens", body = Vec<ClientTokenSchema>),
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
async fn list_tokens(
    caller: Authorized<require::MeRead>,
    State(state): State<AppState>,
) -> Result<Json<Vec<ClientTokenSchema>>> {
    let tokens = state
        .store
        .list_client_tokens(caller.identity.user()?.id)
        .await?;
    Ok(Json(
        tokens.into_iter().map(ClientTokenSchema::from).collect(),
    ))
}

/// Deletes one of your tokens; it stops working at once.
#[utoipa::path(
    delete,
    path = "/api/client-tokens/{id}",
    tag = "client-tokens",
    params(("id" = i64, Path, description = "Token id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing me.write"),
        (status = 404, description = "Token not found"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["me.write"]),
        ("HTTPBasic" = ["me.write"]),
        ("SessionCookie" = ["me.write"]),
        ("ClientToken" = ["me.write"]),
    )
)]
async fn delete_token(
    caller: Authorized<require::MeWrite>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    let user_id = caller.identity.user()?.id;
    if !state.store.delete_client_token(id, Some(user_id)).await? {
        return Err(token_not_found());
    }
    tracing::info!(
        user.id = user_id,
        token.id = id,
        "client token revoked by its owner"
    );
    Ok(StatusCode::NO_CONTENT)
}

/// Gives one of your tokens a new secret; the old one stops working at once.
#[utoipa::path(
    put,
    path = "/api/client-tokens/{id}/regenerate",
    tag = "client-tokens",
    params(("id" = i64, Path, description = "Token id")),
    responses(
        (status = 200, description = "The new secret, shown only now",
            body = ClientTokenWithSecret),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing me.write"),
        (status = 404, description = "Token not found"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["me.write"]),
        ("HTTPBasic" = ["me.write"]),
        ("SessionCookie" = ["me.write"]),
        ("ClientToken" = ["me.write"]),
    )
)]
async fn regenerate_token(
    caller: Authorized<require::MeWrite>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<ClientTokenWithSecret>> {
    let user_id = caller.identity.user()?.id;
    let (raw_token, token_hash) = generate_client_token();
    let token = state
        .store
        .regenerate_client_token(id, user_id, &token_hash)
        .await?
        .ok_or_else(token_not_found)?;
    tracing::info!(user.id = user_id, token.id = id, "client token regenerated");
    Ok(Json(ClientTokenWithSecret {
        token: token.into(),
        raw_token,
    }))
}
