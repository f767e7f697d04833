//! OpenID Connect sign-in against a real provider (`oidc-provider`, run by node).
//!
//! The provider's own login and consent forms are posted by an HTTP client that keeps the
//! provider's cookies; the callback is then handed to the application in-process. The
//! provider's packages are installed with `npm ci` on first use; where that cannot work the
//! tests are skipped, unless `ROMM_TEST_REQUIRE_OIDC=1`, as CI sets it, makes that a failure.

use std::path::Path;
use std::process::Stdio;

use axum::http::{Method, StatusCode};
use romm_server::auth::scopes::Role;
use romm_server::config::Config;
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::harness::{Backend, Browser, RequestBuilder, TestApp, TestResponse};
use crate::on_both_backends;

const REDIRECT_URI: &str = "http://localhost:8080/api/oauth/openid";
const BASE_URL: &str = "http://localhost:8080";
const CLIENT_SECRET: &str = "romm-test-secret";

on_both_backends!(;
    configured:
        sign_in_creates_a_user_with_the_claimed_name_and_role,
        verified_email_links_an_existing_account_once,
        unverified_email_colliding_with_an_account_is_refused,
        registration_disabled_refuses_unknown_identities,
        no_role_granted_refuses_the_sign_in,
        the_last_admin_is_never_demoted_by_the_provider,
        provider_errors_and_forged_state_are_4xx,
        a_replayed_callback_is_refused,
        a_wrong_client_secret_fails_verification,
        rp_initiated_logout_returns_the_provider_url,
        key_rotation_at_the_provider_does_not_break_sign_in,
        admin_view_redacts_the_secret_and_reports_discovery,
        disabled_and_unreachable_providers_are_4xx,
);

/// A running provider, stopped when dropped.
struct Provider {
    issuer: String,
    port: u16,
    users: Value,
    _child: Child,
}

fn provider_folder() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc"))
}

/// Whether the provider can run here, installing its packages once per test run from the
/// committed lock file when they are missing; with `ROMM_TEST_REQUIRE_OIDC=1` it must run.
fn provider_installed() -> bool {
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let installed = *INSTALLED.get_or_init(|| {
        if provider_folder()
            .join("node_modules/oidc-provider")
            .exists()
        {
            return true;
        }
        let installed = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(provider_folder())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        installed
            && provider_folder()
                .join("node_modules/oidc-provider")
                .exists()
    });
    let required = std::env::var("ROMM_TEST_REQUIRE_OIDC").is_ok_and(|value| value == "1");
    assert!(
        installed || !required,
        "the OIDC provider is required but `npm ci` failed"
    );
    if !installed {
        eprintln!("skipping an OIDC test: node or npm could not install tests/oidc");
    }
    installed
}

impl Provider {
    async fn start(users: Value, port: u16) -> Provider {
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(provider_folder())
            .env("PORT", port.to_string())
            .env("USERS", users.to_string())
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("REDIRECT_URI", REDIRECT_URI)
            .env("POST_LOGOUT_URI", BASE_URL)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs the provider");
        let stdout = child.stdout.take().expect("the provider's output");
        let mut lines = BufReader::new(stdout).lines();
        let issuer = loop {
            let line = lines
                .next_line()
                .await
                .expect("provider output")
                .expect("a READY line");
            if let Some(issuer) = line.strip_prefix("READY ") {
                break issuer.to_owned();
            }
        };
        // Keep reading: a closed pipe would kill the provider at its next log line.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let port = issuer.rsplit(':').next().unwrap().parse().unwrap();
        Provider {
            issuer,
            port,
            users,
            _child: child,
        }
    }

    /// Stops this provider and starts another on the same port: same issuer, new key.
    async fn restart(self) -> Provider {
        let (users, port) = (self.users.clone(), self.port);
        drop(self);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        Provider::start(users, port).await
    }

