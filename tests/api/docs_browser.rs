//! The interactive docs at `/api/docs` in a real browser (SPEC §4, §10): the Authorize button's
//! OAuth2 password form obtains a token, and "Try it out" sends it as a bearer.
//!
//! `tests/browser/authorize.mjs` drives the system's Chromium through `playwright-core`, whose
//! packages are installed with `npm ci` on first use. Without node or Chromium the tests are
//! skipped, unless `ROMM_TEST_REQUIRE_BROWSER=1`, as CI sets it, makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use romm_server::auth::scopes::Role;
use serde_json::Value;
use tokio::process::Command;

use crate::harness::{Backend, TestApp, PASSWORD};
use crate::on_both_backends;

on_both_backends!(;
    configured:
        the_authorize_button_obtains_a_token_that_try_it_out_sends,
        a_wrong_password_shows_the_token_error_and_never_the_user,
);

/// The browser the script drives; Debian's `chromium` package installs it here.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Far more than a run takes, so that a hung browser fails the test instead of stalling it.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn script_folder() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser"))
}

/// Why the browser test cannot run here, installing its packages once per test run from the
/// committed lock file when they are missing.
fn missing_browser_part() -> Option<String> {
    static MISSING: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    MISSING
        .get_or_init(|| {
            if !Path::new(CHROMIUM).exists() {
                return Some(format!("no Chromium at {CHROMIUM}"));
            }
            let node = std::process::Command::new("node")
                .arg("--version")
                .stdout(Stdio::null())
                .status();
            if !node.is_ok_and(|status| status.success()) {
                return Some("node does not run".to_owned());
            }
            let package = script_folder().join("node_modules/playwright-core");
            if package.exists() {
                return None;
            }
            let installed = std::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(script_folder())
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            (!installed || !package.exists())
                .then(|| "`npm ci` could not install tests/browser".to_owned())
        })
        .clone()
}

/// Whether the browser test can run; with `ROMM_TEST_REQUIRE_BROWSER=1` it must.
fn browser_available() -> bool {
    let Some(missing) = missing_browser_part() else {
        return true;
    };
    let required = std::env::var("ROMM_TEST_REQUIRE_BROWSER").is_ok_and(|value| value == "1");
    assert!(
        !required,
        "the browser test is required but cannot run: {missing}"
    );
    eprintln!("skipping a browser test: {missing}");
    false
}

/// What the docs page showed, as the script reports it.
struct PageReport {
    /// 0 when the page showed a 200 for `/api/users/me`, 1 when it showed anything else, 2
    /// when the page could not be driven.
    exit_code: Option<i32>,
    result: Value,
    screenshot: PathBuf,
}

impl PageReport {
    /// The body the page shows for `/api/users/me`, read as JSON.
    fn me_body(&self) -> Value {
        let body = self.result["me"]["body"].as_str().unwrap_or_default();
        serde_json::from_str(body).unwrap_or(Value::Null)
    }

    /// A failure message that points at the report and the screenshot.
    fn context(&self) -> String {
        format!(
            "{} (screenshot: {})",
            self.result,
            self.screenshot.display()
        )
    }
}

/// Opens the docs of `app` in Chromium, authorizes as `username` with `password`, and runs
/// `GET /api/users/me` from the page.
async fn use_the_docs(
    app: &TestApp,
    screenshot_name: &str,
    username: &str,
    password: &str,
) -> PageReport {
    let server = app.listen().await;
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs-browser");
    std::fs::create_dir_all(&folder).expect("a folder for screenshots");
    let screenshot = folder.join(format!("{screenshot_name}.png"));

    let started = Instant::now();
    let run = Command::new("node")
        .arg("authorize.mjs")
        .args([&server.base_url, username, password])
        .arg(&screenshot)
        .env("CHROMIUM", CHROMIUM)
        .current_dir(script_folder())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(RUN_TIMEOUT, run)
        .await
        .expect("the browser finishes in time")
        .expect("node runs the script");
    eprintln!(
        "{screenshot_name}: the browser took {:?}",
        started.elapsed()
    );

    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let result = serde_json::from_str(line)
        .unwrap_or_else(|_| panic!("a JSON result line from the script, got {stdout:?}"));
    PageReport {
        exit_code: output.status.code(),
        result,
        screenshot,
    }
}

async fn the_authorize_button_obtains_a_token_that_try_it_out_sends(backend: Backend) {
    if !browser_available() {
        return;
    }
    let app = TestApp::configured(backend, |_| {}).await;
    app.user("alice", Role::Viewer).await;

    let name = format!("{backend:?}-authorized").to_lowercase();
    let page = use_the_docs(&app, &name, "alice", PASSWORD).await;

    let context = page.context();
    assert_eq!(page.exit_code, Some(0), "{context}");
    assert_eq!(page.result["token"]["status"], 200, "{context}");
    assert_eq!(page.result["authorized"], true, "{context}");
    assert_eq!(
        page.result["dialog_errors"],
        serde_json::json!([]),
        "{context}"
    );
    let me = &page.result["me"];
    assert_eq!(me["status"], 200, "{context}");
    assert_eq!(page.me_body()["username"], "alice", "{context}");
    assert_eq!(me["authorization_scheme"], "Bearer", "{context}");
    // The CSRF cookie rides along on every request; the session cookie would be a credential.
    let cookies = me["cookie_names"]
        .as_array()
        .expect("the cookie names sent");
    assert!(!cookies.contains(&"romm_session".into()), "{context}");
}

async fn a_wrong_password_shows_the_token_error_and_never_the_user(backend: Backend) {
    if !browser_available() {
        return;
    }
    let app = TestApp::configured(backend, |_| {}).await;
    app.user("alice", Role::Viewer).await;

    let name = format!("{backend:?}-refused").to_lowercase();
    let page = use_the_docs(&app, &name, "alice", "not the password").await;

    let context = page.context();
    assert_eq!(page.exit_code, Some(1), "{context}");
    assert_eq!(page.result["token"]["status"], 401, "{context}");
    assert_eq!(page.result["authorized"], false, "{context}");
    let errors = page.result["dialog_errors"].to_string();
    assert!(errors.contains("invalid_grant"), "{context}");
    let me = &page.result["me"];
    assert_eq!(me["status"], 401, "{context}");
    assert_eq!(me["authorization_scheme"], Value::Null, "{context}");
    assert_ne!(page.me_body()["username"], "alice", "{context}");
}
