-- Sign-in with a one-time code sent by the bot to the operator's linked Telegram account.

-- The operator's private chat with the bot, sealed like customers' ids (links made before
-- this have none: they link again to get codes).
ALTER TABLE operator_telegram_links ADD COLUMN external_id BYTEA;

-- At most one live code per operator; a new request replaces it. Stored as a keyed hash.
CREATE TABLE operator_login_codes (
    operator_id UUID PRIMARY KEY REFERENCES operators (id) ON DELETE CASCADE,
    code_hash   BYTEA NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Wrong codes, per operator (when the email is known) and per client address: five in 15
-- minutes lock code sign-in for that operator, and for that address.
CREATE TABLE operator_login_failures (
    id          BIGSERIAL PRIMARY KEY,
    operator_id UUID REFERENCES operators (id) ON DELETE CASCADE,
    client      TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX operator_login_failures_operator_idx ON operator_login_failures (operator_id, at);
CREATE INDEX operator_login_failures_client_idx ON operator_login_failures (client, at);
