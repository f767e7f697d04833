//! Configuration: one typed struct read from flags and RomM's environment variables.
//!
//! Every setting has a safe default, so `romm-server` with nothing set runs on the embedded
//! SQLite file. An invalid value stops start-up with a message naming the variable, which
//! clap produces for us from the `env` attribute.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;
use secrecy::SecretString;

/// The command line: global settings, then an optional subcommand (`serve` when absent).
#[derive(Debug, Parser)]
#[command(name = "romm-server", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the binary should do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document as JSON and exit.
    Openapi,
    /// Manage users from the shell.
    #[command(subcommand)]
    User(UserCommand),
}

/// User administration that does not need a running server.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from `ROMM_USER_PASSWORD` or standard input.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long, default_value = "viewer")]
        role: String,
        #[arg(long)]
        email: Option<String>,
    },
    /// List users as tab-separated lines.
    List,
    /// Set a user's password, read from `ROMM_USER_PASSWORD` or standard input.
    SetPassword {
        #[arg(long)]
        username: String,
    },
}

/// Settings shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to bind.
    #[arg(long, env = "ROMM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// SQLite file (`sqlite://path`) or PostgreSQL URL (`postgres://...`).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/romm.db")]
    pub database_url: SecretString,

    /// Master secret; per-purpose keys are derived from it. Generated and kept in the
    /// database when unset, so that every instance sharing the database agrees.
    #[arg(long, env = "ROMM_AUTH_SECRET_KEY")]
    pub auth_secret_key: Option<SecretString>,

    /// Public URL of this server; cookies become `Secure` when it is https.
    #[arg(long, env = "ROMM_BASE_URL")]
    pub base_url: Option<String>,

    /// Lifetime of OAuth2 access tokens, in seconds.
    #[arg(long, env = "OAUTH_ACCESS_TOKEN_EXPIRE_SECONDS", default_value_t = 1800,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub access_token_expire_seconds: u64,

    /// Lifetime of OAuth2 refresh tokens, in seconds.
    #[arg(long, env = "OAUTH_REFRESH_TOKEN_EXPIRE_SECONDS", default_value_t = 604_800,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub refresh_token_expire_seconds: u64,

    /// Idle lifetime of a browser session, in seconds; each use extends it.
    #[arg(long, env = "SESSION_MAX_AGE_SECONDS", default_value_t = 1_209_600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub session_max_age_seconds: u64,

    /// Hard cap on a browser session's age, in seconds, whatever its use.
    #[arg(long, env = "SESSION_ABSOLUTE_MAX_AGE_SECONDS", default_value_t = 2_592_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub session_absolute_max_age_seconds: u64,

    /// Mark cookies `Secure` even when the base URL is not https.
    #[arg(long, env = "ROMM_SESSION_SECURE_COOKIE", default_value = "false",
          value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub session_secure_cookie: bool,

    /// Comma-separated exact origins allowed to call the API from a browser.
    #[arg(long, env = "ROMM_CORS_ALLOWED_ORIGINS", value_delimiter = ',',
          value_parser = parse_origin)]
    pub cors_allowed_origins: Vec<String>,

    /// Comma-separated CIDRs of reverse proxies whose `X-Forwarded-For` is believed.
    #[arg(long, env = "ROMM_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,

    /// Turn off the CSRF check for cookie-authenticated requests.
    #[arg(long, env = "DISABLE_CSRF_PROTECTION", default_value = "false",
          value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub disable_csrf_protection: bool,

    /// Refuse password login, HTTP Basic and the OAuth2 password grant.
    #[arg(long, env = "DISABLE_USERPASS_LOGIN", default_value = "false",
          value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub disable_userpass_login: bool,

    /// Give anonymous callers the read scopes.
    #[arg(long, env = "KIOSK_MODE", default_value = "false",
          value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub kiosk_mode: bool,

    /// Lifetime of invite links, in seconds.
    #[arg(long, env = "INVITE_TOKEN_EXPIRY_SECONDS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub invite_token_expiry_seconds: u64,

    /// Create this admin at start when no user exists yet.
    #[arg(long, env = "ROMM_ADMIN_USERNAME", requires = "admin_password")]
    pub admin_username: Option<String>,

    /// Password of the bootstrap admin.
    #[arg(long, env = "ROMM_ADMIN_PASSWORD", requires = "admin_username")]
    pub admin_password: Option<SecretString>,

    /// Offer sign-in through an OpenID Connect provider.
    #[arg(long, env = "OIDC_ENABLED", default_value = "false",
          value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub oidc_enabled: bool,

    /// Display name of the OpenID Connect provider.
    #[arg(long, env = "OIDC_PROVIDER", default_value = "")]
    pub oidc_provider: String,

    /// Send browsers straight to the provider instead of the login form.
    #[arg(long, env = "OIDC_AUTOLOGIN", default_value = "false",
          value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub oidc_autologin: bool,

    /// End the provider's session too when an OIDC session logs out.
    #[arg(long, env = "OIDC_RP_INITIATED_LOGOUT", default_value = "false",
          value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub oidc_rp_initiated_logout: bool,

    /// The client id registered at the provider.
    #[arg(long, env = "OIDC_CLIENT_ID", default_value = "")]
    pub oidc_client_id: String,

    /// The client secret registered at the provider.
    #[arg(long, env = "OIDC_CLIENT_SECRET")]
    pub oidc_client_secret: Option<SecretString>,

    /// This server's callback, ending in `/api/oauth/openid`, as registered at the provider.
    #[arg(long, env = "OIDC_REDIRECT_URI", default_value = "")]
    pub oidc_redirect_uri: String,

    /// The provider's issuer URL; discovery is read from its
    /// `/.well-known/openid-configuration`.
    #[arg(long, env = "OIDC_SERVER_APPLICATION_URL", default_value = "")]
    pub oidc_server_application_url: String,

    /// The claim that lists the user's roles; unset means roles are not taken from OIDC.
    #[arg(long, env = "OIDC_CLAIM_ROLES", default_value = "")]
    pub oidc_claim_roles: String,

    /// The role value that makes a viewer.
    #[arg(long, env = "OIDC_ROLE_VIEWER", default_value = "")]
    pub oidc_role_viewer: String,

    /// The role value that makes an editor.
    #[arg(long, env = "OIDC_ROLE_EDITOR", default_value = "")]
    pub oidc_role_editor: String,

    /// The role value that makes an admin.
    #[arg(long, env = "OIDC_ROLE_ADMIN", default_value = "")]
    pub oidc_role_admin: String,

    /// The claim new users' usernames are made from.
    #[arg(
        long,
        env = "OIDC_USERNAME_ATTRIBUTE",
        default_value = "preferred_username"
    )]
    pub oidc_username_attribute: String,

    /// Create an account for a provider user who has none yet.
    #[arg(long, env = "OIDC_ALLOW_REGISTRATION", default_value = "true",
          value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub oidc_allow_registration: bool,

    /// The provider's end-session endpoint, when discovery does not name one.
    #[arg(long, env = "OIDC_END_SESSION_ENDPOINT", default_value = "")]
    pub oidc_end_session_endpoint: String,

    /// A PEM file of CA certificates to trust for the provider, besides the system's.
    #[arg(long, env = "OIDC_TLS_CACERTFILE")]
    pub oidc_tls_cacertfile: Option<std::path::PathBuf>,

    /// Log format: `pretty` for people, `json` for one object per line.
    #[arg(long, env = "ROMM_LOG_FORMAT", default_value = "pretty",
          value_parser = ["pretty", "json"])]
    pub log_format: String,
}

