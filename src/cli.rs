//! What each subcommand does: serve, migrate, print the OpenAPI document, manage users.
//!
//! Passwords for `user create` and `user set-password` come from `ROMM_USER_PASSWORD` or
//! standard input, never from the command line, where other local users could read them.

use std::io::BufRead;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

use crate::auth::password::PasswordHasher;
use crate::auth::scopes::Role;
use crate::config::{Command, Config, UserCommand};
use crate::state::AppState;
use crate::store::{self, Store, UserUpdate};
use crate::users::{self, UserRequest};

/// Runs the chosen subcommand, `serve` when none was given.
pub async fn run(config: Config, command: Option<Command>) -> anyhow::Result<()> {
    match command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let store = store::connect(&config.database_url).await?;
            println!("migrations applied to the {} database", store.backend());
            Ok(())
        }
        Command::Openapi => {
            let document = crate::http::openapi().to_pretty_json()?;
            println!("{document}");
            Ok(())
        }
        Command::User(command) => {
            let store = store::connect(&config.database_url).await?;
            manage_users(store.as_ref(), command).await
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let store = store::connect(&config.database_url).await?;
    tracing::info!(
        database.backend = store.backend(),
        "database ready; migrations applied"
    );
    let state = AppState::new(config, store).await?;
    bootstrap_admin(&state).await?;

    let listener = TcpListener::bind(state.config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (ROMM_LISTEN)", state.config.listen))?;
    tracing::info!(listen.address = %listener.local_addr()?, "romm-server is listening");
    crate::server::serve(
        listener,
        crate::http::app(state),
        crate::server::shutdown_signal(),
    )
    .await
}

/// Creates `ROMM_ADMIN_USERNAME` as an admin when the database has no user yet.
async fn bootstrap_admin(state: &AppState) -> anyhow::Result<()> {
    let (Some(username), Some(password)) = (
        state.config.admin_username.clone(),
        state.config.admin_password.clone(),
    ) else {
        return Ok(());
    };
    let request = UserRequest {
        username,
        email: None,
        password,
        role: Role::Admin,
    };
    let created = users::create_user(state.store.as_ref(), &state.passwords, request, true)
        .await
        .map_err(|error| anyhow::anyhow!("ROMM_ADMIN_USERNAME/ROMM_ADMIN_PASSWORD: {error}"))?;
    if let Some(user) = created {
        tracing::info!(user.id = user.id, "bootstrap admin created");
    }
    Ok(())
}

async fn manage_users(store: &dyn Store, command: UserCommand) -> anyhow::Result<()> {
    let passwords = PasswordHasher::new();
    match command {
        UserCommand::Create {
            username,
            role,
            email,
        } => {
            let role: Role = role
                .parse()
                .map_err(|error: String| anyhow::anyhow!(error))?;
            let password = read_password()?;
            let request = UserRequest {
                username,
                email,
                password,
                role,
            };
            let user = users::create_user(store, &passwords, request, false)
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))?
                .context("the user was not created")?;
            println!(
                "created user {} ({}) with id {}",
                user.username, user.role, user.id
            );
        }
        UserCommand::List => {
            for user in store.list_users().await? {
                let state = if user.enabled { "enabled" } else { "disabled" };
                println!("{}\t{}\t{}\t{}", user.id, user.username, user.role, state);
            }
        }
        UserCommand::SetPassword { username } => {
            let user = store
                .find_user_by_username(&username.to_lowercase())
                .await?
                .with_context(|| format!("no user named {username}"))?;
            let password = read_password()?;
            users::check_password_rules(&password)
                .map_err(|rule| anyhow::anyhow!("password {rule}"))?;
            let password_hash = passwords
                .hash(&password)
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            let update = UserUpdate {
                password_hash: Some(password_hash),
                ..UserUpdate::default()
            };
            store.update_user(user.id, update, None).await?;
            println!(
                "password changed for {}; their sessions were ended",
                user.username
            );
        }
    }
    Ok(())
}

/// The password from `ROMM_USER_PASSWORD`, or else the first line of standard input.
fn read_password() -> anyhow::Result<SecretString> {
    if let Ok(password) = std::env::var("ROMM_USER_PASSWORD") {
        return Ok(SecretString::from(password));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    let password = SecretString::from(password);
    if password.expose_secret().is_empty() {
        anyhow::bail!("no password given: set ROMM_USER_PASSWORD or write it to standard input");
    }
    Ok(password)
}
