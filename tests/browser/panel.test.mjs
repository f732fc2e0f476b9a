// The operator panel in a real browser, against a visitor using the widget in another browser
// context: the queue, taking and answering, typing both ways, notes, canned responses, read
// marks, resolving and the customer's rating, history paging, a server restart, roles.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, eventually, launchBrowser, newPage, screenshot, signIn, storedCount, widget } from './harness.mjs';

const event = (page, text) => page.locator('[data-testid="event"]', { hasText: text });


async function pendingIds(server, token) {
  const res = await server.api('GET', '/api/v1/conversations?status=pending', { token });
  return res.body.items.map((c) => c.id);
}

describe('operator panel', () => {
  let server;
  let browser;
  let admin;
  let agent;
  let supervisor;

  before(async () => {
    server = await Server.start();
    browser = await launchBrowser();
    admin = await server.addOperator({ email: 'ada@example.com', name: 'Ada Admin', role: 'admin', maxConcurrent: 0 });
    supervisor = await server.addOperator({ email: 'sam@example.com', name: 'Sam Super', role: 'supervisor', maxConcurrent: 0 });
    // Never auto-assigned, so conversations wait in the queue until taken.
    agent = await server.addOperator({ email: 'olga@example.com', name: 'Olga Petrova', role: 'agent', maxConcurrent: 0 });
    const canned = await server.api('POST', '/api/v1/canned-responses', {
      token: admin.token,
      body: { shortcut: 'parcel', title: 'Parcel times', body: 'Parcels usually arrive within 5 working days.' },
    });
    assert.equal(canned.status, 201);
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
  });

  test('a wrong password is refused with a clear message', async () => {
    const page = await newPage(browser);
    await page.goto(`${server.url}/admin`);
    await page.locator('#login-email').fill(agent.email);
    await page.locator('#login-password').fill('not-the-password');
    await page.locator('#login-password').press('Enter');
    await page.locator('[data-testid="login-error"]').waitFor();
    assert.notEqual((await page.locator('[data-testid="login-error"]').innerText()).trim(), '');
    assert.equal(await page.locator('[data-testid="me"]').count(), 0);
    await screenshot(page, 'panel-login-error');
    await page.context().close();
  });

  test('an operator sees a new chat in the queue, takes it and answers; the visitor sees it all', async () => {
    const panel = await newPage(browser);
    await signIn(panel, server, agent);
    await panel.goto(`${server.url}/admin#/queue`);

    // The visitor writes while the panel is open: the queue updates live.
    const visitor = await newPage(browser);
    await widget.open(visitor, `${server.url}/widget`);
    await widget.write(visitor, 'My parcel never came');
    await widget.sent(visitor, 'My parcel never came');
    const [id] = await pendingIds(server, agent.token);
    const item = panel.locator(`[data-testid="conv-item"][data-id="${id}"]`);
    await item.waitFor();
    await eventually(async () => (await panel.locator('[data-testid="badge-queue"]').innerText()).trim() === '1', {
      message: 'the queue badge counts the waiting chat',
    });
    // Only the alias: nothing about who the customer is.
    const summary = (await server.api('GET', `/api/v1/conversations/${id}`, { token: agent.token })).body;
    assert.match(await item.innerText(), new RegExp(summary.alias));
    await screenshot(panel, 'panel-queue');

    await item.click();
    await event(panel, 'My parcel never came').waitFor();
    await panel.locator('[data-action="take"]').click();
    await eventually(async () => (await server.api('GET', `/api/v1/conversations/${id}`, { token: agent.token })).body.assignee === agent.id, {
      message: 'the conversation is assigned to the operator',
    });
    await visitor.locator('[data-testid="status"]', { hasText: 'You are chatting with support' }).waitFor();

    // Typing, both ways.
    const composer = panel.locator('[data-testid="composer"]');
    await composer.pressSequentially('Hello', { delay: 40 });
    await visitor.locator('[data-testid="typing"]', { hasText: 'is typing' }).waitFor();
    await composer.fill('Hello! I am checking your parcel now.');
    await panel.locator('[data-testid="send"]').click();
    const reply = widget.message(visitor, 'Hello! I am checking your parcel now.');
    await reply.waitFor();
    assert.equal(await reply.locator('.who').innerText(), 'Live Support');
    await event(panel, 'Hello! I am checking your parcel now.').waitFor();

    await visitor.locator('[data-testid="input"]').pressSequentially('Thank', { delay: 40 });
    await panel.locator('[data-testid="typing"]').waitFor({ state: 'visible' });
    await visitor.locator('[data-testid="input"]').fill('');

    // The visitor has the chat open, so the operator's message shows as seen.
    await event(panel, 'Hello! I am checking your parcel now.').locator('[data-testid="seen"]').waitFor();

    // An internal note: styled apart in the panel, never in the widget.
    await panel.locator('[data-testid="note-toggle"]').check();
    await composer.fill('Courier lost it, refund approved');
    await panel.locator('[data-testid="send"]').click();
    const note = event(panel, 'Courier lost it, refund approved');
    await note.waitFor();
    assert.equal(await note.getAttribute('data-kind'), 'note');
    await panel.locator('[data-testid="note-toggle"]').uncheck();

    // A canned response: "/parc" offers it, Enter puts its text in the composer.
    await composer.fill('');
    await composer.pressSequentially('/parc', { delay: 30 });
    await panel.locator('[data-testid="canned-suggestions"]').waitFor();
    await composer.press('Enter');
    assert.equal(await composer.inputValue(), 'Parcels usually arrive within 5 working days.');
    await panel.locator('[data-testid="send"]').click();
    await widget.message(visitor, 'Parcels usually arrive within 5 working days.').waitFor();

    // The note went out before the canned reply, so it would be on screen by now if leaked.
    assert.doesNotMatch(await visitor.locator('[data-testid="log"]').innerText(), /Courier lost it|Olga|Petrova/);
    assert.equal(await storedCount(server, 'Courier lost it, refund approved'), 1);
    await screenshot(panel, 'panel-chat');
    await screenshot(visitor, 'widget-with-panel-reply');

    // Resolve; the visitor rates; the rating is stored.
    await panel.locator('[data-action="resolve"]').click();
    await visitor.locator('[data-testid="rating"]').waitFor();
    await visitor.locator('label.star', { has: visitor.locator('[data-testid="star-5"]') }).click();
    await visitor.locator('[data-testid="rating"] button[type="submit"]').click();
    await visitor.locator('[data-testid="rated"]').waitFor();
    const rows = await server.sql(`SELECT status, rating FROM conversations WHERE id = '${id}'`);
    assert.deepEqual(rows, [['resolved', '5']]);
    // The panel's own header follows the status (CSS capitalises the word on screen).
    await eventually(async () => (await panel.locator('[data-testid="conv-status"]').textContent()).trim() === 'resolved', {
      message: 'the chat header says resolved',
    });
    assert.deepEqual(panel.problems, []);
    assert.deepEqual(visitor.problems, []);
    await panel.context().close();
    await visitor.context().close();
  });

  test('history pages upward without gaps or duplicates', async () => {
    const session = await server.api('POST', '/api/v1/widget/sessions', { body: { message: 'First message of a long chat' } });
    const id = session.body.conversation_id;
    assert.equal((await server.api('POST', `/api/v1/conversations/${id}/take`, { token: agent.token })).status, 200);
    for (let i = 1; i <= 120; i++) {
      const res = await server.api('POST', `/api/v1/conversations/${id}/messages`, {
        token: agent.token,
        body: { client_id: `bulk-${i}`, text: `Bulk line ${i}` },
      });
      assert.equal(res.status, 201);
    }
    const panel = await newPage(browser);
    await signIn(panel, server, agent);
    await panel.goto(`${server.url}/admin#/c/${id}`);
    await event(panel, 'Bulk line 120').waitFor();
    const older = panel.locator('[data-testid="load-older"]');
    for (let i = 0; i < 5 && (await older.isVisible()); i++) {
      const before = await panel.locator('[data-testid="event"]').count();
      await older.click();
      await eventually(async () => (await panel.locator('[data-testid="event"]').count()) > before, { message: 'older events load' });
    }
    await event(panel, 'First message of a long chat').waitFor();
    assert.equal(await older.isVisible(), false);
    const seqs = (await panel.locator('[data-testid="event"]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq))));
    const last = Number((await server.sql(`SELECT last_seq FROM conversations WHERE id = '${id}'`))[0][0]);
    assert.deepEqual(seqs, Array.from({ length: last }, (_, i) => i + 1));
    await panel.context().close();
  });

  test('after a server restart the panel reconnects and misses nothing', async () => {
    const panel = await newPage(browser);
    await signIn(panel, server, agent);
    const visitor = await newPage(browser);
    await widget.open(visitor, `${server.url}/widget`);
    await widget.write(visitor, 'Before the restart');
    await widget.sent(visitor, 'Before the restart');
    const ids = await pendingIds(server, agent.token);
    const id = ids[0];
    assert.equal((await server.api('POST', `/api/v1/conversations/${id}/take`, { token: agent.token })).status, 200);
    await panel.goto(`${server.url}/admin#/c/${id}`);
    await event(panel, 'Before the restart').waitFor();

    await server.restart();
    // The visitor writes while the panel may still be reconnecting.
    await widget.write(visitor, 'After the restart');
    await widget.sent(visitor, 'After the restart');
    await event(panel, 'After the restart').waitFor({ timeout: 30000 });
    await panel.locator('[data-testid="composer"]').fill('Operator back online, reply stored once');
    await panel.locator('[data-testid="send"]').click();
    await widget.message(visitor, 'Operator back online, reply stored once').waitFor({ timeout: 30000 });
    assert.equal(await event(panel, 'After the restart').count(), 1);
    assert.equal(await event(panel, 'Before the restart').count(), 1);
    assert.equal(await storedCount(server, 'Operator back online, reply stored once'), 1);
    await panel.context().close();
    await visitor.context().close();
  });

  test('an agent cannot open the dashboard or the admin pages', async () => {
    const page = await newPage(browser);
    await signIn(page, server, agent);
    for (const nav of ['dashboard', 'operators', 'groups', 'tags', 'canned']) {
      assert.equal(await page.locator(`[data-nav="${nav}"]`).count(), 0, `no ${nav} link for an agent`);
    }
    for (const hash of ['#/dashboard', '#/admin/operators', '#/admin/groups', '#/admin/tags', '#/admin/canned']) {
      await page.goto(`${server.url}/admin${hash}`);
      await page.locator('[data-testid="forbidden"]').waitFor();
      for (const view of ['dashboard', 'admin-operators', 'admin-groups', 'admin-tags', 'admin-canned']) {
        assert.equal(await page.locator(`[data-testid="${view}"]`).count(), 0, `${hash} shows no ${view}`);
      }
    }
    assert.doesNotMatch(await page.locator('body').innerText(), /ada@example\.com|sam@example\.com/);
    // The server refuses the data too, whatever the page does (the panel's own cookie).
    const status = await page.evaluate(async () => (await fetch('/api/v1/operators', { credentials: 'same-origin' })).status);
    assert.equal(status, 403);
    await screenshot(page, 'panel-forbidden');
    await page.context().close();
  });

  test('a supervisor sees the live queue and the team on the dashboard', async () => {
    const page = await newPage(browser);
    await signIn(page, server, supervisor);
    await page.goto(`${server.url}/admin#/dashboard`);
    const dashboard = page.locator('[data-testid="dashboard"]');
    await dashboard.waitFor();
    const queued = async () => (await pendingIds(server, supervisor.token)).length;
    await eventually(async () => Number((await page.locator('[data-testid="queue-length"]').innerText()).trim()) === (await queued()), {
      message: 'the dashboard shows the queue length',
    });
    const before = await queued();
    await server.api('POST', '/api/v1/widget/sessions', { body: { message: 'One more waiting' } });
    await eventually(async () => Number((await page.locator('[data-testid="queue-length"]').innerText()).trim()) === before + 1, {
      message: 'the queue length updates live',
    });
    // The team list loads on its own request; under load it may come after the queue.
    await eventually(async () => /Olga Petrova/.test(await dashboard.innerText()), {
      message: 'the dashboard lists the team',
    });
    await screenshot(page, 'panel-dashboard');
    assert.equal(await page.locator('[data-nav="operators"]').count(), 0, 'no admin links for a supervisor');
    await page.context().close();
  });

  test('an admin manages tags from the admin pages', async () => {
    const page = await newPage(browser);
    await signIn(page, server, admin);
    await page.goto(`${server.url}/admin#/admin/operators`);
    const operators = page.locator('[data-testid="admin-operators"]');
    await operators.waitFor();
    await eventually(async () => /Olga Petrova/.test(await operators.innerText()), { message: 'operators are listed' });
    await screenshot(page, 'panel-admin-operators');
    await page.goto(`${server.url}/admin#/admin/tags`);
    const tags = page.locator('[data-testid="admin-tags"]');
    await tags.waitFor();
    await tags.locator('input[name="name"]').fill('vip');
    await tags.locator('[data-testid="form-submit"]').click();
    await eventually(async () => {
      const res = await server.api('GET', '/api/v1/tags', { token: admin.token });
      return res.body.items.some((t) => t.name === 'vip');
    }, { message: 'the tag is created' });
    await page.locator('[data-testid="admin-tags-table"]').getByText('vip', { exact: true }).waitFor();
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
});
