-- What the bot says to customers, as admins wrote it, per language; the built-in English and
-- Russian texts are used where there is none.
CREATE TABLE telegram_texts (
    key        TEXT NOT NULL,
    language   TEXT NOT NULL CHECK (language ~ '^[a-z]{2,3}$'),
    text       TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (key, language)
);
