//! Credential look-ups remembered for exactly one version of the SQLite database.
//!
//! Every commit to a WAL database, by any connection of any process, rewrites the header of
//! the WAL index that SQLite keeps in the `-shm` file beside the database: its change counter,
//! last frame, salts and checksum. Two equal headers therefore mean that nothing was committed
//! in between. [`LookupCache`] tags what it remembers with the header current before the read
//! and serves it only while the header is still the same, so a revocation committed anywhere
//! takes effect on the very next request, exactly as without the cache.
//!
//! The header layout is part of SQLite's documented file format (the "WAL-index format"),
//! which every SQLite version sharing a database must agree on. A header that does not look
//! like that format, or that is being rewritten while it is read, makes the look-up go to the
//! database.

use std::collections::HashMap;
use std::fs::File;
use std::hash::Hash;
use std::io;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

use crate::store::{ClientToken, Session, User};

/// The WAL index starts with two copies of a 48-byte header; a writer updates the second copy
/// first, so a reader that finds both equal has not caught a write half-way.
const HEADER_LEN: usize = 48;

/// `iVersion`, the first field of the header, in every SQLite since 3.7.0.
const WAL_INDEX_FORMAT: u32 = 3_007_000;

/// Offset of the `isInit` byte, 1 once the index has been built.
const IS_INIT_OFFSET: usize = 12;

/// Entries kept before the cache starts over; any commit empties it anyway.
const MAX_ENTRIES: usize = 10_000;

/// The WAL-index header as it was at one moment: equal values mean an unchanged database.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct DatabaseVersion([u8; HEADER_LEN]);

/// Reads the current [`DatabaseVersion`] from the `-shm` file of a WAL database.
///
/// The file is read with plain positioned reads, which see the same pages SQLite maps into
/// memory. It is never locked.
///
/// The `-shm` file must stay the one SQLite uses. The connection that closes last deletes it,
/// and a later one would create a new file that this descriptor never sees. So an anchor
/// connection stays open beside the descriptor: while it is, no other connection can be the
/// last one.
///
/// Closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
/// included. The descriptor is therefore opened once, by the store, and closed only when the
/// store is dropped, after the anchor and when no request can be using the store any more.
pub(super) struct VersionSource {
    /// Declared first so that it closes before the descriptor below.
    _anchor: Mutex<Connection>,
    shm: File,
}

impl VersionSource {
    /// Opens the WAL index of the database file at `database`, which must already be in use by
    /// a WAL connection; `None` when it does not look like a WAL index.
    pub(super) fn open(database: &Path) -> anyhow::Result<Option<VersionSource>> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let anchor = Connection::open_with_flags(database, flags)?;
        // A WAL connection keeps its shared lock on the database once it has read.
        anchor.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;

        let mut shm_path = database.as_os_str().to_owned();
        shm_path.push("-shm");
        let source = VersionSource {
            _anchor: Mutex::new(anchor),
            shm: File::open(shm_path)?,
        };
        Ok(source.current().is_some().then_some(source))
    }

    /// The version a read starting now would see, or `None` while the header is being
    /// rewritten or is not a WAL index at all.
    pub(super) fn current(&self) -> Option<DatabaseVersion> {
        let mut both = [0u8; 2 * HEADER_LEN];
        if read_at(&self.shm, &mut both).ok()? != both.len() {
            return None;
        }

        let (first, second) = both.split_at(HEADER_LEN);
        let format = u32::from_ne_bytes(first[..4].try_into().ok()?);
        if first != second || format != WAL_INDEX_FORMAT || first[IS_INIT_OFFSET] != 1 {
            return None;
        }
        Some(DatabaseVersion(first.try_into().ok()?))
    }
}

#[cfg(unix)]
fn read_at(file: &File, buffer: &mut [u8]) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buffer, 0)
}

/// Elsewhere the version is never known, so nothing is ever served from the cache.
#[cfg(not(unix))]
fn read_at(_file: &File, _buffer: &mut [u8]) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

/// The user, session and client-token rows found at one [`DatabaseVersion`].
///
/// Only rows that were found are kept; an unknown credential is looked up every time.
#[derive(Default)]
pub(super) struct LookupCache {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// The version every entry was read at or after; `None` before the first one.
    version: Option<DatabaseVersion>,
    users: HashMap<i64, User>,
    sessions: HashMap<Vec<u8>, (Session, User)>,
    client_tokens: HashMap<Vec<u8>, (ClientToken, User)>,
}

impl Entries {
    fn len(&self) -> usize {
        self.users.len() + self.sessions.len() + self.client_tokens.len()
    }

    fn clear(&mut self) {
        self.users.clear();
        self.sessions.clear();
        self.client_tokens.clear();
    }
}

impl LookupCache {
    /// The user with this id, if it was found at `version`.
    pub(super) fn user(&self, version: DatabaseVersion, id: i64) -> Option<User> {
        self.get(version, |entries| &entries.users, &id)
    }

    /// The session with this token hash and its user, if found at `version`.
    pub(super) fn session(
        &self,
        version: DatabaseVersion,
        token_hash: &[u8],
    ) -> Option<(Session, User)> {
        self.get(version, |entries| &entries.sessions, token_hash)
    }

    /// The client token with this hash and its owner, if found at `version`.
    pub(super) fn client_token(
        &self,
        version: DatabaseVersion,
        token_hash: &[u8],
    ) -> Option<(ClientToken, User)> {
        self.get(version, |entries| &entries.client_tokens, token_hash)
    }

    /// Keeps a user read after `version` was current.
    pub(super) fn keep_user(&self, version: DatabaseVersion, user: &User) {
        self.keep(version, |entries| &mut entries.users, user.id, user);
    }

    /// Keeps a session and its user read after `version` was current.
    pub(super) fn keep_session(
        &self,
        version: DatabaseVersion,
        token_hash: &[u8],
        found: &(Session, User),
    ) {
        let key = token_hash.to_vec();
        self.keep(version, |entries| &mut entries.sessions, key, found);
    }

    /// Keeps a client token and its owner read after `version` was current.
    pub(super) fn keep_client_token(
        &self,
        version: DatabaseVersion,
        token_hash: &[u8],
        found: &(ClientToken, User),
    ) {
        let key = token_hash.to_vec();
        self.keep(version, |entries| &mut entries.client_tokens, key, found);
    }

    fn get<K, Q, V>(
        &self,
        version: DatabaseVersion,
        table: impl FnOnce(&Entries) -> &HashMap<K, V>,
        key: &Q,
    ) -> Option<V>
    where
        K: Eq + Hash + std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
        V: Clone,
    {
        let entries = self.entries.lock().expect("lookup cache lock");
        if entries.version != Some(version) {
            return None;
        }
        table(&entries).get(key).cloned()
    }

    /// Stores `value`, first forgetting everything read at another version.
    ///
    /// A value is always at least as new as the version it is stored under, because that
    /// version was read before the value. Storing under an older version than the cache holds
    /// only costs the newer entries; none is ever served after a later commit.
    fn keep<K: Eq + Hash, V: Clone>(
        &self,
        version: DatabaseVersion,
        table: impl FnOnce(&mut Entries) -> &mut HashMap<K, V>,
        key: K,
        value: &V,
    ) {
        let mut entries = self.entries.lock().expect("lookup cache lock");
        if entries.version != Some(version) || entries.len() >= MAX_ENTRIES {
            entries.clear();
            entries.version = Some(version);
        }
        table(&mut entries).insert(key, value.clone());
    }

    /// How many rows are kept, for tests that check what is served from memory.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.lock().expect("lookup cache lock").len()
    }
}
