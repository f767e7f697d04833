//! Client API tokens: creation, scopes, the 25-token cap, regeneration, pairing and devices.

use axum::http::{Method, StatusCode};
use romm_server::auth::scopes::Role;
use romm_server::store::UserUpdate;
use serde_json::{json, Value};

use crate::harness::{RequestBuilder, TestApp, TestResponse, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    basic_credentials_mint_a_token_that_authenticates,
    tokens_have_the_exact_shape_and_are_stored_hashed,
    requested_scopes_are_capped_by_the_calling_credential,
    invalid_token_requests_get_422_and_store_nothing,
    forty_concurrent_creations_yield_exactly_twenty_five,
    expired_tokens_do_not_count_and_do_not_authenticate,
    listing_shows_only_your_tokens_newest_first_without_secrets,
    delete_and_regenerate_kill_the_old_secret_at_once,
    other_users_tokens_are_404,
    admins_list_and_delete_every_token,
    malformed_rmm_values_are_401,
    token_scopes_shrink_with_the_owners_role,
    disabled_or_deleted_owners_tokens_are_refused,
    tokens_survive_a_password_change,
    pairing_code_exchanges_once_with_a_fresh_secret,
    pairing_codes_normalise_dashes_spaces_and_case,
    concurrent_exchanges_succeed_exactly_once,
    exchange_is_limited_to_five_a_minute_per_address,
    exchange_for_a_disabled_owner_is_403_and_keeps_the_code,
    last_used_at_is_recorded,
    devices_are_private_and_deleting_one_revokes_its_tokens,
);

/// Mints a token for `username` over Basic with the given scopes.
async fn mint(app: &TestApp, username: &str, scopes: &[&str], expires_in: Value) -> TestResponse {
    let body = json!({"name": "test token", "scopes": scopes, "expires_in": expires_in});
    let request = RequestBuilder::new(Method::POST, "/api/client-tokens")
        .basic(username, PASSWORD)
        .json(&body)
        .build();
    app.send(request).await
}

async fn mint_raw(app: &TestApp, username: &str, scopes: &[&str]) -> (i64, String) {
    let response = mint(app, username, scopes, Value::Null).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let body = response.json();
    (
        body["id"].as_i64().unwrap(),
        body["raw_token"].as_str().unwrap().to_owned(),
    )
}

fn with_token(method: Method, uri: &str, token: &str) -> RequestBuilder {
    RequestBuilder::new(method, uri).authorization(&format!("Bearer {token}"))
}

async fn status_with(app: &TestApp, uri: &str, token: &str) -> StatusCode {
    app.send(with_token(Method::GET, uri, token).build())
        .await
        .status
}

async fn basic_credentials_mint_a_token_that_authenticates(app: TestApp) {
    app.user("alice", Role::Viewer).await;

    let response = mint(&app, "alice", &["me.read", "devices.read"], json!("never")).await;

    assert_eq!(response.status, StatusCode::CREATED);
    let body = response.json();
    assert_eq!(body["scopes"], json!(["me.read", "devices.read"]));
    assert_eq!(body["expires_at"], Value::Null);
    let token = body["raw_token"].as_str().unwrap();
    let me = app
        .send(with_token(Method::GET, "/api/users/me", token).build())
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["username"], "alice");
    let body = json!({"name": "from a token", "scopes": ["me.read"]});
    let without_me_write = with_token(Method::POST, "/api/client-tokens", token)
        .json(&body)
        .build();
    let refused = app.send(without_me_write).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json()["missing_scopes"], json!(["me.write"]));
}

async fn tokens_have_the_exact_shape_and_are_stored_hashed(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;

    let body = mint(&app, "alice", &["me.read"], json!("30d")).await.json();

    let token = body["raw_token"].as_str().unwrap();
    assert_eq!(token.len(), 68);
    assert!(token.starts_with("rmm_"));
    assert!(token[4..]
        .bytes()
        .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)));
    for field in [
        "id",
        "name",
        "scopes",
        "expires_at",
        "last_used_at",
        "created_at",
        "user_id",
        "device_id",
    ] {
        assert!(body.get(field).is_some(), "missing {field}");
    }
    assert_eq!(body["user_id"], alice.id);
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    let days = (expires_at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
    assert!((29..=30).contains(&days));
    assert!(app
        .store()
        .find_client_token(token.as_bytes())
        .await
        .unwrap()
        .is_none());
}

