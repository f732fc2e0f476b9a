DROP TABLE telegram_surveys;
