DROP TABLE assignments;
DROP TABLE events;
DROP TABLE widget_sessions;
DROP TABLE conversations;
DROP TABLE channel_identities;
DROP TABLE contacts;
DROP TABLE operator_sessions;
DROP TABLE operators;
