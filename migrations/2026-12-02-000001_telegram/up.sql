-- The Telegram channel: a durable inbox of updates, a durable outbox of Bot API calls, the
-- support group's posts, operators' Telegram links, and blocking of contacts.

-- Every accepted update, stored before the webhook answers. The payload is encrypted with the
-- identity key (it names the sender) and erased once the update is handled; the row stays for
-- the dedupe window, so a re-sent update_id is recognised.
CREATE TABLE telegram_inbox (
    id           BIGSERIAL PRIMARY KEY,
    update_id    BIGINT,
    payload      BYTEA,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    processed_at TIMESTAMPTZ,
    outcome      TEXT
);
CREATE UNIQUE INDEX telegram_inbox_update_key ON telegram_inbox (update_id);
CREATE INDEX telegram_inbox_pending_idx ON telegram_inbox (id) WHERE processed_at IS NULL;
CREATE INDEX telegram_inbox_received_idx ON telegram_inbox (received_at);

-- Calls to make, in order per lane ('group' or 'contact:<id>'). A row is delivered at least
-- once and marked; our own retries never repeat a delivered row. No chat id is stored here:
-- the gateway finds it from the lane when it sends.
CREATE TABLE telegram_outbox (
    id              BIGSERIAL PRIMARY KEY,
    lane            TEXT NOT NULL,
    conversation_id UUID REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT,
    payload         JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at    TIMESTAMPTZ,
    failed_at       TIMESTAMPTZ,
    error           TEXT
);
CREATE INDEX telegram_outbox_pending_idx ON telegram_outbox (lane, id)
    WHERE delivered_at IS NULL AND failed_at IS NULL;

-- Messages the bot posted in the support group, so replies and buttons find their conversation.
CREATE TABLE telegram_posts (
    chat_id         BIGINT NOT NULL,
    message_id      BIGINT NOT NULL,
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX telegram_posts_conversation_idx ON telegram_posts (conversation_id);

-- Small facts the gateway keeps: the support group's id after a migration, the polling offset.
CREATE TABLE telegram_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- An operator's Telegram account, found by a keyed hash of its user id.
CREATE TABLE operator_telegram_links (
    operator_id UUID PRIMARY KEY REFERENCES operators (id) ON DELETE CASCADE,
    lookup_hash BYTEA NOT NULL UNIQUE,
    linked_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One-time codes an operator sends to the bot as `/link CODE`; stored hashed.
CREATE TABLE telegram_link_codes (
    code_hash   BYTEA PRIMARY KEY,
    operator_id UUID NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    expires_at  TIMESTAMPTZ NOT NULL
);

-- A customer who blocked the bot cannot be written to; a refused customer is told at most
-- once a day.
ALTER TABLE channel_identities
    ADD COLUMN unreachable_at TIMESTAMPTZ,
    ADD COLUMN refused_at     TIMESTAMPTZ;

ALTER TABLE contacts
    ADD COLUMN blocked_at    TIMESTAMPTZ,
    ADD COLUMN blocked_until TIMESTAMPTZ,
    ADD COLUMN block_reason  TEXT,
    ADD COLUMN blocked_by    UUID REFERENCES operators (id);
