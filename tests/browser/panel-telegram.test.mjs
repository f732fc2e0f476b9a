// The operator panel's Telegram and blocking controls in a real browser: a supervisor blocks a
// web visitor from the customer panel (the visitor's next message is refused and not stored)
// and unblocks them; an agent sees the block but no buttons; the profile menu says Telegram is
// not set up when the channel is off, and, on a second server with the channel on (a fake Bot
// API here, updates posted to the webhook), shows a one-time link code, notices the link made
// with `/link CODE` and unlinks; a Telegram customer who blocked the bot is shown as
// unreachable.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Server, eventually, launchBrowser, newPage, screenshot, signIn, storedCount, widget } from './harness.mjs';
import { fakeBotApi, nextUpdateId, privateText } from './fake-telegram.mjs';

const byId = (page, id) => page.locator(`[data-testid="${id}"]`);

/** The conversation a stored message belongs to. */
async function conversationOf(server, text) {
  return eventually(async () => {
    const rows = await server.sql(`SELECT conversation_id FROM events WHERE body = '${text.replaceAll("'", "''")}'`);
    return rows[0]?.[0];
  }, { message: `the conversation of "${text}"` });
}

async function contactOf(server, token, conversationId) {
  const res = await server.api('GET', `/api/v1/conversations/${conversationId}/contact`, { token });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

async function openProfile(page) {
  const toggle = byId(page, 'profile-menu');
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  await byId(page, 'profile-panel').waitFor();
}

describe('panel: blocking customers', () => {
  let server;
  let browser;
  let supervisor;
  let agent;

  before(async () => {
    server = await Server.start();
    browser = await launchBrowser();
    // Never auto-assigned, so conversations wait in the queue.
    supervisor = await server.addOperator({ email: 'sam@example.com', name: 'Sam Super', role: 'supervisor', maxConcurrent: 0 });
    agent = await server.addOperator({ email: 'olga@example.com', name: 'Olga Petrova', role: 'agent', maxConcurrent: 0 });
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
  });

  test('a supervisor blocks a web visitor with a reason, the visitor is refused, then unblocked', async () => {
    const visitor = await newPage(browser);
    await widget.open(visitor, `${server.url}/widget`);
    await widget.write(visitor, 'Hello before the block');
    await widget.sent(visitor, 'Hello before the block');
    const id = await conversationOf(server, 'Hello before the block');

    const panel = await newPage(browser);
    await signIn(panel, server, supervisor);
    await panel.goto(`${server.url}/admin#/c/${id}`);
    await byId(panel, 'contact-alias').waitFor();
    assert.equal(await byId(panel, 'contact-blocked').count(), 0);
    assert.equal(await byId(panel, 'contact-unreachable').count(), 0, 'a web visitor is always reachable');
    assert.equal(await byId(panel, 'contact-unblock').count(), 0);

    // Block opens a small form; a reason is required.
    const block = byId(panel, 'contact-block');
    assert.equal(await block.getAttribute('aria-expanded'), 'false');
    await block.click();
    const reason = byId(panel, 'contact-block-reason');
    await eventually(() => reason.evaluate((el) => el === document.activeElement), { message: 'the reason field has the focus' });
    await byId(panel, 'contact-block-submit').click();
    const error = byId(panel, 'contact-block-error');
    await error.waitFor();
    assert.equal(await error.innerText(), 'Enter a reason.');
    assert.equal(await reason.getAttribute('aria-invalid'), 'true');
    assert.equal((await contactOf(server, supervisor.token, id)).blocked, null, 'nothing was sent');

    await reason.fill('Spam links');
    await byId(panel, 'contact-block-duration').selectOption('7d');
    const requested = Date.now();
    await byId(panel, 'contact-block-submit').click();
    const blocked = byId(panel, 'contact-blocked');
    await blocked.waitFor();
    assert.equal(await blocked.innerText(), 'Blocked: Spam links');
    const until = await byId(panel, 'contact-blocked-until').locator('time').getAttribute('datetime');
    const week = 7 * 24 * 3600 * 1000;
    assert.ok(Math.abs(new Date(until).getTime() - requested - week) < 60000, `blocked for a week: ${until}`);
    await byId(panel, 'toast').filter({ hasText: 'Customer blocked.' }).waitFor();
    // The focus moves to the button that replaced the form.
    await eventually(() => byId(panel, 'contact-unblock').evaluate((el) => el === document.activeElement), {
      message: 'Unblock has the focus',
    });
    assert.equal(await byId(panel, 'contact-block').count(), 0);
    const contact = await contactOf(server, supervisor.token, id);
    assert.equal(contact.blocked.reason, 'Spam links');
    assert.equal(contact.reachable, true);
    await screenshot(panel, 'panel-contact-blocked');

    // The visitor's next message is refused, kept on screen as failed, and not stored.
    await widget.write(visitor, 'Let me in please');
    const refused = widget.message(visitor, 'Let me in please');
    await eventually(async () => (await refused.getAttribute('data-state')) === 'failed', { message: 'the message is refused' });
    const visitorError = visitor.locator('[data-testid="error"]');
    await visitorError.waitFor();
    assert.match(await visitorError.innerText(), /not accepted/);
    assert.equal(await storedCount(server, 'Let me in please'), 0);

    // Unblocked: the panel says so and the visitor is heard again.
    await byId(panel, 'contact-unblock').click();
    await blocked.waitFor({ state: 'detached' });
    await byId(panel, 'contact-block').waitFor();
    await eventually(() => byId(panel, 'contact-block').evaluate((el) => el === document.activeElement), {
      message: 'Block has the focus',
    });
    assert.equal((await contactOf(server, supervisor.token, id)).blocked, null);
    await widget.write(visitor, 'Sorry about that');
    await widget.sent(visitor, 'Sorry about that');
    assert.equal(await storedCount(server, 'Sorry about that'), 1);

    assert.deepEqual(panel.problems, []);
    assert.deepEqual(visitor.problems, []);
    await panel.context().close();
    await visitor.context().close();
  });

  test('an agent sees that a customer is blocked but gets no Block or Unblock button', async () => {
    const session = await server.api('POST', '/api/v1/widget/sessions', { body: { message: 'Agent view chat' } });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    const id = session.body.conversation_id;
    const contactId = (await contactOf(server, supervisor.token, id)).id;

    // The server's own rules, which the buttons follow.
    let res = await server.api('POST', `/api/v1/contacts/${contactId}/block`, { token: agent.token, body: { reason: 'rude' } });
    assert.equal(res.status, 403, JSON.stringify(res.body));
    res = await server.api('POST', `/api/v1/contacts/${contactId}/block`, { token: supervisor.token, body: { reason: ' ' } });
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.error.field, 'reason');

    const panel = await newPage(browser);
    await signIn(panel, server, agent);
    await panel.goto(`${server.url}/admin#/c/${id}`);
    await byId(panel, 'contact-alias').waitFor();
    assert.equal(await byId(panel, 'contact-block').count(), 0);
    assert.equal(await byId(panel, 'contact-blocked').count(), 0);

    res = await server.api('POST', `/api/v1/contacts/${contactId}/block`, { token: supervisor.token, body: { reason: 'Abusive language' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await panel.reload();
    await byId(panel, 'contact-blocked').waitFor();
    assert.equal(await byId(panel, 'contact-blocked').innerText(), 'Blocked: Abusive language');
    assert.equal(await byId(panel, 'contact-blocked-until').innerText(), 'Until unblocked');
    assert.equal(await byId(panel, 'contact-block').count(), 0);
    assert.equal(await byId(panel, 'contact-unblock').count(), 0);

    res = await server.api('DELETE', `/api/v1/contacts/${contactId}/block`, { token: supervisor.token });
    assert.equal(res.status, 204);
    assert.deepEqual(panel.problems, []);
    await panel.context().close();
  });

  test('with the Telegram channel off, the profile menu says Telegram is not set up', async () => {
    const res = await server.api('POST', '/api/v1/operators/me/telegram-link', { token: agent.token });
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'not_found');

    const panel = await newPage(browser);
    await signIn(panel, server, agent);
    assert.equal(await byId(panel, 'profile-panel').isHidden(), true);
    await openProfile(panel);
    const status = byId(panel, 'telegram-status');
    await eventually(async () => (await status.innerText()) === 'Telegram not linked', { message: 'the link state is shown' });
    await byId(panel, 'telegram-link').click();
    await eventually(async () => (await status.innerText()) === 'Telegram is not set up on this server.', {
      message: 'the panel says Telegram is off',
    });
    assert.equal(await byId(panel, 'telegram-link').isHidden(), true);
    assert.equal(await byId(panel, 'telegram-code').count(), 0);
    assert.equal(await byId(panel, 'telegram-unlink').isHidden(), true);
    // Escape closes the menu and gives the focus back to its button.
    await panel.keyboard.press('Escape');
    await byId(panel, 'profile-panel').waitFor({ state: 'hidden' });
    assert.equal(await byId(panel, 'profile-menu').getAttribute('aria-expanded'), 'false');
    assert.ok(await byId(panel, 'profile-menu').evaluate((el) => el === document.activeElement));
    assert.deepEqual(panel.problems, []);
    await panel.context().close();
  });
});

// ---------------------------------------------------------------------- Telegram on

const TOKEN = '7001234567:AAH-fake_token_for_browser_tests';
const SECRET = 'hook-Secret_browser_42';

/** The user blocked the bot. */
function kicked(user) {
  const bot = { id: 42, is_bot: true, first_name: 'SupportBot', username: 'support_bot' };
  return {
    update_id: nextUpdateId(),
    my_chat_member: {
      chat: { id: user, first_name: `Ivan${user}`, type: 'private' },
      from: { id: user, is_bot: false, first_name: `Ivan${user}` },
      date: Math.floor(Date.now() / 1000),
      old_chat_member: { user: bot, status: 'member' },
      new_chat_member: { user: bot, status: 'kicked', until_date: 0 },
    },
  };
}

describe('panel: the Telegram channel on', () => {
  let server;
  let browser;
  let bot;
  let supervisor;

  async function webhook(update) {
    const res = await fetch(`${server.url}/telegram/webhook`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Telegram-Bot-Api-Secret-Token': SECRET },
      body: JSON.stringify(update),
    });
    assert.equal(res.status, 200, await res.text());
  }

  before(async () => {
    bot = await fakeBotApi();
    server = await Server.start({
      TELEGRAM_BOT_TOKEN: TOKEN,
      TELEGRAM_WEBHOOK_SECRET: SECRET,
      TELEGRAM_API_URL: bot.url,
      SWITCHBOARD_IDENTITY_KEY: randomBytes(32).toString('base64'),
    });
    browser = await launchBrowser();
    supervisor = await server.addOperator({ email: 'sam@example.com', name: 'Sam Super', role: 'supervisor', maxConcurrent: 0 });
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
    bot?.close();
  });

  test('the profile menu shows a link code, notices the link and unlinks', async () => {
    const panel = await newPage(browser);
    await signIn(panel, server, supervisor);
    await openProfile(panel);
    const status = byId(panel, 'telegram-status');
    await eventually(async () => (await status.innerText()) === 'Telegram not linked', { message: 'not linked yet' });

    await byId(panel, 'telegram-link').click();
    const codeEl = byId(panel, 'telegram-code');
    await codeEl.waitFor();
    const code = await codeEl.innerText();
    assert.match(code, /^[A-Z2-9]{8}$/, `an 8-character code: ${code}`);
    assert.equal(await byId(panel, 'telegram-command').innerText(), `/link ${code}`);
    const steps = await byId(panel, 'telegram-steps').innerText();
    assert.match(steps, /Open the support bot in Telegram/);
    assert.match(steps, new RegExp(`Send /link ${code} in a private chat`));
    assert.match(steps, /works once, for 10 minutes/);
    const expires = await byId(panel, 'telegram-expiry').locator('time').getAttribute('datetime');
    const left = new Date(expires).getTime() - Date.now();
    assert.ok(left > 8 * 60000 && left <= 10 * 60000 + 5000, `valid for 10 minutes: ${expires}`);
    assert.equal(await byId(panel, 'telegram-link').innerText(), 'Get a new code');
    assert.ok(await byId(panel, 'telegram-code-box').evaluate((el) => el === document.activeElement), 'the code has the focus');
    await screenshot(panel, 'panel-telegram-code');

    // The operator sends `/link CODE` to the bot; the panel notices without a reload.
    await webhook(privateText(7201, `/link ${code}`));
    await eventually(async () => (await status.innerText()) === 'Telegram linked', { message: 'the panel shows the link' });
    await byId(panel, 'telegram-unlink').waitFor();
    assert.equal(await byId(panel, 'telegram-code').count(), 0);
    assert.equal(await byId(panel, 'telegram-link').isHidden(), true);
    let me = await server.api('GET', '/api/v1/operators/me', { token: supervisor.token });
    assert.equal(me.body.telegram_linked, true);
    await eventually(() => bot.calls.some((c) => c.method === 'sendmessage' && Number(c.body.chat_id) === 7201), {
      message: 'the bot confirms the link in the private chat',
    });

    await byId(panel, 'telegram-unlink').click();
    await eventually(async () => (await status.innerText()) === 'Telegram not linked', { message: 'unlinked' });
    await byId(panel, 'telegram-link').waitFor();
    me = await server.api('GET', '/api/v1/operators/me', { token: supervisor.token });
    assert.equal(me.body.telegram_linked, false);
    assert.deepEqual(panel.problems, []);
    await panel.context().close();
  });

  test('a Telegram customer who blocked the bot is shown as unreachable', async () => {
    await webhook(privateText(7202, 'Help with my order'));
    const id = await conversationOf(server, 'Help with my order');
    await webhook(kicked(7202));
    await eventually(async () => (await contactOf(server, supervisor.token, id)).reachable === false, {
      message: 'the contact is unreachable',
    });

    const panel = await newPage(browser);
    await signIn(panel, server, supervisor);
    await panel.goto(`${server.url}/admin#/c/${id}`);
    const unreachable = byId(panel, 'contact-unreachable');
    await unreachable.waitFor();
    assert.equal(await unreachable.innerText(), "Can't be reached on Telegram");
    assert.equal(await byId(panel, 'contact-channel').innerText(), 'Telegram');
    assert.equal(await byId(panel, 'contact-blocked').count(), 0);
    // Blocking works for Telegram customers too.
    await byId(panel, 'contact-block').click();
    await byId(panel, 'contact-block-reason').fill('Threats');
    await byId(panel, 'contact-block-reason').press('Enter');
    await byId(panel, 'contact-blocked').waitFor();
    assert.equal(await byId(panel, 'contact-blocked').innerText(), 'Blocked: Threats');
    assert.equal(await unreachable.count(), 1, 'still unreachable');
    await screenshot(panel, 'panel-contact-unreachable');
    assert.deepEqual(panel.problems, []);
    await panel.context().close();
  });
});