async fn requested_scopes_are_capped_by_the_calling_credential(app: TestApp) {
    app.user("alice", Role::Viewer).await;

    let beyond_role = mint(
        &app,
        "alice",
        &["me.read", "users.read", "roms.write"],
        Value::Null,
    )
    .await;
    assert_eq!(beyond_role.status, StatusCode::FORBIDDEN);
    assert_eq!(
        beyond_role.detail(),
        "Requested scopes exceed your permissions: roms.write, users.read"
    );

    let (_, narrow) = mint_raw(&app, "alice", &["me.read", "me.write"]).await;
    let body = json!({"name": "wider", "scopes": ["me.read", "roms.read"], "expires_in": null});
    let request = with_token(Method::POST, "/api/client-tokens", &narrow)
        .json(&body)
        .build();
    let response = app.send(request).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert_eq!(
        response.detail(),
        "Requested scopes exceed your permissions: roms.read"
    );

    let body = json!({"name": "narrower", "scopes": ["me.read"], "expires_in": null});
    let request = with_token(Method::POST, "/api/client-tokens", &narrow)
        .json(&body)
        .build();
    assert_eq!(app.send(request).await.status, StatusCode::CREATED);
}

async fn invalid_token_requests_get_422_and_store_nothing(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let long_name = "x".repeat(256);
    let cases = [
        json!({"name": "t", "scopes": [], "expires_in": null}),
        json!({"name": "t", "scopes": ["me.admin"], "expires_in": null}),
        json!({"name": "", "scopes": ["me.read"], "expires_in": null}),
        json!({"name": long_name, "scopes": ["me.read"], "expires_in": null}),
        json!({"name": "t", "scopes": ["me.read"], "expires_in": "2d"}),
        json!({"name": "t", "scopes": "me.read"}),
        json!({"scopes": ["me.read"]}),
    ];
    for body in cases {
        let request = RequestBuilder::new(Method::POST, "/api/client-tokens")
            .basic("alice", PASSWORD)
            .json(&body)
            .build();
        let response = app.send(request).await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            response.text()
        );
        assert!(!response.detail().is_empty());
    }
    assert!(app
        .store()
        .list_client_tokens(alice.id)
        .await
        .unwrap()
        .is_empty());
}

async fn forty_concurrent_creations_yield_exactly_twenty_five(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    // Warm the Basic cache so the race is on the database, not on password hashing.
    mint_raw(&app, "alice", &["me.read"]).await;
    let first = app.store().list_client_tokens(alice.id).await.unwrap()[0].id;
    assert!(app.store().delete_client_token(first, None).await.unwrap());

    let attempts = (0..40).map(|_| mint(&app, "alice", &["me.read"], Value::Null));
    let responses = futures::future::join_all(attempts).await;

    let created = responses
        .iter()
        .filter(|response| response.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 25);
    for refused in responses
        .iter()
        .filter(|response| response.status != StatusCode::CREATED)
    {
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert_eq!(refused.detail(), "Maximum of 25 tokens per user reached");
    }
    assert_eq!(
        app.store()
            .list_client_tokens(alice.id)
            .await
            .unwrap()
            .len(),
        25
    );
}

async fn expired_tokens_do_not_count_and_do_not_authenticate(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let now = chrono::Utc::now();
    let (raw, token_hash) = romm_server::auth::client_token::generate_client_token();
    let expired = romm_server::store::NewClientToken {
        user_id: alice.id,
        device_id: None,
        name: "old".to_owned(),
        token_hash,
        scopes: i64::from(Role::Viewer.scopes().bits()),
        expires_at: Some(now - chrono::Duration::seconds(1)),
        created_at: now - chrono::Duration::days(31),
    };
    app.store().create_client_token(expired, 25).await.unwrap();

    let response = app
        .send(with_token(Method::GET, "/api/users/me", &raw).build())
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(response.detail(), "Token expired");

    for _ in 0..25 {
        mint_raw(&app, "alice", &["me.read"]).await;
    }
    let over = mint(&app, "alice", &["me.read"], Value::Null).await;
    assert_eq!(over.status, StatusCode::BAD_REQUEST);
}

async fn listing_shows_only_your_tokens_newest_first_without_secrets(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    app.user("bobby", Role::Viewer).await;
    let (first, _) = mint_raw(&app, "alice", &["me.read"]).await;
    let (second, _) = mint_raw(&app, "alice", &["me.read"]).await;
    mint_raw(&app, "bobby", &["me.read"]).await;

    let response = app
        .send(
            RequestBuilder::get("/api/client-tokens")
                .basic("alice", PASSWORD)
                .build(),
        )
        .await;

    assert_eq!(response.status, StatusCode::OK);
    let ids: Vec<i64> = response
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [second, first]);
    assert!(!response.text().contains("rmm_"));
    assert!(!response.text().contains("raw_token"));
}

