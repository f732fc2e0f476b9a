ALTER TABLE contacts DROP COLUMN blocked_by, DROP COLUMN block_reason, DROP COLUMN blocked_until,
    DROP COLUMN blocked_at;
ALTER TABLE channel_identities DROP COLUMN refused_at, DROP COLUMN unreachable_at;
DROP TABLE telegram_link_codes;
DROP TABLE operator_telegram_links;
DROP TABLE telegram_state;
DROP TABLE telegram_posts;
DROP TABLE telegram_outbox;
DROP TABLE telegram_inbox;
