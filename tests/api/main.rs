//! The integration suite: every test runs against the real router on SQLite and PostgreSQL.

mod harness;

mod basic;
mod client_tokens;
mod device_flow;
mod docs_browser;
mod heartbeat;
mod library;
mod logs;
mod oauth;
mod oidc;
mod openapi;
mod protection;
mod route_matrix;
mod sessions;
mod users;
