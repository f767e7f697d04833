//! The test harness: a fresh database per test on either backend, the real router, and one
//! helper per way of presenting a credential.
//!
//! SQLite tests always run. PostgreSQL tests run when a server answers at
//! `ROMM_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`); with
//! `ROMM_TEST_REQUIRE_POSTGRES=1`, as CI sets it, an unreachable server fails them instead.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use romm_server::auth::scopes::Role;
use romm_server::config::Config;
use romm_server::state::AppState;
use romm_server::store::{self, Store, User};
use romm_server::users::{self, UserRequest};
use secrecy::SecretString;
use serde_json::Value;
use sqlx::Connection;
use tower::ServiceExt;

/// Every test user's password.
pub const PASSWORD: &str = "correct horse battery";

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Defines each listed test once per backend: `sqlite::name` and `postgres::name`.
///
/// Tests before `;` take a [`TestApp`] with default settings. Tests after `configured:`
/// take the [`Backend`] and start their own app with the settings they need.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)? $(; configured: $($configured:ident),* $(,)?)?) => {
        mod sqlite {
            $crate::on_both_backends!(@backend Sqlite; $($name),*; $($($configured),*)?);
        }
        mod postgres {
            $crate::on_both_backends!(@backend Postgres; $($name),*; $($($configured),*)?);
        }
    };
    (@backend $backend:ident; $($name:ident),*; $($configured:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let backend = $crate::harness::Backend::$backend;
                if let Some(app) = $crate::harness::TestApp::start(backend).await {
                    super::$name(app).await;
                }
            }
        )*
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $configured() {
                let backend = $crate::harness::Backend::$backend;
                if $crate::harness::is_available(backend).await {
                    super::$configured(backend).await;
                }
            }
        )*
    };
}

/// Whether tests on this backend can run; PostgreSQL may be absent unless required.
pub async fn is_available(backend: Backend) -> bool {
    match backend {
        Backend::Sqlite => true,
        Backend::Postgres => match sqlx::PgConnection::connect(&postgres_admin_url()).await {
            Ok(_) => true,
            Err(error) if !postgres_required() => {
                eprintln!("skipping a PostgreSQL test: {error}");
                false
            }
            Err(error) => panic!("PostgreSQL is required but unreachable: {error}"),
        },
    }
}

/// A running application over its own fresh database.
pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    database: Database,
}

enum Database {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

fn postgres_admin_url() -> String {
    std::env::var("ROMM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn postgres_required() -> bool {
    std::env::var("ROMM_TEST_REQUIRE_POSTGRES").is_ok_and(|value| value == "1")
}

impl TestApp {
    /// The application with default settings; `None` when PostgreSQL is absent and optional.
    pub async fn start(backend: Backend) -> Option<TestApp> {
        TestApp::start_with(backend, |_| {}).await
    }

    /// The application with settings changed by `configure`, on a backend known to be there.
    pub async fn configured(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
        let app = TestApp::start_with(backend, configure).await;
        app.expect("the backend was checked to be available")
    }

    /// The application with settings changed by `configure`.
    pub async fn start_with(
        backend: Backend,
        configure: impl FnOnce(&mut Config),
    ) -> Option<TestApp> {
        let mut config = Config::defaults();
        configure(&mut config);
        let (url, database) = match backend {
            Backend::Sqlite => {
                let folder = tempfile::tempdir().expect("a temporary folder");
                let url = format!("sqlite://{}/romm.db", folder.path().display());
                (url, Database::Sqlite(folder))
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
                    Ok(connection) => connection,
                    Err(error) if !postgres_required() => {
                        eprintln!("skipping a PostgreSQL test: {error}");
                        return None;
                    }
                    Err(error) => panic!("PostgreSQL is required but unreachable: {error}"),
                };
                let name = format!("romm_test_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .expect("create a test database");
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(base, _)| base);
                let url = format!("{base}/{name}");
                (
                    url,
                    Database::Postgres {
                        admin_url: admin_url.clone(),
                        name,
                    },
                )
            }
        };
        config.database_url = SecretString::from(url);
        let store = store::connect(&config.database_url)
            .await
            .expect("open the test database");
        let state = AppState::new(config, store).await.expect("build the state");
        let router = romm_server::http::app(state.clone());
        Some(TestApp {
            router,
            state,
            database,
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.state.store
    }

    /// Creates a user through the production hashing code, with [`PASSWORD`].
    pub async fn user(&self, username: &str, role: Role) -> User {
        let request = UserRequest {
            username: username.to_owned(),
            email: None,
            password: SecretString::from(PASSWORD),
            role,
        };
        users::create_user(
            self.state.store.as_ref(),
            &self.state.passwords,
            request,
            false,
        )
        .await
        .expect("create a test user")
        .expect("the user was created")
    }

    /// Sends a request through the whole application, as if from 127.0.0.1.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        self.send_from(request, "127.0.0.1:40000".parse().unwrap())
            .await
    }

    /// Sends a request as if from `peer`.
    pub async fn send_from(&self, mut request: Request<Body>, peer: SocketAddr) -> TestResponse {
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a readable body")
            .to_bytes();
        TestResponse {
            status,
            headers,
            body: bytes.to_vec(),
        }
    }

    /// Serves the application on a loopback port for clients that need a real socket, such as
    /// a browser; the server stops when the returned [`LiveServer`] is dropped.
    ///
    /// The socket is bound before this returns, so connections made at once wait in its
    /// backlog rather than being refused: no readiness poll is needed.
    pub async fn listen(&self) -> LiveServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("the bound address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        tokio::spawn(romm_server::server::serve(
            listener,
            self.router.clone(),
            shutdown,
        ));
        LiveServer {
            base_url: format!("http://{address}"),
            _stop: stop,
        }
    }

