-- Issue 11 benchmark data: :idle open conversations waiting with their idle deadline a day
-- away, and :due more whose idle deadline falls due at :'due_at' (all in the same second).
-- Each has one customer message. Run with psql -v idle=... -v due=... -v due_at=...
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO contacts (id, alias, language, created_at)
SELECT md5('contact' || g)::uuid, 'User-' || upper(lpad(to_hex(g), 6, '0')), 'en', now()
FROM generate_series(1, :idle + :due) AS g;

INSERT INTO conversations (id, ticket, contact_id, channel, status, priority, level, language,
                           metadata, created_at, updated_at, last_seq, last_message_at,
                           unanswered, group_id, automation)
SELECT md5('conversation' || g)::uuid,
       'SUPP-20261202-' || upper(lpad(to_hex(g), 6, '0')),
       md5('contact' || g)::uuid, 'web', 'pending', 1, 0, 'en', '{}',
       t, t, 1, t, 1,
       (SELECT id FROM groups WHERE is_default),
       jsonb_build_object('customer_wrote_at', t)
FROM (SELECT g, CASE WHEN g > :idle THEN now() - interval '25 hours' ELSE now() END AS t
      FROM generate_series(1, :idle + :due) AS g) AS s;

INSERT INTO events (conversation_id, seq, kind, author, author_id, author_name, body, client_id,
                    created_at)
SELECT md5('conversation' || g)::uuid, 1, 'message', 'visitor', md5('contact' || g)::uuid,
       'User-' || upper(lpad(to_hex(g), 6, '0')), 'Hello, is anyone there?', 'c1', now()
FROM generate_series(1, :idle + :due) AS g;

INSERT INTO deadlines (conversation_id, kind, due_at)
SELECT md5('conversation' || g)::uuid, 'idle',
       CASE WHEN g > :idle THEN :'due_at'::timestamptz ELSE now() + interval '24 hours' END
FROM generate_series(1, :idle + :due) AS g;
COMMIT;
ANALYZE;