impl Config {
    /// Whether cookies must carry the `Secure` attribute.
    pub fn secure_cookies(&self) -> bool {
        self.session_secure_cookie
            || self
                .base_url
                .as_deref()
                .is_some_and(|url| url.starts_with("https://"))
    }

    /// The defaults, as when no flag and no variable is set; used by tests and tools.
    pub fn defaults() -> Config {
        Cli::parse_from(["romm-server"]).config
    }
}

/// Parses RomM's boolean spellings: `1/true/yes/on` and `0/false/no/off`, any case.
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "'{value}' is not a boolean (use true/false, yes/no, on/off, 1/0)"
        )),
    }
}

fn parse_origin(value: &str) -> Result<String, String> {
    let origin = value.trim().trim_end_matches('/');
    let is_http = origin.starts_with("http://") || origin.starts_with("https://");
    if !is_http || origin.matches('/').count() != 2 {
        return Err(format!(
            "'{value}' is not an origin such as https://romm.example.com"
        ));
    }
    Ok(origin.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_romm_spellings() {
        for yes in ["1", "true", "YES", "On"] {
            assert_eq!(parse_bool(yes), Ok(true));
        }
        for no in ["0", "False", "no", "OFF"] {
            assert_eq!(parse_bool(no), Ok(false));
        }
        assert!(parse_bool("maybe").is_err());
    }

    #[test]
    fn origins_must_be_bare_scheme_and_host() {
        assert_eq!(
            parse_origin("https://a.example/").unwrap(),
            "https://a.example"
        );
        assert!(parse_origin("https://a.example/path").is_err());
        assert!(parse_origin("a.example").is_err());
    }

    #[test]
    fn defaults_need_no_settings() {
        let config = Config::defaults();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert!(!config.secure_cookies());
    }
}
