//! `GET /api/heartbeat`: the public probe every client calls first, shaped as the contract
//! fixes it, answering whatever credential comes along, and warming the CSRF cookie.

use axum::http::{header, HeaderValue, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use romm_server::auth::scopes::Role;
use serde_json::{json, Value};

use crate::harness::{Backend, RequestBuilder, TestApp, TestResponse, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    heartbeat_has_exactly_the_contract_shape,
    heartbeat_is_served_with_a_trailing_slash_too,
    version_is_a_release_that_clients_accept,
    setup_wizard_is_shown_only_until_the_first_user_exists,
    odd_authorization_headers_still_get_the_heartbeat,
    a_non_ascii_authorization_header_still_gets_the_heartbeat,
    heartbeat_issues_a_csrf_cookie_to_a_request_without_one,
    heartbeat_keeps_a_csrf_cookie_that_is_still_valid,
    heartbeat_replaces_a_forged_csrf_cookie,
    heartbeat_keeps_the_csrf_cookie_a_login_issued;
    configured: disabled_password_login_is_reported, oidc_settings_are_reported,
);

/// What Playnite, Argosy and friends may send to every route, heartbeat included: stale
/// tokens, half-typed settings and leftovers of an older client version.
const ODD_AUTHORIZATIONS: &[&str] = &[
    "",
    "Bearer",
    "Bearer ",
    "Bearer rmm_",
    "Bearer rmm_zz",
    "Bearer rmm_0000000000000000000000000000000000000000000000000000000000000000",
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIiwiZXhwIjoxfQ.c2lnbmF0dXJl",
    "Basic",
    "Basic Og==",
    "Basic !!!not-base64!!!",
    "Basic bm8tY29sb24=",
    "Digest x",
    "garbage",
];

async fn heartbeat(app: &TestApp) -> TestResponse {
    app.send(RequestBuilder::get("/api/heartbeat").build())
        .await
}

/// Whether the response sets the CSRF cookie, to any value.
fn sets_csrf_cookie(response: &TestResponse) -> bool {
    response
        .set_cookies()
        .iter()
        .any(|line| line.starts_with("romm_csrftoken="))
}

/// The numeric release in a version string, read the way clients read it: an optional
/// leading `v`, then `major.minor.patch`, then an optional `-...` or `+...` suffix.
fn release_of(version: &str) -> Option<(u64, u64, u64)> {
    let version = version.strip_prefix('v').unwrap_or(version);
    let core = version.split(['-', '+']).next()?;
    let mut numbers = core.split('.').map(|part| part.parse::<u64>().ok());
    let release = (numbers.next()??, numbers.next()??, numbers.next()??);
    numbers.next().is_none().then_some(release)
}

async fn heartbeat_has_exactly_the_contract_shape(app: TestApp) {
    let response = heartbeat(&app).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = response.json();
    let version = body["SYSTEM"]["VERSION"]
        .as_str()
        .expect("VERSION is a string");
    assert_eq!(
        body,
        json!({
            "SYSTEM": {
                "VERSION": version,
                "SERVER_VERSION": env!("CARGO_PKG_VERSION"),
                "SHOW_SETUP_WIZARD": true,
            },
            "OIDC": {
                "ENABLED": false,
                "PROVIDER": "",
                "AUTOLOGIN": false,
                "RP_INITIATED_LOGOUT": false,
            },
            "FRONTEND": {"DISABLE_USERPASS_LOGIN": false},
        })
    );
}

async fn heartbeat_is_served_with_a_trailing_slash_too(app: TestApp) {
    let plain = heartbeat(&app).await;

    let slashed = app
        .send(RequestBuilder::get("/api/heartbeat/").build())
        .await;

    assert_eq!(slashed.status, StatusCode::OK);
    assert_eq!(slashed.json(), plain.json());
}

async fn version_is_a_release_that_clients_accept(app: TestApp) {
    let body = heartbeat(&app).await.json();

    let version = body["SYSTEM"]["VERSION"].as_str().unwrap();
    let release = release_of(version).unwrap_or_else(|| panic!("unparsable {version:?}"));

    // Grout, Argosy and Playnite offer device pairing only from RomM 5.0.0 on.
    assert!(release >= (5, 0, 0), "{version} is older than 5.0.0");
    let server_version = body["SYSTEM"]["SERVER_VERSION"].as_str().unwrap();
    assert!(release_of(server_version).is_some(), "{server_version:?}");
}

async fn setup_wizard_is_shown_only_until_the_first_user_exists(app: TestApp) {
    let before = heartbeat(&app).await.json();
    assert_eq!(before["SYSTEM"]["SHOW_SETUP_WIZARD"], true);

    let setup = RequestBuilder::new(axum::http::Method::POST, "/api/users")
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .build();
    assert_eq!(app.send(setup).await.status, StatusCode::CREATED);

    let after = heartbeat(&app).await.json();
    assert_eq!(after["SYSTEM"]["SHOW_SETUP_WIZARD"], false);
}

async fn odd_authorization_headers_still_get_the_heartbeat(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let expected = heartbeat(&app).await.json();
    let wrong_password = format!("Basic {}", STANDARD.encode("alice:not the password"));

    for value in ODD_AUTHORIZATIONS.iter().copied().chain([&*wrong_password]) {
        let request = RequestBuilder::get("/api/heartbeat")
            .authorization(value)
            .build();
        let response = app.send(request).await;

        assert_eq!(response.status, StatusCode::OK, "Authorization {value:?}");
        assert_eq!(response.json(), expected, "Authorization {value:?}");
    }
}

async fn a_non_ascii_authorization_header_still_gets_the_heartbeat(app: TestApp) {
    let mut request = RequestBuilder::get("/api/heartbeat").build();
    let value = HeaderValue::from_bytes(b"Bearer \xc3\xa9t\xe9\xff").unwrap();
    request.headers_mut().insert(header::AUTHORIZATION, value);

    let response = app.send(request).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json()["SYSTEM"]["SHOW_SETUP_WIZARD"], true);
}

