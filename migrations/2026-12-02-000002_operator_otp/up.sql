-- Sign-in with a one-time code sent by the bot to the operator's linked Telegram account.

-- The operator's private chat with the bot, sealed like customers' ids (links made before
-- this have none: they link again to get codes).
ALTER TABLE operator_telegram_links ADD COLUMN external_id BYTEA;

-- At most one live code per operator; a new request replaces it. Stored as a keyed hash.
CREATE TABLE operator_login_codes (
    operator_id UUID PRIMARY KEY REFERENCES operators (id) ON DELETE CASCADE,
    code_hash   BYTEA NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Wrong guesses at this code: at five it is void, however the guesses were spread.
    attempts    INTEGER NOT NULL DEFAULT 0
);

-- Wrong codes, per account (a keyed hash of the email, whether or not an operator has it, so
-- that a lock tells nothing) and per client address: five in 15 minutes lock code sign-in
-- for that email, and for that address.
CREATE TABLE operator_login_failures (
    id          BIGSERIAL PRIMARY KEY,
    account     BYTEA NOT NULL,
    client      TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX operator_login_failures_account_idx ON operator_login_failures (account, at);
CREATE INDEX operator_login_failures_client_idx ON operator_login_failures (client, at);
