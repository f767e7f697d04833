//! The 401/403 matrix of every protected route, read from the generated OpenAPI document so
//! that a route joins the matrix the day it is added, and checks of the document itself.
//!
//! Each protected operation is called with no credential, with broken ones, and with a valid
//! credential of each role. The scopes the document lists must be exactly the ones the server
//! enforces: a role lacking some gets a 403 naming them, a role holding them all gets past
//! the guard.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use romm_server::auth::scopes::Role;
use serde_json::{json, Value};

use crate::harness::{Backend, Browser, RequestBuilder, TestApp, TestResponse, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    protected_operations_refuse_callers_without_a_working_credential,
    every_role_is_refused_exactly_the_scopes_it_lacks,
    narrow_bearer_tokens_are_refused_what_they_were_not_granted,
    all_required_scopes_but_one_are_refused_and_exactly_them_pass,
    public_operations_need_no_credential,
    the_document_is_served_at_both_paths,
    the_docs_page_is_served_without_a_cdn;
    configured: expired_access_tokens_are_refused_on_every_protected_route,
    kiosk_callers_hold_exactly_the_read_scopes_on_every_route,
);

/// Operations anyone may call, as `(method, path)`, grouped by the section of SPEC.md that
/// makes them public. Every other operation must declare the scopes it needs.
const PUBLIC_OPERATIONS: &[(&str, &str)] = &[
    // §2: browser sign-in and sign-out, with RomM's aliases.
    ("POST", "/api/auth/login"),
    ("POST", "/api/login"),
    ("POST", "/api/auth/logout"),
    ("POST", "/api/logout"),
    // §4: the OAuth2 token endpoint.
    ("POST", "/api/token"),
    // §5: pairing codes and the device authorization flow.
    ("GET", "/api/client-tokens/pair/{code}/status"),
    ("POST", "/api/client-tokens/exchange"),
    ("POST", "/api/auth/device/init"),
    ("POST", "/api/auth/device/token"),
    // §6: the OIDC round trip.
    ("GET", "/api/login/openid"),
    ("GET", "/api/oauth/openid"),
    // §7: invites and password resets, which carry their own one-use token.
    ("POST", "/api/users/register"),
    ("POST", "/api/reset-password"),
    ("POST", "/api/forgot-password"),
    // §8 and §10: the heartbeat and the documents.
    ("GET", "/api/heartbeat"),
    ("GET", "/openapi.json"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
];

/// The 22 scopes in the canonical order of SPEC §1.
const CANONICAL_SCOPES: [&str; 22] = [
    "me.read",
    "me.write",
    "roms.read",
    "roms.write",
    "roms.user.read",
    "roms.user.write",
    "platforms.read",
    "platforms.write",
    "assets.read",
    "assets.write",
    "devices.read",
    "devices.write",
    "firmware.read",
    "firmware.write",
    "collections.read",
    "collections.write",
    "playlists.read",
    "playlists.write",
    "users.read",
    "users.write",
    "tasks.run",
    "logs.read",
];

/// The left column of SPEC §1's table: what every role holds, and all that kiosk mode grants.
const READ_SCOPES: [&str; 9] = [
    "me.read",
    "roms.read",
    "platforms.read",
    "assets.read",
    "devices.read",
    "firmware.read",
    "roms.user.read",
    "collections.read",
    "playlists.read",
];

/// The write scopes every role holds.
const VIEWER_WRITE_SCOPES: [&str; 6] = [
    "me.write",
    "assets.write",
    "devices.write",
    "roms.user.write",
    "collections.write",
    "playlists.write",
];

/// What an editor holds beyond a viewer.
const EDITOR_EXTRA_SCOPES: [&str; 3] = ["roms.write", "platforms.write", "firmware.write"];

/// What only an admin holds.
const ADMIN_EXTRA_SCOPES: [&str; 4] = ["users.read", "users.write", "tasks.run", "logs.read"];

const ROLES: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

/// A token shaped like this server's JWTs but signed by nobody.
const FORGED_JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIiwidHlwZSI6ImFjY2VzcyJ9.c2lnbmF0dXJl";

/// A path segment for string parameters that names nothing.
const UNKNOWN_SEGMENT: &str = "unknown";

/// An id that no token, device or other object of the matrix has.
const UNKNOWN_ID: i64 = 987_654_321;

/// The role matrix of SPEC §1, written out here so that the server's copy is checked
/// against the contract rather than against itself.
fn role_scopes(role: Role) -> BTreeSet<&'static str> {
    let mut scopes: BTreeSet<&str> = READ_SCOPES.into_iter().chain(VIEWER_WRITE_SCOPES).collect();
    if role >= Role::Editor {
        scopes.extend(EDITOR_EXTRA_SCOPES);
    }
    if role == Role::Admin {
        scopes.extend(ADMIN_EXTRA_SCOPES);
    }
    scopes
}

