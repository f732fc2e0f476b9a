-- In a forum supergroup, each relayed conversation has its own topic.
CREATE TABLE telegram_topics (
    conversation_id UUID PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    chat_id         BIGINT NOT NULL,
    thread_id       BIGINT NOT NULL,
    closed          BOOLEAN NOT NULL DEFAULT false,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX telegram_topics_thread_key ON telegram_topics (chat_id, thread_id);
