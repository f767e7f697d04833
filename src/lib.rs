//! romm-server: the RomM API with its authentication and authorization system, in one binary.
//!
//! [`http::app`] builds the whole application over an [`state::AppState`]; the binary in
//! `main.rs` only reads the configuration, opens the store and serves it.

pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod oidc;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod users;
