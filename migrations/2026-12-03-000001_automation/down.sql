ALTER TABLE groups DROP COLUMN business_hours;
ALTER TABLE contacts DROP COLUMN erased_at;
DROP INDEX conversations_category;
ALTER TABLE conversations DROP COLUMN deleted_at;
ALTER TABLE conversations DROP COLUMN automation;
DROP TABLE deadlines;
DROP TABLE settings;
DROP TABLE auto_replies;
