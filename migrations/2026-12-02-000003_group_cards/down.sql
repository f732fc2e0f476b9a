DROP INDEX telegram_posts_card_key;
ALTER TABLE telegram_posts DROP COLUMN card;
