// Automation in the operator panel, on a server with automation on. An admin edits an
// auto-reply template (a keyword, the English reply, a new language), creates and deletes one
// (with confirmation), switches one off and on, changes the escalation rules and a group's
// business hours, and the API shows each change; invalid input shows the server's message under
// the field it names. Supervisors see the page read-only; agents get the forbidden view. A
// widget customer who writes while nobody is at work gets the edited auto-reply, which the
// panel shows in the timeline, with the conversation's category on its row; when the customer
// asks for an operator, the supervisor gets the escalation notice, which opens the
// conversation. An agent changes the category in the chat (a known one, a new one typed in,
// an invalid one refused), and the list's category filter finds it.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, eventually, launchBrowser, newPage, screenshot, signIn, widget } from './harness.mjs';

const byId = (scope, id) => scope.locator(`[data-testid="${id}"]`);
const event = (page, text) => page.locator('[data-testid="event"]', { hasText: text });
const item = (page, id) => page.locator(`[data-testid="conv-item"][data-id="${id}"]`);
const toast = (page, text) => page.locator('[data-testid="toast"]', { hasText: text });

const EDITED_REPLY = 'Thank you for writing about your order. We are away now and will look for it first thing.';
const GERMAN_REPLY = 'Danke für Ihre Nachricht zur Bestellung. Wir melden uns bald.';

/** The Automation page, opened from the sidebar, with its three sections loaded. */
async function openAutomation(page, server) {
  await page.goto(`${server.url}/admin#/queue`);
  const link = page.locator('[data-nav="automation"]');
  await link.click();
  await byId(page, 'admin-automation').waitFor();
  assert.equal(await link.getAttribute('aria-current'), 'page');
  await page.locator('[data-testid="ar-table"] tr[data-category="order"]').waitFor();
  await page.locator('[data-testid="esc-form"][data-loaded="true"]').waitFor();
  await byId(page, 'hours-group').first().waitFor();
}