async fn delete_and_regenerate_kill_the_old_secret_at_once(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let (id, old) = mint_raw(&app, "alice", &["me.read"]).await;

    let uri = format!("/api/client-tokens/{id}/regenerate");
    let regenerated = app
        .send(
            RequestBuilder::new(Method::PUT, &uri)
                .basic("alice", PASSWORD)
                .build(),
        )
        .await;
    assert_eq!(regenerated.status, StatusCode::OK);
    let new = regenerated.json()["raw_token"].as_str().unwrap().to_owned();
    assert_eq!(regenerated.json()["id"], id);
    assert_eq!(
        status_with(&app, "/api/users/me", &old).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_with(&app, "/api/users/me", &new).await,
        StatusCode::OK
    );

    let uri = format!("/api/client-tokens/{id}");
    let deleted = app
        .send(
            RequestBuilder::new(Method::DELETE, &uri)
                .basic("alice", PASSWORD)
                .build(),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        status_with(&app, "/api/users/me", &new).await,
        StatusCode::UNAUTHORIZED
    );
    let again = app
        .send(
            RequestBuilder::new(Method::DELETE, &uri)
                .basic("alice", PASSWORD)
                .build(),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.detail(), "Token not found");
}

async fn other_users_tokens_are_404(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    app.user("bobby", Role::Viewer).await;
    let (id, token) = mint_raw(&app, "alice", &["me.read"]).await;

    for (method, uri) in [
        (Method::DELETE, format!("/api/client-tokens/{id}")),
        (Method::PUT, format!("/api/client-tokens/{id}/regenerate")),
        (Method::POST, format!("/api/client-tokens/{id}/pair")),
    ] {
        let response = app
            .send(
                RequestBuilder::new(method, &uri)
                    .basic("bobby", PASSWORD)
                    .build(),
            )
            .await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{uri}");
    }
    assert_eq!(
        status_with(&app, "/api/users/me", &token).await,
        StatusCode::OK
    );
}

