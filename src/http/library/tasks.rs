//! `/api/tasks`: maintenance that an admin runs by hand (`tasks.run`). The one task so far,
//! `cleanup_expired_credentials`, deletes credentials that can no longer be used.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{require, Authorized};
use crate::error::{ApiError, Result};
use crate::http::extract::{Json, Path};
use crate::state::AppState;
use crate::store::Store;

/// The task routes with their OpenAPI entries.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks))
        .routes(routes!(run_task))
}

/// A task the API can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Task {
    CleanupExpiredCredentials,
}

impl Task {
    const ALL: [Task; 1] = [Task::CleanupExpiredCredentials];

    /// The name in `/api/tasks/run/{name}`.
    fn name(self) -> &'static str {
        match self {
            Task::CleanupExpiredCredentials => "cleanup_expired_credentials",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Task::CleanupExpiredCredentials => {
                "Deletes expired sessions, expired or revoked refresh grants, expired client \
                 tokens and pairing codes, and finished device sign-in requests"
            }
        }
    }

    fn named(name: &str) -> Option<Task> {
        Task::ALL.into_iter().find(|task| task.name() == name)
    }
}

/// A task as `GET /api/tasks` lists it.
#[derive(Serialize, ToSchema)]
pub struct TaskSchema {
    name: &'static str,
    description: &'static str,
}

/// What running a task did.
#[derive(Serialize, ToSchema)]
pub struct TaskRunSchema {
    /// The task's name.
    task: &'static str,
    /// How many records of each kind it deleted.
    removed: RemovedCredentials,
}

/// How many credentials of each kind the cleanup deleted.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemovedCredentials {
    /// Sessions past their idle or absolute expiry.
    sessions: u64,
    /// OAuth2 password grants that expired or were revoked, with their refresh tokens.
    refresh_grants: u64,
    /// Client API tokens past their expiry.
    client_tokens: u64,
    /// Pairing codes past their expiry.
    pairing_codes: u64,
    /// Device sign-in requests that expired, were denied or were completed.
    device_auth_requests: u64,
    /// Invite links that were used or expired.
    invites: u64,
    /// Password-reset links that were used or expired.
    password_resets: u64,
}

/// Deletes every credential that expired by `now` or can no longer be used.
///
/// Each kind is deleted on its own; a failure part way leaves the earlier kinds deleted,
/// which is harmless, as running the task again finishes the rest.
async fn cleanup_expired_credentials(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<RemovedCredentials> {
    Ok(RemovedCredentials {
        sessions: store.delete_expired_sessions(now).await?,
        refresh_grants: store.delete_dead_refresh_grants(now).await?,
        pairing_codes: store.delete_expired_pairing_codes(now).await?,
        device_auth_requests: store.delete_finished_device_auth_requests(now).await?,
        client_tokens: store.delete_expired_client_tokens(now).await?,
        invites: store.delete_finished_invites(now).await?,
        password_resets: store.delete_finished_password_resets(now).await?,
    })
}

/// Lists the tasks you can run.
#[utoipa::path(
    get,
    path = "/api/tasks",
    tag = "tasks",
    responses(
        (status = 200, description = "Every task", body = Vec<TaskSchema>),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing tasks.run"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["tasks.run"]),
        ("HTTPBasic" = ["tasks.run"]),
        ("SessionCookie" = ["tasks.run"]),
        ("ClientToken" = ["tasks.run"]),
    )
)]
async fn list_tasks(_caller: Authorized<require::TasksRun>) -> Json<Vec<TaskSchema>> {
    let tasks = Task::ALL.map(|task| TaskSchema {
        name: task.name(),
        description: task.description(),
    });
    Json(tasks.into())
}

/// Runs a task now and reports what it did.
#[utoipa::path(
    post,
    path = "/api/tasks/run/{name}",
    tag = "tasks",
    params(("name" = String, Path, description = "Task name, as GET /api/tasks lists it")),
    responses(
        (status = 200, description = "The task ran", body = TaskRunSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing tasks.run"),
        (status = 404, description = "No task has this name"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["tasks.run"]),
        ("HTTPBasic" = ["tasks.run"]),
        ("SessionCookie" = ["tasks.run"]),
        ("ClientToken" = ["tasks.run"]),
    )
)]
async fn run_task(
    caller: Authorized<require::TasksRun>,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<TaskRunSchema>> {
    let user_id = caller.identity.user()?.id;
    let task = Task::named(&name).ok_or_else(|| ApiError::NotFound("Task not found".to_owned()))?;

    let removed = match task {
        Task::CleanupExpiredCredentials => {
            cleanup_expired_credentials(state.store.as_ref(), Utc::now()).await?
        }
    };

    tracing::info!(
        user.id = user_id,
        task.name = task.name(),
        removed.sessions = removed.sessions,
        removed.refresh_grants = removed.refresh_grants,
        removed.client_tokens = removed.client_tokens,
        removed.pairing_codes = removed.pairing_codes,
        removed.device_auth_requests = removed.device_auth_requests,
        "task run"
    );
    Ok(Json(TaskRunSchema {
        task: task.name(),
        removed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_is_found_by_its_own_name_only() {
        for task in Task::ALL {
            assert_eq!(Task::named(task.name()), Some(task));
        }
        assert_eq!(Task::named("cleanup"), None);
        assert_eq!(Task::named("CLEANUP_EXPIRED_CREDENTIALS"), None);
    }
}