describe('automation in the panel', () => {
  let server;
  let browser;
  let admin;
  let supervisor;
  let agent;
  let night;
  /** The supervisor's panel, kept open from the auto-reply test on. */
  let watch;
  let visitor;
  let conversationId;

  const templates = async () => {
    const res = await server.api('GET', '/api/v1/auto-replies', { token: admin.token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.items;
  };
  const template = async (category) => (await templates()).find((tpl) => tpl.category === category);
  const status = async (op) => (await server.api('GET', `/api/v1/operators/${op.id}`, { token: admin.token })).body.status;

  before(async () => {
    // The harness turns automation off for the other files; this one is about it.
    server = await Server.start({ SWITCHBOARD_AUTOMATION: 'true' });
    browser = await launchBrowser();
    admin = await server.addOperator({ email: 'ada@example.com', name: 'Ada Admin', role: 'admin', maxConcurrent: 0 });
    supervisor = await server.addOperator({ email: 'sam@example.com', name: 'Sam Super', role: 'supervisor', maxConcurrent: 0 });
    // Never auto-assigned: the conversation waits in the queue.
    agent = await server.addOperator({ email: 'olga@example.com', name: 'Olga Petrova', role: 'agent', maxConcurrent: 0 });
    const group = await server.api('POST', '/api/v1/groups', { token: admin.token, body: { name: 'Night shift' } });
    assert.equal(group.status, 201, JSON.stringify(group.body));
    night = group.body;
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
  });

  test('an admin edits a template; the API has the change, and a bad category is shown at its field', async () => {
    const page = await newPage(browser);
    await signIn(page, server, admin);
    await openAutomation(page, server);
    const form = byId(page, 'ar-form');
    const order = page.locator('[data-testid="ar-table"] tr[data-category="order"]');
    assert.equal(await order.locator('[data-testid="ar-languages"]').innerText(), 'en, ru, ur');
    assert.equal(await page.locator('[data-testid="ar-table"] tr[data-category="general"] [data-testid="ar-fallback-mark"]').count(), 1);

    // Edit: one more English keyword, a new English reply, and German.
    await order.locator('[data-testid="edit"]').click();
    await page.locator('[data-testid="ar-form"][data-mode="edit"]').waitFor();
    assert.equal(await byId(form, 'ar-category').inputValue(), 'order');
    const keywords = byId(form, 'ar-keywords-en');
    assert.match(await keywords.inputValue(), /late, delay/);
    await keywords.fill(`${await keywords.inputValue()}, missing`);
    await byId(form, 'ar-reply-en').fill(EDITED_REPLY);
    await byId(form, 'ar-new-lang').fill('de');
    await byId(form, 'ar-add-lang').click();
    await byId(form, 'ar-reply-de').fill(GERMAN_REPLY);
    await byId(form, 'ar-keywords-de').fill('bestellung, wo ist');
    await byId(form, 'ar-submit').click();
    await toast(page, 'Saved.').waitFor();
    await page.locator('[data-testid="ar-form"][data-mode="new"]').waitFor();

    const edited = await template('order');
    assert.equal(edited.replies.en, EDITED_REPLY);
    assert.equal(edited.replies.de, GERMAN_REPLY);
    assert.ok(edited.keywords.en.includes('missing'), JSON.stringify(edited.keywords));
    assert.ok(edited.keywords.en.includes('where is my order'), 'the other keywords are kept');
    assert.deepEqual(edited.keywords.de, ['bestellung', 'wo ist']);
    assert.ok(edited.replies.ru && edited.replies.ur, 'the other replies are kept');
    assert.equal(edited.active, true);
    await eventually(async () => (await order.locator('[data-testid="ar-languages"]').innerText()) === 'en, ru, ur, de', {
      message: 'the table lists German',
    });

    // A category the server refuses: its message under the category field, nothing created.
    await byId(form, 'ar-category').fill('Bad Category');
    await byId(form, 'ar-reply-en').fill('Some reply');
    await byId(form, 'ar-submit').click();
    const categoryError = byId(form, 'error-category');
    await categoryError.waitFor();
    assert.match(await categoryError.innerText(), /lower-case letters, digits or _/);
    assert.equal(await byId(form, 'ar-category').getAttribute('aria-invalid'), 'true');
    assert.equal(await byId(form, 'ar-form-error').isVisible(), false, 'shown at the field, not above the form');
    assert.equal((await templates()).length, 5);

    // A language code the page cannot take is caught before anything is sent.
    await byId(form, 'ar-new-lang').fill('d3');
    await byId(form, 'ar-add-lang').click();
    await byId(form, 'error-new-lang').waitFor();

    // Created with a valid category, then deleted after a confirmation (cancelled once).
    await byId(form, 'ar-category').fill('returns');
    await byId(form, 'ar-keywords-en').fill('return, send back');
    await byId(form, 'ar-submit').click();
    await toast(page, 'Created').waitFor();
    assert.equal(await byId(form, 'error-category').isVisible(), false);
    const returns = page.locator('[data-testid="ar-table"] tr[data-category="returns"]');
    await returns.waitFor();
    assert.deepEqual((await template('returns')).keywords, { en: ['return', 'send back'] });
    await returns.locator('[data-testid="delete"]').click();
    await returns.locator('[data-testid="ar-cancel-delete"]').click();
    await returns.locator('[data-testid="delete"]').waitFor();
    assert.ok(await template('returns'), 'not deleted without a confirmation');
    await returns.locator('[data-testid="delete"]').click();
    assert.match(await returns.innerText(), /Delete returns\?/);
    await returns.locator('[data-testid="ar-confirm-delete"]').click();
    await returns.waitFor({ state: 'detached' });
    assert.equal(await template('returns'), undefined);

    // The active switch: off and on again.
    const technical = page.locator('[data-testid="ar-table"] tr[data-category="technical"] [data-testid="ar-active"]');
    await technical.uncheck();
    await eventually(async () => (await template('technical')).active === false, { message: 'switched off' });
    await toast(page, 'technical is inactive.').waitFor();
    await page.locator('[data-testid="ar-table"] tr[data-category="technical"] [data-testid="ar-active"]:not(:checked)').waitFor();
    await page.locator('[data-testid="ar-table"] tr[data-category="technical"] [data-testid="ar-active"]').check();
    await eventually(async () => (await template('technical')).active === true, { message: 'switched on' });
    await screenshot(page, 'panel-automation-templates');
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('an admin changes the escalation rules and a group\'s business hours', async () => {
    const page = await newPage(browser);
    await signIn(page, server, admin);
    await openAutomation(page, server);

    const esc = byId(page, 'esc-form');
    assert.equal(await byId(esc, 'esc-unanswered').inputValue(), '3');
    assert.match(await byId(esc, 'esc-keywords').inputValue(), /operator, human, complaint/);
    assert.equal(await byId(esc, 'esc-first-urgent').inputValue(), '5');
    assert.equal(await byId(esc, 'esc-first').inputValue(), '15');

    // Out of range: the server's message under that field; the rules stay.
    await byId(esc, 'esc-unanswered').fill('5000');
    await byId(esc, 'esc-save').click();
    const unansweredError = byId(esc, 'error-unanswered_messages');
    await unansweredError.waitFor();
    assert.match(await unansweredError.innerText(), /at most 1000/);
    assert.equal(await byId(esc, 'esc-unanswered').getAttribute('aria-invalid'), 'true');
    let rules = (await server.api('GET', '/api/v1/settings/escalation', { token: supervisor.token })).body;
    assert.equal(rules.unanswered_messages, 3);

    await byId(esc, 'esc-unanswered').fill('4');
    const keywords = byId(esc, 'esc-keywords');
    await keywords.fill(`${await keywords.inputValue()}, manager`);
    await byId(esc, 'esc-first').fill('20');
    await byId(esc, 'esc-save').click();
    await toast(page, 'Escalation rules saved.').waitFor();
    assert.equal(await unansweredError.isVisible(), false);
    rules = (await server.api('GET', '/api/v1/settings/escalation', { token: supervisor.token })).body;
    assert.deepEqual(rules, {
      unanswered_messages: 4,
      keywords: ['operator', 'human', 'complaint', 'оператор', 'жалоба', 'проблема', 'manager'],
      first_response_minutes_urgent: 5,
      first_response_minutes: 20,
    });

    // Business hours of the night shift: an unknown time zone is refused at its field.
    const card = page.locator(`[data-testid="hours-group"][data-group="${night.id}"]`);
    assert.equal(await byId(card, 'hours-state').innerText(), 'Always open (no schedule)');
    await byId(card, 'hours-tz').fill('Mars/Olympus_Mons');
    await byId(card, 'hours-mon').fill('09:00-18:00');
    await byId(card, 'hours-sat').fill('10:00–14:00, 15:00–17:30');
    await byId(card, 'hours-save').click();
    const tzError = byId(card, 'error-time_zone');
    await tzError.waitFor();
    assert.match(await tzError.innerText(), /not an IANA time zone/);

    // An interval the page cannot read is caught before sending.
    await byId(card, 'hours-tz').fill('Asia/Karachi');
    await byId(card, 'hours-tue').fill('nine to five');
    await byId(card, 'hours-save').click();
    await byId(card, 'error-days.tue').waitFor();
    assert.equal(await tzError.isVisible(), false);
    await byId(card, 'hours-tue').fill('');
    await byId(card, 'hours-save').click();
    await toast(page, 'Business hours of Night shift saved.').waitFor();
    const hours = (await server.api('GET', `/api/v1/groups/${night.id}/business-hours`, { token: agent.token })).body;
    assert.deepEqual(hours.business_hours, {
      time_zone: 'Asia/Karachi',
      days: { mon: [['09:00', '18:00']], sat: [['10:00', '14:00'], ['15:00', '17:30']] },
    });
    assert.match(await byId(card, 'hours-state').innerText(), /^(Open|Closed) now$/);
    assert.equal(await byId(card, 'hours-mon').inputValue(), '09:00–18:00');
    await screenshot(page, 'panel-automation-rules');

    await byId(card, 'hours-clear').click();
    await toast(page, 'Night shift is always open now.').waitFor();
    const cleared = (await server.api('GET', `/api/v1/groups/${night.id}/business-hours`, { token: agent.token })).body;
    assert.equal(cleared.business_hours, null);
    assert.equal(await byId(card, 'hours-state').innerText(), 'Always open (no schedule)');
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('supervisors see the page read-only; agents get the forbidden view', async () => {
    const page = await newPage(browser);
    await signIn(page, server, supervisor);
    await openAutomation(page, server);
    assert.equal(await byId(page, 'admin-automation').getAttribute('data-readonly'), 'true');
    await byId(page, 'automation-readonly').waitFor();
    assert.equal(await byId(page, 'delete').count(), 0);
    assert.equal(await byId(page, 'ar-submit').count(), 0);
    assert.equal(await byId(page, 'esc-save').count(), 0);
    assert.equal(await byId(page, 'hours-save').count(), 0);
    assert.equal(await byId(page, 'esc-unanswered').isDisabled(), true);
    assert.equal(await page.locator('[data-testid="ar-active"]').first().isDisabled(), true);
    // A template can be opened to read, not changed.
    await page.locator('[data-testid="ar-table"] tr[data-category="order"] [data-testid="edit"]').click();
    assert.equal(await byId(page, 'ar-reply-en').inputValue(), EDITED_REPLY);
    assert.equal(await byId(page, 'ar-reply-en').isDisabled(), true);
    assert.deepEqual(page.problems, []);
    await page.context().close();

    const agentPage = await newPage(browser);
    await signIn(agentPage, server, agent);
    assert.equal(await agentPage.locator('[data-nav="automation"]').count(), 0);
    await agentPage.goto(`${server.url}/admin#/admin/automation`);
    await byId(agentPage, 'forbidden').waitFor();
    assert.equal(await byId(agentPage, 'admin-automation').count(), 0);
    assert.deepEqual(agentPage.problems, []);
    await agentPage.context().close();
  });

  test('in Russian', async () => {
    const page = await newPage(browser, { locale: 'ru-RU' });
    await page.addInitScript(() => localStorage.setItem('sb.lang', 'ru'));
    await signIn(page, server, admin);
    await page.goto(`${server.url}/admin#/admin/automation`);
    await page.locator('[data-testid="esc-form"][data-loaded="true"]').waitFor();
    assert.equal(await page.locator('#automation-title').innerText(), 'Автоматизация');
    assert.equal(await page.locator('[data-nav="automation"]').innerText(), 'Автоматизация');
    assert.match(await byId(page, 'escalation-rules').innerText(), /Правила эскалации/);
    await byId(page, 'hours-group').first().waitFor();
    assert.match(await byId(page, 'business-hours').innerText(), /Понедельник/);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('while nobody is at work the customer gets the auto-reply; the panel shows it and the category', async () => {
    // The supervisor watches, away: nobody of the group is at work.
    watch = await newPage(browser);
    await signIn(watch, server, supervisor);
    await watch.goto(`${server.url}/admin#/queue`);
    await watch.locator('[data-testid="connection"][data-state="open"]').waitFor();
    await byId(watch, 'presence').selectOption('away');
    for (const op of [supervisor, admin, agent]) {
      await eventually(async () => !['online', 'busy'].includes(await status(op)), { message: `${op.name} is not at work` });
    }

    visitor = await newPage(browser);
    await widget.open(visitor, `${server.url}/widget`);
    await widget.write(visitor, 'My order is missing, can you help?');
    await widget.sent(visitor, 'My order is missing, can you help?');
    conversationId = await eventually(async () => {
      const res = await server.api('GET', '/api/v1/conversations?status=pending', { token: supervisor.token });
      return res.body.items.find((c) => c.category === 'order')?.id;
    }, { message: 'the conversation gets the category of the auto-reply' });

    const row = item(watch, conversationId);
    await row.locator('[data-testid="conv-category"]', { hasText: 'order' }).waitFor();
    await row.click();
    await event(watch, EDITED_REPLY).waitFor();
    assert.equal(await event(watch, EDITED_REPLY).getAttribute('data-kind'), 'system');
    assert.equal(await byId(watch, 'chat-category').getAttribute('data-value'), 'order');
    await eventually(async () => (await byId(watch, 'category-select').inputValue()) === 'order', { message: 'the picker shows it' });
    // The customer got it too.
    await widget.message(visitor, EDITED_REPLY).waitFor();
    await screenshot(watch, 'panel-automation-auto-reply');
    assert.deepEqual(watch.problems, []);
  });

  test('asking for an operator escalates: the supervisor gets a notice that opens the conversation', async () => {
    await watch.evaluate(() => { location.hash = '#/queue'; });
    await watch.locator('[data-list="queue"]').waitFor();
    assert.equal(await watch.evaluate(() => window.__sbEscalations ?? 0), 0);

    await widget.write(visitor, 'Please let me talk to an operator');
    await widget.sent(visitor, 'Please let me talk to an operator');
    const notice = toast(watch, 'Escalated to L2');
    await notice.waitFor();
    const summary = (await server.api('GET', `/api/v1/conversations/${conversationId}`, { token: supervisor.token })).body;
    assert.equal(summary.level, 1);
    assert.equal(await notice.getAttribute('data-kind'), 'notice');
    const text = await notice.innerText();
    assert.ok(text.includes(summary.alias), text);
    assert.ok(text.includes(summary.ticket), text);
    assert.match(text, /the customer used an escalation keyword/);
    assert.equal(await watch.locator('html').getAttribute('data-last-escalation'), conversationId);

    await notice.locator('[data-testid="toast-action"]').click();
    await eventually(async () => (await watch.evaluate(() => location.hash)) === `#/c/${conversationId}`, { message: 'the notice opens the chat' });
    await byId(watch, 'conv-alias').filter({ hasText: summary.alias }).waitFor();
    await event(watch, 'Escalated to L2').waitFor();
    await event(watch, 'Please let me talk to an operator').waitFor();
    // Announced once, though the supervisor gets the frame and the event.
    assert.equal(await watch.evaluate(() => window.__sbEscalations), 1);
    await screenshot(watch, 'panel-automation-escalation');
    assert.deepEqual(watch.problems, []);
  });

  test('an agent changes the category in the chat and the category filter finds it', async () => {
    const page = await newPage(browser);
    await signIn(page, server, agent);
    await page.goto(`${server.url}/admin#/c/${conversationId}`);
    const control = byId(page, 'chat-category');
    await page.locator('[data-testid="chat-category"][data-value="order"]').waitFor();
    const select = byId(page, 'category-select');

    // A known category.
    await select.selectOption('payment');
    await page.locator('[data-testid="chat-category"][data-value="payment"]').waitFor();
    await event(page, 'Category set to payment').waitFor();

    // A new one typed in: refused when invalid, at the field; words become a category.
    await select.selectOption({ label: 'Other…' });
    await byId(control, 'category-input').fill('late-refund!');
    await byId(control, 'category-set').click();
    const error = byId(control, 'category-error');
    await error.waitFor();
    assert.match(await error.innerText(), /lower-case letters, digits or _/);
    assert.equal(await control.getAttribute('data-value'), 'payment');
    await byId(control, 'category-input').fill('Late refund');
    await byId(control, 'category-set').click();
    await page.locator('[data-testid="chat-category"][data-value="late_refund"]').waitFor();
    assert.equal(await error.isVisible(), false);
    await eventually(async () => (await select.inputValue()) === 'late_refund', { message: 'the select shows the new category' });
    await event(page, 'Category set to late_refund').waitFor();
    const api = (await server.api('GET', `/api/v1/conversations/${conversationId}`, { token: agent.token })).body;
    assert.equal(api.category, 'late_refund');

    // The row says so, here and (from the system event) in the supervisor's list.
    const row = item(page, conversationId);
    await row.locator('[data-testid="conv-category"]', { hasText: 'late_refund' }).waitFor();
    await watch.evaluate(() => { location.hash = '#/queue'; });
    await item(watch, conversationId).locator('[data-testid="conv-category"]', { hasText: 'late_refund' }).waitFor();

    // The filter: asked of the server, and it finds the conversation; another category does not.
    const requests = [];
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname === '/api/v1/conversations') requests.push(url.searchParams.get('category'));
    });
    const filter = byId(page, 'filter-category');
    await filter.locator('option[value="late_refund"]').waitFor({ state: 'attached' });
    await filter.selectOption('late_refund');
    await eventually(() => requests.includes('late_refund'), { message: 'the filter goes to the server' });
    await page.locator('[data-list="queue"]:not([data-loading])').waitFor();
    await row.waitFor();
    assert.equal(await page.locator('[data-testid="conv-item"]').count(), 1);
    await filter.selectOption('order');
    await row.waitFor({ state: 'detached' });
    await byId(page, 'list-empty').waitFor();
    await byId(page, 'clear-filters').click();
    await row.waitFor();
    await screenshot(page, 'panel-automation-category');
    assert.deepEqual(page.problems, []);
    assert.deepEqual(watch.problems, []);
    await page.context().close();
    await watch.context().close();
    await visitor.context().close();
  });
});
