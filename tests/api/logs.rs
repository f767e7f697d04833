//! The log holds no secret (SPEC §9): the real binary, logging at `debug`, is driven through
//! every kind of credential and every link, and its whole output is searched for each secret
//! it handed out or was given.
//!
//! This runs the binary rather than the router so that the subscriber, its filters and its
//! format are production's own. Logging does not depend on the backend, so SQLite suffices.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const ADMIN_PASSWORD: &str = "an admin passphrase";
const VIEWER_PASSWORD: &str = "a viewer passphrase";
const RESET_PASSWORD: &str = "a passphrase set by reset";

/// The running binary and everything it has written to standard error so far.
struct Server {
    child: Child,
    base: String,
    output: Arc<Mutex<String>>,
    _folder: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let folder = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_romm-server"))
            .env_clear()
            .env("ROMM_LISTEN", "127.0.0.1:0")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/romm.db", folder.path().display()),
            )
            .env("ROMM_ADMIN_USERNAME", "admin")
            .env("ROMM_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("ROMM_LOG_FORMAT", "json")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start romm-server");

        let output = Arc::new(Mutex::new(String::new()));
        let (address_sender, address) = tokio::sync::oneshot::channel();
        collect_lines(
            child.stderr.take().unwrap(),
            output.clone(),
            Some(address_sender),
        );
        collect_lines(child.stdout.take().unwrap(), output.clone(), None);
        let address = tokio::time::timeout(Duration::from_secs(60), address)
            .await
            .expect("the server announces its address")
            .unwrap();
        Server {
            child,
            base: format!("http://{address}"),
            output,
            _folder: folder,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and returns all it wrote.
    async fn stop(mut self) -> String {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
        // The readers end with the pipes; give them a moment to hand over the last lines.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let output = self.output.lock().unwrap().clone();
        output
    }
}

/// Appends each line of `stream` to `output`, reporting the listening address once seen.
fn collect_lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    output: Arc<Mutex<String>>,
    mut address: Option<tokio::sync::oneshot::Sender<String>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let listening = serde_json::from_str::<Value>(&line)
                .ok()
                .and_then(|entry| entry["listen.address"].as_str().map(str::to_owned));
            if let Some(listening) = listening {
                if let Some(sender) = address.take() {
                    let _ = sender.send(listening);
                }
            }
            let mut output = output.lock().unwrap();
            output.push_str(&line);
            output.push('\n');
        }
    });
}

async fn json_of(response: Response, expected: StatusCode) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, expected, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_handed_out_or_presented_reaches_the_log() {
    let server = Server::start().await;
    let client = Client::builder().cookie_store(true).build().unwrap();
    let mut secrets: Vec<String> = vec![ADMIN_PASSWORD.into(), VIEWER_PASSWORD.into()];
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_PASSWORD}"));
    secrets.push(basic);

    // A browser session, with its cookies.
    let login = client
        .post(server.url("/api/auth/login"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    for cookie in login.cookies() {
        secrets.push(cookie.value().to_owned());
    }

    // An invite, used to register a viewer.
    let invite = client
        .post(server.url("/api/users/invite-link?role=viewer"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    let invite = json_of(invite, StatusCode::CREATED).await;
    let invite_token = invite["token"].as_str().unwrap().to_owned();
    let body = json!({"token": invite_token, "username": "vera", "password": VIEWER_PASSWORD});
    let registered = client
        .post(server.url("/api/users/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let vera = json_of(registered, StatusCode::CREATED).await;
    secrets.push(invite_token);

    // OAuth2 tokens, a refresh, and a client token paired by code.
    let form = [("username", "vera"), ("password", VIEWER_PASSWORD)];
    let grant = client.post(server.url("/api/token")).form(&form).send();
    let grant = json_of(grant.await.unwrap(), StatusCode::OK).await;
    let refresh_token = grant["refresh_token"].as_str().unwrap().to_owned();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh_token),
    ];
    let refreshed = client.post(server.url("/api/token")).form(&form).send();
    let refreshed = json_of(refreshed.await.unwrap(), StatusCode::OK).await;
    for token in [&grant, &refreshed] {
        secrets.push(token["access_token"].as_str().unwrap().to_owned());
        secrets.push(token["refresh_token"].as_str().unwrap().to_owned());
    }
    let body = json!({"name": "handheld", "scopes": ["me.read"], "expires_in": "never"});
    let minted = client
        .post(server.url("/api/client-tokens"))
        .basic_auth("vera", Some(VIEWER_PASSWORD))
        .json(&body)
        .send()
        .await
        .unwrap();
    let minted = json_of(minted, StatusCode::CREATED).await;
    secrets.push(minted["raw_token"].as_str().unwrap().to_owned());
    let pair_path = format!("/api/client-tokens/{}/pair", minted["id"]);
    let paired = client
        .post(server.url(&pair_path))
        .basic_auth("vera", Some(VIEWER_PASSWORD))
        .send()
        .await
        .unwrap();
    let code = json_of(paired, StatusCode::OK).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let exchanged = client
        .post(server.url("/api/client-tokens/exchange"))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    let exchanged = json_of(exchanged, StatusCode::OK).await;
    secrets.push(code);
    secrets.push(exchanged["raw_token"].as_str().unwrap().to_owned());

    // A forgotten password, and the reset link an admin makes for it.
    let forgot = client
        .post(server.url("/api/forgot-password"))
        .json(&json!({"username": "vera"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forgot.status(), StatusCode::OK);
    let reset_path = format!("/api/users/{}/reset-link", vera["id"]);
    let link = client
        .post(server.url(&reset_path))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    let reset_token = json_of(link, StatusCode::OK).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"token": reset_token, "new_password": RESET_PASSWORD});
    let reset = client
        .post(server.url("/api/reset-password"))
        .json(&body)
        .send();
    assert_eq!(reset.await.unwrap().status(), StatusCode::OK);
    secrets.push(reset_token);
    secrets.push(RESET_PASSWORD.into());

    // Refused credentials are logged at debug with the reason; never with the value.
    let wrong = client
        .get(server.url("/api/users/me"))
        .basic_auth("vera", Some("a wrong passphrase"))
        .send();
    assert_eq!(wrong.await.unwrap().status(), StatusCode::UNAUTHORIZED);
    secrets.push("a wrong passphrase".into());

    let log = server.stop().await;
    assert!(
        log.contains("password reset requested"),
        "the log was not captured:\n{log}"
    );
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "the log holds a secret:\n{log}"
        );
    }
}
