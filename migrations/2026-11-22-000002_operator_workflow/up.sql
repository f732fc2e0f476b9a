-- Operator workflow: presence, groups with routing strategies, tags, canned responses, the
-- audit log, and full-text search over messages.

ALTER TABLE operators
    ADD COLUMN status TEXT NOT NULL DEFAULT 'offline'
        CHECK (status IN ('online', 'busy', 'away', 'offline')),
    ADD COLUMN last_seen_at TIMESTAMPTZ;

-- Departments. Exactly one live group is the default; conversations that name none go there.
CREATE TABLE groups (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL,
    strategy   TEXT NOT NULL DEFAULT 'least_loaded'
               CHECK (strategy IN ('round_robin', 'least_loaded', 'sticky')),
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX groups_name_key ON groups (lower(name)) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX groups_one_default ON groups (is_default) WHERE is_default AND deleted_at IS NULL;

CREATE TABLE group_members (
    group_id    UUID NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    operator_id UUID NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    added_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, operator_id)
);
CREATE INDEX group_members_operator_idx ON group_members (operator_id);

INSERT INTO groups (id, name, strategy, is_default)
VALUES ('00000000-0000-7000-8000-000000000001', 'General', 'least_loaded', TRUE);

INSERT INTO group_members (group_id, operator_id)
SELECT '00000000-0000-7000-8000-000000000001', id FROM operators;

ALTER TABLE conversations ADD COLUMN group_id UUID REFERENCES groups (id);
UPDATE conversations SET group_id = '00000000-0000-7000-8000-000000000001';
ALTER TABLE conversations ALTER COLUMN group_id SET NOT NULL;
CREATE INDEX conversations_group_idx ON conversations (group_id, status);
CREATE INDEX conversations_resolved_idx ON conversations (resolved_at) WHERE resolved_at IS NOT NULL;

CREATE TABLE tags (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL,
    color      TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tags_name_key ON tags (lower(name));

CREATE TABLE conversation_tags (
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    tag_id          UUID NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    added_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, tag_id)
);
CREATE INDEX conversation_tags_tag_idx ON conversation_tags (tag_id);

-- Replies operators insert by typing /shortcut; one per shortcut and language.
CREATE TABLE canned_responses (
    id         UUID PRIMARY KEY,
    shortcut   TEXT NOT NULL,
    language   TEXT NOT NULL DEFAULT 'en',
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX canned_responses_key ON canned_responses (lower(shortcut), language);

-- Every operator action: who, what, on what, when, and the details.
CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    operator_id UUID REFERENCES operators (id),
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    details     JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_time_idx ON audit_log (created_at DESC, id DESC);
CREATE INDEX audit_log_operator_idx ON audit_log (operator_id, created_at DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, created_at DESC);
CREATE INDEX audit_log_target_idx ON audit_log (target_id);

-- 'simple' keeps every word of every language (customers write English and Russian alike).
ALTER TABLE events ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED;
CREATE INDEX events_search_idx ON events USING GIN (search) WHERE kind IN ('message', 'note');
