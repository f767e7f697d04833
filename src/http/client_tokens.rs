//! `/api/client-tokens`: long-lived API tokens for scripts and companion apps, and the codes
//! that pair a token with a device.
//!
//! Your own tokens need `me.read` to list and `me.write` to change; every user's need
//! `users.read` and `users.write`. Checking a pairing code and exchanging it are public.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::client_token::{code_hash, generate_client_token, generate_code};
use crate::auth::identity::AuthContext;
use crate::auth::scopes::{Scope, ScopeSet};
use crate::auth::{require, Authorized, Identity};
use crate::error::{ApiError, FieldError, Result};
use crate::http::extract::{Json, Path};
use crate::state::{AppState, RequestLimits};
use crate::store::{ClientToken, Exchange, NewClientToken};

/// How many unexpired tokens one user may hold.
pub const MAX_ACTIVE_TOKENS: i64 = 25;

/// How long a pairing code can be exchanged.
const PAIRING_CODE_LIFETIME_SECS: i64 = 60;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(list_all_tokens))
        .routes(routes!(delete_token))
        .routes(routes!(regenerate_token))
        .routes(routes!(pair_token))
        .routes(routes!(pairing_status))
        .routes(routes!(exchange_code))
        .routes(routes!(admin_delete_token))
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

/// A token with its owner's username, for administrators.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnedClientTokenSchema {
    #[serde(flatten)]
    pub token: ClientTokenSchema,
    pub username: String,
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

/// A pairing code for a token.
#[derive(Serialize, ToSchema)]
pub struct PairingCode {
    /// Eight characters from `ABCDEFGHJKMNPQRSTUVWXYZ23456789`.
    code: String,
    /// Seconds the code stays valid.
    expires_in: i64,
}

/// A pending pairing code's state.
#[derive(Serialize, ToSchema)]
pub struct PairingStatus {
    /// Always `pending`: used or expired codes are 404.
    status: &'static str,
}

/// The code a device was shown.
#[derive(Deserialize, ToSchema)]
pub struct ExchangeForm {
    /// As typed: dashes, spaces and case do not matter.
    code: String,
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

/// Makes a short code that a device can exchange for this token within 60 seconds.
#[utoipa::path(
    post,
    path = "/api/client-tokens/{id}/pair",
    tag = "client-tokens",
    params(("id" = i64, Path, description = "Token id")),
    responses(
        (status = 200, description = "The pairing code", body = PairingCode),
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
async fn pair_token(
    caller: Authorized<require::MeWrite>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<PairingCode>> {
    let user_id = caller.identity.user()?.id;
    let code = generate_code();
    let now = Utc::now();
    let expires_at = now + Duration::seconds(PAIRING_CODE_LIFETIME_SECS);
    if !state
        .store
        .create_pairing_code(id, user_id, &code_hash(&code), now, expires_at)
        .await?
    {
        return Err(token_not_found());
    }
    tracing::info!(user.id = user_id, token.id = id, "pairing code issued");
    Ok(Json(PairingCode {
        code,
        expires_in: PAIRING_CODE_LIFETIME_SECS,
    }))
}

fn invalid_pairing_code() -> ApiError {
    ApiError::NotFound("Invalid or expired pairing code".to_owned())
}

/// Whether a pairing code is still waiting to be exchanged.
#[utoipa::path(
    get,
    path = "/api/client-tokens/pair/{code}/status",
    tag = "client-tokens",
    params(("code" = String, Path, description = "The pairing code")),
    responses(
        (status = 200, description = "Pending", body = PairingStatus),
        (status = 404, description = "Used, expired or unknown"),
    )
)]
async fn pairing_status(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<PairingStatus>> {
    if !state
        .store
        .pairing_code_is_pending(&code_hash(&code), Utc::now())
        .await?
    {
        return Err(invalid_pairing_code());
    }
    Ok(Json(PairingStatus { status: "pending" }))
}

/// Exchanges a pairing code for the token it names, with a fresh secret; once.
#[utoipa::path(
    post,
    path = "/api/client-tokens/exchange",
    tag = "client-tokens",
    request_body = ExchangeForm,
    responses(
        (status = 200, description = "The token and its new secret", body = ClientTokenWithSecret),
        (status = 403, description = "Token owner is disabled"),
        (status = 404, description = "Invalid or expired pairing code"),
        (status = 422, description = "No code given"),
        (status = 429, description = "More than 5 exchanges a minute from this address"),
    )
)]
async fn exchange_code(
    axum::Extension(context): axum::Extension<std::sync::Arc<AuthContext>>,
    State(state): State<AppState>,
    Json(form): Json<ExchangeForm>,
) -> Result<Json<ClientTokenWithSecret>> {
    let detail = "Too many exchange attempts; try again later";
    RequestLimits::admit(&state.limits.pairing_exchange, context.address, detail)?;

    let (raw_token, token_hash) = generate_client_token();
    let code_hash = code_hash(&form.code);
    match state
        .store
        .exchange_pairing_code(&code_hash, &token_hash, Utc::now())
        .await?
    {
        Exchange::Exchanged(token) => {
            tracing::info!(
                user.id = token.user_id,
                token.id = token.id,
                "pairing code exchanged"
            );
            Ok(Json(ClientTokenWithSecret {
                token: token.into(),
                raw_token,
            }))
        }
        Exchange::OwnerDisabled => Err(ApiError::Forbidden("Token owner is disabled".to_owned())),
        Exchange::Invalid => {
            tracing::debug!(client.address = %context.address, "unknown or expired pairing code");
            Err(invalid_pairing_code())
        }
    }
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
