//! Why a sign-in failed, as a stable code for browsers and a sentence for API callers.

/// Why a sign-in failed; each has a stable code for `/login?error=<code>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OidcFailure {
    Disabled,
    Misconfigured(String),
    ProviderUnavailable(String),
    /// The provider redirected back with `error=`.
    ProviderRefused(String),
    /// The state cookie is missing, forged, expired or does not match.
    InvalidState,
    /// The code exchange or the ID token failed a check.
    InvalidToken(String),
    EmailNotVerified,
    RegistrationDisabled,
    NoRoleGranted,
    UserDisabled,
}

impl OidcFailure {
    /// The code browsers are redirected with.
    pub fn code(&self) -> &'static str {
        match self {
            OidcFailure::Disabled => "oidc_disabled",
            OidcFailure::Misconfigured(_) => "oidc_misconfigured",
            OidcFailure::ProviderUnavailable(_) => "oidc_unavailable",
            OidcFailure::ProviderRefused(_) => "provider_refused",
            OidcFailure::InvalidState => "invalid_state",
            OidcFailure::InvalidToken(_) => "invalid_token",
            OidcFailure::EmailNotVerified => "email_not_verified",
            OidcFailure::RegistrationDisabled => "registration_disabled",
            OidcFailure::NoRoleGranted => "no_role",
            OidcFailure::UserDisabled => "user_disabled",
        }
    }

    /// A sentence for API callers; it never repeats a token or a secret.
    pub fn detail(&self) -> String {
        match self {
            OidcFailure::Disabled => "OIDC sign-in is not enabled".to_owned(),
            OidcFailure::Misconfigured(what) => format!("OIDC is misconfigured: {what}"),
            OidcFailure::ProviderUnavailable(_) => "The OIDC provider cannot be reached".to_owned(),
            OidcFailure::ProviderRefused(error) => format!("The OIDC provider refused: {error}"),
            OidcFailure::InvalidState => {
                "The sign-in expired or was not started here; start again".to_owned()
            }
            OidcFailure::InvalidToken(_) => "The provider's answer failed verification".to_owned(),
            OidcFailure::EmailNotVerified => {
                "An account uses this email, but the provider has not verified it".to_owned()
            }
            OidcFailure::RegistrationDisabled => "No account is linked to this identity".to_owned(),
            OidcFailure::NoRoleGranted => "The provider grants this user no RomM role".to_owned(),
            OidcFailure::UserDisabled => "Disabled user".to_owned(),
        }
    }
}
