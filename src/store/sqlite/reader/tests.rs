//! Checks that the direct reader and its cache find exactly what the pool would, whoever
//! commits and whenever.

use chrono::{DateTime, Duration, Utc};

use crate::auth::scopes::Role;
use crate::store::sqlite::SqliteStore;
use crate::store::{
    ClientToken, ClientTokenStore, NewClientToken, NewSession, NewUser, Session, SessionStore,
    User, UserStore, UserUpdate,
};

const SESSION_HASH: [u8; 32] = [7; 32];
const CLIENT_TOKEN_HASH: [u8; 32] = [9; 32];

type UserFields = (
    i64,
    String,
    Option<String>,
    String,
    Role,
    bool,
    i64,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

fn user_fields(user: &User) -> UserFields {
    (
        user.id,
        user.username.clone(),
        user.email.clone(),
        user.password_hash.clone(),
        user.role,
        user.enabled,
        user.credential_version,
        user.avatar_path.clone(),
        user.created_at,
        user.updated_at,
        user.last_login,
        user.last_active,
    )
}

type SessionFields = (
    i64,
    String,
    i64,
    DateTime<Utc>,
    DateTime<Utc>,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn session_fields(session: &Session) -> SessionFields {
    (
        session.id,
        session.public_id.clone(),
        session.user_id,
        session.created_at,
        session.last_seen_at,
        session.idle_expires_at,
        session.absolute_expires_at,
        session.user_agent.clone(),
        session.client_address.clone(),
        session.oidc_id_token.clone(),
    )
}

type ClientTokenFields = (
    i64,
    i64,
    Option<String>,
    String,
    i64,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
);

fn client_token_fields(token: &ClientToken) -> ClientTokenFields {
    (
        token.id,
        token.user_id,
        token.device_id.clone(),
        token.name.clone(),
        token.scopes,
        token.expires_at,
        token.last_used_at,
        token.created_at,
    )
}

/// What the three look-ups find, in a form that compares.
type Found = (
    Option<UserFields>,
    Option<(SessionFields, UserFields)>,
    Option<(ClientTokenFields, UserFields)>,
);

async fn look_up(store: &SqliteStore, user_id: i64) -> Found {
    let user = store.find_user(user_id).await.expect("find the user");
    let session = store
        .find_session(&SESSION_HASH)
        .await
        .expect("find the session");
    let token = store
        .find_client_token(&CLIENT_TOKEN_HASH)
        .await
        .expect("find the client token");
    (
        user.as_ref().map(user_fields),
        session.map(|(session, user)| (session_fields(&session), user_fields(&user))),
        token.map(|(token, user)| (client_token_fields(&token), user_fields(&user))),
    )
}

/// A user with a login, a session and a client token that has been used.
async fn populate(store: &SqliteStore) -> User {
    let now = Utc::now();
    let user = NewUser {
        username: "ann".to_owned(),
        email: Some("ann@example.com".to_owned()),
        password_hash: "not a real hash".to_owned(),
        role: Role::Editor,
    };
    let user = store.create_user(user).await.expect("create the user");
    store
        .record_login(user.id, now, None)
        .await
        .expect("record a login");

    let session = NewSession {
        public_id: "public".to_owned(),
        token_hash: SESSION_HASH.to_vec(),
        user_id: user.id,
        created_at: now,
        idle_expires_at: now + Duration::hours(1),
        absolute_expires_at: now + Duration::days(1),
        user_agent: Some("test agent".to_owned()),
        client_address: None,
        oidc_id_token: None,
    };
    store
        .create_session(session)
        .await
        .expect("create the session");

    let token = NewClientToken {
        user_id: user.id,
        device_id: None,
        name: "script".to_owned(),
        token_hash: CLIENT_TOKEN_HASH.to_vec(),
        scopes: 3,
        expires_at: Some(now + Duration::days(30)),
        created_at: now,
    };
    let token = store
        .create_client_token(token, 10)
        .await
        .expect("create the client token");
    store
        .touch_client_token(token.id, now, now)
        .await
        .expect("mark the token used");
    user
}

#[tokio::test]
async fn direct_reads_find_what_the_pool_finds_after_every_write() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}/romm.db", folder.path().display());
    let store = SqliteStore::connect(&url).await.expect("open the database");
    assert!(store.reader.is_some(), "a WAL file gets a direct reader");
    let pool_only = SqliteStore {
        pool: store.pool.clone(),
        reader: None,
    };

    let user = populate(&store).await;
    let found = look_up(&store, user.id).await;
    assert!(found.0.is_some() && found.1.is_some() && found.2.is_some());
    assert_eq!(found, look_up(&pool_only, user.id).await);
    assert_eq!(
        cached_rows(&store),
        3,
        "all three rows are kept until the next commit"
    );
    assert_eq!(found, look_up(&store, user.id).await);

    let later = Utc::now() + Duration::minutes(5);
    let session_id = found.1.as_ref().map(|(session, _)| session.0).unwrap();
    store
        .touch_session(session_id, later, later + Duration::hours(1))
        .await
        .expect("touch the session");
    let found = look_up(&store, user.id).await;
    assert_eq!(found.1.as_ref().map(|(session, _)| session.4), Some(later));
    assert_eq!(found, look_up(&pool_only, user.id).await);

    let disable = UserUpdate {
        enabled: Some(false),
        ..UserUpdate::default()
    };
    store
        .update_user(user.id, disable, None)
        .await
        .expect("disable the user");
    let found = look_up(&store, user.id).await;
    assert_eq!(found.0.as_ref().map(|user| user.5), Some(false));
    assert!(found.1.is_none(), "disabling the user ended its session");
    assert_eq!(found, look_up(&pool_only, user.id).await);

    let token_id = found.2.as_ref().map(|(token, _)| token.0).unwrap();
    store
        .delete_client_token(token_id, None)
        .await
        .expect("delete the client token");
    let found = look_up(&store, user.id).await;
    assert!(found.2.is_none(), "a deleted token is not found");
    assert_eq!(found, look_up(&pool_only, user.id).await);
}