    fn configure(&self, config: &mut Config) {
        config.oidc_enabled = true;
        config.oidc_provider = "Test IdP".to_owned();
        config.oidc_client_id = "romm".to_owned();
        config.oidc_client_secret = Some(SecretString::from(CLIENT_SECRET));
        config.oidc_redirect_uri = REDIRECT_URI.to_owned();
        config.oidc_server_application_url = self.issuer.clone();
        config.oidc_claim_roles = "roles".to_owned();
        config.oidc_role_viewer = "romm-viewers".to_owned();
        config.oidc_role_editor = "romm-editors".to_owned();
        config.oidc_role_admin = "romm-admins".to_owned();
        config.oidc_rp_initiated_logout = true;
        config.base_url = Some(BASE_URL.to_owned());
    }
}

fn people() -> Value {
    json!({
        "sub-alice": {"email": "alice@example.test", "email_verified": true,
                      "preferred_username": "Alice Liddell", "roles": ["romm-admins", "staff"]},
        "sub-bob": {"email": "bob@example.test", "email_verified": false,
                    "preferred_username": "bob", "roles": ["romm-viewers"]},
        "sub-carol": {"email": "carol@example.test", "email_verified": true,
                      "preferred_username": "carol", "roles": ["romm-editors-extended"]},
        "sub-dave": {"email": "dave@example.test", "email_verified": true,
                     "preferred_username": "dave", "roles": "romm-viewers"},
    })
}

async fn start(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<(TestApp, Provider)> {
    if !provider_installed() {
        return None;
    }
    let provider = Provider::start(people(), 0).await;
    let app = TestApp::configured(backend, |config| {
        provider.configure(config);
        adjust(config);
    })
    .await;
    Some((app, provider))
}

/// An HTTP client standing in for the browser at the provider.
fn browser_at_provider() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of every `<input>` of the first form in `html`, and its action.
fn parse_form(html: &str) -> (String, Vec<(String, String)>) {
    let attribute = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        Some(tag[start..].split('"').next()?.to_owned())
    };
    let form_start = html.find("<form").expect("a form at the provider");
    let form_tag = &html[form_start..html[form_start..].find('>').unwrap() + form_start];
    let action = attribute(form_tag, "action").expect("a form action");
    let inputs = html[form_start..]
        .split("<input")
        .skip(1)
        .filter_map(|rest| {
            let tag = rest.split('>').next()?;
            let name = attribute(tag, "name")?;
            Some((name, attribute(tag, "value").unwrap_or_default()))
        })
        .collect();
    (action, inputs)
}

/// Signs in at the provider as `subject` and returns the callback URL it redirects to.
async fn authorize_at_provider(
    client: &reqwest::Client,
    issuer: &str,
    url: &str,
    subject: &str,
) -> String {
    let mut next = url.to_owned();
    let mut form: Option<(String, Vec<(String, String)>)> = None;
    for _ in 0..20 {
        let response = match form.take() {
            Some((action, fields)) => client.post(&action).form(&fields).send().await.unwrap(),
            None => client.get(&next).send().await.unwrap(),
        };
        if let Some(location) = response.headers().get("location") {
            let location = location.to_str().unwrap().to_owned();
            if location.starts_with(REDIRECT_URI) {
                return location;
            }
            next = if location.starts_with('/') {
                format!("{issuer}{location}")
            } else {
                location
            };
            continue;
        }
        assert!(
            response.status().is_success(),
            "provider answered {}",
            response.status()
        );
        let (action, mut fields) = parse_form(&response.text().await.unwrap());
        for (name, value) in &mut fields {
            match name.as_str() {
                "login" => *value = subject.to_owned(),
                "password" => *value = "any password".to_owned(),
                _ => {}
            }
        }
        form = Some((action, fields));
    }
    panic!("the provider never redirected back");
}

fn flow_cookie(response: &TestResponse) -> String {
    response.cookie("romm_oidc_flow").expect("a flow cookie")
}

/// The whole browser round trip; returns the callback's response.
async fn sign_in(app: &TestApp, provider: &Provider, subject: &str) -> TestResponse {
    let (callback, cookie) = start_and_authorize(app, provider, subject).await;
    finish(app, &callback, &cookie).await
}

