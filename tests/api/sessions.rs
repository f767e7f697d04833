//! Browser sessions: login, cookies, CSRF, expiry, listing and logout.

use axum::http::{Method, StatusCode};
use romm_server::auth::scopes::Role;
use serde_json::json;

use crate::harness::{Backend, Browser, RequestBuilder, TestApp, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    login_with_basic_and_an_empty_body_sets_both_cookies,
    login_accepts_null_and_empty_object_bodies,
    login_with_a_json_or_form_body_works,
    wrong_password_and_unknown_user_get_the_same_401,
    disabled_user_is_told_only_after_a_correct_password,
    every_login_rotates_the_session_id,
    only_a_hash_of_the_session_id_is_stored,
    session_cookie_authenticates_reads_without_csrf,
    unsafe_session_requests_need_the_csrf_header,
    csrf_token_from_before_login_fails_after_login,
    authorization_header_never_falls_back_to_the_cookie,
    logout_ends_the_session_and_clears_cookies,
    logout_alias_works_and_needs_csrf,
    stale_session_cookie_is_cleared_on_public_routes,
    idle_expiry_ends_a_session,
    sessions_are_listed_and_revocable_by_their_owner,
    login_without_credentials_is_a_clear_400;
    configured: disabled_userpass_login_is_403, absolute_expiry_caps_a_session,
);

async fn login_with_basic_and_an_empty_body_sets_both_cookies(app: TestApp) {
    app.user("alice", Role::Viewer).await;

    let request = RequestBuilder::new(Method::POST, "/api/login")
        .basic("alice", PASSWORD)
        .build();
    let response = app.send(request).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json()["username"], "alice");
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let cookies = response.set_cookies();
    let session = cookies
        .iter()
        .find(|line| line.starts_with("romm_session="))
        .unwrap();
    assert!(session.contains("HttpOnly"));
    assert!(session.contains("SameSite=Strict"));
    assert!(session.contains("Path=/"));
    assert!(session.contains("Max-Age=1209600"));
    assert!(!session.contains("Secure"));
    let csrf = cookies
        .iter()
        .find(|line| line.starts_with("romm_csrftoken="))
        .unwrap();
    assert!(!csrf.contains("HttpOnly"));
}

async fn login_accepts_null_and_empty_object_bodies(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    for body in ["null", "{}", ""] {
        let request = RequestBuilder::new(Method::POST, "/api/auth/login")
            .basic("alice", PASSWORD)
            .raw_body("application/json", body)
            .build();
        let response = app.send(request).await;
        assert_eq!(response.status, StatusCode::OK, "body {body:?}");
        assert!(response.cookie("romm_session").is_some());
    }
}

async fn login_with_a_json_or_form_body_works(app: TestApp) {
    app.user("alice", Role::Viewer).await;

    let json_login = RequestBuilder::new(Method::POST, "/api/auth/login")
        .json(&json!({"username": "Alice", "password": PASSWORD}))
        .build();
    assert_eq!(app.send(json_login).await.status, StatusCode::OK);

    let form_login = RequestBuilder::new(Method::POST, "/api/auth/login")
        .form(&[("username", "alice"), ("password", PASSWORD)])
        .build();
    let response = app.send(form_login).await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(response.cookie("romm_session").is_some());
}

