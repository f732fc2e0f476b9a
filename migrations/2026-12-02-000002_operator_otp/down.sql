DROP TABLE operator_login_failures;
DROP TABLE operator_login_codes;
ALTER TABLE operator_telegram_links DROP COLUMN external_id;
