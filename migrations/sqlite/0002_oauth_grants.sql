-- OAuth2 refresh tokens, grouped by the password grant that started them.
--
-- A grant (family) carries the scopes granted and the user's credential version at the
-- time, so a password change or disable revokes every token of it. Only hashes of refresh
-- tokens are kept; a consumed token stays until cleanup, so its reuse can be recognised.

CREATE TABLE oauth_grants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes INTEGER NOT NULL,
    credential_version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE INDEX oauth_grants_user ON oauth_grants (user_id);

CREATE TABLE refresh_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    grant_id INTEGER NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL UNIQUE,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    consumed_at TEXT
);

CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
