// The operator panel when things go wrong: the socket drops while the customer writes and the
// operator answers over HTTP (nothing is skipped, nothing shown twice, the read mark still
// reaches the server), replies measured in Unicode characters as the server measures them,
// unsent replies kept across an expired session (and never shown to or sent by another
// operator in the same tab), and what the screen reader hears.
//
// The panel's socket is cut with its test hook: `localStorage['sb.test'] = '1'` exposes
// `window.__sbSocket.pause()` / `.resume()` (closes the socket and keeps it closed).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Server, WebSocket, eventually, launchBrowser, newPage, signIn, storedCount } from './harness.mjs';

const event = (page, text) => page.locator('[data-testid="event"]', { hasText: text });

/** A panel page with the socket test hook switched on. */
async function testPage(browser) {
  const page = await newPage(browser);
  await page.context().addInitScript(() => {
    try { localStorage.setItem('sb.test', '1'); } catch { /* about:blank */ }
  });
  return page;
}

async function connection(page, state) {
  await page.locator(`[data-testid="connection"][data-state="${state}"]`).waitFor({ timeout: 15000 });
}

async function pauseSocket(page) {
  await page.evaluate(() => window.__sbSocket.pause());
  await connection(page, 'closed');
}

async function resumeSocket(page) {
  await page.evaluate(() => window.__sbSocket.resume());
  await connection(page, 'open');
}

/** The seqs of the stored events the chat shows, in page order (pending ones left out). */
const shownSeqs = (page) => page.locator('[data-testid="event"][data-seq]')
  .evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));

const range = (n) => Array.from({ length: n }, (_, i) => i + 1);

async function lastSeq(server, id) {
  return Number((await server.sql(`SELECT last_seq FROM conversations WHERE id = '${id}'`))[0][0]);
}

/** Waits until the chat shows exactly seqs 1..last_seq, once each and in order. */
async function showsAll(page, server, id, message) {
  let want;
  let got;
  try {
    await eventually(async () => {
      want = range(await lastSeq(server, id));
      got = await shownSeqs(page);
      return JSON.stringify(got) === JSON.stringify(want);
    }, { message: `${message}: the chat shows every seq once, in order` });
  } catch (e) {
    throw new Error(`${e.message} (want ${JSON.stringify(want)}, got ${JSON.stringify(got)})`);
  }
}

