DROP TABLE telegram_texts;