async fn admins_list_and_delete_every_token(app: TestApp) {
    app.user("root", Role::Admin).await;
    app.user("alice", Role::Viewer).await;
    let (id, token) = mint_raw(&app, "alice", &["me.read"]).await;

    let all = app
        .send(
            RequestBuilder::get("/api/client-tokens/all")
                .basic("root", PASSWORD)
                .build(),
        )
        .await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.json()[0]["username"], "alice");
    let by_viewer = app
        .send(
            RequestBuilder::get("/api/client-tokens/all")
                .basic("alice", PASSWORD)
                .build(),
        )
        .await;
    assert_eq!(by_viewer.status, StatusCode::FORBIDDEN);

    let uri = format!("/api/client-tokens/{id}/admin");
    let deleted = app
        .send(
            RequestBuilder::new(Method::DELETE, &uri)
                .basic("root", PASSWORD)
                .build(),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        status_with(&app, "/api/users/me", &token).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn malformed_rmm_values_are_401(app: TestApp) {
    let upper = format!("rmm_{}", "A".repeat(64));
    let long = format!("rmm_{}", "a".repeat(65));
    for token in ["rmm_", "rmm_abc", upper.as_str(), long.as_str()] {
        let response = app
            .send(with_token(Method::GET, "/api/users/me", token).build())
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{token}");
        assert!(response
            .header("www-authenticate")
            .unwrap()
            .contains("invalid_token"));
    }
    let unknown = format!("rmm_{}", "a".repeat(64));
    assert_eq!(
        status_with(&app, "/api/users/me", &unknown).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn token_scopes_shrink_with_the_owners_role(app: TestApp) {
    app.user("root", Role::Admin).await;
    let second = app.user("eddie", Role::Admin).await;
    let (_, token) = mint_raw(&app, "eddie", &["me.read", "users.read"]).await;
    assert_eq!(
        status_with(&app, "/api/users", &token).await,
        StatusCode::OK
    );

    let demote = UserUpdate {
        role: Some(Role::Viewer),
        ..Default::default()
    };
    app.store()
        .update_user(second.id, demote, None)
        .await
        .unwrap();

    assert_eq!(
        status_with(&app, "/api/users", &token).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status_with(&app, "/api/users/me", &token).await,
        StatusCode::OK
    );
}

async fn disabled_or_deleted_owners_tokens_are_refused(app: TestApp) {
    app.user("root", Role::Admin).await;
    let alice = app.user("alice", Role::Viewer).await;
    let (_, token) = mint_raw(&app, "alice", &["me.read"]).await;

    let disable = UserUpdate {
        enabled: Some(false),
        ..Default::default()
    };
    app.store()
        .update_user(alice.id, disable, None)
        .await
        .unwrap();
    assert_eq!(
        status_with(&app, "/api/users/me", &token).await,
        StatusCode::UNAUTHORIZED
    );

    let enable = UserUpdate {
        enabled: Some(true),
        ..Default::default()
    };
    app.store()
        .update_user(alice.id, enable, None)
        .await
        .unwrap();
    assert_eq!(
        status_with(&app, "/api/users/me", &token).await,
        StatusCode::OK
    );

    app.store().delete_user(alice.id).await.unwrap();
    assert_eq!(
        status_with(&app, "/api/users/me", &token).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn tokens_survive_a_password_change(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let (_, token) = mint_raw(&app, "alice", &["me.read"]).await;

    let form = [
        ("password", "another long password"),
        ("current_password", PASSWORD),
    ];
    let change = RequestBuilder::new(Method::PUT, &format!("/api/users/{}", alice.id))
        .basic("alice", PASSWORD)
        .form(&form)
        .build();
    assert_eq!(app.send(change).await.status, StatusCode::OK);

    assert_eq!(
        status_with(&app, "/api/users/me", &token).await,
        StatusCode::OK
    );
}

async fn pair(app: &TestApp, username: &str, token_id: i64) -> String {
    let uri = format!("/api/client-tokens/{token_id}/pair");
    let response = app
        .send(
            RequestBuilder::new(Method::POST, &uri)
                .basic(username, PASSWORD)
                .build(),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["expires_in"], 60);
    response.json()["code"].as_str().unwrap().to_owned()
}

async fn exchange(app: &TestApp, code: &str) -> TestResponse {
    let request = RequestBuilder::new(Method::POST, "/api/client-tokens/exchange")
        .json(&json!({"code": code}))
        .build();
    app.send(request).await
}

async fn pairing_code_exchanges_once_with_a_fresh_secret(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let (id, original) = mint_raw(&app, "alice", &["me.read", "devices.read"]).await;
    let code = pair(&app, "alice", id).await;
    assert_eq!(code.len(), 8);
    assert!(code
        .bytes()
        .all(|byte| b"ABCDEFGHJKMNPQRSTUVWXYZ23456789".contains(&byte)));

    let status = app
        .send(RequestBuilder::get(&format!("/api/client-tokens/pair/{code}/status")).build())
        .await;
    assert_eq!(status.status, StatusCode::OK);

    let exchanged = exchange(&app, &code).await;
    assert_eq!(exchanged.status, StatusCode::OK);
    let body = exchanged.json();
    assert_eq!(body["id"], id);
    for field in [
        "name",
        "scopes",
        "created_at",
        "user_id",
        "raw_token",
        "expires_at",
    ] {
        assert!(body.get(field).is_some(), "missing {field}");
    }
    let fresh = body["raw_token"].as_str().unwrap();
    assert_ne!(fresh, original);
    assert_eq!(
        status_with(&app, "/api/users/me", fresh).await,
        StatusCode::OK
    );
    assert_eq!(
        status_with(&app, "/api/users/me", &original).await,
        StatusCode::UNAUTHORIZED
    );

    let again = exchange(&app, &code).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.detail(), "Invalid or expired pairing code");
    let status = app
        .send(RequestBuilder::get(&format!("/api/client-tokens/pair/{code}/status")).build())
        .await;
    assert_eq!(status.status, StatusCode::NOT_FOUND);
}

async fn pairing_codes_normalise_dashes_spaces_and_case(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let (id, _) = mint_raw(&app, "alice", &["me.read"]).await;
    let code = pair(&app, "alice", id).await;
    let typed = format!("{}-{} ", &code[..4], &code[4..]).to_lowercase();

    let response = exchange(&app, &typed).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
}

async fn concurrent_exchanges_succeed_exactly_once(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let (id, _) = mint_raw(&app, "alice", &["me.read"]).await;
    let code = pair(&app, "alice", id).await;

    let peers = ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1"];
    let attempts = peers.iter().map(|peer| {
        let request = RequestBuilder::new(Method::POST, "/api/client-tokens/exchange")
            .json(&json!({"code": code}))
            .build();
        app.send_from(request, peer.parse().unwrap())
    });
    let responses = futures::future::join_all(attempts).await;

    let ok = responses
        .iter()
        .filter(|response| response.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 1);
    assert!(responses
        .iter()
        .all(|r| r.status == StatusCode::OK || r.status == StatusCode::NOT_FOUND));
}

async fn exchange_is_limited_to_five_a_minute_per_address(app: TestApp) {
    for _ in 0..5 {
        assert_eq!(
            exchange(&app, "AAAAAAAA").await.status,
            StatusCode::NOT_FOUND
        );
    }

    let limited = exchange(&app, "AAAAAAAA").await;

    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        limited
            .header("retry-after")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let elsewhere = RequestBuilder::new(Method::POST, "/api/client-tokens/exchange")
        .json(&json!({"code": "AAAAAAAA"}))
        .build();
    let other = app
        .send_from(elsewhere, "192.0.2.50:1".parse().unwrap())
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}

async fn exchange_for_a_disabled_owner_is_403_and_keeps_the_code(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let (id, _) = mint_raw(&app, "alice", &["me.read"]).await;
    let code = pair(&app, "alice", id).await;
    let disable = UserUpdate {
        enabled: Some(false),
        ..Default::default()
    };
    app.store()
        .update_user(alice.id, disable, None)
        .await
        .unwrap();

    let refused = exchange(&app, &code).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.detail(), "Token owner is disabled");

    let enable = UserUpdate {
        enabled: Some(true),
        ..Default::default()
    };
    app.store()
        .update_user(alice.id, enable, None)
        .await
        .unwrap();
    assert_eq!(exchange(&app, &code).await.status, StatusCode::OK);
}

async fn last_used_at_is_recorded(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let (_, token) = mint_raw(&app, "alice", &["me.read"]).await;
    assert!(app.store().list_client_tokens(alice.id).await.unwrap()[0]
        .last_used_at
        .is_none());

    status_with(&app, "/api/users/me", &token).await;
    let first_use = app.store().list_client_tokens(alice.id).await.unwrap()[0].last_used_at;
    status_with(&app, "/api/users/me", &token).await;
    let second_use = app.store().list_client_tokens(alice.id).await.unwrap()[0].last_used_at;

    assert!(first_use.is_some());
    assert_eq!(first_use, second_use, "written at most once a minute");
}

async fn devices_are_private_and_deleting_one_revokes_its_tokens(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    app.user("bobby", Role::Viewer).await;
    let body = json!({
        "name": "Retroid", "platform": "android", "client": "argosy", "client_version": "1.0",
    });
    let created = app
        .send(
            RequestBuilder::new(Method::POST, "/api/devices")
                .basic("alice", PASSWORD)
                .json(&body)
                .build(),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let device_id = created.json()["device_id"].as_str().unwrap().to_owned();
    assert_eq!(created.json()["name"], "Retroid");

    let uri = format!("/api/devices/{device_id}");
    let update = json!({"client_version": "1.1"});
    let updated = app
        .send(
            RequestBuilder::new(Method::PUT, &uri)
                .basic("alice", PASSWORD)
                .json(&update)
                .build(),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.json()["id"], device_id.as_str());
    assert_eq!(updated.json()["client_version"], "1.1");
    let by_bob = app
        .send(RequestBuilder::get(&uri).basic("bobby", PASSWORD).build())
        .await;
    assert_eq!(by_bob.status, StatusCode::NOT_FOUND);
    let listed = app
        .send(
            RequestBuilder::get("/api/devices")
                .basic("bobby", PASSWORD)
                .build(),
        )
        .await;
    assert_eq!(listed.json(), json!([]));

    let (raw, token_hash) = romm_server::auth::client_token::generate_client_token();
    let bound = romm_server::store::NewClientToken {
        user_id: alice.id,
        device_id: Some(device_id.clone()),
        name: "bound".to_owned(),
        token_hash,
        scopes: i64::from(Role::Viewer.scopes().bits()),
        expires_at: None,
        created_at: chrono::Utc::now(),
    };
    app.store().create_client_token(bound, 25).await.unwrap();
    let me = app
        .send(with_token(Method::GET, "/api/users/me", &raw).build())
        .await;
    assert_eq!(me.json()["current_device_id"], device_id.as_str());

    let deleted = app
        .send(
            RequestBuilder::new(Method::DELETE, &uri)
                .basic("alice", PASSWORD)
                .build(),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        status_with(&app, "/api/users/me", &raw).await,
        StatusCode::UNAUTHORIZED
    );
}
