//! Queries for tags, canned responses, search, statistics and contact history.
