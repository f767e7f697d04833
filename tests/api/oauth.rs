//! The OAuth2 token endpoint and JWT bearers: grants, scopes, rotation, reuse and revocation.

use axum::http::{Method, StatusCode};
use base64::Engine;
use chrono::{Duration, Utc};
use romm_server::auth::access_token::AccessTokens;
use romm_server::auth::scopes::{Role, ScopeSet};
use romm_server::store::UserUpdate;
use serde_json::Value;

use crate::harness::{Backend, RequestBuilder, TestApp, TestResponse, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    password_grant_without_grant_type_issues_both_tokens,
    multipart_forms_are_accepted,
    requested_scopes_are_intersected_with_the_role,
    unknown_or_ungrantable_scopes_are_invalid_scope,
    malformed_token_requests_get_clear_400s,
    bad_passwords_and_disabled_users_get_invalid_grant,
    access_token_authenticates_with_its_scopes,
    refresh_rotates_both_tokens_and_consumes_the_old_one,
    reusing_a_consumed_refresh_token_revokes_the_family,
    concurrent_refreshes_with_one_token_succeed_exactly_once,
    refresh_may_narrow_scopes_but_never_widen_them,
    refused_refresh_leaves_the_token_usable,
    token_kinds_are_not_interchangeable,
    forged_expired_and_mistyped_tokens_get_401,
    demoting_a_user_shrinks_old_tokens_at_once,
    password_change_revokes_access_and_refresh_tokens,
    disabling_a_user_revokes_its_tokens,
    logout_does_not_touch_grants,
    password_failures_share_the_login_rate_limit;
    configured: expired_refresh_tokens_are_refused,
    disabled_userpass_login_refuses_the_password_grant,
);

async fn token_request(app: &TestApp, pairs: &[(&str, &str)]) -> TestResponse {
    app.send(
        RequestBuilder::new(Method::POST, "/api/token")
            .form(pairs)
            .build(),
    )
    .await
}

async fn password_grant(app: &TestApp, username: &str, scope: Option<&str>) -> Value {
    let mut pairs = vec![("username", username), ("password", PASSWORD)];
    if let Some(scope) = scope {
        pairs.push(("scope", scope));
    }
    let response = token_request(app, &pairs).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()
}

async fn refresh(app: &TestApp, refresh_token: &str) -> TestResponse {
    token_request(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

fn bearer(uri: &str, token: &Value) -> RequestBuilder {
    let access = token["access_token"].as_str().expect("an access token");
    RequestBuilder::get(uri).authorization(&format!("Bearer {access}"))
}

fn assert_oauth_error(response: &TestResponse, status: StatusCode, code: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    let body = response.json();
    assert_eq!(body["error"], code);
    assert!(body["detail"].is_string());
    assert_eq!(body["detail"], body["error_description"]);
}

async fn password_grant_without_grant_type_issues_both_tokens(app: TestApp) {
    app.user("alice", Role::Viewer).await;

    let response = token_request(&app, &[("username", "alice"), ("password", PASSWORD)]).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires"], 1800);
    assert_eq!(body["expires_in"], 1800);
    assert_eq!(body["refresh_expires"], 604800);
    assert_eq!(body["scope"], Role::Viewer.scopes().to_string());
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 40);
}

async fn multipart_forms_are_accepted(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let boundary = "romm-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n{PASSWORD}\r\n\
         --{boundary}--\r\n"
    );

    let request = RequestBuilder::new(Method::POST, "/api/token")
        .raw_body(&format!("multipart/form-data; boundary={boundary}"), body)
        .build();
    let response = app.send(request).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert!(response.json()["access_token"].is_string());
}

async fn requested_scopes_are_intersected_with_the_role(app: TestApp) {
    app.user("alice", Role::Viewer).await;

    let token = password_grant(&app, "alice", Some("me.read users.read roms.read")).await;

    assert_eq!(token["scope"], "me.read roms.read");
    assert_eq!(
        app.send(bearer("/api/users/me", &token).build())
            .await
            .status,
        StatusCode::OK
    );
}

async fn unknown_or_ungrantable_scopes_are_invalid_scope(app: TestApp) {
    app.user("alice", Role::Viewer).await;

    for scope in ["users.read users.write", "me.read roms.delete"] {
        let pairs = [
            ("username", "alice"),
            ("password", PASSWORD),
            ("scope", scope),
        ];
        let response = token_request(&app, &pairs).await;
        assert_oauth_error(&response, StatusCode::BAD_REQUEST, "invalid_scope");
    }
}

