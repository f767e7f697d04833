//! Look-ups that every authenticated request makes, read from the SQLite file on the calling
//! thread.
//!
//! sqlx runs each SQLite statement on a worker thread of its connection and waits for the
//! answer over channels. For a look-up by an indexed key that hand-off costs several times the
//! query itself, mostly in context switches. [`DirectReader`] runs those few statements on
//! read-only connections of its own to the same file instead.
//!
//! A statement runs in a read transaction of its own, which sees every write committed before
//! it started, by this instance or another one sharing the file; in WAL mode a reader does not
//! wait for a writer. What it finds is remembered by a [`LookupCache`] only until the next
//! commit anywhere, so a cached answer is always the one the database would give.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, Type, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use sqlx::SqlitePool;

use super::cache::{DatabaseVersion, LookupCache, VersionSource};
use super::{CLIENT_TOKEN_COLUMNS_OF_T, SESSION_COLUMNS_OF_S, USER_COLUMNS, USER_COLUMNS_OF_U};
use crate::auth::scopes::Role;
use crate::store::{ClientToken, Session, StoreResult, User};

/// Connections kept open between reads.
///
/// A read never yields, so no more run at once than the runtime has worker threads; a
/// connection opened beyond this many is closed after its read.
const MAX_IDLE_CONNECTIONS: usize = 8;

/// How long a read waits for a lock before it fails.
///
/// A WAL reader waits only in rare moments: while a connection recovers the WAL index after
/// a crash, or cleans up as the last one to close. The wait blocks an async worker, so it is
/// kept short.
const BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// Synchronous read-only connections to the database file a sqlx pool writes.
///
/// Each read blocks the async worker that calls it. That is acceptable only because every
/// statement here finds at most one row by a unique or primary key, which takes a few
/// microseconds; anything slower belongs on the pool.
pub(super) struct DirectReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    queries: Queries,
    cache: LookupCache,
    /// `None` when the WAL index could not be read, which turns the cache off. Declared last
    /// so that its descriptor closes after the connections above (see [`VersionSource`]).
    versions: Option<VersionSource>,
}

/// The SQL of each look-up, built once so that finding its cached statement costs no
/// formatting.
struct Queries {
    user: String,
    session_with_user: String,
    client_token_with_owner: String,
}

impl Queries {
    fn new() -> Queries {
        Queries {
            user: format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
            session_with_user: format!(
                "SELECT {SESSION_COLUMNS_OF_S}, {USER_COLUMNS_OF_U} \
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1"
            ),
            client_token_with_owner: format!(
                "SELECT {CLIENT_TOKEN_COLUMNS_OF_T}, {USER_COLUMNS_OF_U} \
                 FROM client_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?1"
            ),
        }
    }
}

impl DirectReader {
    /// A reader of the database behind `pool`, opened from `url`, or `None` when a second
    /// connection could not safely see what the pool writes.
    ///
    /// That is the case for an in-memory or temporary database, which has no file; for one
    /// not in WAL mode, where reads would wait for writers; and for a URL that names its own
    /// VFS, whose locks a connection on the default VFS would not honour. A file that cannot
    /// be opened read-only is logged and also left to the pool.
    pub(super) async fn open_for(
        pool: &SqlitePool,
        url: &str,
    ) -> anyhow::Result<Option<DirectReader>> {
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await?;
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(pool)
                .await?;
        let names_a_vfs = url
            .split_once('?')
            .is_some_and(|(_, query)| query.split('&').any(|pair| pair.starts_with("vfs=")));
        if file.is_empty() || !journal_mode.eq_ignore_ascii_case("wal") || names_a_vfs {
            tracing::info!(
                sqlite.journal_mode = journal_mode,
                "credential look-ups use the SQLite pool: no file, no WAL or a custom VFS"
            );
            return Ok(None);
        }

        let path = PathBuf::from(file);
        let versions = match VersionSource::open(&path) {
            Ok(Some(versions)) => Some(versions),
            Ok(None) => {
                tracing::info!("credential look-ups are not cached: the WAL index is unreadable");
                None
            }
            Err(error) => {
                tracing::info!(
                    error = format!("{error:#}"),
                    "credential look-ups are not cached: the WAL index cannot be opened"
                );
                None
            }
        };
        let reader = DirectReader {
            path,
            idle: Mutex::new(Vec::new()),
            queries: Queries::new(),
            cache: LookupCache::default(),
            versions,
        };
        match reader.open_connection() {
            Ok(connection) => reader
                .idle
                .lock()
                .expect("reader pool lock")
                .push(connection),
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "credential look-ups use the SQLite pool: the file cannot be opened again"
                );
                return Ok(None);
            }
        }
        Ok(Some(reader))
    }

    pub(super) fn find_user(&self, id: i64) -> StoreResult<Option<User>> {
        let version = self.current_version();
        if let Some(user) = version.and_then(|version| self.cache.user(version, id)) {
            return Ok(Some(user));
        }

        let found = self.read_one(&self.queries.user, id, |columns| columns.user())?;
        if let (Some(version), Some(user)) = (version, &found) {
            self.cache.keep_user(version, user);
        }
        Ok(found)
    }

    pub(super) fn find_session(&self, token_hash: &[u8]) -> StoreResult<Option<(Session, User)>> {
        let version = self.current_version();
        if let Some(found) = version.and_then(|version| self.cache.session(version, token_hash)) {
            return Ok(Some(found));
        }

        let found = self.read_one(&self.queries.session_with_user, token_hash, |columns| {
            Ok((columns.session()?, columns.user()?))
        })?;
        if let (Some(version), Some(found)) = (version, &found) {
            self.cache.keep_session(version, token_hash, found);
        }
        Ok(found)
    }

    pub(super) fn find_client_token(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<(ClientToken, User)>> {
        let version = self.current_version();
        let cached = version.and_then(|version| self.cache.client_token(version, token_hash));
        if let Some(found) = cached {
            return Ok(Some(found));
        }

        let found = self.read_one(
            &self.queries.client_token_with_owner,
            token_hash,
            |columns| Ok((columns.client_token()?, columns.user()?)),
        )?;
        if let (Some(version), Some(found)) = (version, &found) {
            self.cache.keep_client_token(version, token_hash, found);
        }
        Ok(found)
    }

    /// The database version now, read before a look-up so that what the look-up finds is at
    /// least that new.
    fn current_version(&self) -> Option<DatabaseVersion> {
        self.versions.as_ref().and_then(VersionSource::current)
    }

    /// Runs a statement that finds at most one row, on an idle connection or a new one.
    fn read_one<T>(
        &self,
        sql: &str,
        key: impl rusqlite::ToSql,
        read: impl FnOnce(&mut Columns<'_, '_>) -> rusqlite::Result<T>,
    ) -> StoreResult<Option<T>> {
        let idle = self.idle.lock().expect("reader pool lock").pop();
        let connection = match idle {
            Some(connection) => connection,
            None => self.open_connection()?,
        };

        // `query_row` resets the statement before it returns, which ends the read transaction:
        // an idle connection never holds on to an old snapshot. A connection whose read failed
        // is dropped with the error rather than reused.
        let found = connection
            .prepare_cached(sql)
            .and_then(|mut statement| {
                statement
                    .query_row([key], |row| read(&mut Columns { row, next: 0 }))
                    .optional()
            })
            .with_context(|| format!("direct read of {} failed", self.path.display()))?;

        let mut idle = self.idle.lock().expect("reader pool lock");
        if idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push(connection);
        }
        Ok(found)
    }

    fn open_connection(&self) -> anyhow::Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&self.path, flags)
            .with_context(|| format!("cannot open {} read-only", self.path.display()))?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        Ok(connection)
    }
}

