//! Authentication and authorization: credentials, the Identity they resolve into, and the
//! scope guards that routes declare.

pub mod access_token;
pub mod basic;
pub mod client_address;
pub mod client_token;
pub mod credentials;
pub mod guard;
pub mod identity;
pub mod keys;
pub mod link_token;
pub mod middleware;
pub mod password;
mod resolve;
pub mod scopes;
pub mod session;
pub mod throttle;
pub mod verified_tokens;

pub use guard::{require, Authorized};
pub use identity::{CredentialKind, Identity};