async fn heartbeat_issues_a_csrf_cookie_to_a_request_without_one(app: TestApp) {
    let response = heartbeat(&app).await;

    let line = response
        .set_cookies()
        .into_iter()
        .find(|line| line.starts_with("romm_csrftoken="))
        .expect("a CSRF cookie");
    assert!(response.cookie("romm_csrftoken").is_some(), "{line}");
    // Scripts must read it to echo it in X-CSRFToken.
    assert!(!line.contains("HttpOnly"), "{line}");
    assert!(line.contains("Path=/"), "{line}");
}

async fn heartbeat_keeps_a_csrf_cookie_that_is_still_valid(app: TestApp) {
    let token = heartbeat(&app).await.cookie("romm_csrftoken").unwrap();

    let again = RequestBuilder::get("/api/heartbeat")
        .header("cookie", &format!("romm_csrftoken={token}"))
        .build();
    let response = app.send(again).await;

    assert_eq!(response.status, StatusCode::OK);
    assert!(!sets_csrf_cookie(&response), "{:?}", response.set_cookies());
}

async fn heartbeat_replaces_a_forged_csrf_cookie(app: TestApp) {
    let forged = "0".repeat(96);

    let request = RequestBuilder::get("/api/heartbeat")
        .header("cookie", &format!("romm_csrftoken={forged}"))
        .build();
    let response = app.send(request).await;

    assert_eq!(response.status, StatusCode::OK);
    let issued = response.cookie("romm_csrftoken").expect("a new token");
    assert_ne!(issued, forged);
}

async fn heartbeat_keeps_the_csrf_cookie_a_login_issued(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let browser = app.login("alice").await;

    let request = RequestBuilder::get("/api/heartbeat")
        .cookies_only(&browser)
        .build();
    let response = app.send(request).await;

    assert_eq!(response.status, StatusCode::OK);
    assert!(!sets_csrf_cookie(&response), "{:?}", response.set_cookies());
}

async fn disabled_password_login_is_reported(backend: Backend) {
    let app = TestApp::configured(backend, |config| config.disable_userpass_login = true).await;

    let body = heartbeat(&app).await.json();

    assert_eq!(body["FRONTEND"], json!({"DISABLE_USERPASS_LOGIN": true}));
    assert_eq!(body["OIDC"]["ENABLED"], false);
}

async fn oidc_settings_are_reported(backend: Backend) {
    let app = TestApp::configured(backend, |config| {
        config.oidc_enabled = true;
        config.oidc_client_id = "romm".to_owned();
        config.oidc_server_application_url = "https://auth.example".to_owned();
        config.oidc_redirect_uri = "https://romm.example/api/oauth/openid".to_owned();
        config.oidc_provider = "Authelia".to_owned();
        config.oidc_autologin = true;
        config.oidc_rp_initiated_logout = true;
    })
    .await;

    let body = heartbeat(&app).await.json();

    let expected = json!({
        "ENABLED": true,
        "PROVIDER": "Authelia",
        "AUTOLOGIN": true,
        "RP_INITIATED_LOGOUT": true,
    });
    assert_eq!(body["OIDC"], expected);
    assert_eq!(
        body["FRONTEND"]["DISABLE_USERPASS_LOGIN"],
        Value::Bool(false)
    );
}