async fn start_and_authorize(
    app: &TestApp,
    provider: &Provider,
    subject: &str,
) -> (String, String) {
    let start = RequestBuilder::get("/api/login/openid")
        .header("accept", "text/html")
        .build();
    let started = app.send(start).await;
    assert_eq!(started.status, StatusCode::FOUND, "{}", started.text());
    let location = started.header("location").unwrap().to_owned();
    assert!(location.starts_with(&provider.issuer));
    assert!(location.contains("code_challenge_method=S256"));
    assert!(location.contains("nonce="));
    let callback =
        authorize_at_provider(&browser_at_provider(), &provider.issuer, &location, subject).await;
    (callback, flow_cookie(&started))
}

async fn finish(app: &TestApp, callback: &str, flow_cookie: &str) -> TestResponse {
    let path = &callback[BASE_URL.len()..];
    let request = RequestBuilder::get(path)
        .header("accept", "text/html")
        .header("cookie", &format!("romm_oidc_flow={flow_cookie}"))
        .build();
    app.send(request).await
}

fn browser_of(response: &TestResponse) -> Browser {
    assert_eq!(response.status, StatusCode::FOUND, "{}", response.text());
    assert_eq!(response.header("location"), Some("/"));
    Browser {
        session: response.cookie("romm_session").expect("a session cookie"),
        csrf: response.cookie("romm_csrftoken").expect("a CSRF cookie"),
    }
}

async fn me(app: &TestApp, browser: &Browser) -> Value {
    let response = app
        .send(
            RequestBuilder::get("/api/users/me")
                .cookies_only(browser)
                .build(),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    response.json()
}

fn assert_refused(response: &TestResponse, code: &str) {
    assert_eq!(response.status, StatusCode::FOUND, "{}", response.text());
    assert_eq!(
        response.header("location"),
        Some(format!("/login?error={code}").as_str())
    );
    assert!(response.cookie("romm_session").is_none());
}

async fn sign_in_creates_a_user_with_the_claimed_name_and_role(backend: Backend) {
    let Some((app, provider)) = start(backend, |_| {}).await else {
        return;
    };

    let response = sign_in(&app, &provider, "sub-alice").await;

    let browser = browser_of(&response);
    assert!(response
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("romm_session=") && c.contains("SameSite=Lax")));
    let alice = me(&app, &browser).await;
    assert_eq!(alice["username"], "aliceliddell");
    assert_eq!(alice["role"], "admin");
    assert_eq!(alice["email"], "alice@example.test");
    let again = browser_of(&sign_in(&app, &provider, "sub-alice").await);
    assert_eq!(me(&app, &again).await["id"], alice["id"]);
    assert_eq!(app.store().list_users().await.unwrap().len(), 1);

    let dave = browser_of(&sign_in(&app, &provider, "sub-dave").await);
    assert_eq!(me(&app, &dave).await["role"], "viewer");
}

async fn verified_email_links_an_existing_account_once(backend: Backend) {
    let Some((app, provider)) = start(backend, |_| {}).await else {
        return;
    };
    let local = app.user("alice", Role::Viewer).await;
    let update = romm_server::store::UserUpdate {
        email: Some(Some("Alice@Example.test".to_owned())),
        ..Default::default()
    };
    app.store()
        .update_user(local.id, update, None)
        .await
        .unwrap();

    let browser = browser_of(&sign_in(&app, &provider, "sub-alice").await);

    let linked = me(&app, &browser).await;
    assert_eq!(linked["id"], local.id);
    assert_eq!(linked["role"], "admin");
    let bound = app
        .store()
        .find_user_by_identity(&provider.issuer, "sub-alice")
        .await
        .unwrap();
    assert_eq!(bound.unwrap().id, local.id);
}

async fn unverified_email_colliding_with_an_account_is_refused(backend: Backend) {
    let Some((app, provider)) = start(backend, |_| {}).await else {
        return;
    };
    let local = app.user("robert", Role::Viewer).await;
    let update = romm_server::store::UserUpdate {
        email: Some(Some("bob@example.test".to_owned())),
        ..Default::default()
    };
    app.store()
        .update_user(local.id, update, None)
        .await
        .unwrap();

    let response = sign_in(&app, &provider, "sub-bob").await;

    assert_refused(&response, "email_not_verified");
    assert!(app
        .store()
        .find_user_by_identity(&provider.issuer, "sub-bob")
        .await
        .unwrap()
        .is_none());
    assert_eq!(app.store().list_users().await.unwrap().len(), 1);
}