/** The customer's side, on its own socket: writes messages, collects frames. */
class Customer {
  static async open(server, token) {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws/visitor`);
    const customer = new Customer(ws);
    await once(ws, 'open');
    ws.send(JSON.stringify({ type: 'hello', token }));
    await customer.next((f) => f.type === 'welcome');
    return customer;
  }

  constructor(ws) {
    this.ws = ws;
    this.frames = [];
    this.sent = 0;
    ws.addEventListener('message', (m) => this.frames.push(JSON.parse(m.data)));
  }

  next(match, timeout = 15000) {
    return eventually(() => this.frames.find(match), { timeout, message: 'a customer frame' });
  }

  /** Sends a message and waits for its ack; returns the seq. */
  async say(text) {
    this.sent += 1;
    const clientId = `cust-${randomBytes(4).toString('hex')}-${this.sent}`;
    this.ws.send(JSON.stringify({ type: 'message', client_id: clientId, text }));
    const ack = await this.next((f) => f.type === 'ack' && f.client_id === clientId);
    return ack.seq;
  }

  close() {
    this.ws.close();
  }
}

/** Signs in through the login form already on screen (no navigation: the tab keeps its state). */
async function signInHere(page, operator) {
  await page.locator('#login-email').fill(operator.email);
  await page.locator('#login-password').fill(operator.password);
  await page.locator('#login-password').press('Enter');
  await page.locator('[data-testid="me"]', { hasText: operator.name }).waitFor();
}

/** Same-document navigation: the tab's memory (outbox, drafts) stays. */
async function goHash(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
}

describe('operator panel resilience', () => {
  let server;
  let browser;
  let admin;
  let supervisor;

  before(async () => {
    server = await Server.start();
    browser = await launchBrowser();
    admin = await server.addOperator({ email: 'ada@example.com', name: 'Ada Admin', role: 'admin', maxConcurrent: 0 });
    supervisor = await server.addOperator({ email: 'sam@example.com', name: 'Sam Super', role: 'supervisor', maxConcurrent: 0 });
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
  });

  /** A conversation opened by a customer and taken by `operator`, with the customer's socket. */
  async function takenChat(operator, firstLine) {
    const session = await server.api('POST', '/api/v1/widget/sessions', { body: { message: firstLine } });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    const id = session.body.conversation_id;
    const take = await server.api('POST', `/api/v1/conversations/${id}/take`, { token: operator.token });
    assert.equal(take.status, 200, JSON.stringify(take.body));
    const customer = await Customer.open(server, session.body.token);
    return { id, customer };
  }

  test('resume starts after the last event received, not after an HTTP ack (the reviewer\'s repro)', async () => {
    const agent = await server.addOperator({ email: 'rosa@example.com', name: 'Rosa Resume', maxConcurrent: 0 });
    const { id, customer } = await takenChat(agent, 'Rosa first customer line');
    const page = await testPage(browser);
    const sent = [];
    page.on('websocket', (ws) => ws.on('framesent', ({ payload }) => {
      try { sent.push(JSON.parse(payload)); } catch { /* not JSON */ }
    }));
    await signIn(page, server, agent);
    await goHash(page, `#/c/${id}`);
    await event(page, 'Rosa first customer line').waitFor();
    await connection(page, 'open');
    await showsAll(page, server, id, 'on opening');
    const before = await lastSeq(server, id);

    // The gap fill over HTTP is refused until the end, so only the resume can bring the
    // missing event back.
    const fillUrl = (url) => url.pathname.endsWith(`/conversations/${id}/events`) && url.searchParams.has('after');
    await page.route(fillUrl, (route) => route.abort());

    await pauseSocket(page);
    const customerSeq = await customer.say('Rosa customer line while the panel was cut off');
    assert.equal(customerSeq, before + 1);
    await page.locator('[data-testid="composer"]').fill('Rosa reply that went over HTTP');
    await page.locator('[data-testid="send"]').click();
    // The HTTP ack puts the reply in place with its seq, above the missing customer line.
    await page.locator(`[data-testid="event"][data-seq="${before + 2}"]`, { hasText: 'Rosa reply that went over HTTP' }).waitFor();
    assert.equal(await page.locator('[data-testid="event"][data-pending]').count(), 0);
    assert.equal(await event(page, 'Rosa customer line while the panel was cut off').count(), 0);

    sent.length = 0;
    await resumeSocket(page);
    await showsAll(page, server, id, 'after the reconnect');
    await page.unroute(fillUrl);
    assert.equal(await event(page, 'Rosa customer line while the panel was cut off').count(), 1);
    assert.equal(await event(page, 'Rosa reply that went over HTTP').count(), 1);
    const resume = await eventually(() => sent.find((f) => f.type === 'resume' && f.conversation_id === id), { message: 'a resume frame' });
    assert.equal(resume.last_seq, before, 'resume from the last event received, below the acknowledged reply');
    assert.equal(await storedCount(server, 'Rosa reply that went over HTTP'), 1);

    // And live again.
    await customer.say('Rosa customer line after the reconnect');
    await event(page, 'Rosa customer line after the reconnect').waitFor();
    await showsAll(page, server, id, 'after a live message');
    customer.close();
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('a gap behind an HTTP ack is filled at once, and the read mark made offline reaches the server', async () => {
    const agent = await server.addOperator({ email: 'gina@example.com', name: 'Gina Gap', maxConcurrent: 0 });
    const { id, customer } = await takenChat(agent, 'Gina first customer line');
    const page = await testPage(browser);
    await signIn(page, server, agent);
    await goHash(page, `#/c/${id}`);
    await event(page, 'Gina first customer line').waitFor();
    await connection(page, 'open');
    await showsAll(page, server, id, 'on opening');
    const before = await lastSeq(server, id);
    // The panel has marked the history read (the customer hears of it).
    await customer.next((f) => f.type === 'read' && f.author === 'operator' && f.seq === before);

    await pauseSocket(page);
    await customer.say('Gina customer line while the panel was cut off');
    await page.locator('[data-testid="composer"]').fill('Gina reply that went over HTTP');
    await page.locator('[data-testid="send"]').click();
    // The ack's seq shows the gap: the panel fetches it over HTTP while the socket is still down.
    await showsAll(page, server, id, 'with the socket down');
    assert.equal(await page.locator('[data-testid="connection"]').getAttribute('data-state'), 'closed');
    assert.equal(await event(page, 'Gina customer line while the panel was cut off').count(), 1);
    assert.equal(await lastSeq(server, id), before + 2);
    assert.equal(customer.frames.some((f) => f.type === 'read' && f.seq > before), false, 'no read mark without a socket');

    // Back online: the read mark made while offline is sent after the welcome.
    await resumeSocket(page);
    await customer.next((f) => f.type === 'read' && f.author === 'operator' && f.seq === before + 2);
    await eventually(async () => (await server.api('GET', `/api/v1/conversations/${id}`, { token: admin.token })).body.operator_read_seq === before + 2, {
      message: 'the server records the read mark',
    });
    await showsAll(page, server, id, 'after the reconnect');
    assert.equal(await storedCount(server, 'Gina reply that went over HTTP'), 1);
    customer.close();
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('reply length is counted in Unicode characters, as the server counts it', async () => {
    const agent = await server.addOperator({ email: 'lena@example.com', name: 'Lena Length', maxConcurrent: 0 });
    const { id, customer } = await takenChat(agent, 'Lena first customer line');
    const page = await testPage(browser);
    await signIn(page, server, agent);
    await goHash(page, `#/c/${id}`);
    await event(page, 'Lena first customer line').waitFor();
    const composer = page.locator('[data-testid="composer"]');
    const error = page.locator('[data-testid="composer-error"]');

    // 2000 characters, 3988 UTF-16 units: within the limit for the server, so for the panel.
    const fits = `Lena emoji ok ${'😀'.repeat(1986)}`;
    assert.equal([...fits].length, 2000);
    assert.ok(fits.length > 2000);
    await composer.fill(fits);
    await page.locator('[data-testid="send"]').click();
    await eventually(async () => (await storedCount(server, fits)) === 1, { message: 'the long emoji reply is stored' });
    const stored = page.locator('[data-testid="event"][data-seq]', { hasText: 'Lena emoji ok' });
    await stored.waitFor();
    assert.equal(await stored.locator('.ev-text').textContent(), fits);
    assert.equal(await error.isVisible(), false);
    assert.equal(await composer.inputValue(), '');

    // 2001 characters: refused by the server, so refused by the panel, with an announced message.
    const tooLong = `Lena emoji no ${'😀'.repeat(1987)}`;
    assert.equal([...tooLong].length, 2001);
    const direct = await server.api('POST', `/api/v1/conversations/${id}/messages`, {
      token: agent.token,
      body: { client_id: 'lena-direct-too-long', text: tooLong },
    });
    assert.ok(direct.status >= 400 && direct.status < 500, `the server refuses 2001 characters (${direct.status})`);
    await composer.fill(tooLong);
    await page.locator('[data-testid="send"]').click();
    await error.waitFor({ state: 'visible' });
    assert.equal(await error.getAttribute('role'), 'alert');
    assert.match(await error.innerText(), /2001/);
    assert.equal(await composer.getAttribute('aria-invalid'), 'true');
    assert.equal(await composer.inputValue(), tooLong, 'the refused text stays in the composer');
    assert.equal(await page.locator('[data-testid="event"][data-pending]').count(), 0);
    assert.equal(await storedCount(server, tooLong), 0);

    // Shortened to the limit: the message goes away and the reply is sent.
    await composer.fill(`Lena emoji ok2 ${'😀'.repeat(1985)}`);
    await error.waitFor({ state: 'hidden' });
    assert.equal(await composer.getAttribute('aria-invalid'), null);
    await page.locator('[data-testid="send"]').click();
    await page.locator('[data-testid="event"][data-seq]', { hasText: 'Lena emoji ok2' }).waitFor();
    customer.close();
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('unsent replies survive an expired session and go out after signing in again, never for another operator', async () => {
    const agent = await server.addOperator({ email: 'una@example.com', name: 'Una Unsent', maxConcurrent: 0 });
    const first = await takenChat(agent, 'Una first chat customer line');
    const second = await takenChat(agent, 'Una second chat customer line');
    const page = await testPage(browser);
    await signIn(page, server, agent);

    // A draft in the second chat, left there.
    await goHash(page, `#/c/${second.id}`);
    await event(page, 'Una second chat customer line').waitFor();
    await page.locator('[data-testid="composer"]').fill('Una private draft words');
    await goHash(page, `#/c/${first.id}`);
    await event(page, 'Una first chat customer line').waitFor();
    await connection(page, 'open');

    // The socket is down and the session is revoked: the reply goes over HTTP, which says 401.
    await pauseSocket(page);
    const revoke = await server.api('POST', `/api/v1/operators/${agent.id}/revoke-sessions`, { token: admin.token });
    assert.equal(revoke.status, 200, JSON.stringify(revoke.body));
    await page.locator('[data-testid="composer"]').fill('Una reply written as the session ended');
    await page.locator('[data-testid="send"]').click();
    await page.locator('#login-email').waitFor();
    await page.locator('[data-testid="toast"]').first().waitFor();
    assert.equal(await storedCount(server, 'Una reply written as the session ended'), 0);

    // Another operator signs in to the same tab: neither the pending reply nor the draft shows.
    await signInHere(page, supervisor);
    await goHash(page, `#/c/${first.id}`);
    await event(page, 'Una first chat customer line').waitFor();
    await connection(page, 'open');
    assert.equal(await event(page, 'Una reply written as the session ended').count(), 0);
    assert.equal(await page.locator('[data-testid="composer"]').inputValue(), '');
    // Frames go in order: once this note is acknowledged, anything sent before it would be too.
    await page.locator('[data-testid="note-toggle"]').check();
    await page.locator('[data-testid="composer"]').fill('Sam note while Una is away');
    await page.locator('[data-testid="send"]').click();
    await page.locator('[data-testid="event"][data-seq]', { hasText: 'Sam note while Una is away' }).waitFor();
    await page.locator('[data-testid="note-toggle"]').uncheck();
    assert.equal(await storedCount(server, 'Una reply written as the session ended'), 0, 'not sent by another operator');
    await goHash(page, `#/c/${second.id}`);
    await event(page, 'Una second chat customer line').waitFor();
    assert.equal(await page.locator('[data-testid="composer"]').inputValue(), '');
    assert.doesNotMatch(await page.locator('body').innerText(), /Una reply written|Una private draft/);

    // The first operator is back: the reply goes out once, with its client_id, and the draft is there.
    await page.locator('[data-testid="logout"]').click();
    await page.locator('#login-email').waitFor();
    await signInHere(page, agent);
    await goHash(page, `#/c/${first.id}`);
    await page.locator('[data-testid="event"][data-seq]', { hasText: 'Una reply written as the session ended' }).waitFor();
    await eventually(async () => (await storedCount(server, 'Una reply written as the session ended')) === 1, {
      message: 'the reply is stored once',
    });
    await showsAll(page, server, first.id, 'after signing in again');
    assert.equal(await event(page, 'Una reply written as the session ended').count(), 1);
    await first.customer.next((f) => f.type === 'event' && f.text === 'Una reply written as the session ended');
    await goHash(page, `#/c/${second.id}`);
    await event(page, 'Una second chat customer line').waitFor();
    assert.equal(await page.locator('[data-testid="composer"]').inputValue(), 'Una private draft words');
    first.customer.close();
    second.customer.close();
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('the screen reader hears new customer messages and system events, not the history or my own reply', async () => {
    const agent = await server.addOperator({ email: 'alma@example.com', name: 'Alma Announce', maxConcurrent: 0 });
    const { id, customer } = await takenChat(agent, 'Alma history line one');
    await customer.say('Alma history line two');
    const page = await testPage(browser);
    await signIn(page, server, agent);
    await goHash(page, `#/c/${id}`);
    await event(page, 'Alma history line two').waitFor();
    await connection(page, 'open');
    const announcer = page.locator('[data-testid="chat-announcer"]');
    const lines = announcer.locator('p');

    // The history is not a live region; the announcer is, and says nothing on opening.
    const history = page.locator('.timeline');
    assert.equal(await history.getAttribute('aria-live'), null);
    assert.notEqual(await history.getAttribute('role'), 'log');
    assert.equal(await announcer.getAttribute('aria-live'), 'polite');
    assert.equal(await lines.count(), 0);

    await customer.say('Alma live customer question');
    await event(page, 'Alma live customer question').waitFor();
    await eventually(async () => (await lines.count()) === 1, { message: 'one announcement' });
    assert.match(await lines.first().textContent(), /Alma live customer question/);

    // My own reply: pending, acked, stored; none of it is announced.
    await page.locator('[data-testid="composer"]').fill('Alma own reply not announced');
    await page.locator('[data-testid="send"]').click();
    await page.locator('[data-testid="event"][data-seq]', { hasText: 'Alma own reply not announced' }).waitFor();
    await customer.next((f) => f.type === 'event' && f.text === 'Alma own reply not announced');

    // A system event is announced.
    const prio = await server.api('POST', `/api/v1/conversations/${id}/priority`, { token: admin.token, body: { priority: 'high' } });
    assert.equal(prio.status, 200, JSON.stringify(prio.body));
    const seq = await lastSeq(server, id);
    await page.locator(`[data-testid="event"][data-seq="${seq}"][data-kind="system"]`).waitFor();
    await eventually(async () => (await lines.count()) === 2, { message: 'the system event is announced' });
    const said = await lines.allTextContents();
    assert.equal(said.some((s) => /Alma own reply/.test(s)), false);
    assert.equal(said.filter((s) => /Alma live customer question/.test(s)).length, 1);
    customer.close();
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
});
