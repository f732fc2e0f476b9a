-- Schema v1: operators and their sessions, anonymous contacts, conversations with their
-- snapshot, the immutable event log, and assignment history.

CREATE TABLE operators (
    id             UUID PRIMARY KEY,
    email          TEXT NOT NULL,
    name           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
    tier           SMALLINT NOT NULL DEFAULT 1 CHECK (tier BETWEEN 1 AND 3),
    max_concurrent INTEGER NOT NULL DEFAULT 5 CHECK (max_concurrent >= 0),
    accepting      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at     TIMESTAMPTZ
);
CREATE UNIQUE INDEX operators_email_key ON operators (lower(email));

-- Opaque bearer tokens; only their SHA-256 is stored.
CREATE TABLE operator_sessions (
    id          UUID PRIMARY KEY,
    operator_id UUID NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    token_hash  BYTEA NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX operator_sessions_operator_idx ON operator_sessions (operator_id);

-- A customer as operators know them: an alias and nothing else.
CREATE TABLE contacts (
    id         UUID PRIMARY KEY,
    alias      TEXT NOT NULL,
    language   TEXT NOT NULL DEFAULT 'en',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The link between a contact and an outside identity (e.g. a Telegram chat). Only the gateway
-- reads it; no API returns it. external_id is stored encrypted, lookup_hash is a keyed hash.
CREATE TABLE channel_identities (
    id          UUID PRIMARY KEY,
    contact_id  UUID NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    channel     TEXT NOT NULL CHECK (channel IN ('web', 'telegram')),
    external_id BYTEA NOT NULL,
    lookup_hash BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (channel, lookup_hash)
);
CREATE INDEX channel_identities_contact_idx ON channel_identities (contact_id);

CREATE TABLE conversations (
    id                UUID PRIMARY KEY,
    ticket            TEXT NOT NULL UNIQUE,
    contact_id        UUID NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    channel           TEXT NOT NULL CHECK (channel IN ('web', 'telegram')),
    status            TEXT NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'active', 'resolved', 'closed')),
    priority          SMALLINT NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 3),
    level             SMALLINT NOT NULL DEFAULT 0 CHECK (level BETWEEN 0 AND 2),
    assignee_id       UUID REFERENCES operators (id),
    language          TEXT NOT NULL DEFAULT 'en',
    category          TEXT,
    metadata          JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    assigned_at       TIMESTAMPTZ,
    first_response_at TIMESTAMPTZ,
    resolved_at       TIMESTAMPTZ,
    closed_at         TIMESTAMPTZ,
    -- Snapshot of the Conversation actor, written in the same transaction as its events.
    last_seq          BIGINT NOT NULL DEFAULT 0,
    last_message_at   TIMESTAMPTZ,
    unanswered        INTEGER NOT NULL DEFAULT 0,
    visitor_read_seq  BIGINT NOT NULL DEFAULT 0,
    operator_read_seq BIGINT NOT NULL DEFAULT 0,
    -- Customer satisfaction, given once the conversation is resolved.
    rating            SMALLINT CHECK (rating BETWEEN 1 AND 5),
    rating_comment    TEXT,
    rated_at          TIMESTAMPTZ
);
-- Operator lists: newest first, filtered by status and/or assignee; the queue by priority, age.
CREATE INDEX conversations_list_idx ON conversations (created_at DESC, id DESC);
CREATE INDEX conversations_status_idx ON conversations (status, created_at DESC, id DESC);
CREATE INDEX conversations_assignee_idx ON conversations (assignee_id, status, created_at DESC, id DESC);
CREATE INDEX conversations_queue_idx ON conversations (priority DESC, created_at, id) WHERE status = 'pending';
CREATE INDEX conversations_contact_idx ON conversations (contact_id, created_at DESC);

-- Opaque widget tokens binding a visitor socket to one conversation; stored as SHA-256.
CREATE TABLE widget_sessions (
    id              UUID PRIMARY KEY,
    contact_id      UUID NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    token_hash      BYTEA NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX widget_sessions_conversation_idx ON widget_sessions (conversation_id);

-- The immutable, totally ordered log of a conversation. (conversation_id, seq) pages history;
-- (conversation_id, author_id, client_id) makes a retried send idempotent.
CREATE TABLE events (
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL CHECK (seq > 0),
    kind            TEXT NOT NULL CHECK (kind IN ('message', 'note', 'system')),
    author          TEXT NOT NULL CHECK (author IN ('visitor', 'operator', 'system')),
    author_id       UUID,
    -- The operator's name (operators' view) or the customer's alias; never a real identity.
    author_name     TEXT NOT NULL DEFAULT '',
    body            TEXT NOT NULL,
    data            JSONB,
    client_id       TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, seq),
    UNIQUE (conversation_id, author_id, client_id)
);

-- Who held a conversation when; the source of first-response statistics.
CREATE TABLE assignments (
    id                BIGSERIAL PRIMARY KEY,
    conversation_id   UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    operator_id       UUID NOT NULL REFERENCES operators (id),
    kind              TEXT NOT NULL CHECK (kind IN ('auto', 'take', 'manual', 'transfer')),
    assigned_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    unassigned_at     TIMESTAMPTZ,
    first_response_at TIMESTAMPTZ
);
CREATE INDEX assignments_conversation_idx ON assignments (conversation_id, assigned_at);
CREATE INDEX assignments_operator_idx ON assignments (operator_id, assigned_at);
CREATE INDEX assignments_open_idx ON assignments (conversation_id) WHERE unassigned_at IS NULL;
