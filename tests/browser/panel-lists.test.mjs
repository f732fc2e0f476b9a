// The operator panel's conversation lists in a real browser: filters answered by the server
// (priority, tag, channel, status, paging with the filters kept) and kept right by live
// frames, "Seen" marks that survive a reload (`visitor_read_seq`), unread counts (with the
// shared `operator_read_seq` when this browser has no read position), and the notice when the
// router assigns a new conversation.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, eventually, launchBrowser, newPage, screenshot, signIn, widget } from './harness.mjs';

const event = (page, text) => page.locator('[data-testid="event"]', { hasText: text });
const item = (page, id) => page.locator(`[data-testid="conv-item"][data-id="${id}"]`);


/** Every id the API lists for a query (all pages), sorted. */
async function apiIds(server, token, query) {
  const ids = [];
  let cursor;
  do {
    const qs = new URLSearchParams({ ...query, limit: '100', ...(cursor ? { cursor } : {}) });
    const res = await server.api('GET', `/api/v1/conversations?${qs}`, { token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    ids.push(...res.body.items.map((c) => c.id));
    cursor = res.body.next;
  } while (cursor);
  return ids.sort();
}

/** The ids the list shows, sorted. */
async function shownIds(page) {
  const ids = await page.locator('[data-testid="conv-item"]').evaluateAll((els) => els.map((e) => e.dataset.id));
  return ids.sort();
}

/** Waits until the list shows exactly what the API returns for `query`; returns those ids. */
async function listMatchesApi(page, server, token, query, message) {
  let want;
  await eventually(async () => {
    want = await apiIds(server, token, query);
    const shown = await shownIds(page);
    return JSON.stringify(shown) === JSON.stringify(want);
  }, { message: `the list shows what the API lists for ${JSON.stringify(query)} (${message})` });
  return want;
}

/** The ids that are new in `after` compared with `before`. */
const added = (before, after) => after.filter((id) => !before.includes(id));

describe('operator panel lists', () => {
  let server;
  let browser;
  let admin;
  let supervisor;
  let agent;
  const tags = {};

  /** A waiting conversation (the first message from a widget session), with a priority and tags. */
  async function newChat(text, { priority, tagNames = [] } = {}) {
    const session = await server.api('POST', '/api/v1/widget/sessions', { body: { message: text } });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    const id = session.body.conversation_id;
    if (priority) await setPriority(id, priority);
    for (const name of tagNames) await tag(id, name);
    return id;
  }

  async function setPriority(id, priority) {
    const res = await server.api('POST', `/api/v1/conversations/${id}/priority`, { token: supervisor.token, body: { priority } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  }

  async function tag(id, name) {
    const res = await server.api('POST', `/api/v1/conversations/${id}/tags`, { token: supervisor.token, body: { tag_id: tags[name].id } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  }

  async function untag(id, name) {
    const res = await server.api('DELETE', `/api/v1/conversations/${id}/tags/${tags[name].id}`, { token: supervisor.token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  }

  before(async () => {
    // The paging test opens more widget sessions than the default per-address limit allows.
    server = await Server.start({ SWITCHBOARD_SESSIONS_PER_IP_PER_MIN: '1000' });
    browser = await launchBrowser();
    admin = await server.addOperator({ email: 'ada@example.com', name: 'Ada Admin', role: 'admin', maxConcurrent: 0 });
    supervisor = await server.addOperator({ email: 'sam@example.com', name: 'Sam Super', role: 'supervisor', maxConcurrent: 0 });
    // Never auto-assigned, so conversations wait in the queue until taken.
    agent = await server.addOperator({ email: 'olga@example.com', name: 'Olga Petrova', role: 'agent', maxConcurrent: 0 });
    for (const name of ['billing', 'refund']) {
      const res = await server.api('POST', '/api/v1/tags', { token: admin.token, body: { name } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      tags[name] = res.body;
    }
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
  });

  test('queue filters come from the server and follow live changes', async () => {
    const a = await newChat('Filter chat alpha', { priority: 'urgent', tagNames: ['billing'] });
    const b = await newChat('Filter chat bravo', { priority: 'high', tagNames: ['refund'] });
    const c = await newChat('Filter chat charlie', { priority: 'high' });
    const d = await newChat('Filter chat delta', { priority: 'low', tagNames: ['billing'] });
    const e = await newChat('Filter chat echo');

    const panel = await newPage(browser);
    const listRequests = [];
    panel.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname === '/api/v1/conversations') listRequests.push(url.searchParams);
    });
    await signIn(panel, server, agent);
    await panel.goto(`${server.url}/admin#/queue`);
    const everything = await listMatchesApi(panel, server, agent.token, { status: 'pending' }, 'no filter');
    for (const id of [a, b, c, d, e]) assert.ok(everything.includes(id));

    // Priority: only the high ones, asked of the server.
    await panel.locator('[data-testid="filter-priority"]').selectOption('high');
    let want = await listMatchesApi(panel, server, agent.token, { status: 'pending', priority: 'high' }, 'priority high');
    assert.deepEqual(want, [b, c].sort());
    assert.ok(listRequests.some((q) => q.get('priority') === 'high' && q.get('status') === 'pending'),
      'the priority filter is sent to the server');

    // A conversation that becomes high while the filter is set joins the list...
    const f = await newChat('Filter chat foxtrot, live');
    assert.equal(await item(panel, f).count(), 0, 'a medium conversation is not in the high list');
    await setPriority(f, 'high');
    await item(panel, f).waitFor();
    // ...and one that stops being high leaves it.
    await setPriority(b, 'low');
    await item(panel, b).waitFor({ state: 'detached' });
    want = await listMatchesApi(panel, server, agent.token, { status: 'pending', priority: 'high' }, 'after live changes');
    assert.deepEqual(want, [c, f].sort());
    assert.equal(await panel.locator('.pane-count').innerText(), '2');
    await screenshot(panel, 'panel-filters');

    // Tag: by id on the server; tagging and untagging move conversations in and out live.
    await panel.locator('[data-testid="filter-priority"]').selectOption('');
    await panel.locator('[data-testid="filter-tag"]').selectOption(tags.billing.id);
    want = await listMatchesApi(panel, server, agent.token, { status: 'pending', tag: tags.billing.id }, 'tag billing');
    assert.deepEqual(want, [a, d].sort());
    assert.ok(listRequests.some((q) => q.get('tag') === tags.billing.id), 'the tag filter is sent to the server');
    await tag(c, 'billing');
    await item(panel, c).waitFor();
    await untag(a, 'billing');
    await item(panel, a).waitFor({ state: 'detached' });
    want = await listMatchesApi(panel, server, agent.token, { status: 'pending', tag: tags.billing.id }, 'after tagging');
    assert.deepEqual(want, [c, d].sort());

    // Two filters at once.
    await panel.locator('[data-testid="filter-priority"]').selectOption('low');
    want = await listMatchesApi(panel, server, agent.token, { status: 'pending', tag: tags.billing.id, priority: 'low' }, 'tag and priority');
    assert.deepEqual(want, [d]);

    // Channel: every chat here came from the web widget; none from Telegram.
    await panel.locator('[data-testid="filter-priority"]').selectOption('');
    await panel.locator('[data-testid="filter-tag"]').selectOption('');
    await panel.locator('[data-testid="filter-channel"]').selectOption('web');
    want = await listMatchesApi(panel, server, agent.token, { status: 'pending', channel: 'web' }, 'channel web');
    assert.deepEqual(want, await apiIds(server, agent.token, { status: 'pending' }));
    await panel.locator('[data-testid="filter-channel"]').selectOption('telegram');
    const empty = panel.locator('[data-testid="list-empty"]');
    await empty.waitFor();
    assert.match(await empty.innerText(), /No conversations match these filters/);
    assert.deepEqual(await apiIds(server, agent.token, { status: 'pending', channel: 'telegram' }), []);
    assert.equal(await panel.locator('[data-testid="conv-item"]').count(), 0);
    assert.ok(listRequests.some((q) => q.get('channel') === 'telegram'), 'the channel filter is sent to the server');
    // A new web chat does not show up under Telegram.
    const g = await newChat('Filter chat golf, web');
    await eventually(async () => (await apiIds(server, agent.token, { status: 'pending' })).includes(g));
    assert.equal(await item(panel, g).count(), 0);
    await screenshot(panel, 'panel-filters-empty');

    // "Clear filters" brings everything back.
    await panel.locator('[data-testid="clear-filters"]').click();
    await listMatchesApi(panel, server, agent.token, { status: 'pending' }, 'filters cleared');
    for (const name of ['priority', 'tag', 'channel']) {
      assert.equal(await panel.locator(`[data-testid="filter-${name}"]`).inputValue(), '');
    }
    assert.deepEqual(panel.problems, []);
    await panel.context().close();
  });

  test('load more keeps the filters (resolved, high priority)', async () => {
    const high = [];
    for (let i = 0; i < 53; i++) high.push(await newChat(`Paged high ${i}`, { priority: 'high' }));
    const low = [];
    for (let i = 0; i < 4; i++) low.push(await newChat(`Paged low ${i}`, { priority: 'low' }));
    for (const id of [...high, ...low]) {
      const res = await server.api('POST', `/api/v1/conversations/${id}/resolve`, { token: supervisor.token });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    const panel = await newPage(browser);
    await signIn(panel, server, supervisor);
    await panel.goto(`${server.url}/admin#/all`);
    await panel.locator('[data-testid="filter-status"]').selectOption('resolved');
    await panel.locator('[data-testid="filter-priority"]').selectOption('high');
    const more = panel.locator('[data-testid="load-more"]');
    await more.waitFor();
    await eventually(async () => (await panel.locator('[data-testid="conv-item"]').count()) === 50, { message: 'the first page of 50' });
    await more.click();
    await more.waitFor({ state: 'hidden' });
    const want = await listMatchesApi(panel, server, supervisor.token, { status: 'resolved', priority: 'high' }, 'two pages');
    assert.deepEqual(want, [...high].sort());
    for (const id of low) assert.equal(await item(panel, id).count(), 0);
    const statuses = await panel.locator('[data-testid="conv-item"]').evaluateAll((els) => [...new Set(els.map((e) => e.dataset.status))]);
    assert.deepEqual(statuses, ['resolved']);
    assert.deepEqual(panel.problems, []);
    await panel.context().close();
  });

  test('"Seen" marks survive a reload of the panel', async () => {
    const before = await apiIds(server, agent.token, { status: 'pending' });
    const visitor = await newPage(browser);
    await widget.open(visitor, `${server.url}/widget`);
    await widget.write(visitor, 'Where is my seen parcel');
    await widget.sent(visitor, 'Where is my seen parcel');
    const [id] = added(before, await apiIds(server, agent.token, { status: 'pending' }));
    assert.ok(id);
    assert.equal((await server.api('POST', `/api/v1/conversations/${id}/take`, { token: agent.token })).status, 200);

    const panel = await newPage(browser);
    await signIn(panel, server, agent);
    await panel.goto(`${server.url}/admin#/c/${id}`);
    await event(panel, 'Where is my seen parcel').waitFor();
    await panel.locator('[data-testid="composer"]').fill('Your seen parcel is on its way');
    await panel.locator('[data-testid="send"]').click();
    await widget.message(visitor, 'Your seen parcel is on its way').waitFor();
    const reply = event(panel, 'Your seen parcel is on its way');
    await reply.locator('[data-testid="seen"]').waitFor();
    const seq = Number(await reply.getAttribute('data-seq'));
    assert.ok(seq > 0);

    // The visitor leaves; a later reply is never read.
    await visitor.context().close();
    await panel.locator('[data-testid="composer"]').fill('Anything else about the unseen parcel?');
    await panel.locator('[data-testid="send"]').click();
    const later = event(panel, 'Anything else about the unseen parcel?');
    await eventually(async () => Number(await later.getAttribute('data-seq')) > seq, { message: 'the later reply is stored' });

    // The server keeps the customer's read mark (within about 2 s).
    await eventually(async () => {
      const res = await server.api('GET', `/api/v1/conversations/${id}`, { token: agent.token });
      return res.body.visitor_read_seq >= seq;
    }, { message: 'visitor_read_seq is stored' });

    await panel.reload();
    await event(panel, 'Your seen parcel is on its way').locator('[data-testid="seen"]').waitFor();
    await event(panel, 'Anything else about the unseen parcel?').waitFor();
    assert.equal(await event(panel, 'Anything else about the unseen parcel?').locator('[data-testid="seen"]').count(), 0);
    assert.equal(await event(panel, 'Where is my seen parcel').locator('[data-testid="seen"]').count(), 0, 'no mark on the customer\'s own message');
    await screenshot(panel, 'panel-seen-after-reload');
    assert.deepEqual(panel.problems, []);
    await panel.context().close();
  });

  test('unread counts in the queue, cleared by opening the chat, and shared with a fresh browser', async () => {
    const panel = await newPage(browser);
    await signIn(panel, server, agent);
    await panel.goto(`${server.url}/admin#/queue`);
    await panel.locator('[data-testid="conv-item"]').first().waitFor();

    const before = await apiIds(server, agent.token, { status: 'pending' });
    const visitor = await newPage(browser);
    await widget.open(visitor, `${server.url}/widget`);
    await widget.write(visitor, 'Unread number one');
    await widget.sent(visitor, 'Unread number one');
    const [id] = added(before, await apiIds(server, agent.token, { status: 'pending' }));
    assert.ok(id);
    const row = item(panel, id);
    await row.locator('[data-testid="unread"]', { hasText: '1' }).waitFor();
    for (const text of ['Unread number two', 'Unread number three']) {
      await widget.write(visitor, text);
      await widget.sent(visitor, text);
    }
    const unread = row.locator('[data-testid="unread"]');
    await eventually(async () => (await unread.innerText()).trim() === '3', { message: 'three unread messages' });
    const summary = (await server.api('GET', `/api/v1/conversations/${id}`, { token: agent.token })).body;
    assert.equal(summary.unanswered, 3);
    assert.equal(summary.operator_read_seq, 0);
    await screenshot(panel, 'panel-unread');

    // Opening the chat reads it.
    await row.click();
    await event(panel, 'Unread number three').waitFor();
    await unread.waitFor({ state: 'detached' });
    assert.equal(await row.count(), 1, 'still waiting in the queue');

    // Another browser has no read position of its own: the shared operator mark applies.
    await eventually(async () => {
      const res = await server.api('GET', `/api/v1/conversations/${id}`, { token: agent.token });
      return res.body.operator_read_seq >= res.body.last_seq;
    }, { message: 'operator_read_seq is stored' });
    // Closed, so that it does not read what the visitor writes next.
    await panel.context().close();
    const other = await newPage(browser);
    await signIn(other, server, agent);
    await other.goto(`${server.url}/admin#/queue`);
    const otherRow = item(other, id);
    await otherRow.waitFor();
    // Rendered from the welcome and the list: still no count for messages already read.
    await other.locator('[data-list="queue"]:not([data-loading])').waitFor();
    assert.equal(await otherRow.locator('[data-testid="unread"]').count(), 0);
    // A new message counts from there.
    await widget.write(visitor, 'Unread number four');
    await widget.sent(visitor, 'Unread number four');
    await otherRow.locator('[data-testid="unread"]', { hasText: '1' }).waitFor();
    assert.deepEqual(panel.problems, []);
    assert.deepEqual(other.problems, []);
    await other.context().close();
    await visitor.context().close();
  });
});

describe('operator panel: a new assignment', () => {
  let server;
  let browser;
  let nina;

  before(async () => {
    server = await Server.start();
    browser = await launchBrowser();
    // Room for chats: the router assigns to her while she is online.
    nina = await server.addOperator({ email: 'nina@example.com', name: 'Nina Router', role: 'agent', maxConcurrent: 2 });
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
  });

  test('the router assigns a new chat: the panel lists it, marks it new and raises a notice', async () => {
    const panel = await newPage(browser);
    await signIn(panel, server, nina);
    await panel.goto(`${server.url}/admin#/mine`);
    await panel.locator('[data-testid="connection"][data-state="open"]').waitFor();
    await panel.locator('[data-list="mine"]:not([data-loading])').waitFor();
    assert.equal(await panel.locator('[data-testid="conv-item"]').count(), 0);
    assert.equal(await panel.evaluate(() => window.__sbNotifications ?? 0), 0);

    const visitor = await newPage(browser);
    await widget.open(visitor, `${server.url}/widget`);
    await widget.write(visitor, 'Routed to whoever is free');
    await widget.sent(visitor, 'Routed to whoever is free');
    const id = await eventually(async () => {
      const res = await server.api('GET', '/api/v1/conversations?assignee=me', { token: nina.token });
      return res.body.items[0]?.id;
    }, { message: 'the router assigns the chat' });

    const row = item(panel, id);
    await row.waitFor();
    await row.locator('[data-testid="new-assigned"]').waitFor();
    await eventually(async () => (await panel.locator('[data-testid="badge-mine"]').innerText()).trim() === '1', {
      message: 'the "mine" badge counts it',
    });
    const notice = panel.locator('[data-testid="toast"][data-kind="notice"]');
    await notice.waitFor();
    assert.match(await notice.innerText(), /New conversation assigned to you/);
    assert.equal(await panel.evaluate(() => window.__sbNotifications), 1);
    assert.equal(await panel.locator('html').getAttribute('data-notifications'), '1');
    assert.equal(await panel.locator('html').getAttribute('data-last-notification'), id);
    await screenshot(panel, 'panel-assigned');

    // The notice opens the chat; once opened it is no longer new.
    await notice.locator('[data-testid="toast-action"]').click();
    await event(panel, 'Routed to whoever is free').waitFor();
    await row.locator('[data-testid="new-assigned"]').waitFor({ state: 'detached' });
    await notice.waitFor({ state: 'detached' });
    assert.deepEqual(panel.problems, []);
    await panel.context().close();
    await visitor.context().close();
  });
});
