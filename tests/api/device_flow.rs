//! The device authorization flow, and the request sequences of real companion apps.

use axum::http::{Method, StatusCode};
use chrono::{Duration, Utc};
use romm_server::auth::scopes::{Role, ScopeSet};
use serde_json::{json, Value};

use crate::harness::{RequestBuilder, TestApp, TestResponse, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    init_answers_201_with_relative_verification_paths,
    init_refuses_unknown_scopes_and_bad_fields,
    polls_report_pending_then_slow_down,
    approval_yields_the_token_exactly_once,
    approval_is_capped_by_the_approving_credential,
    denial_is_reported_as_access_denied,
    expired_requests_are_expired_token,
    unknown_device_codes_are_expired_token,
    pending_requests_are_shown_to_the_approver,
    init_is_limited_per_address,
    grout_device_flow_then_platform_and_me_probes,
    romm_tender_mints_exchanges_and_deletes_with_basic,
    playnite_stale_authorization_header_still_reaches_public_endpoints,
);

const GROUT_SCOPES: [&str; 9] = [
    "me.read",
    "platforms.read",
    "roms.read",
    "collections.read",
    "firmware.read",
    "assets.read",
    "assets.write",
    "devices.read",
    "devices.write",
];

/// Scope names in the canonical order responses use.
fn canonical(names: &[&str]) -> Vec<&'static str> {
    ScopeSet::parse(names.iter().copied()).unwrap().names()
}

fn init_body(identifier: &str, scopes: &[&str]) -> Value {
    json!({
        "client_device_identifier": identifier,
        "name": "Miyoo Flip",
        "client": "grout",
        "platform": "spruce",
        "client_version": "2.1.0",
        "requested_scopes": scopes,
    })
}

async fn init(app: &TestApp, scopes: &[&str]) -> Value {
    let request = RequestBuilder::new(Method::POST, "/api/auth/device/init")
        .json(&init_body("00112233445566778899aabbccddeeff", scopes))
        .build();
    let response = app.send(request).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()
}

async fn poll(app: &TestApp, device_code: &str) -> TestResponse {
    let request = RequestBuilder::new(Method::POST, "/api/auth/device/token")
        .json(&json!({"device_code": device_code}))
        .build();
    app.send(request).await
}

fn assert_flow_state(response: &TestResponse, state: &str) {
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    assert_eq!(response.json()["detail"], state);
    assert_eq!(response.json()["error"], state);
}

async fn approve(app: &TestApp, approver: &str, user_code: &str, scopes: &[&str]) -> TestResponse {
    let body = json!({"user_code": user_code, "approved_scopes": scopes, "device_name": "Flip"});
    let request = RequestBuilder::new(Method::POST, "/api/auth/device/approve")
        .basic(approver, PASSWORD)
        .json(&body)
        .build();
    app.send(request).await
}

/// Sets a timestamp column of every device request.
async fn set_request_time(app: &TestApp, column: &str, at: chrono::DateTime<Utc>) {
    app.set_time_of_every_row("device_auth_requests", column, at)
        .await;
}

/// Makes the last poll look older than the interval, instead of sleeping five seconds.
async fn age_last_poll(app: &TestApp) {
    set_request_time(app, "last_polled_at", Utc::now() - Duration::seconds(30)).await;
}

async fn init_answers_201_with_relative_verification_paths(app: TestApp) {
    let body = init(&app, &GROUT_SCOPES).await;

    let device_code = body["device_code"].as_str().unwrap();
    assert_eq!(device_code.len(), 64);
    assert!(device_code.bytes().all(|byte| byte.is_ascii_hexdigit()));
    let user_code = body["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 8);
    assert_eq!(body["verification_path"], "/pair/device");
    assert_eq!(
        body["verification_path_complete"],
        format!("/pair/device?user_code={user_code}")
    );
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["interval"], 5);
}

async fn init_refuses_unknown_scopes_and_bad_fields(app: TestApp) {
    let long_client = "c".repeat(51);
    let cases = [
        init_body("id", &["me.read", "roms.burn"]),
        init_body("id", &[]),
        init_body("", &["me.read"]),
        json!({
            "client_device_identifier": "id", "name": "n", "client": long_client,
            "requested_scopes": ["me.read"],
        }),
        json!({"name": "n", "client": "c", "requested_scopes": ["me.read"]}),
    ];
    for body in cases {
        let request = RequestBuilder::new(Method::POST, "/api/auth/device/init")
            .json(&body)
            .build();
        let response = app.send(request).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
}

async fn polls_report_pending_then_slow_down(app: TestApp) {
    let body = init(&app, &GROUT_SCOPES).await;
    let device_code = body["device_code"].as_str().unwrap();

    assert_flow_state(&poll(&app, device_code).await, "authorization_pending");
    assert_flow_state(&poll(&app, device_code).await, "slow_down");
    age_last_poll(&app).await;
    assert_flow_state(&poll(&app, device_code).await, "authorization_pending");
}

async fn approval_yields_the_token_exactly_once(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let body = init(&app, &GROUT_SCOPES).await;
    let device_code = body["device_code"].as_str().unwrap();

    let approved = approve(
        &app,
        "alice",
        body["user_code"].as_str().unwrap(),
        &GROUT_SCOPES,
    )
    .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.text());
    let device_id = approved.json()["device_id"].as_str().unwrap().to_owned();

    let success = poll(&app, device_code).await;
    assert_eq!(success.status, StatusCode::OK, "{}", success.text());
    let token = success.json();
    assert!(token["access_token"].as_str().unwrap().starts_with("rmm_"));
    assert_eq!(token["device_id"], device_id.as_str());
    assert_eq!(token["scopes"], json!(canonical(&GROUT_SCOPES)));
    assert_eq!(token["expires_at"], Value::Null);

    assert_flow_state(&poll(&app, device_code).await, "expired_token");
    let access = token["access_token"].as_str().unwrap();
    let me = RequestBuilder::get("/api/users/me")
        .authorization(&format!("Bearer {access}"))
        .build();
    let me = app.send(me).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["current_device_id"], device_id.as_str());
}