async fn registration_disabled_refuses_unknown_identities(backend: Backend) {
    let Some((app, provider)) = start(backend, |c| c.oidc_allow_registration = false).await else {
        return;
    };

    let response = sign_in(&app, &provider, "sub-dave").await;

    assert_refused(&response, "registration_disabled");
    assert!(app.store().list_users().await.unwrap().is_empty());
}

async fn no_role_granted_refuses_the_sign_in(backend: Backend) {
    let Some((app, provider)) = start(backend, |_| {}).await else {
        return;
    };

    // carol's roles only contain a value that merely starts like a configured one.
    let response = sign_in(&app, &provider, "sub-carol").await;

    assert_refused(&response, "no_role");
    assert!(app.store().list_users().await.unwrap().is_empty());
}

async fn the_last_admin_is_never_demoted_by_the_provider(backend: Backend) {
    let Some((app, provider)) = start(backend, |_| {}).await else {
        return;
    };
    let admin = app.user("dave", Role::Admin).await;
    let update = romm_server::store::UserUpdate {
        email: Some(Some("dave@example.test".to_owned())),
        ..Default::default()
    };
    app.store()
        .update_user(admin.id, update, None)
        .await
        .unwrap();

    let browser = browser_of(&sign_in(&app, &provider, "sub-dave").await);

    assert_eq!(me(&app, &browser).await["role"], "admin");
}

async fn provider_errors_and_forged_state_are_4xx(backend: Backend) {
    let Some((app, provider)) = start(backend, |_| {}).await else {
        return;
    };

    let denied = RequestBuilder::get("/api/oauth/openid?error=access_denied&state=x")
        .header("accept", "text/html")
        .build();
    assert_refused(&app.send(denied).await, "provider_refused");

    let (callback, cookie) = start_and_authorize(&app, &provider, "sub-alice").await;
    let forged_state = callback.replace("state=", "state=forged");
    assert_refused(&finish(&app, &forged_state, &cookie).await, "invalid_state");

    let (callback, _) = start_and_authorize(&app, &provider, "sub-alice").await;
    let no_cookie = RequestBuilder::get(&callback[BASE_URL.len()..]).build();
    let response = app.send(no_cookie).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.json()["error"], "invalid_state");
    assert_refused(
        &finish(&app, &callback, "tampered.cookie").await,
        "invalid_state",
    );
    assert!(app.store().list_users().await.unwrap().is_empty());
}

async fn a_replayed_callback_is_refused(backend: Backend) {
    let Some((app, provider)) = start(backend, |_| {}).await else {
        return;
    };
    let (callback, cookie) = start_and_authorize(&app, &provider, "sub-alice").await;
    let first = finish(&app, &callback, &cookie).await;
    browser_of(&first);
    assert!(first.clears_cookie("romm_oidc_flow"));

    let replay = finish(&app, &callback, &cookie).await;

    assert_refused(&replay, "invalid_token");
    assert_eq!(app.store().list_users().await.unwrap().len(), 1);
}

async fn a_wrong_client_secret_fails_verification(backend: Backend) {
    let wrong_secret = |config: &mut Config| {
        config.oidc_client_secret = Some(SecretString::from("not the secret"));
    };
    let Some((app, provider)) = start(backend, wrong_secret).await else {
        return;
    };

    let response = sign_in(&app, &provider, "sub-alice").await;

    assert_refused(&response, "invalid_token");
    assert!(app.store().list_users().await.unwrap().is_empty());
}