    /// Signs in through `POST /api/auth/login` with Basic and returns the browser's cookies.
    pub async fn login(&self, username: &str) -> Browser {
        let request = RequestBuilder::new(Method::POST, "/api/auth/login")
            .basic(username, PASSWORD)
            .build();
        let response = self.send(request).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "login failed: {}",
            response.text()
        );
        Browser {
            session: response.cookie("romm_session").expect("a session cookie"),
            csrf: response.cookie("romm_csrftoken").expect("a CSRF cookie"),
        }
    }
}

impl TestApp {
    /// Sets a timestamp column on every row of a table, straight in the test's database, so
    /// that tests of expiry need not wait.
    pub async fn set_time_of_every_row(&self, table: &str, column: &str, at: DateTime<Utc>) {
        let sql = format!("UPDATE {table} SET {column} = $1");
        match self.raw_connection().await {
            RawConnection::Sqlite(pool) => {
                sqlx::query(&sql).bind(at).execute(&pool).await.unwrap();
            }
            RawConnection::Postgres(pool) => {
                sqlx::query(&sql).bind(at).execute(&pool).await.unwrap();
            }
        };
    }

    /// How many rows a table holds, to prove that a refused request stored nothing.
    pub async fn count_rows(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match self.raw_connection().await {
            RawConnection::Sqlite(pool) => sqlx::query_scalar(&sql).fetch_one(&pool).await,
            RawConnection::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(&pool).await,
        }
        .unwrap()
    }

    async fn raw_connection(&self) -> RawConnection {
        let url = secrecy::ExposeSecret::expose_secret(&self.state.config.database_url);
        if url.starts_with("sqlite") {
            RawConnection::Sqlite(sqlx::SqlitePool::connect(url).await.unwrap())
        } else {
            RawConnection::Postgres(sqlx::PgPool::connect(url).await.unwrap())
        }
    }
}

/// A pool of the test's own database, beside the application's.
enum RawConnection {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let Database::Postgres { admin_url, name } = &self.database else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Dropping needs async I/O, and Drop cannot await: a short-lived runtime does it.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                Ok::<_, sqlx::Error>(())
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop a test database: {error}");
        }
    }
}

/// The application served on a real socket by [`TestApp::listen`].
pub struct LiveServer {
    /// Where to reach it, such as `http://127.0.0.1:43121`.
    pub base_url: String,
    /// Dropping it tells the server to shut down.
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The cookies a browser keeps after signing in.
#[derive(Clone, Debug)]
pub struct Browser {
    pub session: String,
    pub csrf: String,
}

/// A request under construction.
pub struct RequestBuilder {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Body,
}

impl RequestBuilder {
    pub fn new(method: Method, uri: &str) -> RequestBuilder {
        RequestBuilder {
            method,
            uri: uri.to_owned(),
            headers: HeaderMap::new(),
            body: Body::empty(),
        }
    }

    pub fn get(uri: &str) -> RequestBuilder {
        RequestBuilder::new(Method::GET, uri)
    }

    pub fn header(mut self, name: &'static str, value: &str) -> RequestBuilder {
        self.headers
            .append(name, HeaderValue::from_str(value).expect("a valid header"));
        self
    }

    /// An `Authorization` header with any raw value, well-formed or not.
    pub fn authorization(self, value: &str) -> RequestBuilder {
        self.header("authorization", value)
    }

    pub fn basic(self, username: &str, password: &str) -> RequestBuilder {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        self.authorization(&format!("Basic {encoded}"))
    }

    /// The browser's cookies, and the CSRF header for unsafe methods as the web UI sends it.
    pub fn browser(self, browser: &Browser) -> RequestBuilder {
        let cookies = format!(
            "romm_session={}; romm_csrftoken={}",
            browser.session, browser.csrf
        );
        self.header("cookie", &cookies)
            .header("x-csrftoken", &browser.csrf)
    }

    /// The browser's cookies without the CSRF header.
    pub fn cookies_only(self, browser: &Browser) -> RequestBuilder {
        let cookies = format!(
            "romm_session={}; romm_csrftoken={}",
            browser.session, browser.csrf
        );
        self.header("cookie", &cookies)
    }

    pub fn json(mut self, value: &Value) -> RequestBuilder {
        self.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.body = Body::from(value.to_string());
        self
    }

    pub fn form(mut self, pairs: &[(&str, &str)]) -> RequestBuilder {
        let encoded = serde_urlencoded::to_string(pairs).expect("encodable form");
        self.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        self.body = Body::from(encoded);
        self
    }

    pub fn raw_body(mut self, content_type: &str, body: impl Into<Body>) -> RequestBuilder {
        self.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        self.body = body.into();
        self
    }

    pub fn build(self) -> Request<Body> {
        let mut request = Request::builder().method(self.method).uri(self.uri);
        *request.headers_mut().expect("a request under construction") = self.headers;
        request.body(self.body).expect("a valid request")
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("a JSON body, got {:?}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn detail(&self) -> String {
        self.json()["detail"]
            .as_str()
            .expect("a detail string")
            .to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Every `Set-Cookie` line of the response.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .map(str::to_owned)
            .collect()
    }

    /// The value the response sets for the named cookie, if it sets a non-empty one.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().iter().find_map(|line| {
            let value = line.strip_prefix(&format!("{name}="))?.split(';').next()?;
            (!value.is_empty()).then(|| value.to_owned())
        })
    }

    /// Whether the response deletes the named cookie.
    pub fn clears_cookie(&self, name: &str) -> bool {
        self.set_cookies()
            .iter()
            .any(|line| line.starts_with(&format!("{name}=;")) && line.contains("Max-Age=0"))
    }
}
