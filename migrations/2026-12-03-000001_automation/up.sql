-- Automation: auto-reply templates, admin settings, durable deadlines, and what the
-- Conversation actor remembers about automatic replies and escalations.

-- Offline auto-replies, chosen by keyword intent. `keywords` and `replies` are objects keyed
-- by language code: {"en": ["late", "delivery"], "ur": ["kahan"]} and {"en": "...", "ur": "..."}.
CREATE TABLE auto_replies (
    id          UUID PRIMARY KEY,
    category    TEXT NOT NULL CHECK (category ~ '^[a-z0-9_]{1,40}$'),
    keywords    JSONB NOT NULL DEFAULT '{}',
    replies     JSONB NOT NULL DEFAULT '{}',
    -- Used when no template's keywords match.
    is_fallback BOOLEAN NOT NULL DEFAULT false,
    active      BOOLEAN NOT NULL DEFAULT true,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX auto_replies_category ON auto_replies (category);

-- Settings admins edit at run time (escalation rules), one JSON document per key; also marks
-- one-time work done (`seeded.auto_replies`).
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- When each of a conversation's timers falls due: written with the events that set them, read
-- by the scheduler, deleted by the event that fires them.
CREATE TABLE deadlines (
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    due_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (conversation_id, kind)
);
CREATE INDEX deadlines_due ON deadlines (due_at);

-- What automation remembers per conversation (when it auto-replied, which escalation
-- triggers fired at the current level, ...), owned by the Conversation actor.
ALTER TABLE conversations ADD COLUMN automation JSONB NOT NULL DEFAULT '{}';
-- An admin deleted the conversation: its events are gone, the row stays for statistics.
ALTER TABLE conversations ADD COLUMN deleted_at TIMESTAMPTZ;
CREATE INDEX conversations_category ON conversations (category) WHERE category IS NOT NULL;

-- A contact whose data was erased.
ALTER TABLE contacts ADD COLUMN erased_at TIMESTAMPTZ;

-- A group's business hours: {"time_zone": "Europe/Moscow", "days": {"mon": [["09:00", "18:00"]], ...}}.
ALTER TABLE groups ADD COLUMN business_hours JSONB;

-- When each customer first wrote (the first-response clock starts there; a waiting
-- conversation whose customer never wrote is the one closed as abandoned).
UPDATE conversations c
SET automation = jsonb_build_object('customer_wrote_at', v.at)
FROM (SELECT conversation_id, min(created_at) AS at
      FROM events WHERE author = 'visitor' AND kind = 'message'
      GROUP BY conversation_id) AS v
WHERE c.id = v.conversation_id;

-- Conversations already open or resolved get their timers set by their actor.
INSERT INTO deadlines (conversation_id, kind, due_at)
SELECT id, 'review', now() FROM conversations WHERE status <> 'closed';
