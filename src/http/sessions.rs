//! `/api/auth/sessions`: the caller's own browser sessions, listed (`me.read`) and ended
//! one by one (`me.write`).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{require, Authorized};
use crate::error::{ApiError, Result};
use crate::http::extract::{Json, Path};
use crate::state::AppState;
use crate::store::Session;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions))
        .routes(routes!(delete_session))
}

/// A session as its owner sees it; the id is not the cookie value.
#[derive(Serialize, ToSchema)]
pub struct SessionSchema {
    id: String,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    user_agent: Option<String>,
    client_address: Option<String>,
    /// Whether this is the session the request came with.
    current: bool,
}

impl SessionSchema {
    fn new(session: Session, current_id: Option<i64>) -> SessionSchema {
        SessionSchema {
            current: current_id == Some(session.id),
            id: session.public_id,
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            expires_at: session.idle_expires_at.min(session.absolute_expires_at),
            user_agent: session.user_agent,
            client_address: session.client_address,
        }
    }
}

/// Lists your sessions that have not expired, newest first.
#[utoipa::path(
    get,
    path = "/api/auth/sessions",
    tag = "auth",
    responses(
        (status = 200, description = "Your sessions", body = Vec<SessionSchema>),
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
async fn list_sessions(
    caller: Authorized<require::MeRead>,
    State(state): State<AppState>,
) -> Result<Json<Vec<SessionSchema>>> {
    let user = caller.identity.user()?;
    let sessions = state.store.list_sessions(user.id, Utc::now()).await?;
    let current = caller.identity.session_id();
    Ok(Json(
        sessions
            .into_iter()
            .map(|session| SessionSchema::new(session, current))
            .collect(),
    ))
}

/// Ends one of your sessions.
#[utoipa::path(
    delete,
    path = "/api/auth/sessions/{id}",
    tag = "auth",
    params(("id" = String, Path, description = "The session's id from the list")),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing me.write"),
        (status = 404, description = "No such session of yours"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["me.write"]),
        ("HTTPBasic" = ["me.write"]),
        ("SessionCookie" = ["me.write"]),
        ("ClientToken" = ["me.write"]),
    )
)]
async fn delete_session(
    caller: Authorized<require::MeWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let user = caller.identity.user()?;
    if !state.store.delete_user_session(user.id, &id).await? {
        return Err(ApiError::NotFound("Session not found".to_owned()));
    }
    tracing::info!(user.id = user.id, "session ended by its owner");
    Ok(StatusCode::NO_CONTENT)
}
