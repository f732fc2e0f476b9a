-- Each conversation relayed to the support group has one card: a post that shows its state
-- and carries the buttons, edited when the state changes; the messages reply to it.
ALTER TABLE telegram_posts ADD COLUMN card BOOLEAN NOT NULL DEFAULT false;
CREATE UNIQUE INDEX telegram_posts_card_key ON telegram_posts (conversation_id) WHERE card;
