-- A Telegram customer who rated a conversation is asked for an optional comment: their next
-- text message (within a few minutes) is that comment, not a new message to support. Kept
-- here so that a restart in between does not turn the comment into a reopened conversation.
CREATE TABLE telegram_surveys (
    contact_id      UUID PRIMARY KEY REFERENCES contacts (id) ON DELETE CASCADE,
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    score           SMALLINT NOT NULL CHECK (score BETWEEN 1 AND 5),
    asked_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX telegram_surveys_conversation ON telegram_surveys (conversation_id);
