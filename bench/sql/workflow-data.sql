-- Issue 3 bench data: 100,000 conversations (60% closed, 35% resolved, 4% active, 1% pending)
-- in the default group, one contact each, 10 events each (1,000,000 events: messages, every
-- 5th a note) with English or Russian words. Assignees: the 200 agents op001..op200.
-- `zanzibar` is in 20 events (the rare word); `order` in about 12% (the common word).
\set ON_ERROR_STOP 1
SET maintenance_work_mem = '256MB';
SET synchronous_commit = off;
CREATE TEMP TABLE ops AS
    SELECT array_agg(id ORDER BY email) AS a FROM operators WHERE email LIKE 'op%@wf.local';
CREATE TEMP TABLE vocab AS SELECT
    ARRAY['order','refund','card','payment','delivery','account','password','login','error',
          'price','invoice','shipping','address','email','subscription','cancel','help','please',
          'thanks','hello','today','tomorrow','package','tracking','number','discount','coupon',
          'store','return','exchange','size','color','broken','screen','phone','laptop','charger',
          'battery','warranty','support'] AS en,
    ARRAY['заказ','возврат','карта','оплата','доставка','аккаунт','пароль','вход','ошибка',
          'цена','счёт','адрес','почта','подписка','отмена','помогите','пожалуйста','спасибо',
          'здравствуйте','сегодня','завтра','посылка','трек','номер','скидка','купон','магазин',
          'обмен','размер','цвет','сломан','экран','телефон','ноутбук','зарядка','батарея',
          'гарантия','поддержка','курьер','деньги'] AS ru;

INSERT INTO contacts (id, alias, language, created_at)
SELECT md5('c' || g)::uuid, 'Visitor ' || g, CASE WHEN g % 3 = 0 THEN 'ru' ELSE 'en' END,
       now() - interval '400 days' + g * interval '5 minutes'
FROM generate_series(1, 100000) g;

INSERT INTO conversations (id, ticket, contact_id, channel, status, priority, level, assignee_id,
    language, group_id, created_at, updated_at, assigned_at, first_response_at, resolved_at,
    closed_at, last_seq, last_message_at, unanswered, visitor_read_seq, operator_read_seq)
SELECT md5('v' || g)::uuid, 'BW-' || lpad(g::text, 6, '0'), md5('c' || g)::uuid, 'web', s.status,
       (g % 4)::smallint, 0, CASE WHEN s.status = 'pending' THEN NULL ELSE ops.a[1 + g % 200] END,
       CASE WHEN g % 3 = 0 THEN 'ru' ELSE 'en' END, '00000000-0000-7000-8000-000000000001',
       s.t, s.t + interval '10 minutes',
       CASE WHEN s.status <> 'pending' THEN s.t + interval '1 minute' END,
       CASE WHEN s.status <> 'pending' THEN s.t + interval '2 minutes' END,
       CASE WHEN s.status IN ('resolved', 'closed') THEN s.t + interval '20 minutes' END,
       CASE WHEN s.status = 'closed' THEN s.t + interval '30 minutes' END,
       10, s.t + interval '10 minutes', 0, 10, 10
FROM generate_series(1, 100000) g, ops,
     LATERAL (SELECT CASE WHEN g % 100 < 60 THEN 'closed' WHEN g % 100 < 95 THEN 'resolved'
                          WHEN g % 100 < 99 THEN 'active' ELSE 'pending' END AS status,
                     now() - interval '400 days' + g * interval '5 minutes' AS t) s;

DROP INDEX events_search_idx;
INSERT INTO events (conversation_id, seq, kind, author, author_id, author_name, body, created_at)
SELECT md5('v' || g)::uuid, n,
       CASE WHEN n % 5 = 0 THEN 'note' ELSE 'message' END,
       CASE WHEN n % 2 = 0 OR n % 5 = 0 THEN 'operator' ELSE 'visitor' END,
       CASE WHEN n % 2 = 0 OR n % 5 = 0 THEN ops.a[1 + g % 200] END,
       CASE WHEN n % 2 = 0 OR n % 5 = 0 THEN 'Agent ' || (1 + g % 200) ELSE 'Visitor ' || g END,
       w[1 + floor(random() * 40)::int] || ' ' || w[1 + floor(random() * 40)::int] || ' ' ||
       w[1 + floor(random() * 40)::int] || ' ' || w[1 + floor(random() * 40)::int] || ' ' ||
       w[1 + floor(random() * 40)::int] || ' ' || w[1 + floor(random() * 40)::int] || ' ' ||
       w[1 + floor(random() * 40)::int] || ' ' || w[1 + floor(random() * 40)::int] ||
       CASE WHEN (g * 10 + n) % 50000 = 17 THEN ' zanzibar' ELSE '' END,
       now() - interval '400 days' + g * interval '5 minutes' + n * interval '1 minute'
FROM generate_series(1, 100000) g CROSS JOIN generate_series(1, 10) n, ops, vocab,
     LATERAL (SELECT CASE WHEN g % 3 = 0 THEN vocab.ru ELSE vocab.en END AS w) l;
CREATE INDEX events_search_idx ON events USING GIN (search) WHERE kind IN ('message', 'note');
ANALYZE;