/// The columns of one row, read in order: each record below lists its fields in the order
/// of its column list in the parent module.
struct Columns<'row, 'statement> {
    row: &'row Row<'statement>,
    next: usize,
}

impl Columns<'_, '_> {
    fn next<T: FromSql>(&mut self) -> rusqlite::Result<T> {
        let value = self.row.get(self.next);
        self.next += 1;
        value
    }

    fn timestamp(&mut self) -> rusqlite::Result<DateTime<Utc>> {
        self.next::<StoredTimestamp>().map(|stored| stored.0)
    }

    fn optional_timestamp(&mut self) -> rusqlite::Result<Option<DateTime<Utc>>> {
        Ok(self
            .next::<Option<StoredTimestamp>>()?
            .map(|stored| stored.0))
    }

    fn role(&mut self) -> rusqlite::Result<Role> {
        let index = self.next;
        let name: String = self.next()?;
        name.parse().map_err(|error: String| {
            rusqlite::Error::FromSqlConversionFailure(index, Type::Text, error.into())
        })
    }

    /// The columns of `USER_COLUMNS`.
    fn user(&mut self) -> rusqlite::Result<User> {
        Ok(User {
            id: self.next()?,
            username: self.next()?,
            email: self.next()?,
            password_hash: self.next()?,
            role: self.role()?,
            enabled: self.next()?,
            credential_version: self.next()?,
            avatar_path: self.next()?,
            created_at: self.timestamp()?,
            updated_at: self.timestamp()?,
            last_login: self.optional_timestamp()?,
            last_active: self.optional_timestamp()?,
        })
    }

    /// The columns of `SESSION_COLUMNS_OF_S`.
    fn session(&mut self) -> rusqlite::Result<Session> {
        Ok(Session {
            id: self.next()?,
            public_id: self.next()?,
            user_id: self.next()?,
            created_at: self.timestamp()?,
            last_seen_at: self.timestamp()?,
            idle_expires_at: self.timestamp()?,
            absolute_expires_at: self.timestamp()?,
            user_agent: self.next()?,
            client_address: self.next()?,
            oidc_id_token: self.next()?,
        })
    }

    /// The columns of `CLIENT_TOKEN_COLUMNS_OF_T`.
    fn client_token(&mut self) -> rusqlite::Result<ClientToken> {
        Ok(ClientToken {
            id: self.next()?,
            user_id: self.next()?,
            device_id: self.next()?,
            name: self.next()?,
            scopes: self.next()?,
            expires_at: self.optional_timestamp()?,
            last_used_at: self.optional_timestamp()?,
            created_at: self.timestamp()?,
        })
    }
}

/// A timestamp as sqlx stores a `DateTime<Utc>` in SQLite: RFC 3339 text.
///
/// Every timestamp is written through sqlx, so any other form is refused rather than guessed.
struct StoredTimestamp(DateTime<Utc>);

impl FromSql for StoredTimestamp {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        let parsed = DateTime::parse_from_rfc3339(text)
            .map_err(|error| FromSqlError::Other(error.into()))?;
        Ok(StoredTimestamp(parsed.with_timezone(&Utc)))
    }
}

#[cfg(test)]
mod tests;