fn cached_rows(store: &SqliteStore) -> usize {
    store.reader.as_ref().expect("a direct reader").cache.len()
}

/// A commit by a connection that is not the store's, as another process would make it.
fn commit_elsewhere(folder: &std::path::Path, sql: &str) {
    let connection = rusqlite::Connection::open(folder.join("romm.db")).expect("open");
    connection
        .execute_batch(sql)
        .expect("commit outside the store");
}

#[tokio::test]
async fn a_commit_by_another_connection_is_seen_at_the_next_look_up() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}/romm.db", folder.path().display());
    let store = SqliteStore::connect(&url).await.expect("open the database");
    let user = populate(&store).await;
    let before = look_up(&store, user.id).await;
    assert_eq!(cached_rows(&store), 3);

    commit_elsewhere(
        folder.path(),
        "UPDATE users SET enabled = 0, credential_version = credential_version + 1",
    );
    let disabled = look_up(&store, user.id).await;
    assert_eq!(
        disabled.0.as_ref().map(|user| (user.5, user.6)),
        Some((false, 1))
    );
    assert_eq!(before.0.map(|user| user.6), Some(0));
    let owners = (
        disabled.1.as_ref().map(|(_, owner)| owner.5),
        disabled.2.as_ref().map(|(_, owner)| owner.5),
    );
    assert_eq!(owners, (Some(false), Some(false)));

    commit_elsewhere(
        folder.path(),
        "DELETE FROM sessions; DELETE FROM client_tokens",
    );
    let revoked = look_up(&store, user.id).await;
    assert!(
        revoked.1.is_none() && revoked.2.is_none(),
        "deleted rows are gone"
    );
}

#[tokio::test]
async fn the_database_version_changes_with_each_commit_and_only_then() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}/romm.db", folder.path().display());
    let store = SqliteStore::connect(&url).await.expect("open the database");
    let reader = store.reader.as_ref().expect("a direct reader");
    let version = || reader.current_version().expect("a readable WAL index");

    let first = version();
    assert!(
        first == version(),
        "reads alone leave the version as it was"
    );
    populate(&store).await;
    let second = version();
    assert!(first != second, "commits through the pool change it");
    commit_elsewhere(folder.path(), "UPDATE users SET email = NULL");
    assert!(
        second != version(),
        "commits by another connection change it"
    );
}

#[tokio::test]
async fn commits_are_seen_even_after_every_other_connection_closed() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}/romm.db", folder.path().display());
    let store = SqliteStore::connect(&url).await.expect("open the database");
    let user = populate(&store).await;
    assert!(look_up(&store, user.id).await.0.is_some());

    // Without the anchor, the pool's last connection would close as the only one left,
    // delete the WAL index, and leave the next connection to start a new one.
    let reader = store.reader.as_ref().expect("a direct reader");
    reader.idle.lock().unwrap().clear();
    store.pool.close().await;
    commit_elsewhere(folder.path(), "UPDATE users SET enabled = 0");

    let found = look_up(&store, user.id).await;
    assert_eq!(found.0.map(|user| user.5), Some(false));
}

#[tokio::test]
async fn an_in_memory_database_is_read_through_the_pool() {
    let store = SqliteStore::connect("sqlite::memory:")
        .await
        .expect("open an in-memory database");
    assert!(
        store.reader.is_none(),
        "a second connection would see another database"
    );

    let user = populate(&store).await;
    let (user_found, session, token) = look_up(&store, user.id).await;

    assert_eq!(user_found.map(|found| found.0), Some(user.id));
    assert_eq!(session.map(|(_, owner)| owner.0), Some(user.id));
    assert_eq!(token.map(|(_, owner)| owner.0), Some(user.id));
}
