//! OpenID Connect sign-in: discovery, the authorization request, and the checks on the way
//! back.
//!
//! Discovery and the provider's keys are cached for an hour, and fetched again at once when
//! an ID token names a key the cache lacks, so a key rotation at the provider does not break
//! sign-in. The state, nonce and PKCE verifier of a sign-in travel in a short-lived cookie
//! signed with a key of their own, so no server-side state exists before the user is known.

mod authorization;
mod failure;
mod flow;
mod provider;

pub use authorization::VerifiedLogin;
pub use failure::OidcFailure;
pub use flow::{FlowState, FLOW_LIFETIME_SECS};
pub use provider::OidcProvider;
