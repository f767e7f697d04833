-- OpenID Connect: the (issuer, subject) each local user is bound to, and the ID token of an
-- OIDC session, kept only to name the session when asking the provider to end it.

CREATE TABLE user_identities (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (issuer, subject)
);

CREATE INDEX user_identities_user ON user_identities (user_id);

ALTER TABLE sessions ADD COLUMN oidc_id_token TEXT;
