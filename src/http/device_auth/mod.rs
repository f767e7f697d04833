//! `/api/auth/device`: the device-authorization flow that signs a handheld in without a
//! keyboard, in the style of RFC 8628 as RomM 5 serves it.
//!
//! The device starts (`init`, public) and polls (`token`, public); the user approves or
//! denies in the web UI with `me.write`. Flow states are HTTP 400 with the state as a plain
//! `detail` string, because real clients parse exactly that. The client token is made at
//! the one successful poll, so its secret is never stored.

mod approval;
mod device;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(device::router())
        .merge(approval::router())
}
