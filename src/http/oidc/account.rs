//! The account a verified sign-in belongs to: found by its link, linked once by a verified
//! email, or created; and the role the provider grants, kept in step.

use chrono::Utc;

use crate::auth::scopes::Role;
use crate::oidc::{OidcFailure, VerifiedLogin};
use crate::state::AppState;
use crate::store::{NewUser, StoreError, User, UserUpdate};
use crate::users::USERNAME_LENGTH;

/// Marks a password hash that verifies nothing: accounts created by OIDC have no password.
const NO_PASSWORD: &str = "!oidc";

/// The role the provider grants, when a roles claim is configured.
///
/// Membership is exact: the claim must be an array containing the configured value, or a
/// string equal to it. The highest role granted wins; none at all refuses the sign-in.
pub(super) fn granted_role(
    state: &AppState,
    login: &VerifiedLogin,
) -> Result<Option<Role>, OidcFailure> {
    let config = &state.config;
    if config.oidc_claim_roles.is_empty() {
        return Ok(None);
    }
    let claim = &login.claims[config.oidc_claim_roles.as_str()];
    let holds = |wanted: &str| {
        !wanted.is_empty()
            && match claim {
                serde_json::Value::Array(values) => {
                    values.iter().any(|value| value.as_str() == Some(wanted))
                }
                serde_json::Value::String(value) => value == wanted,
                _ => false,
            }
    };
    let candidates = [
        (Role::Admin, &config.oidc_role_admin),
        (Role::Editor, &config.oidc_role_editor),
        (Role::Viewer, &config.oidc_role_viewer),
    ];
    candidates
        .into_iter()
        .find(|(_, wanted)| holds(wanted))
        .map(|(role, _)| Some(role))
        .ok_or(OidcFailure::NoRoleGranted)
}

/// The account a verified sign-in belongs to, linked or created as the configuration allows.
pub(super) async fn find_or_create_user(
    state: &AppState,
    login: &VerifiedLogin,
    role: Option<Role>,
) -> Result<User, OidcFailure> {
    let store = state.store.as_ref();
    let unavailable = |error: StoreError| OidcFailure::ProviderUnavailable(error.to_string());
    let now = Utc::now();

    if let Some(user) = store
        .find_user_by_identity(&login.issuer, &login.subject)
        .await
        .map_err(unavailable)?
    {
        return sync_role(state, user, role).await;
    }

    let existing = match &login.email {
        Some(email) => store.find_user_by_email(email).await.map_err(unavailable)?,
        None => None,
    };
    if let Some(user) = existing {
        if !login.email_verified {
            return Err(OidcFailure::EmailNotVerified);
        }
        store
            .link_identity(user.id, &login.issuer, &login.subject, now)
            .await
            .map_err(unavailable)?;
        tracing::info!(
            user.id = user.id,
            "account linked to an OIDC identity by verified email"
        );
        return sync_role(state, user, role).await;
    }

    if !state.config.oidc_allow_registration {
        return Err(OidcFailure::RegistrationDisabled);
    }
    let username = unique_username(state, login).await.map_err(unavailable)?;
    let new_user = NewUser {
        username,
        // An unverified address is not stored: it could block its real owner later.
        email: login.email.clone().filter(|_| login.email_verified),
        password_hash: NO_PASSWORD.to_owned(),
        role: role.unwrap_or(Role::Viewer),
    };
    let user = store
        .create_oidc_user(new_user, &login.issuer, &login.subject, now)
        .await
        .map_err(unavailable)?;
    tracing::info!(user.id = user.id, "user created by OIDC sign-in");
    Ok(user)
}

/// Applies the provider's role to an existing user, but never demotes the last admin.
async fn sync_role(state: &AppState, user: User, role: Option<Role>) -> Result<User, OidcFailure> {
    let Some(role) = role.filter(|role| *role != user.role) else {
        return Ok(user);
    };
    let update = UserUpdate {
        role: Some(role),
        ..UserUpdate::default()
    };
    match state.store.update_user(user.id, update, None).await {
        Ok(updated) => {
            tracing::info!(user.id = user.id, role = %role, "role changed by the OIDC provider");
            Ok(updated)
        }
        Err(StoreError::Conflict(_)) => {
            tracing::warn!(
                user.id = user.id,
                "the provider would demote the last admin; role kept"
            );
            Ok(user)
        }
        Err(error) => Err(OidcFailure::ProviderUnavailable(error.to_string())),
    }
}

/// A valid, unused username from the configured claim (or the email's local part).
async fn unique_username(state: &AppState, login: &VerifiedLogin) -> Result<String, StoreError> {
    let claimed = login.claims[state.config.oidc_username_attribute.as_str()].as_str();
    let local_part = login
        .email
        .as_deref()
        .and_then(|email| email.split('@').next());
    let raw = claimed.or(local_part).unwrap_or("user");
    let mut base: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect::<String>()
        .to_ascii_lowercase();
    base.truncate(*USERNAME_LENGTH.end() - 8);
    while base.len() < *USERNAME_LENGTH.start() {
        base.push_str("user");
    }

    let mut candidate = base.clone();
    for suffix in 2.. {
        if state
            .store
            .find_user_by_username(&candidate)
            .await?
            .is_none()
        {
            return Ok(candidate);
        }
        candidate = format!("{base}-{suffix}");
        if suffix > 1000 {
            break;
        }
    }
    Ok(format!(
        "{base}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    ))
}
