//! Extractors that turn the resolved credential into an identity, or into 401, 403 or 429.
//!
//! `Authorized<R>` is the scope guard of a route: `R` names the scopes, and the same names
//! appear in the route's OpenAPI `security` entry. `Identity` accepts any authenticated
//! caller, and `Option<Identity>` also accepts anonymous ones while still refusing a broken
//! credential. Every one of them enforces CSRF on cookie-authenticated unsafe requests.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::Method;

use super::credentials::{cookie, CSRF_COOKIE};
use super::identity::{AuthContext, CredentialKind, Identity, Outcome};
use super::scopes::{Scope, ScopeSet};
use super::session::CSRF_HEADER;
use crate::error::{ApiError, Challenge};
use crate::state::AppState;

/// The scopes one route requires.
pub trait RequiredScopes: Send + Sync + 'static {
    const SCOPES: ScopeSet;
}

/// An identity that holds every scope of `R`.
pub struct Authorized<R: RequiredScopes> {
    pub identity: Identity,
    required: PhantomData<R>,
}

macro_rules! required_scopes {
    ($($name:ident => [$($scope:ident),+];)*) => {
        /// Marker types naming the scopes of each guarded route.
        pub mod require {
            use super::{RequiredScopes, Scope, ScopeSet};
            $(
                #[doc = concat!("Requires ", $("`", stringify!($scope), "` "),+)]
                pub struct $name;
                impl RequiredScopes for $name {
                    const SCOPES: ScopeSet = ScopeSet::of(&[$(Scope::$scope),+]);
                }
            )*
        }
    };
}

required_scopes! {
    MeRead => [MeRead];
    MeWrite => [MeWrite];
    DevicesRead => [DevicesRead];
    DevicesWrite => [DevicesWrite];
    UsersRead => [UsersRead];
    UsersWrite => [UsersWrite];
    PlatformsRead => [PlatformsRead];
    PlatformsWrite => [PlatformsWrite];
    RomsRead => [RomsRead];
    RomsWrite => [RomsWrite];
    RomsUserRead => [RomsUserRead];
    RomsUserWrite => [RomsUserWrite];
    CollectionsRead => [CollectionsRead];
    CollectionsWrite => [CollectionsWrite];
    FirmwareRead => [FirmwareRead];
    FirmwareWrite => [FirmwareWrite];
    TasksRun => [TasksRun];
}

async fn outcome<'a>(parts: &'a Parts, state: &AppState) -> Result<&'a Outcome, ApiError> {
    let context = parts
        .extensions
        .get::<Arc<AuthContext>>()
        .ok_or_else(|| anyhow::anyhow!("the identity middleware is not installed"))?;
    Ok(context.resolve(state).await)
}

/// Refuses a cookie-authenticated unsafe request whose CSRF header does not match.
pub fn enforce_csrf_for(
    parts: &Parts,
    state: &AppState,
    identity: &Identity,
) -> Result<(), ApiError> {
    let is_safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if identity.kind != CredentialKind::Session || is_safe || state.config.disable_csrf_protection {
        return Ok(());
    }
    let header = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok());
    let token = cookie(&parts.headers, CSRF_COOKIE);
    let session = cookie(&parts.headers, super::credentials::SESSION_COOKIE);
    if state.csrf().verify_double_submit(header, token, session) {
        return Ok(());
    }
    tracing::debug!("cookie-authenticated request without a matching CSRF token");
    Err(ApiError::Forbidden(
        "CSRF token verification failed".to_owned(),
    ))
}

impl OptionalFromRequestParts<AppState> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Identity>, ApiError> {
        match outcome(parts, state).await? {
            Outcome::Anonymous { .. } => Ok(None),
            Outcome::Authenticated(identity) => {
                enforce_csrf_for(parts, state, identity)?;
                Ok(Some(identity.clone()))
            }
            Outcome::Refused(refusal) => Err(refusal.to_error()),
            Outcome::Failed(error) => Err(anyhow::anyhow!("{error:#}").into()),
        }
    }
}

impl FromRequestParts<AppState> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Identity, ApiError> {
        let identity =
            <Identity as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state)
                .await?;
        identity.ok_or_else(|| ApiError::not_authenticated(Challenge::Bearer))
    }
}

impl<R: RequiredScopes> FromRequestParts<AppState> for Authorized<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let identity =
            <Identity as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        require_scopes(&identity, R::SCOPES)?;
        Ok(Authorized {
            identity,
            required: PhantomData,
        })
    }
}

/// Passes when the identity holds every scope of `required`, else a 403 naming the missing.
pub fn require_scopes(identity: &Identity, required: ScopeSet) -> Result<(), ApiError> {
    let missing = required.difference(identity.scopes);
    if missing.is_empty() {
        return Ok(());
    }
    tracing::debug!(missing = %missing, "credential lacks scopes");
    Err(ApiError::MissingScopes {
        required,
        missing,
        bearer: identity.kind.is_bearer(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::scopes::Role;

    fn identity(kind: CredentialKind, scopes: ScopeSet) -> Identity {
        Identity {
            kind,
            scopes,
            user: None,
            session: None,
            client_token: None,
        }
    }

    #[test]
    fn a_scope_check_passes_only_with_every_scope() {
        let viewer = identity(CredentialKind::Basic, Role::Viewer.scopes());
        assert!(require_scopes(&viewer, require::MeRead::SCOPES).is_ok());

        let Err(ApiError::MissingScopes {
            missing, bearer, ..
        }) = require_scopes(&viewer, require::UsersWrite::SCOPES)
        else {
            panic!("a viewer must lack users.write");
        };
        assert_eq!(missing.names(), ["users.write"]);
        assert!(!bearer);
    }

    #[test]
    fn bearer_credentials_get_the_insufficient_scope_challenge() {
        let token = identity(CredentialKind::Jwt, ScopeSet::of(&[Scope::MeRead]));
        let error = require_scopes(&token, require::MeWrite::SCOPES).unwrap_err();
        assert!(matches!(
            error,
            ApiError::MissingScopes { bearer: true, .. }
        ));
    }
}
