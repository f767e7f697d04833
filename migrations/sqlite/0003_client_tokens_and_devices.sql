-- Devices, client API tokens, their pairing codes, and device-authorization requests.
--
-- Tokens, pairing codes and device codes are stored only as SHA-256 hashes. A token bound
-- to a device dies with it; everything dies with its user.

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    platform TEXT,
    client TEXT,
    client_version TEXT,
    client_device_identifier TEXT,
    hostname TEXT,
    sync_mode TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE UNIQUE INDEX devices_user_identifier ON devices (user_id, client_device_identifier);

CREATE TABLE client_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id TEXT REFERENCES devices (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    scopes INTEGER NOT NULL,
    expires_at TEXT,
    last_used_at TEXT,
    created_at TEXT NOT NULL
);

CREATE INDEX client_tokens_user ON client_tokens (user_id);

CREATE TABLE pairing_codes (
    code_hash BLOB PRIMARY KEY,
    token_id INTEGER NOT NULL UNIQUE REFERENCES client_tokens (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE device_auth_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_code_hash BLOB NOT NULL UNIQUE,
    user_code_hash BLOB NOT NULL UNIQUE,
    client_device_identifier TEXT NOT NULL,
    name TEXT NOT NULL,
    client TEXT NOT NULL,
    platform TEXT,
    client_version TEXT,
    requested_scopes INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'completed')),
    token_id INTEGER REFERENCES client_tokens (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    last_polled_at TEXT
);