/// The given scopes in canonical order, as responses list them.
fn canonical(scopes: &[String]) -> Vec<String> {
    CANONICAL_SCOPES
        .into_iter()
        .filter(|scope| scopes.iter().any(|name| name == scope))
        .map(str::to_owned)
        .collect()
}

/// The scopes of `required` missing from `held`, in canonical order.
fn missing_scopes(required: &[String], held: &BTreeSet<&str>) -> Vec<String> {
    canonical(required)
        .into_iter()
        .filter(|scope| !held.contains(scope.as_str()))
        .collect()
}

/// One operation of the OpenAPI document.
#[derive(Debug)]
struct Operation {
    method: Method,
    /// The path template, such as `/api/users/{id}`.
    path: String,
    /// The scopes listed under `OAuth2PasswordBearer`; empty when none are declared.
    scopes: Vec<String>,
    /// Every security requirement, by scheme name, with its scope list.
    requirements: Vec<(String, Vec<String>)>,
    /// The path parameters whose schema is an integer.
    integer_parameters: Vec<String>,
}

impl Operation {
    fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn is_listed_as_public(&self) -> bool {
        PUBLIC_OPERATIONS
            .iter()
            .any(|(method, path)| self.method.as_str() == *method && self.path == *path)
    }

    /// The path with its parameters filled in for the caller with `user_id`.
    ///
    /// A user id goes where a route under `/api/users/` expects one, because changing
    /// yourself is the case that needs only the declared scope. Every other parameter gets
    /// a value that names nothing, so that a caller who passes the guard changes nothing.
    fn uri(&self, user_id: i64) -> String {
        let takes_a_user_id = self.path.starts_with("/api/users/{");
        let mut uri = String::new();
        let mut rest = self.path.as_str();
        while let Some((before, after)) = rest.split_once('{') {
            let (name, after) = after.split_once('}').expect("a closed path parameter");
            uri.push_str(before);
            let is_integer = self
                .integer_parameters
                .iter()
                .any(|integer| integer == name);
            match (is_integer, takes_a_user_id) {
                (true, true) => uri.push_str(&user_id.to_string()),
                (true, false) => uri.push_str(&UNKNOWN_ID.to_string()),
                (false, _) => uri.push_str(UNKNOWN_SEGMENT),
            }
            rest = after;
        }
        uri.push_str(rest);
        uri
    }

    fn request(&self, id: i64) -> RequestBuilder {
        RequestBuilder::new(self.method.clone(), &self.uri(id))
    }
}

fn document() -> Value {
    serde_json::to_value(romm_server::http::openapi()).expect("a serializable document")
}

fn strings(value: &Value) -> Vec<String> {
    let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .map(|item| item.as_str().expect("a string").to_owned())
        .collect()
}