async fn malformed_token_requests_get_clear_400s(app: TestApp) {
    app.user("alice", Role::Viewer).await;

    let missing = token_request(&app, &[("username", "alice")]).await;
    assert_oauth_error(&missing, StatusCode::BAD_REQUEST, "invalid_request");

    let no_refresh = token_request(&app, &[("grant_type", "refresh_token")]).await;
    assert_oauth_error(&no_refresh, StatusCode::BAD_REQUEST, "invalid_request");

    let client = token_request(&app, &[("grant_type", "client_credentials")]).await;
    assert_oauth_error(&client, StatusCode::BAD_REQUEST, "unsupported_grant_type");

    let json = RequestBuilder::new(Method::POST, "/api/token")
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .build();
    assert_oauth_error(
        &app.send(json).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );

    let garbage = RequestBuilder::new(Method::POST, "/api/token")
        .raw_body("multipart/form-data; boundary=x", "not multipart at all")
        .build();
    assert_oauth_error(
        &app.send(garbage).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
}

async fn bad_passwords_and_disabled_users_get_invalid_grant(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;

    let wrong = token_request(
        &app,
        &[("username", "alice"), ("password", "wrong password")],
    )
    .await;
    assert_oauth_error(&wrong, StatusCode::UNAUTHORIZED, "invalid_grant");
    let unknown = token_request(
        &app,
        &[("username", "nobody"), ("password", "wrong password")],
    )
    .await;
    assert_oauth_error(&unknown, StatusCode::UNAUTHORIZED, "invalid_grant");
    assert_eq!(wrong.body, unknown.body);

    let disable = UserUpdate {
        enabled: Some(false),
        ..Default::default()
    };
    app.store()
        .update_user(alice.id, disable, None)
        .await
        .unwrap();
    let disabled = token_request(&app, &[("username", "alice"), ("password", PASSWORD)]).await;
    assert_oauth_error(&disabled, StatusCode::UNAUTHORIZED, "invalid_grant");
    assert_eq!(disabled.detail(), "Disabled user");
}

async fn access_token_authenticates_with_its_scopes(app: TestApp) {
    app.user("root", Role::Admin).await;
    let token = password_grant(&app, "root", Some("me.read")).await;

    let me = app.send(bearer("/api/users/me", &token).build()).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["username"], "root");

    let users = app.send(bearer("/api/users", &token).build()).await;
    assert_eq!(users.status, StatusCode::FORBIDDEN);
    assert_eq!(
        users.json()["missing_scopes"],
        serde_json::json!(["users.read"])
    );
    assert_eq!(
        users.header("www-authenticate"),
        Some(r#"Bearer error="insufficient_scope", scope="users.read""#)
    );
}

async fn refresh_rotates_both_tokens_and_consumes_the_old_one(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let first = password_grant(&app, "alice", None).await;

    let response = refresh(&app, first["refresh_token"].as_str().unwrap()).await;

    assert_eq!(response.status, StatusCode::OK);
    let second = response.json();
    assert_ne!(second["access_token"], first["access_token"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["scope"], first["scope"]);
    assert_eq!(
        app.send(bearer("/api/users/me", &second).build())
            .await
            .status,
        StatusCode::OK
    );
    let next = refresh(&app, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(next.status, StatusCode::OK);
}

async fn reusing_a_consumed_refresh_token_revokes_the_family(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let first = password_grant(&app, "alice", None).await;
    let stolen = first["refresh_token"].as_str().unwrap().to_owned();
    let rotated = refresh(&app, &stolen).await.json();

    let replay = refresh(&app, &stolen).await;
    assert_oauth_error(&replay, StatusCode::UNAUTHORIZED, "invalid_grant");

    let legitimate = refresh(&app, rotated["refresh_token"].as_str().unwrap()).await;
    assert_oauth_error(&legitimate, StatusCode::UNAUTHORIZED, "invalid_grant");

    let other_grant = password_grant(&app, "alice", None).await;
    assert_eq!(
        refresh(&app, other_grant["refresh_token"].as_str().unwrap())
            .await
            .status,
        StatusCode::OK
    );
}

async fn concurrent_refreshes_with_one_token_succeed_exactly_once(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let token = password_grant(&app, "alice", None).await;
    let refresh_token = token["refresh_token"].as_str().unwrap();

    let attempts = (0..8).map(|_| refresh(&app, refresh_token));
    let responses = futures::future::join_all(attempts).await;

    let statuses: Vec<StatusCode> = responses.iter().map(|response| response.status).collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|status| **status == StatusCode::OK)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses
        .iter()
        .all(|status| *status == StatusCode::OK || *status == StatusCode::UNAUTHORIZED));
}

async fn refresh_may_narrow_scopes_but_never_widen_them(app: TestApp) {
    app.user("root", Role::Admin).await;
    let token = password_grant(&app, "root", Some("me.read roms.read")).await;

    let pairs = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token["refresh_token"].as_str().unwrap()),
        ("scope", "me.read users.read"),
    ];
    let narrowed = token_request(&app, &pairs).await;

    assert_eq!(narrowed.status, StatusCode::OK);
    assert_eq!(narrowed.json()["scope"], "me.read");
    let users = app
        .send(bearer("/api/users", &narrowed.json()).build())
        .await;
    assert_eq!(users.status, StatusCode::FORBIDDEN);
}

