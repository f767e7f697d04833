//! Pairing codes: a short code that hands one of your tokens, with a fresh secret, to a device.

use std::sync::Arc;

use axum::extract::State;
use axum::Extension;
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{token_not_found, ClientTokenWithSecret};
use crate::auth::client_token::{code_hash, generate_client_token, generate_code};
use crate::auth::identity::AuthContext;
use crate::auth::{require, Authorized};
use crate::error::{ApiError, Result};
use crate::http::extract::{Json, Path};
use crate::state::{AppState, RequestLimits};
use crate::store::Exchange;

/// How long a pairing code can be exchanged.
const PAIRING_CODE_LIFETIME_SECS: i64 = 60;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pair_token))
        .routes(routes!(pairing_status))
        .routes(routes!(exchange_code))
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
    Extension(context): Extension<Arc<AuthContext>>,
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