/// Every operation of the document, in path order.
fn operations() -> Vec<Operation> {
    let document = document();
    let paths = document["paths"].as_object().expect("a paths object");
    let mut operations = Vec::new();
    for (path, item) in paths {
        let methods = item.as_object().expect("a path item");
        for (method, operation) in methods {
            let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else {
                continue;
            };
            let requirements: Vec<(String, Vec<String>)> = operation["security"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .flat_map(|requirement| requirement.as_object().into_iter().flatten())
                .map(|(scheme, scopes)| (scheme.clone(), strings(scopes)))
                .collect();
            let scopes = requirements
                .iter()
                .filter(|(scheme, _)| scheme == "OAuth2PasswordBearer")
                .flat_map(|(_, scopes)| scopes.iter().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let integer_parameters = operation["parameters"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter(|parameter| parameter["in"] == "path")
                .filter(|parameter| parameter["schema"]["type"] == "integer")
                .map(|parameter| parameter["name"].as_str().unwrap().to_owned())
                .collect();
            operations.push(Operation {
                method,
                path: path.clone(),
                scopes,
                requirements,
                integer_parameters,
            });
        }
    }
    operations
}

fn protected_operations() -> Vec<Operation> {
    let protected: Vec<Operation> = operations()
        .into_iter()
        .filter(|operation| !operation.scopes.is_empty())
        .collect();
    assert!(
        !protected.is_empty(),
        "the document lists no protected operation"
    );
    protected
}

/// A peer address of its own for probe `index`, so the failure limit per address never
/// counts one probe against another.
fn peer(index: usize) -> SocketAddr {
    let address = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, index as u16 + 1);
    SocketAddr::new(IpAddr::V6(address), 40000)
}

/// Describes a response in a failure list, with the start of its body.
fn describe(response: &TestResponse) -> String {
    let body: String = response.text().chars().take(160).collect();
    format!(
        "{} {:?} {body}",
        response.status,
        response.header("www-authenticate")
    )
}

/// A caller of one role, signed in each way a user can be.
struct Caller {
    role: Role,
    username: String,
    user_id: i64,
    browser: Browser,
    /// An OAuth2 access token granted every scope of the role.
    access_token: String,
    /// A client API token granted every scope of the role.
    client_token: String,
}

impl Caller {
    /// The operation's request with each credential of this caller, named by kind.
    fn requests(&self, operation: &Operation) -> [(&'static str, RequestBuilder); 4] {
        let request = || operation.request(self.user_id);
        let access_token = format!("Bearer {}", self.access_token);
        let client_token = format!("Bearer {}", self.client_token);
        [
            ("Basic", request().basic(&self.username, PASSWORD)),
            ("session", request().browser(&self.browser)),
            ("access token", request().authorization(&access_token)),
            ("client token", request().authorization(&client_token)),
        ]
    }
}

fn is_bearer(kind: &str) -> bool {
    kind.ends_with("token")
}

/// An access token from the password grant, with the requested scopes or all of them.
async fn access_token(app: &TestApp, username: &str, scope: Option<&str>) -> String {
    let mut form = vec![("username", username), ("password", PASSWORD)];
    form.extend(scope.map(|scope| ("scope", scope)));
    let request = RequestBuilder::new(Method::POST, "/api/token").form(&form);
    let response = app.send(request.build()).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let token = &response.json()["access_token"];
    token.as_str().expect("an access token").to_owned()
}

/// A client API token with `scopes`, created by the user with Basic; its id and raw value.
async fn client_token(app: &TestApp, username: &str, scopes: &[&str]) -> (i64, String) {
    let form = json!({"name": "route matrix", "scopes": scopes, "expires_in": "never"});
    let request = RequestBuilder::new(Method::POST, "/api/client-tokens")
        .basic(username, PASSWORD)
        .json(&form);
    let response = app.send(request.build()).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let token = response.json();
    let id = token["id"].as_i64().expect("a token id");
    (
        id,
        token["raw_token"].as_str().expect("a raw token").to_owned(),
    )
}

async fn callers(app: &TestApp) -> Vec<Caller> {
    let mut callers = Vec::new();
    for role in ROLES {
        let username = format!("matrix-{role}");
        let user = app.user(&username, role).await;
        let browser = app.login(&username).await;
        let access_token = access_token(app, &username, None).await;
        let scopes: Vec<&str> = role_scopes(role).into_iter().collect();
        let (_, client_token) = client_token(app, &username, &scopes).await;
        callers.push(Caller {
            role,
            username,
            user_id: user.id,
            browser,
            access_token,
            client_token,
        });
    }
    callers
}

/// A way of presenting a credential, valid or not.
enum Credential {
    Nothing,
    Browser(Browser),
    Authorization(String),
}

impl Credential {
    fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Credential::Nothing => request,
            Credential::Browser(browser) => request.browser(browser),
            Credential::Authorization(value) => request.authorization(value),
        }
    }
}

/// The `WWW-Authenticate` challenge a refused credential must bring back.
#[derive(Clone, Copy, Debug)]
enum Challenge {
    /// A plain bearer challenge, for no credential or a session cookie.
    Bearer,
    /// A bearer challenge with `error="invalid_token"`, for a refused bearer token.
    InvalidToken,
    /// A Basic challenge, for refused Basic credentials.
    Basic,
}

/// Checks a 401 and its challenge.
fn check_refusal(response: &TestResponse, expected: Challenge) -> Result<(), String> {
    let challenge = response.header("www-authenticate").unwrap_or_default();
    let has_invalid_token = challenge.contains(r#"error="invalid_token""#);
    let is_expected = match expected {
        Challenge::Bearer => challenge.starts_with("Bearer") && !has_invalid_token,
        Challenge::InvalidToken => challenge.starts_with("Bearer") && has_invalid_token,
        Challenge::Basic => challenge.starts_with("Basic"),
    };
    let has_detail = serde_json::from_slice::<Value>(&response.body).is_ok_and(|body| {
        body["detail"]
            .as_str()
            .is_some_and(|detail| !detail.is_empty())
    });
    if response.status == StatusCode::UNAUTHORIZED && is_expected && has_detail {
        Ok(())
    } else {
        Err(format!(
            "expected 401 with {expected:?}: {}",
            describe(response)
        ))
    }
}

fn basic(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{username}:{password}"))
    )
}

/// A browser whose session was ended by logging out.
async fn logged_out_browser(app: &TestApp, username: &str) -> Browser {
    let browser = app.login(username).await;
    let logout = RequestBuilder::new(Method::POST, "/api/auth/logout").browser(&browser);
    assert_eq!(app.send(logout.build()).await.status, StatusCode::OK);
    browser
}

/// A browser whose session has passed its idle expiry, as if left alone for weeks.
async fn expired_browser(app: &TestApp, username: &str, user_id: i64) -> Browser {
    let browser = app.login(username).await;
    let now = chrono::Utc::now();
    let past = now - chrono::Duration::seconds(1);
    for session in app.store().list_sessions(user_id, now).await.unwrap() {
        let touched = app.store().touch_session(session.id, past, past).await;
        touched.unwrap();
    }
    browser
}

/// The raw value of a client token that its owner has deleted.
async fn deleted_client_token(app: &TestApp, username: &str) -> String {
    let (id, raw_token) = client_token(app, username, &["me.read"]).await;
    let delete = RequestBuilder::new(Method::DELETE, &format!("/api/client-tokens/{id}"))
        .basic(username, PASSWORD);
    assert!(app.send(delete.build()).await.status.is_success());
    raw_token
}

/// An access token issued before its user changed password, which revokes it.
///
/// The user's password is no longer [`PASSWORD`] afterwards.
async fn revoked_access_token(app: &TestApp, username: &str, user_id: i64) -> String {
    let token = access_token(app, username, None).await;
    let new_password = [
        ("password", "a brand new password"),
        ("current_password", PASSWORD),
    ];
    let change = RequestBuilder::new(Method::PUT, &format!("/api/users/{user_id}"))
        .basic(username, PASSWORD)
        .form(&new_password);
    assert_eq!(app.send(change.build()).await.status, StatusCode::OK);
    token
}

/// Checks one answer of the matrix: a pass when nothing is missing, else a 403 naming
/// exactly the missing scopes, with the bearer challenge when a bearer was used.
fn check_guard(
    response: &TestResponse,
    operation: &Operation,
    missing: &[String],
    is_bearer: bool,
) -> Result<(), String> {
    if missing.is_empty() {
        let is_refused = matches!(
            response.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        );
        if is_refused || response.status.is_server_error() {
            return Err(format!("should pass: {}", describe(response)));
        }
        return Ok(());
    }

    let expected = json!({"detail": "Forbidden", "missing_scopes": missing});
    let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
    if response.status != StatusCode::FORBIDDEN || body != expected {
        return Err(format!("should lack {missing:?}: {}", describe(response)));
    }
    let challenge = response.header("www-authenticate").unwrap_or_default();
    let scope = format!(r#"scope="{}""#, canonical(&operation.scopes).join(" "));
    if is_bearer
        && !(challenge.contains(r#"error="insufficient_scope""#) && challenge.contains(&scope))
    {
        return Err(format!(
            "should challenge for {scope}: {}",
            describe(response)
        ));
    }
    Ok(())
}

#[test]
fn the_document_is_openapi_3_1_with_the_four_security_schemes() {
    let document = document();

    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|version| version.starts_with("3.1")),
        "{}",
        document["openapi"]
    );
    let schemes = &document["components"]["securitySchemes"];
    let names: BTreeSet<&str> = schemes
        .as_object()
        .expect("security schemes")
        .keys()
        .map(String::as_str)
        .collect();
    let expected = [
        "ClientToken",
        "HTTPBasic",
        "OAuth2PasswordBearer",
        "SessionCookie",
    ];
    assert_eq!(names, expected.into_iter().collect());

    let oauth2 = &schemes["OAuth2PasswordBearer"];
    assert_eq!(oauth2["type"], "oauth2");
    let flows = oauth2["flows"].as_object().expect("OAuth2 flows");
    assert_eq!(flows.keys().collect::<Vec<_>>(), ["password"]);
    assert_eq!(flows["password"]["tokenUrl"], "/api/token");
    let scopes = flows["password"]["scopes"].as_object().expect("scopes");
    let scope_names: BTreeSet<&str> = scopes.keys().map(String::as_str).collect();
    assert_eq!(scope_names, CANONICAL_SCOPES.into_iter().collect());
    for (scope, description) in scopes {
        let description = description.as_str().unwrap_or_default();
        assert!(!description.trim().is_empty(), "{scope} has no description");
    }

    assert_eq!(schemes["HTTPBasic"]["type"], "http");
    assert_eq!(schemes["HTTPBasic"]["scheme"], "basic");
    assert_eq!(
        schemes["SessionCookie"],
        json!({"type": "apiKey", "in": "cookie", "name": "romm_session"})
    );
    assert_eq!(schemes["ClientToken"]["type"], "http");
    assert_eq!(schemes["ClientToken"]["scheme"], "bearer");
}

#[test]
fn every_operation_declares_scopes_or_is_listed_as_public() {
    let unguarded: Vec<String> = operations()
        .iter()
        .filter(|operation| operation.scopes.is_empty() && !operation.is_listed_as_public())
        .map(Operation::label)
        .collect();

    assert_eq!(
        unguarded,
        Vec::<String>::new(),
        "declare scopes or list them as public"
    );
}

#[test]
fn every_declared_scope_is_one_of_the_22() {
    for operation in protected_operations() {
        for (scheme, scopes) in &operation.requirements {
            for scope in scopes {
                assert!(
                    CANONICAL_SCOPES.contains(&scope.as_str()),
                    "{} lists unknown scope {scope:?} under {scheme}",
                    operation.label()
                );
            }
        }
    }
}

#[test]
fn every_scheme_of_an_operation_asks_for_the_same_scopes() {
    for operation in protected_operations() {
        for (scheme, scopes) in &operation.requirements {
            let scopes: BTreeSet<&String> = scopes.iter().collect();
            assert_eq!(
                scopes,
                operation.scopes.iter().collect(),
                "{} under {scheme}",
                operation.label()
            );
        }
        let schemes: BTreeSet<&str> = operation
            .requirements
            .iter()
            .map(|(scheme, _)| scheme.as_str())
            .collect();
        for scheme in [
            "OAuth2PasswordBearer",
            "HTTPBasic",
            "SessionCookie",
            "ClientToken",
        ] {
            assert!(
                schemes.contains(scheme),
                "{} lacks {scheme}",
                operation.label()
            );
        }
    }
}

async fn protected_operations_refuse_callers_without_a_working_credential(app: TestApp) {
    let user = app.user("matrix", Role::Admin).await;
    let logged_out = logged_out_browser(&app, "matrix").await;
    let expired = expired_browser(&app, "matrix", user.id).await;
    let deleted_client_token = deleted_client_token(&app, "matrix").await;
    let revoked_token = revoked_access_token(&app, "matrix", user.id).await;
    let probes = [
        ("no credential", Credential::Nothing, Challenge::Bearer),
        (
            "a logged-out session",
            Credential::Browser(logged_out),
            Challenge::Bearer,
        ),
        (
            "an expired session",
            Credential::Browser(expired),
            Challenge::Bearer,
        ),
        (
            "malformed Basic",
            Credential::Authorization("Basic !!!".to_owned()),
            Challenge::Basic,
        ),
        (
            "a wrong password",
            Credential::Authorization(basic("matrix", "wrong password")),
            Challenge::Basic,
        ),
        (
            "a forged JWT",
            Credential::Authorization(format!("Bearer {FORGED_JWT}")),
            Challenge::InvalidToken,
        ),
        (
            "a JWT revoked by a password change",
            Credential::Authorization(format!("Bearer {revoked_token}")),
            Challenge::InvalidToken,
        ),
        (
            "an unknown client token",
            Credential::Authorization(format!("Bearer rmm_{}", "0".repeat(64))),
            Challenge::InvalidToken,
        ),
        (
            "a deleted client token",
            Credential::Authorization(format!("Bearer {deleted_client_token}")),
            Challenge::InvalidToken,
        ),
    ];
    let mut failures = Vec::new();

    for (index, operation) in protected_operations().iter().enumerate() {
        for (label, credential, challenge) in &probes {
            let request = credential.apply(operation.request(user.id));
            let response = app.send_from(request.build(), peer(index)).await;
            // Wrong passwords come from a new address per operation and the account's count
            // is reset, so the failed-login limit never turns the expected 401 into a 429.
            app.state.throttle.record_success("matrix");

            if let Err(problem) = check_refusal(&response, *challenge) {
                failures.push(format!("{} with {label}: {problem}", operation.label()));
            }
        }
    }

    assert_eq!(failures, Vec::<String>::new());
}

async fn expired_access_tokens_are_refused_on_every_protected_route(backend: Backend) {
    let app = TestApp::configured(backend, |config| config.access_token_expire_seconds = 1).await;
    let user = app.user("matrix", Role::Admin).await;
    let token = access_token(&app, "matrix", None).await;

    // Expiry is checked to the second without leeway, so two seconds always pass it.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let mut failures = Vec::new();

    for operation in protected_operations() {
        let request = operation
            .request(user.id)
            .authorization(&format!("Bearer {token}"));
        let response = app.send(request.build()).await;

        if let Err(problem) = check_refusal(&response, Challenge::InvalidToken) {
            failures.push(format!("{} {problem}", operation.label()));
        }
    }

    assert_eq!(failures, Vec::<String>::new());
}

async fn every_role_is_refused_exactly_the_scopes_it_lacks(app: TestApp) {
    let callers = callers(&app).await;
    let mut failures = Vec::new();

    for operation in protected_operations() {
        for caller in &callers {
            let missing = missing_scopes(&operation.scopes, &role_scopes(caller.role));
            for (kind, request) in caller.requests(&operation) {
                let response = app.send(request.build()).await;

                let verdict = check_guard(&response, &operation, &missing, is_bearer(kind));
                if let Err(problem) = verdict {
                    let label = format!("{} as {} by {kind}", operation.label(), caller.role);
                    failures.push(format!("{label} {problem}"));
                }
            }
        }
    }

    assert_eq!(failures, Vec::<String>::new());
}

async fn narrow_bearer_tokens_are_refused_what_they_were_not_granted(app: TestApp) {
    let admin = app.user("matrix", Role::Admin).await;
    let access_token = access_token(&app, "matrix", Some(&READ_SCOPES.join(" "))).await;
    let (_, client_token) = client_token(&app, "matrix", &READ_SCOPES).await;
    let granted: BTreeSet<&str> = READ_SCOPES.into_iter().collect();
    let mut failures = Vec::new();

    for operation in protected_operations() {
        let missing = missing_scopes(&operation.scopes, &granted);
        for (kind, token) in [("access", &access_token), ("client", &client_token)] {
            let request = operation
                .request(admin.id)
                .authorization(&format!("Bearer {token}"));
            let response = app.send(request.build()).await;

            if let Err(problem) = check_guard(&response, &operation, &missing, true) {
                failures.push(format!("{} by {kind} token {problem}", operation.label()));
            }
        }
    }

    assert_eq!(failures, Vec::<String>::new());
}

/// An admin's access token carrying exactly `scopes`, signed as the server signs them.
fn token_with(app: &TestApp, admin: &romm_server::store::User, scopes: &[String]) -> String {
    let scopes = romm_server::auth::scopes::ScopeSet::parse(scopes.iter().map(String::as_str))
        .expect("the document names only known scopes");
    let tokens = romm_server::auth::access_token::AccessTokens {
        key: &app.state.keys.access_token,
    };
    let now = chrono::Utc::now();
    tokens.issue(
        admin.id,
        admin.credential_version,
        scopes,
        now,
        now + chrono::Duration::minutes(5),
    )
}

/// For every operation, a token lacking any one declared scope gets 403 naming just that
/// scope, and a token with exactly the declared scopes passes the guard: the document says
/// what the server enforces, no more and no less.
async fn all_required_scopes_but_one_are_refused_and_exactly_them_pass(app: TestApp) {
    let admin = app.user("matrix", Role::Admin).await;
    let mut failures = Vec::new();

    for operation in protected_operations() {
        for dropped in &operation.scopes {
            let held: Vec<String> = operation
                .scopes
                .iter()
                .filter(|scope| *scope != dropped)
                .cloned()
                .collect();
            let token = token_with(&app, &admin, &held);
            let request = operation
                .request(admin.id)
                .authorization(&format!("Bearer {token}"));
            let response = app.send(request.build()).await;

            let missing = vec![dropped.clone()];
            if let Err(problem) = check_guard(&response, &operation, &missing, true) {
                failures.push(format!(
                    "{} without {dropped}: {problem}",
                    operation.label()
                ));
            }
        }

        let token = token_with(&app, &admin, &operation.scopes);
        let request = operation
            .request(admin.id)
            .authorization(&format!("Bearer {token}"));
        let response = app.send(request.build()).await;
        if let Err(problem) = check_guard(&response, &operation, &[], true) {
            failures.push(format!(
                "{} with exactly its scopes: {problem}",
                operation.label()
            ));
        }
    }

    assert_eq!(failures, Vec::<String>::new());
}

async fn public_operations_need_no_credential(app: TestApp) {
    let user = app.user("matrix", Role::Viewer).await;
    let public: Vec<Operation> = operations()
        .into_iter()
        .filter(Operation::is_listed_as_public)
        .collect();
    assert!(!public.is_empty());
    let mut failures = Vec::new();

    for operation in &public {
        let response = app.send(operation.request(user.id).build()).await;

        let is_refused = matches!(
            response.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        );
        if is_refused || response.status.is_server_error() {
            failures.push(format!("{}: {}", operation.label(), describe(&response)));
        }
    }

    assert_eq!(failures, Vec::<String>::new());
}

async fn kiosk_callers_hold_exactly_the_read_scopes_on_every_route(backend: Backend) {
    let app = TestApp::configured(backend, |config| config.kiosk_mode = true).await;
    let user = app.user("matrix", Role::Viewer).await;
    let read_scopes: BTreeSet<&str> = READ_SCOPES.into_iter().collect();
    let mut failures = Vec::new();

    for operation in protected_operations() {
        let response = app.send(operation.request(user.id).build()).await;
        let missing = missing_scopes(&operation.scopes, &read_scopes);

        // The kiosk identity has no user, so a route about "me" may still answer 401 once
        // past the guard; only a 403 would mean the guard refused a read scope.
        let passed_the_guard =
            response.status != StatusCode::FORBIDDEN && !response.status.is_server_error();
        let verdict = if missing.is_empty() && passed_the_guard {
            Ok(())
        } else {
            check_guard(&response, &operation, &missing, false)
        };
        if let Err(problem) = verdict {
            failures.push(format!("{} {problem}", operation.label()));
        }
    }

    assert_eq!(failures, Vec::<String>::new());
}

async fn the_document_is_served_at_both_paths(app: TestApp) {
    let expected = document();

    for uri in ["/openapi.json", "/api/openapi.json", "/api/openapi.json/"] {
        let response = app.send(RequestBuilder::get(uri).build()).await;

        assert_eq!(response.status, StatusCode::OK, "{uri}");
        let content_type = response.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "{uri}: {content_type}"
        );
        assert_eq!(response.json(), expected, "{uri}");
    }
}

/// The values of every `src` and `href` attribute in an HTML page.
fn linked_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (start, _) in html.match_indices(attribute) {
            let value = &html[start + attribute.len()..];
            if let Some(end) = value.find('"') {
                urls.push(value[..end].to_owned());
            }
        }
    }
    urls
}