async fn refused_refresh_leaves_the_token_usable(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let token = password_grant(&app, "alice", Some("me.read")).await;
    let refresh_token = token["refresh_token"].as_str().unwrap();

    let pairs = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("scope", "roms.read"),
    ];
    let refused = token_request(&app, &pairs).await;
    assert_oauth_error(&refused, StatusCode::BAD_REQUEST, "invalid_scope");

    assert_eq!(refresh(&app, refresh_token).await.status, StatusCode::OK);
}

async fn token_kinds_are_not_interchangeable(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let token = password_grant(&app, "alice", None).await;

    let refresh_as_bearer = RequestBuilder::get("/api/users/me")
        .authorization(&format!(
            "Bearer {}",
            token["refresh_token"].as_str().unwrap()
        ))
        .build();
    let response = app.send(refresh_as_bearer).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.header("www-authenticate"),
        Some(r#"Bearer realm="romm", error="invalid_token""#)
    );

    let access_as_refresh = refresh(&app, token["access_token"].as_str().unwrap()).await;
    assert_oauth_error(
        &access_as_refresh,
        StatusCode::UNAUTHORIZED,
        "invalid_grant",
    );
}

fn sign(key: &[u8], header: &str, claims: &Value) -> String {
    use hmac::Mac;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let signing_input = format!(
        "{}.{}",
        encode(header.as_bytes()),
        encode(claims.to_string().as_bytes())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", encode(&mac.finalize().into_bytes()))
}

async fn forged_expired_and_mistyped_tokens_get_401(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let key = app.state.keys.access_token.as_bytes().to_vec();
    let now = Utc::now().timestamp();
    let claims = |token_type: &str, exp: i64| {
        serde_json::json!({
            "iss": "romm:oauth", "aud": "romm", "sub": alice.id.to_string(), "type": token_type,
            "scopes": "me.read", "iat": now, "exp": exp, "jti": "x",
            "ver": alice.credential_version,
        })
    };
    let hs256 = r#"{"alg":"HS256","typ":"JWT"}"#;

    let valid = sign(&key, hs256, &claims("access", now + 600));
    let me = |token: String| {
        RequestBuilder::get("/api/users/me")
            .authorization(&format!("Bearer {token}"))
            .build()
    };
    assert_eq!(app.send(me(valid.clone())).await.status, StatusCode::OK);

    let expired = AccessTokens {
        key: &app.state.keys.access_token,
    }
    .issue(
        alice.id,
        alice.credential_version,
        ScopeSet::parse(["me.read"]).unwrap(),
        Utc::now() - Duration::hours(1),
        Utc::now() - Duration::seconds(1),
    );
    // A signature character whose bits all count, always changed to a different one.
    let mut tampered = valid.clone();
    let at = tampered.len() - 10;
    let replacement = if &tampered[at..=at] == "A" { "B" } else { "A" };
    tampered.replace_range(at..=at, replacement);
    let unsigned = format!(
        "{}.",
        valid.rsplit_once('.').unwrap().0.replacen(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hs256),
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(r#"{"alg":"none","typ":"JWT"}"#),
            1,
        )
    );
    let cases = [
        ("expired", expired),
        ("tampered", tampered),
        ("alg none", unsigned),
        (
            "other key",
            sign(b"another key entirely", hs256, &claims("access", now + 600)),
        ),
        (
            "refresh type",
            sign(&key, hs256, &claims("refresh", now + 600)),
        ),
        ("no type", {
            let mut untyped = claims("access", now + 600);
            untyped.as_object_mut().unwrap().remove("type");
            sign(&key, hs256, &untyped)
        }),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (case, token) in cases {
        let response = app.send(me(token)).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{case}");
        assert!(
            response
                .header("www-authenticate")
                .unwrap()
                .contains("invalid_token"),
            "{case}"
        );
        if case == "expired" {
            assert_eq!(response.detail(), "Token expired");
        }
    }
}

async fn demoting_a_user_shrinks_old_tokens_at_once(app: TestApp) {
    app.user("root", Role::Admin).await;
    let second_admin = app.user("eddie", Role::Admin).await;
    let token = password_grant(&app, "eddie", None).await;
    assert_eq!(
        app.send(bearer("/api/users", &token).build()).await.status,
        StatusCode::OK
    );

    let demote = UserUpdate {
        role: Some(Role::Viewer),
        ..Default::default()
    };
    app.store()
        .update_user(second_admin.id, demote, None)
        .await
        .unwrap();

    assert_eq!(
        app.send(bearer("/api/users", &token).build()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.send(bearer("/api/users/me", &token).build())
            .await
            .status,
        StatusCode::OK
    );
    let refreshed = refresh(&app, token["refresh_token"].as_str().unwrap())
        .await
        .json();
    assert_eq!(refreshed["scope"], Role::Viewer.scopes().to_string());
}

async fn password_change_revokes_access_and_refresh_tokens(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let token = password_grant(&app, "alice", None).await;

    let form = [
        ("password", "a brand new password"),
        ("current_password", PASSWORD),
    ];
    let change = RequestBuilder::new(Method::PUT, &format!("/api/users/{}", alice.id))
        .basic("alice", PASSWORD)
        .form(&form)
        .build();
    assert_eq!(app.send(change).await.status, StatusCode::OK);

    assert_eq!(
        app.send(bearer("/api/users/me", &token).build())
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let refreshed = refresh(&app, token["refresh_token"].as_str().unwrap()).await;
    assert_oauth_error(&refreshed, StatusCode::UNAUTHORIZED, "invalid_grant");
}

async fn disabling_a_user_revokes_its_tokens(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let token = password_grant(&app, "alice", None).await;

    let disable = UserUpdate {
        enabled: Some(false),
        ..Default::default()
    };
    app.store()
        .update_user(alice.id, disable, None)
        .await
        .unwrap();
    let enable = UserUpdate {
        enabled: Some(true),
        ..Default::default()
    };
    app.store()
        .update_user(alice.id, enable, None)
        .await
        .unwrap();

    assert_eq!(
        app.send(bearer("/api/users/me", &token).build())
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, token["refresh_token"].as_str().unwrap())
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

async fn logout_does_not_touch_grants(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let token = password_grant(&app, "alice", None).await;
    let browser = app.login("alice").await;

    let logout = RequestBuilder::new(Method::POST, "/api/auth/logout")
        .browser(&browser)
        .build();
    assert_eq!(app.send(logout).await.status, StatusCode::OK);

    assert_eq!(
        app.send(bearer("/api/users/me", &token).build())
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        refresh(&app, token["refresh_token"].as_str().unwrap())
            .await
            .status,
        StatusCode::OK
    );
}

async fn password_failures_share_the_login_rate_limit(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    for _ in 0..10 {
        let wrong = token_request(
            &app,
            &[("username", "alice"), ("password", "wrong password")],
        )
        .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }

    let grant = token_request(&app, &[("username", "alice"), ("password", PASSWORD)]).await;
    assert_eq!(grant.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(grant.header("retry-after").is_some());
    let login = app
        .send(
            RequestBuilder::new(Method::POST, "/api/login")
                .basic("alice", PASSWORD)
                .build(),
        )
        .await;
    assert_eq!(login.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn expired_refresh_tokens_are_refused(backend: Backend) {
    let app = TestApp::configured(backend, |config| config.refresh_token_expire_seconds = 1).await;
    app.user("alice", Role::Viewer).await;
    let token = password_grant(&app, "alice", None).await;
    assert_eq!(token["refresh_expires"], 1);

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let response = refresh(&app, token["refresh_token"].as_str().unwrap()).await;

    assert_oauth_error(&response, StatusCode::UNAUTHORIZED, "invalid_grant");
}

async fn disabled_userpass_login_refuses_the_password_grant(backend: Backend) {
    let app = TestApp::configured(backend, |config| config.disable_userpass_login = true).await;
    app.user("alice", Role::Viewer).await;

    let response = token_request(&app, &[("username", "alice"), ("password", PASSWORD)]).await;

    assert_oauth_error(&response, StatusCode::FORBIDDEN, "access_denied");
}