async fn wrong_password_and_unknown_user_get_the_same_401(app: TestApp) {
    app.user("alice", Role::Viewer).await;

    let wrong = app
        .send(
            RequestBuilder::new(Method::POST, "/api/login")
                .basic("alice", "not the password")
                .build(),
        )
        .await;
    let unknown = app
        .send(
            RequestBuilder::new(Method::POST, "/api/login")
                .basic("nobody", "not the password")
                .build(),
        )
        .await;

    for response in [&wrong, &unknown] {
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
        assert_eq!(response.detail(), "Incorrect username or password");
        assert_eq!(
            response.header("www-authenticate"),
            Some(r#"Basic realm="romm""#)
        );
        assert!(response.cookie("romm_session").is_none());
    }
    assert_eq!(wrong.body, unknown.body);
}

async fn disabled_user_is_told_only_after_a_correct_password(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let update = romm_server::store::UserUpdate {
        enabled: Some(false),
        ..Default::default()
    };
    app.store()
        .update_user(alice.id, update, None)
        .await
        .unwrap();

    let right = RequestBuilder::new(Method::POST, "/api/login")
        .basic("alice", PASSWORD)
        .build();
    let response = app.send(right).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(response.detail(), "Disabled user");

    let wrong = RequestBuilder::new(Method::POST, "/api/login")
        .basic("alice", "wrong password")
        .build();
    assert_eq!(
        app.send(wrong).await.detail(),
        "Incorrect username or password"
    );
}

async fn disabled_userpass_login_is_403(backend: Backend) {
    let app = TestApp::configured(backend, |config| config.disable_userpass_login = true).await;
    app.user("alice", Role::Viewer).await;

    let login = RequestBuilder::new(Method::POST, "/api/login")
        .basic("alice", PASSWORD)
        .build();
    assert_eq!(app.send(login).await.status, StatusCode::FORBIDDEN);

    let basic = RequestBuilder::get("/api/users/me")
        .basic("alice", PASSWORD)
        .build();
    assert_eq!(app.send(basic).await.status, StatusCode::UNAUTHORIZED);
}

async fn every_login_rotates_the_session_id(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let first = app.login("alice").await;

    let again = RequestBuilder::new(Method::POST, "/api/login")
        .basic("alice", PASSWORD)
        .cookies_only(&first)
        .build();
    let response = app.send(again).await;
    let second = response.cookie("romm_session").unwrap();
    assert_ne!(second, first.session);

    let old = app
        .send(
            RequestBuilder::get("/api/users/me")
                .cookies_only(&first)
                .build(),
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
}

async fn only_a_hash_of_the_session_id_is_stored(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let browser = app.login("alice").await;

    let sessions = app
        .store()
        .list_sessions(alice.id, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    assert_ne!(sessions[0].public_id, browser.session);
    let by_raw_value = app
        .store()
        .find_session(browser.session.as_bytes())
        .await
        .unwrap();
    assert!(by_raw_value.is_none());
    let hash = romm_server::auth::session::hash_session_cookie(&browser.session);
    assert!(app.store().find_session(&hash).await.unwrap().is_some());
}

async fn session_cookie_authenticates_reads_without_csrf(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let browser = app.login("alice").await;

    let response = app
        .send(
            RequestBuilder::get("/api/users/me")
                .cookies_only(&browser)
                .build(),
        )
        .await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json()["username"], "alice");
}

async fn unsafe_session_requests_need_the_csrf_header(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let browser = app.login("alice").await;
    let uri = format!("/api/users/{}", alice.id);

    let without = RequestBuilder::new(Method::PUT, &uri)
        .cookies_only(&browser)
        .form(&[("email", "alice@example.com")])
        .build();
    let response = app.send(without).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert_eq!(response.detail(), "CSRF token verification failed");

    let forged = RequestBuilder::new(Method::PUT, &uri)
        .cookies_only(&browser)
        .header("x-csrftoken", "00")
        .form(&[("email", "alice@example.com")])
        .build();
    assert_eq!(app.send(forged).await.status, StatusCode::FORBIDDEN);
    let unchanged = app.store().find_user(alice.id).await.unwrap().unwrap();
    assert_eq!(unchanged.email, None);

    let with = RequestBuilder::new(Method::PUT, &uri)
        .browser(&browser)
        .form(&[("email", "alice@example.com")])
        .build();
    let response = app.send(with).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["email"], "alice@example.com");
}

async fn csrf_token_from_before_login_fails_after_login(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let anonymous = app
        .send(RequestBuilder::get("/api/heartbeat").build())
        .await;
    let early_token = anonymous.cookie("romm_csrftoken").unwrap();
    let browser = app.login("alice").await;

    let stale = Browser {
        csrf: early_token,
        ..browser.clone()
    };
    let request = RequestBuilder::new(Method::PUT, &format!("/api/users/{}", alice.id))
        .browser(&stale)
        .form(&[("email", "a@example.com")])
        .build();
    assert_eq!(app.send(request).await.status, StatusCode::FORBIDDEN);

    // The heartbeat hands a logged-in browser a token bound to its session.
    let warm = RequestBuilder::get("/api/heartbeat")
        .header("cookie", &format!("romm_session={}", browser.session));
    let fresh = app
        .send(warm.build())
        .await
        .cookie("romm_csrftoken")
        .unwrap();
    let request = RequestBuilder::new(Method::PUT, &format!("/api/users/{}", alice.id))
        .browser(&Browser {
            csrf: fresh,
            ..browser
        })
        .form(&[("email", "a@example.com")])
        .build();
    assert_eq!(app.send(request).await.status, StatusCode::OK);
}

async fn authorization_header_never_falls_back_to_the_cookie(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let browser = app.login("alice").await;

    let request = RequestBuilder::get("/api/users/me")
        .cookies_only(&browser)
        .authorization("Bearer not-a-token")
        .build();
    let response = app.send(request).await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.header("www-authenticate"),
        Some(r#"Bearer realm="romm", error="invalid_token""#)
    );
}

async fn logout_ends_the_session_and_clears_cookies(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let browser = app.login("alice").await;

    let response = app
        .send(
            RequestBuilder::new(Method::POST, "/api/auth/logout")
                .browser(&browser)
                .build(),
        )
        .await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.text(), "null");
    assert!(response.clears_cookie("romm_session"));
    assert!(response.clears_cookie("romm_csrftoken"));
    let after = app
        .send(
            RequestBuilder::get("/api/users/me")
                .cookies_only(&browser)
                .build(),
        )
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

async fn logout_alias_works_and_needs_csrf(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let browser = app.login("alice").await;

    let forged = app
        .send(
            RequestBuilder::new(Method::POST, "/api/logout")
                .cookies_only(&browser)
                .build(),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let still = app
        .send(
            RequestBuilder::get("/api/users/me")
                .cookies_only(&browser)
                .build(),
        )
        .await;
    assert_eq!(still.status, StatusCode::OK);

    let real = app
        .send(
            RequestBuilder::new(Method::POST, "/api/logout")
                .browser(&browser)
                .build(),
        )
        .await;
    assert_eq!(real.status, StatusCode::OK);
    let after = app
        .send(
            RequestBuilder::get("/api/users/me")
                .cookies_only(&browser)
                .build(),
        )
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

async fn stale_session_cookie_is_cleared_on_public_routes(app: TestApp) {
    let request = RequestBuilder::get("/api/heartbeat")
        .header("cookie", "romm_session=gone")
        .build();
    let response = app.send(request).await;

    assert_eq!(response.status, StatusCode::OK);
    assert!(response.clears_cookie("romm_session"));
}

async fn idle_expiry_ends_a_session(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let browser = app.login("alice").await;
    let session = &app
        .store()
        .list_sessions(alice.id, chrono::Utc::now())
        .await
        .unwrap()[0];

    // Move the idle deadline into the past, as if two idle weeks had gone by.
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    app.store()
        .touch_session(session.id, past, past)
        .await
        .unwrap();

    let response = app
        .send(
            RequestBuilder::get("/api/users/me")
                .cookies_only(&browser)
                .build(),
        )
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert!(response.clears_cookie("romm_session"));
}

async fn absolute_expiry_caps_a_session(backend: Backend) {
    let app = TestApp::configured(backend, |config| {
        config.session_absolute_max_age_seconds = 1
    })
    .await;
    app.user("alice", Role::Viewer).await;
    let browser = app.login("alice").await;
    let login_cookie = browser.session.clone();
    assert!(!login_cookie.is_empty());

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let response = app
        .send(
            RequestBuilder::get("/api/users/me")
                .cookies_only(&browser)
                .build(),
        )
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
}

async fn sessions_are_listed_and_revocable_by_their_owner(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    app.user("bob", Role::Viewer).await;
    let laptop = app.login("alice").await;
    let phone = app.login("alice").await;
    let bob = app.login("bob").await;

    let listed = app
        .send(
            RequestBuilder::get("/api/auth/sessions")
                .cookies_only(&laptop)
                .build(),
        )
        .await;
    let sessions = listed.json();
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(
        sessions
            .iter()
            .filter(|session| session["current"] == true)
            .count(),
        1
    );
    assert!(sessions
        .iter()
        .all(|session| session["id"] != laptop.session.as_str()));
    let phone_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let uri = format!("/api/auth/sessions/{phone_id}");
    let by_bob = app
        .send(
            RequestBuilder::new(Method::DELETE, &uri)
                .browser(&bob)
                .build(),
        )
        .await;
    assert_eq!(by_bob.status, StatusCode::NOT_FOUND);

    let by_alice = app
        .send(
            RequestBuilder::new(Method::DELETE, &uri)
                .browser(&laptop)
                .build(),
        )
        .await;
    assert_eq!(by_alice.status, StatusCode::NO_CONTENT);
    let phone_after = app
        .send(
            RequestBuilder::get("/api/users/me")
                .cookies_only(&phone)
                .build(),
        )
        .await;
    assert_eq!(phone_after.status, StatusCode::UNAUTHORIZED);
    let laptop_after = app
        .send(
            RequestBuilder::get("/api/users/me")
                .cookies_only(&laptop)
                .build(),
        )
        .await;
    assert_eq!(laptop_after.status, StatusCode::OK);
}

async fn login_without_credentials_is_a_clear_400(app: TestApp) {
    let request = RequestBuilder::new(Method::POST, "/api/login")
        .raw_body("application/json", "{}")
        .build();
    let response = app.send(request).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.detail(), "Missing username or password");

    let xml = RequestBuilder::new(Method::POST, "/api/login")
        .raw_body("text/xml", "<a/>")
        .build();
    assert_eq!(
        app.send(xml).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let broken = RequestBuilder::new(Method::POST, "/api/login")
        .raw_body("application/json", "{\"user")
        .build();
    assert_eq!(app.send(broken).await.status, StatusCode::BAD_REQUEST);
}