async fn the_docs_page_is_served_without_a_cdn(app: TestApp) {
    let page = app.send(RequestBuilder::get("/api/docs/").build()).await;

    assert_eq!(page.status, StatusCode::OK);
    let content_type = page.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = page.text();
    for cdn in ["unpkg.com", "jsdelivr", "cdnjs", "googleapis", "swagger.io"] {
        assert!(!html.contains(cdn), "the page loads from {cdn}");
    }

    let urls = linked_urls(&html);
    assert!(!urls.is_empty(), "the page links no script or style");
    for url in urls {
        let is_remote =
            url.starts_with("http:") || url.starts_with("https:") || url.starts_with("//");
        assert!(!is_remote, "the page links {url}");
        let path = match url.strip_prefix("./") {
            Some(relative) => format!("/api/docs/{relative}"),
            None if url.starts_with('/') => url.clone(),
            None => format!("/api/docs/{url}"),
        };
        let asset = app.send(RequestBuilder::get(&path).build()).await;
        assert_eq!(asset.status, StatusCode::OK, "{path}");
    }

    // The page must read this server's document, not a demo one from the internet.
    let initializer = RequestBuilder::get("/api/docs/swagger-initializer.js");
    let initializer = app.send(initializer.build()).await.text();
    assert!(initializer.contains("/api/openapi.json"), "{initializer}");

    let bare = app.send(RequestBuilder::get("/api/docs").build()).await;
    let location = bare.header("location").unwrap_or_default();
    assert!(
        bare.status == StatusCode::OK || (bare.status.is_redirection() && location == "/api/docs/"),
        "/api/docs answered {} to {location:?}",
        bare.status
    );
}