async fn approval_is_capped_by_the_approving_credential(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let body = init(&app, &["me.read", "roms.write"]).await;
    let user_code = body["user_code"].as_str().unwrap();

    let refused = approve(&app, "alice", user_code, &["me.read", "roms.write"]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.detail(),
        "Requested scopes exceed your permissions: roms.write"
    );
    assert_flow_state(
        &poll(&app, body["device_code"].as_str().unwrap()).await,
        "authorization_pending",
    );

    let narrowed = approve(&app, "alice", user_code, &["me.read"]).await;
    assert_eq!(narrowed.status, StatusCode::OK);
    age_last_poll(&app).await;
    let token = poll(&app, body["device_code"].as_str().unwrap()).await;
    assert_eq!(token.json()["scopes"], json!(["me.read"]));
}

async fn denial_is_reported_as_access_denied(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let body = init(&app, &GROUT_SCOPES).await;

    let request = RequestBuilder::new(Method::POST, "/api/auth/device/deny")
        .basic("alice", PASSWORD)
        .json(&json!({"user_code": body["user_code"]}))
        .build();
    assert_eq!(app.send(request).await.status, StatusCode::OK);

    assert_flow_state(
        &poll(&app, body["device_code"].as_str().unwrap()).await,
        "access_denied",
    );
    let late = approve(
        &app,
        "alice",
        body["user_code"].as_str().unwrap(),
        &["me.read"],
    )
    .await;
    assert_eq!(late.status, StatusCode::NOT_FOUND);
}

async fn expired_requests_are_expired_token(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let body = init(&app, &GROUT_SCOPES).await;
    set_request_time(&app, "expires_at", Utc::now() - Duration::seconds(1)).await;

    assert_flow_state(
        &poll(&app, body["device_code"].as_str().unwrap()).await,
        "expired_token",
    );
    let approval = approve(
        &app,
        "alice",
        body["user_code"].as_str().unwrap(),
        &["me.read"],
    )
    .await;
    assert_eq!(approval.status, StatusCode::NOT_FOUND);
}

async fn unknown_device_codes_are_expired_token(app: TestApp) {
    assert_flow_state(&poll(&app, &"0".repeat(64)).await, "expired_token");
    let garbage = RequestBuilder::new(Method::POST, "/api/auth/device/token")
        .raw_body("application/json", "{\"device")
        .build();
    assert_eq!(app.send(garbage).await.status, StatusCode::BAD_REQUEST);
}

async fn pending_requests_are_shown_to_the_approver(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let body = init(&app, &GROUT_SCOPES).await;
    let user_code = body["user_code"].as_str().unwrap();
    let typed = format!("{}-{}", &user_code[..4], &user_code[4..]).to_lowercase();

    let shown = app
        .send(
            RequestBuilder::get(&format!("/api/auth/device/pending/{typed}"))
                .basic("alice", PASSWORD)
                .build(),
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.json()["name"], "Miyoo Flip");
    assert_eq!(
        shown.json()["requested_scopes"],
        json!(canonical(&GROUT_SCOPES))
    );

    let anonymous = app
        .send(RequestBuilder::get(&format!("/api/auth/device/pending/{user_code}")).build())
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let unknown = app
        .send(
            RequestBuilder::get("/api/auth/device/pending/AAAAAAAA")
                .basic("alice", PASSWORD)
                .build(),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn init_is_limited_per_address(app: TestApp) {
    for _ in 0..10 {
        init(&app, &["me.read"]).await;
    }
    let request = RequestBuilder::new(Method::POST, "/api/auth/device/init")
        .json(&init_body("id", &["me.read"]))
        .build();
    let limited = app.send(request).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.header("retry-after").is_some());
}

async fn grout_device_flow_then_platform_and_me_probes(app: TestApp) {
    app.user("alice", Role::Viewer).await;

    // Grout checks the server first, without credentials, and gates pairing on major >= 5.
    let heartbeat = app
        .send(RequestBuilder::get("/api/heartbeat").build())
        .await
        .json();
    let version = heartbeat["SYSTEM"]["VERSION"].as_str().unwrap();
    assert!(version.split('.').next().unwrap().parse::<u32>().unwrap() >= 5);

    let body = init(&app, &GROUT_SCOPES).await;
    let device_code = body["device_code"].as_str().unwrap();
    assert_flow_state(&poll(&app, device_code).await, "authorization_pending");
    approve(
        &app,
        "alice",
        body["user_code"].as_str().unwrap(),
        &GROUT_SCOPES,
    )
    .await;
    age_last_poll(&app).await;
    let token = poll(&app, device_code).await.json();
    let access = token["access_token"].as_str().unwrap();

    // Right after approval the token must already work; then Grout reads the username.
    let me = app
        .send(
            RequestBuilder::get("/api/users/me")
                .authorization(&format!("Bearer {access}"))
                .build(),
        )
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["username"], "alice");
    let update = RequestBuilder::new(
        Method::PUT,
        &format!("/api/devices/{}", token["device_id"].as_str().unwrap()),
    )
    .authorization(&format!("Bearer {access}"))
    .json(&json!({"client_version": "2.2.0"}))
    .build();
    let updated = app.send(update).await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.json()["client_version"], "2.2.0");
}

