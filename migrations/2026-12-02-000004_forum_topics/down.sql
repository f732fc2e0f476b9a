DROP TABLE telegram_topics;
