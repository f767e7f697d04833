-- Invite links, password-reset links, and the forgotten-password requests waiting for an admin.
--
-- Link tokens are stored only as SHA-256 hashes. A used link keeps its row, with the time it
-- was used, until the cleanup task removes it; so does an expired one.

CREATE TABLE invites (
    id BIGSERIAL PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    -- An invite is the inviter's authority handed on: it dies with the inviter.
    created_by BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    registered_user_id BIGINT REFERENCES users (id) ON DELETE SET NULL
);

CREATE TABLE password_resets (
    id BIGSERIAL PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ
);

CREATE INDEX password_resets_user ON password_resets (user_id);

-- One row per user who asked, however often they asked, until an admin issues a reset link.
CREATE TABLE password_reset_requests (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    first_requested_at TIMESTAMPTZ NOT NULL,
    last_requested_at TIMESTAMPTZ NOT NULL,
    request_count BIGINT NOT NULL,
    client_address TEXT
);