async fn romm_tender_mints_exchanges_and_deletes_with_basic(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let scopes = [
        "me.read",
        "platforms.read",
        "roms.read",
        "roms.user.read",
        "collections.read",
        "firmware.read",
        "assets.read",
        "devices.read",
        "assets.write",
        "devices.write",
        "roms.user.write",
    ];

    let mint = RequestBuilder::new(Method::POST, "/api/client-tokens")
        .basic("alice", PASSWORD)
        .header("user-agent", "decky-romm-sync/1.0")
        .json(&json!({"name": "Steam Deck", "scopes": scopes, "expires_in": "never"}))
        .build();
    let minted = app.send(mint).await;
    assert_eq!(minted.status, StatusCode::CREATED);
    let id = minted.json()["id"].as_i64().unwrap();

    let pair = RequestBuilder::new(Method::POST, &format!("/api/client-tokens/{id}/pair"))
        .basic("alice", PASSWORD)
        .build();
    let code = app.send(pair).await.json()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let exchange = RequestBuilder::new(Method::POST, "/api/client-tokens/exchange")
        .json(&json!({"code": code}))
        .build();
    let exchanged = app.send(exchange).await;
    assert_eq!(exchanged.status, StatusCode::OK);
    let raw = exchanged.json()["raw_token"].as_str().unwrap().to_owned();

    let me = app
        .send(
            RequestBuilder::get("/api/users/me")
                .authorization(&format!("Bearer {raw}"))
                .build(),
        )
        .await;
    assert_eq!(me.status, StatusCode::OK);

    let delete = RequestBuilder::new(Method::DELETE, &format!("/api/client-tokens/{id}"))
        .basic("alice", PASSWORD)
        .build();
    assert!(app.send(delete).await.status.is_success());
    let gone = app
        .send(
            RequestBuilder::get("/api/users/me")
                .authorization(&format!("Bearer {raw}"))
                .build(),
        )
        .await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
}

async fn playnite_stale_authorization_header_still_reaches_public_endpoints(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let stale = format!("Bearer rmm_{}", "0".repeat(64));

    for authorization in [stale.as_str(), "Basic Og==", "Basic d3Jvbmc6d3Jvbmc="] {
        let heartbeat = RequestBuilder::get("/api/heartbeat")
            .authorization(authorization)
            .build();
        assert_eq!(
            app.send(heartbeat).await.status,
            StatusCode::OK,
            "{authorization}"
        );

        let init = RequestBuilder::new(Method::POST, "/api/auth/device/init")
            .authorization(authorization)
            .header("accept", "application/json")
            .json(&json!({
                "client_device_identifier": "Playnite-DESKTOP",
                "name": "Playnite-DESKTOP",
                "client": "Playnite Plugin",
                "platform": "Windows",
                "client_version": "0.8.0",
                "requested_scopes": ["me.read", "me.write", "assets.read"],
            }))
            .build();
        let started = app.send(init).await;
        assert_eq!(started.status, StatusCode::CREATED, "{authorization}");

        let device_code = started.json()["device_code"].as_str().unwrap().to_owned();
        let poll = RequestBuilder::new(Method::POST, "/api/auth/device/token")
            .authorization(authorization)
            .json(&json!({"device_code": device_code}))
            .build();
        assert_flow_state(&app.send(poll).await, "authorization_pending");

        let exchange = RequestBuilder::new(Method::POST, "/api/client-tokens/exchange")
            .authorization(authorization)
            .json(&json!({"code": "ZZZZZZZZ"}))
            .build();
        assert_eq!(app.send(exchange).await.status, StatusCode::NOT_FOUND);
    }
}
