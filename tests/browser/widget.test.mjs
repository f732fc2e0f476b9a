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
      const group = new URL(req.url, 'http://site').searchParams.get('group');
      const groupAttr = group ? ` data-group="${group.replace(/[^A-Za-z0-9 _-]/g, '')}"` : '';
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
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
});