async fn rp_initiated_logout_returns_the_provider_url(backend: Backend) {
    let Some((app, provider)) = start(backend, |_| {}).await else {
        return;
    };
    let browser = browser_of(&sign_in(&app, &provider, "sub-alice").await);

    let response = app
        .send(
            RequestBuilder::new(Method::POST, "/api/auth/logout")
                .browser(&browser)
                .build(),
        )
        .await;

    assert_eq!(response.status, StatusCode::OK);
    let url = response.json()["oidc_logout_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        url.starts_with(&format!("{}/session/end", provider.issuer)),
        "{url}"
    );
    assert!(url.contains("id_token_hint="));
    assert!(url.contains("client_id=romm"));
    assert!(url.contains("post_logout_redirect_uri=http%3A%2F%2Flocalhost%3A8080"));
    let at_provider = browser_at_provider().get(&url).send().await.unwrap();
    assert!(at_provider.status().is_success() || at_provider.status().is_redirection());
    let after = app
        .send(
            RequestBuilder::get("/api/users/me")
                .cookies_only(&browser)
                .build(),
        )
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    app.user("local", Role::Viewer).await;
    let local = app.login("local").await;
    let plain = app
        .send(
            RequestBuilder::new(Method::POST, "/api/logout")
                .browser(&local)
                .build(),
        )
        .await;
    assert_eq!(plain.text(), "null");
}

async fn key_rotation_at_the_provider_does_not_break_sign_in(backend: Backend) {
    let Some((app, provider)) = start(backend, |_| {}).await else {
        return;
    };
    browser_of(&sign_in(&app, &provider, "sub-alice").await);

    let provider = provider.restart().await;
    let response = sign_in(&app, &provider, "sub-alice").await;

    browser_of(&response);
}

async fn admin_view_redacts_the_secret_and_reports_discovery(backend: Backend) {
    let Some((app, provider)) = start(backend, |_| {}).await else {
        return;
    };
    app.user("root", Role::Admin).await;
    app.user("viewer", Role::Viewer).await;

    let response = app
        .send(
            RequestBuilder::get("/api/config/oidc")
                .basic("root", crate::harness::PASSWORD)
                .build(),
        )
        .await;

    assert_eq!(response.status, StatusCode::OK);
    let body = response.json();
    assert_eq!(body["client_secret"], "********");
    assert!(!response.text().contains(CLIENT_SECRET));
    assert_eq!(body["discovery_ok"], true);
    assert_eq!(body["server_application_url"], provider.issuer.as_str());
    assert!(body["end_session_endpoint"]
        .as_str()
        .unwrap()
        .ends_with("/session/end"));
    let viewer = app
        .send(
            RequestBuilder::get("/api/config/oidc")
                .basic("viewer", crate::harness::PASSWORD)
                .build(),
        )
        .await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);

    let heartbeat = app
        .send(RequestBuilder::get("/api/heartbeat").build())
        .await
        .json();
    assert_eq!(heartbeat["OIDC"]["ENABLED"], true);
    assert_eq!(heartbeat["OIDC"]["PROVIDER"], "Test IdP");
    assert_eq!(heartbeat["OIDC"]["RP_INITIATED_LOGOUT"], true);
}

async fn disabled_and_unreachable_providers_are_4xx(backend: Backend) {
    let disabled = TestApp::configured(backend, |_| {}).await;
    let response = disabled
        .send(RequestBuilder::get("/api/login/openid").build())
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(response.json()["error"], "oidc_disabled");
    let callback = disabled
        .send(RequestBuilder::get("/api/oauth/openid?code=x&state=y").build())
        .await;
    assert_eq!(callback.status, StatusCode::NOT_FOUND);
    drop(disabled);

    let unreachable = TestApp::configured(backend, |config| {
        config.oidc_enabled = true;
        config.oidc_client_id = "romm".to_owned();
        config.oidc_redirect_uri = REDIRECT_URI.to_owned();
        config.oidc_server_application_url = "http://127.0.0.1:9".to_owned();
    })
    .await;
    let response = unreachable
        .send(RequestBuilder::get("/api/login/openid").build())
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.json()["error"], "oidc_unavailable");
    let browser = unreachable
        .send(
            RequestBuilder::get("/api/login/openid")
                .header("accept", "text/html")
                .build(),
        )
        .await;
    assert_refused(&browser, "oidc_unavailable");
}
