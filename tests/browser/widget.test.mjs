// The visitor widget in a real browser: the demo page, a chat with an operator, reloads, a
// server restart mid-chat, rating, Russian, a phone-sized screen, keyboard use, and a
// customer site on another origin.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import {
  Server,
  OperatorSocket,
  eventually,
  launchBrowser,
  newPage,
  screenshot,
  storedCount,
  widget,
} from './harness.mjs';

const { message: msg, countOf, open: openWidget, write } = widget;

describe('visitor widget', () => {
  let server;
  let browser;
  let site;
  let siteUrl;
  let operator;
  let opSocket;
  let page;
  let conversationId;

  before(async () => {
    // A customer's own site on another origin, embedding the widget with one script tag.
    site = createServer((req, res) => {
      const query = new URL(req.url, 'http://site').searchParams;
      const group = query.get('group');
      const groupAttr = group ? ` data-group="${group.replace(/[^A-Za-z0-9 _-]/g, '')}"` : '';
      const headers = { 'Content-Type': 'text/html; charset=utf-8' };
      // A strict site: no inline styles, scripts only from itself and the support server.
      if (query.has('csp')) headers['Content-Security-Policy'] = `default-src 'self'; style-src 'self'; script-src 'self' 'unsafe-inline' ${server.url}; connect-src ${server.url} ${server.url.replace('http', 'ws')}`;
      // An old library that gives arrays a toJSON (Prototype.js did), which breaks naive JSON.
      const hostile = query.has('prototype') ? '<script>Array.prototype.toJSON = function () { return JSON.stringify(this.slice()); };</script>' : '';
      res.writeHead(200, headers);
      res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>${hostile}</head>
        <body><h1>A shop on another origin</h1>
        <script src="${server.url}/widget.js" data-title="Shop help" data-lang="en" data-position="left"${groupAttr}></script></body></html>`);
    });
    site.listen(0, '127.0.0.1');
    await once(site, 'listening');
    siteUrl = `http://127.0.0.1:${site.address().port}`;
    server = await Server.start({ SWITCHBOARD_ALLOWED_ORIGINS: siteUrl });
    browser = await launchBrowser();
    // Never auto-assigned, so the conversation waits in the queue until taken.
    operator = await server.addOperator({ email: 'olga@example.com', name: 'Olga Petrova', maxConcurrent: 0 });
    opSocket = await OperatorSocket.open(server, operator.token);
    page = await newPage(browser);
  });

  after(async () => {
    opSocket?.close();
    await browser?.close();
    site?.close();
    if (server) {
      await server.destroy();
    }
  });

  test('a visitor writes from the demo page and sees the message sent and their place in the queue', async () => {
    await openWidget(page, `${server.url}/widget`);
    await page.locator('[data-testid="name"]').fill('Ann');
    await write(page, 'Hello, my order is late');
    // Shown at once, before the server has answered.
    await msg(page, 'Hello, my order is late').waitFor();
    await eventually(async () => (await msg(page, 'Hello, my order is late').getAttribute('data-state')) === 'sent', {
      message: 'the message is marked sent',
    });
    assert.match(await msg(page, 'Hello, my order is late').innerText(), /Sent/);
    await page.locator('[data-testid="queue"]', { hasText: 'You are next in line.' }).waitFor();
    assert.equal(await page.locator('[data-testid="status"]').innerText(), 'Waiting for an operator');
    assert.equal(await storedCount(server, 'Hello, my order is late'), 1);
    // The name field is only offered before the chat starts.
    assert.equal(await page.locator('[data-testid="name"]').isVisible(), false);
    await screenshot(page, 'widget-waiting');
  });

  test('the operator takes it and replies: the visitor sees typing, the reply as Live Support, never a note', async () => {
    const pending = await server.api('GET', '/api/v1/conversations?status=pending', { token: operator.token });
    assert.equal(pending.body.items.length, 1);
    conversationId = pending.body.items[0].id;
    const take = await server.api('POST', `/api/v1/conversations/${conversationId}/take`, { token: operator.token });
    assert.equal(take.status, 200);
    await page.locator('[data-testid="status"]', { hasText: 'You are chatting with support' }).waitFor();
    assert.equal(await page.locator('[data-testid="queue"]').isVisible(), false);

    opSocket.send({ type: 'typing', conversation_id: conversationId, active: true });
    await page.locator('[data-testid="typing"]', { hasText: 'Live Support is typing…' }).waitFor();

    const note = await server.api('POST', `/api/v1/conversations/${conversationId}/notes`, {
      token: operator.token,
      body: { client_id: 'note-1', text: 'Internal: courier delay, ticket 42' },
    });
    assert.equal(note.status, 201);
    const reply = await server.api('POST', `/api/v1/conversations/${conversationId}/messages`, {
      token: operator.token,
      body: { client_id: 'reply-1', text: 'Hi Ann, let me check that for you.' },
    });
    assert.equal(reply.status, 201);
    const shown = msg(page, 'Hi Ann, let me check that for you.');
    await shown.waitFor();
    assert.equal(await shown.getAttribute('data-author'), 'operator');
    assert.equal(await shown.locator('.who').innerText(), 'Live Support');
    // The reply stops the typing indicator.
    await page.locator('[data-testid="typing"]').waitFor({ state: 'hidden' });
    // The note was stored before the reply, so had it been sent it would be on screen now.
    const log = await page.locator('[data-testid="log"]').innerText();
    assert.doesNotMatch(log, /courier delay/);
    assert.doesNotMatch(log, /Olga|Petrova/);
    assert.equal(await storedCount(server, 'Internal: courier delay, ticket 42'), 1);

    // The visitor's own typing reaches the operator.
    await page.locator('[data-testid="input"]').pressSequentially('Th', { delay: 30 });
    await opSocket.next((f) => f.type === 'typing' && f.author === 'visitor' && f.active === true);
    await page.locator('[data-testid="input"]').fill('');
    await screenshot(page, 'widget-chat');
  });

  test('reloading the page shows the whole history once', async () => {
    await page.reload();
    // The window was open, so it opens again; the history is replayed from the server.
    await msg(page, 'Hi Ann, let me check that for you.').waitFor();
    await msg(page, 'Hello, my order is late').waitFor();
    assert.equal(await countOf(page, 'Hello, my order is late'), 1);
    assert.equal(await countOf(page, 'Hi Ann, let me check that for you.'), 1);
    const visible = await server.api('GET', `/api/v1/conversations/${conversationId}/events`, { token: operator.token });
    const forVisitor = visible.body.items.filter((e) => e.kind !== 'note' && !(e.data && e.data.internal));
    assert.equal(await page.locator('[data-testid="message"]').count(), forVisitor.length);
    assert.equal(await page.locator('[data-testid="status"]').innerText(), 'You are chatting with support');
  });

  test('a message typed while the server restarts arrives once after the reconnect', async () => {
    await server.stop();
    await page.locator('[data-testid="connection"]', { hasText: /Reconnecting/ }).waitFor();
    await write(page, 'Are you still there?');
    const item = msg(page, 'Are you still there?');
    await item.waitFor();
    assert.equal(await item.getAttribute('data-state'), 'sending');
    await server.spawn();
    await eventually(async () => (await item.getAttribute('data-state')) === 'sent', {
      timeout: 30000,
      message: 'the message is acknowledged after the restart',
    });
    await page.locator('[data-testid="connection"]').waitFor({ state: 'hidden' });
    assert.equal(await countOf(page, 'Are you still there?'), 1);
    assert.equal(await storedCount(server, 'Are you still there?'), 1);
    // A reload after that still shows it once.
    await page.reload();
    await msg(page, 'Are you still there?').waitFor();
    assert.equal(await countOf(page, 'Are you still there?'), 1);
    assert.equal(await countOf(page, 'Hello, my order is late'), 1);
  });

  test('after the conversation is resolved the visitor rates it, and the rating is stored', async () => {
    const resolved = await server.api('POST', `/api/v1/conversations/${conversationId}/resolve`, { token: operator.token });
    assert.equal(resolved.status, 200);
    const rating = page.locator('[data-testid="rating"]');
    await rating.waitFor();
    await page.locator('[data-testid="status"]', { hasText: 'This conversation was resolved' }).waitFor();
    await page.locator('label.star', { has: page.locator('[data-testid="star-4"]') }).click();
    await page.locator('#sb-comment').fill('Quick and friendly');
    await page.mouse.move(0, 0);
    // Four stars are lit, from the left, as the visitor sees them.
    const lit = await page.locator('label.star').evaluateAll((stars) =>
      stars.map((s) => [Math.round(s.getBoundingClientRect().x), getComputedStyle(s).color === 'rgb(180, 83, 9)']),
    );
    lit.sort((a, b) => a[0] - b[0]);
    assert.deepEqual(lit.map(([, on]) => on), [true, true, true, true, false]);
    await screenshot(page, 'widget-rating');
    await rating.locator('button[type="submit"]').click();
    await page.locator('[data-testid="rated"]', { hasText: 'Thank you for your feedback!' }).waitFor();
    assert.equal(await rating.isVisible(), false);
    const rows = await server.sql(`SELECT rating, rating_comment FROM conversations WHERE id = '${conversationId}'`);
    assert.deepEqual(rows, [['4', 'Quick and friendly']]);
    // Still rated after a reload: the form does not come back.
    await page.reload();
    await page.locator('[data-testid="rated"]').waitFor();
    assert.equal(await page.locator('[data-testid="rating"]').isVisible(), false);
    assert.deepEqual(page.problems, []);
  });

  test('in Russian on a phone-sized screen the window fills the screen', async () => {
    const phone = await newPage(browser, { locale: 'ru-RU', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await phone.goto(`${server.url}/widget`);
    const launcher = phone.locator('[data-testid="launcher"]');
    assert.equal(await launcher.getAttribute('aria-label'), 'Открыть чат с поддержкой');
    await launcher.click();
    const box = await phone.locator('[data-testid="window"]').boundingBox();
    assert.equal(Math.round(box.width), 390);
    assert.equal(Math.round(box.height), 844);
    assert.equal(await phone.locator('[data-testid="name"]').getAttribute('placeholder'), 'Ваше имя (необязательно)');
    await write(phone, 'Здравствуйте, где мой заказ?');
    const item = await widget.sent(phone, 'Здравствуйте, где мой заказ?');
    assert.match(await item.innerText(), /Отправлено/);
    await phone.locator('[data-testid="status"]', { hasText: 'Ожидаем оператора' }).waitFor();
    // System events are worded in the visitor's language too.
    const [conv] = (await server.api('GET', '/api/v1/conversations?status=pending', { token: operator.token })).body.items;
    assert.equal((await server.api('POST', `/api/v1/conversations/${conv.id}/take`, { token: operator.token })).status, 200);
    await msg(phone, 'Оператор подключился к разговору').waitFor();
    await phone.locator('[data-testid="status"]', { hasText: 'Вы в чате с поддержкой' }).waitFor();
    assert.doesNotMatch(await phone.locator('[data-testid="log"]').innerText(), /An operator joined/);
    await screenshot(phone, 'widget-phone-ru');
    assert.deepEqual(phone.problems, []);
    await phone.context().close();
  });

  test('the widget works from the keyboard alone', async () => {
    const kb = await newPage(browser);
    await kb.goto(`${server.url}/widget`);
    const launcherFocused = () =>
      kb.evaluate(() => document.activeElement?.id === 'switchboard-widget' && document.activeElement.shadowRoot.activeElement?.dataset.testid === 'launcher');
    for (let i = 0; i < 10 && !(await launcherFocused()); i++) await kb.keyboard.press('Tab');
    assert.ok(await launcherFocused(), 'Tab reaches the launcher');
    await kb.keyboard.press('Enter');
    await kb.locator('[data-testid="window"]').waitFor();
    // Focus starts in the name field; Enter moves on to the message.
    await kb.keyboard.type('Kim');
    await kb.keyboard.press('Enter');
    await kb.keyboard.type('Typed without a mouse');
    await kb.keyboard.press('Enter');
    await widget.sent(kb, 'Typed without a mouse');
    await kb.keyboard.press('Escape');
    await kb.locator('[data-testid="window"]').waitFor({ state: 'hidden' });
    assert.ok(await launcherFocused(), 'focus returns to the launcher');
    await kb.context().close();
  });

  test('a customer site on an allowed origin embeds the widget with one script tag', async () => {
    const shop = await newPage(browser);
    await openWidget(shop, siteUrl);
    assert.equal(await shop.locator('.title').innerText(), 'Shop help');
    await write(shop, 'Written on the shop site');
    await widget.sent(shop, 'Written on the shop site');
    assert.equal(await storedCount(server, 'Written on the shop site'), 1);
    // Left-hand placement from data-position.
    const box = await shop.locator('[data-testid="launcher"]').boundingBox();
    assert.ok(box.x < 100, `launcher on the left (x = ${box.x})`);
    assert.deepEqual(shop.problems, []);
    await shop.context().close();
  });

  test('a site naming a group the server does not know still reaches support', async () => {
    const shop = await newPage(browser);
    await openWidget(shop, `${siteUrl}/?group=No-such-team`);
    await write(shop, 'Sent with a mistyped group');
    await widget.sent(shop, 'Sent with a mistyped group');
    const rows = await server.sql(
      `SELECT g.is_default FROM events e JOIN conversations c ON c.id = e.conversation_id JOIN groups g ON g.id = c.group_id WHERE e.body = 'Sent with a mistyped group'`,
    );
    assert.deepEqual(rows, [['t']]);
    await shop.context().close();
  });

  test('messages typed while the server is down are stored once each, in the order typed', async () => {
    const tab = await newPage(browser);
    await openWidget(tab, `${siteUrl}/?burst`);
    await write(tab, 'Burst opener');
    await widget.sent(tab, 'Burst opener');
    await server.stop();
    await tab.locator('[data-testid="connection"]', { hasText: /Reconnecting/ }).waitFor();
    // More than the per-socket burst (10): part of them is refused with rate_limited at first.
    const texts = Array.from({ length: 14 }, (_, i) => `Burst line ${String(i + 1).padStart(2, '0')}`);
    for (const text of texts) await write(tab, text);
    await server.spawn();
    for (const text of texts) await widget.sent(tab, text);
    const stored = await server.sql(
      `SELECT body FROM events WHERE conversation_id = (SELECT conversation_id FROM events WHERE body = 'Burst opener') AND body LIKE 'Burst line %' ORDER BY seq`,
    );
    assert.deepEqual(stored.map(([body]) => body), texts);
    await tab.context().close();
  });

  test('two tabs of the site share the chat and lose nothing when one closes', async () => {
    const context = await browser.newContext();
    const first = await context.newPage();
    // The first tab's socket goes through a relay the test can cut: its messages then get
    // no answer, as on a dead network, while the server stays up for the second tab.
    let relay = true;
    await first.routeWebSocket(/\/ws\/visitor/, (ws) => {
      const upstream = ws.connectToServer();
      ws.onMessage((m) => relay && upstream.send(m));
      upstream.onMessage((m) => relay && ws.send(m));
    });
    await openWidget(first, `${siteUrl}/?tabs`);
    await write(first, 'Tab one says hello');
    await widget.sent(first, 'Tab one says hello');
    // A second tab of the site: the chat was left open, so it opens there too.
    const second = await context.newPage();
    await second.goto(`${siteUrl}/?tabs`);
    await second.locator('[data-testid="window"]').waitFor();
    await widget.message(second, 'Tab one says hello').waitFor();
    // The first tab loses its network and keeps a message unsent.
    relay = false;
    await write(first, 'Typed in tab one while offline');
    assert.equal(await widget.message(first, 'Typed in tab one while offline').getAttribute('data-state'), 'sending');
    // The second tab saves its state (closing its window does), then the first tab closes.
    await second.locator('[data-testid="close"]').click();
    await first.close();
    await second.reload();
    await second.locator('[data-testid="launcher"]').click();
    await widget.sent(second, 'Typed in tab one while offline');
    await eventually(async () => (await storedCount(server, 'Typed in tab one while offline')) === 1, {
      message: 'the first tab’s unsent message is stored by the second',
    });
    assert.equal(await widget.countOf(second, 'Typed in tab one while offline'), 1);
    await context.close();
  });

  test('two fresh tabs writing at the same moment start one chat, not two', async () => {
    const context = await browser.newContext();
    const tabs = [await context.newPage(), await context.newPage()];
    // Both pages load first; then each opens its window.
    for (const tab of tabs) await tab.goto(`${siteUrl}/?race`);
    for (const tab of tabs) await tab.locator('[data-testid="launcher"]').click();
    const before = Number((await server.sql('SELECT count(*) FROM conversations'))[0][0]);
    await Promise.all([write(tabs[0], 'Race from the left tab'), write(tabs[1], 'Race from the right tab')]);
    for (const [tab, text] of [[tabs[0], 'Race from the left tab'], [tabs[1], 'Race from the right tab']]) {
      await widget.sent(tab, text);
    }
    const conversations = await server.sql(
      `SELECT DISTINCT conversation_id FROM events WHERE body IN ('Race from the left tab', 'Race from the right tab')`,
    );
    assert.equal(conversations.length, 1, 'both messages in one conversation');
    assert.equal(Number((await server.sql('SELECT count(*) FROM conversations'))[0][0]), before + 1);
    // Each tab shows the other's message too: it is the same chat.
    await widget.message(tabs[0], 'Race from the right tab').waitFor();
    await widget.message(tabs[1], 'Race from the left tab').waitFor();
    await context.close();
  });

  test('a strict site CSP and a hostile Array.prototype.toJSON do not break the widget', async () => {
    const strict = await newPage(browser);
    await strict.goto(`${siteUrl}/?csp`);
    const launcher = strict.locator('[data-testid="launcher"]');
    await launcher.waitFor();
    // Styled although the page forbids inline styles: fixed in the corner, 60 px round.
    const look = await strict.evaluate(() => {
      const root = document.getElementById('switchboard-widget').shadowRoot;
      const box = root.querySelector('.sb');
      return { position: getComputedStyle(box).position, width: root.querySelector('.launcher').getBoundingClientRect().width };
    });
    assert.deepEqual(look, { position: 'fixed', width: 60 });
    assert.deepEqual(strict.problems, []);
    await strict.context().close();

    const old = await newPage(browser);
    await openWidget(old, `${siteUrl}/?prototype`);
    await write(old, 'Sent from an old-library site');
    await widget.sent(old, 'Sent from an old-library site');
    await server.stop();
    await write(old, 'Queued on an old-library site');
    await old.reload().catch(() => {});
    await server.spawn();
    await old.reload();
    await old.locator('[data-testid="launcher"]').click();
    await widget.sent(old, 'Queued on an old-library site');
    assert.equal(await storedCount(server, 'Queued on an old-library site'), 1);
    assert.equal(await old.locator('[data-testid="message"][data-state="sending"]').count(), 0);
    assert.deepEqual(old.problems, []);
    await old.context().close();
  });

  test('replies already read are not counted as unread after a reload', async () => {
    const tab = await newPage(browser);
    await openWidget(tab, `${siteUrl}/?unread`);
    await write(tab, 'Unread check opener');
    await widget.sent(tab, 'Unread check opener');
    const id = (await server.sql(`SELECT conversation_id FROM events WHERE body = 'Unread check opener'`))[0][0];
    assert.equal((await server.api('POST', `/api/v1/conversations/${id}/take`, { token: operator.token })).status, 200);
    for (const text of ['Reply seen one', 'Reply seen two']) {
      await server.api('POST', `/api/v1/conversations/${id}/messages`, { token: operator.token, body: { client_id: text, text } });
      await widget.message(tab, text).waitFor();
    }
    await tab.locator('[data-testid="close"]').click();
    await server.api('POST', `/api/v1/conversations/${id}/messages`, { token: operator.token, body: { client_id: 'unseen', text: 'Reply not seen yet' } });
    await tab.locator('[data-testid="unread"]', { hasText: '1' }).waitFor();
    await tab.reload();
    await tab.locator('[data-testid="launcher"]').waitFor();
    // The replay brings all three replies again; only the unseen one counts.
    await eventually(async () => (await tab.locator('[data-testid="unread"]').innerText()) === '1', { message: 'one unread after the reload' });
    assert.equal(await tab.evaluate(() => document.activeElement?.id === 'switchboard-widget'), false, 'a page load does not take the focus');
    await tab.context().close();
  });
});
