// The admins' Telegram page (`#/admin/telegram`) in a real browser. With the channel off it
// says so and how to turn it on, and agents and supervisors get the forbidden view (the API
// refuses them too). With the channel on (a fake Bot API here that answers getMe,
// getWebhookInfo, getChat and setWebhook, and records every call) it shows the bot, the
// support group (a forum), the webhook as Telegram reports it (URL, pending updates, the last
// error with its time), the linked operators and what Telegram did not answer; "Register
// webhook again" calls setWebhook with SWITCHBOARD_PUBLIC_URL + /telegram/webhook and the
// secret (audited), and shows Telegram's refusal; on a server without SWITCHBOARD_PUBLIC_URL
// the page shows why the webhook cannot be registered.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Server, eventually, launchBrowser, newPage, screenshot, signIn } from './harness.mjs';
import { fakeBotApi as sharedFakeBotApi, privateText as textFrom } from './fake-telegram.mjs';

const byId = (page, id) => page.locator(`[data-testid="${id}"]`);
const ENV_NAMES = ['TELEGRAM_BOT_TOKEN', 'SWITCHBOARD_IDENTITY_KEY', 'TELEGRAM_WEBHOOK_SECRET', 'TELEGRAM_SUPPORT_CHAT_ID', 'SWITCHBOARD_PUBLIC_URL'];

/** The Telegram page, opened from the sidebar link, once it has loaded. */
async function openTelegramPage(page, server) {
  await page.goto(`${server.url}/admin#/queue`);
  const link = page.locator('[data-nav="telegram"]');
  await link.waitFor();
  assert.equal(await link.innerText(), 'Telegram');
  await link.click();
  await byId(page, 'admin-telegram').waitFor();
  assert.equal(await link.getAttribute('aria-current'), 'page');
  await eventually(async () => (await byId(page, 'tg-enabled').getAttribute('data-enabled')) !== null, {
    message: 'the settings have loaded',
  });
}

/** Requests the page made to the admin Telegram endpoints. */
function watchRequests(page) {
  const seen = [];
  page.on('request', (req) => {
    if (req.url().includes('/api/v1/admin/telegram')) seen.push(`${req.method()} ${new URL(req.url()).pathname}`);
  });
  return seen;
}

describe('admin Telegram page with the channel off', () => {
  let server;
  let browser;
  let admin;
  let supervisor;
  let agent;

  before(async () => {
    server = await Server.start();
    browser = await launchBrowser();
    admin = await server.addOperator({ email: 'ada@example.com', name: 'Ada Admin', role: 'admin', maxConcurrent: 0 });
    supervisor = await server.addOperator({ email: 'sam@example.com', name: 'Sam Super', role: 'supervisor', maxConcurrent: 0 });
    agent = await server.addOperator({ email: 'olga@example.com', name: 'Olga Petrova', role: 'agent', maxConcurrent: 0 });
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
  });

  test('the API: admins get enabled false, others 403; registering answers 404', async () => {
    const res = await server.api('GET', '/api/v1/admin/telegram', { token: admin.token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.enabled, false);
    assert.deepEqual(res.body.linked_operators, []);
    for (const op of [supervisor, agent]) {
      const refused = await server.api('GET', '/api/v1/admin/telegram', { token: op.token });
      assert.equal(refused.status, 403, `${op.role}: ${JSON.stringify(refused.body)}`);
      const post = await server.api('POST', '/api/v1/admin/telegram/webhook', { token: op.token });
      assert.equal(post.status, 403, `${op.role} POST: ${JSON.stringify(post.body)}`);
    }
    const post = await server.api('POST', '/api/v1/admin/telegram/webhook', { token: admin.token });
    assert.equal(post.status, 404, JSON.stringify(post.body));
  });

  test('an admin sees that the channel is off and how to turn it on', async () => {
    const page = await newPage(browser);
    await signIn(page, server, admin);
    await openTelegramPage(page, server);

    const enabled = byId(page, 'tg-enabled');
    assert.equal(await enabled.getAttribute('data-enabled'), 'false');
    const text = await enabled.innerText();
    assert.match(text, /The Telegram channel is off on this server\./);
    for (const name of ENV_NAMES) assert.ok(text.includes(name), `names ${name}`);
    assert.match(text, /README, section “Telegram → Setting it up”/);
    assert.match(text, /--telegram-polling/);

    // Nothing to show about a bot, a group or a webhook, and nothing to register.
    for (const id of ['tg-bot', 'tg-chat', 'tg-webhook', 'tg-register', 'tg-problems']) {
      assert.equal(await byId(page, id).isVisible(), false, `${id} is not shown`);
    }
    assert.match(await byId(page, 'tg-linked').innerText(), /No operator has linked Telegram yet\./);
    await screenshot(page, 'panel-telegram-admin-off');
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('in Russian', async () => {
    const page = await newPage(browser, { locale: 'ru-RU' });
    await page.addInitScript(() => localStorage.setItem('sb.lang', 'ru'));
    await signIn(page, server, admin);
    await page.goto(`${server.url}/admin#/admin/telegram`);
    await eventually(async () => (await byId(page, 'tg-enabled').getAttribute('data-enabled')) === 'false', { message: 'loaded' });
    assert.match(await byId(page, 'tg-enabled').innerText(), /Канал Telegram на этом сервере выключен\./);
    assert.match(await byId(page, 'tg-linked').innerText(), /Пока ни один оператор не привязал Telegram\./);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('agents and supervisors get the forbidden view and no link; nothing is asked', async () => {
    for (const op of [agent, supervisor]) {
      const page = await newPage(browser);
      const requests = watchRequests(page);
      await signIn(page, server, op);
      assert.equal(await page.locator('[data-nav="telegram"]').count(), 0, `no Telegram link for ${op.role}`);
      await page.goto(`${server.url}/admin#/admin/telegram`);
      await byId(page, 'forbidden').waitFor();
      assert.equal(await byId(page, 'admin-telegram').count(), 0, `${op.role} gets no Telegram page`);
      assert.deepEqual(requests, [], `${op.role}: the page asks nothing`);
      const status = await page.evaluate(async () => (await fetch('/api/v1/admin/telegram', { credentials: 'same-origin' })).status);
      assert.equal(status, 403, `${op.role}: the server refuses too`);
      assert.deepEqual(page.problems, []);
      await page.context().close();
    }
  });
});

// ---------------------------------------------------------------------- Telegram on

const TOKEN = '7001234567:AAH-fake_token_for_admin_tests';
const SECRET = 'hook-Secret_admin_42';
const SUPPORT_CHAT = -1001234567890;
const PUBLIC_URL = 'https://support.example.test';
const LAST_ERROR_AT = Date.UTC(2025, 2, 14, 9, 30, 0) / 1000;

/**
 * The fake Bot API (`fake-telegram.mjs`) answering getMe, getWebhookInfo and getChat like
 * Telegram does for this bot; `fail` holds methods (lower case) to refuse with a description.
 */
function fakeBotApi() {
  const bot = {
    id: 42, is_bot: true, first_name: 'Acme Support', username: 'acme_support_bot',
    can_join_groups: true, can_read_all_group_messages: true, supports_inline_queries: false,
  };
  return sharedFakeBotApi({
    bot,
    answers: {
      getwebhookinfo: () => ({
        url: `${PUBLIC_URL}/telegram/webhook`,
        has_custom_certificate: false,
        pending_update_count: 2,
        last_error_date: LAST_ERROR_AT,
        last_error_message: 'Connection refused',
        max_connections: 40,
      }),
      getchat: (body) => ({ id: Number(body.chat_id ?? SUPPORT_CHAT), type: 'supergroup', title: 'Acme Support Team', is_forum: true }),
    },
  });
}

/** An operator's private-chat message to the bot. */
const privateText = (user, text) => textFrom(user, text, 'Olga');

describe('admin Telegram page with the channel on', () => {
  let server;
  let browser;
  let bot;
  let admin;
  let agent;

  before(async () => {
    bot = await fakeBotApi();
    server = await Server.start({
      TELEGRAM_BOT_TOKEN: TOKEN,
      TELEGRAM_WEBHOOK_SECRET: SECRET,
      TELEGRAM_API_URL: bot.url,
      TELEGRAM_SUPPORT_CHAT_ID: String(SUPPORT_CHAT),
      SWITCHBOARD_PUBLIC_URL: PUBLIC_URL,
      SWITCHBOARD_IDENTITY_KEY: randomBytes(32).toString('base64'),
    });
    browser = await launchBrowser();
    admin = await server.addOperator({ email: 'ada@example.com', name: 'Ada Admin', role: 'admin', maxConcurrent: 0 });
    agent = await server.addOperator({ email: 'olga@example.com', name: 'Olga Petrova', role: 'agent', maxConcurrent: 0 });

    // Olga links her Telegram account: a code from the API, `/link CODE` to the bot.
    const link = await server.api('POST', '/api/v1/operators/me/telegram-link', { token: agent.token });
    assert.equal(link.status, 201, JSON.stringify(link.body));
    const res = await fetch(`${server.url}/telegram/webhook`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Telegram-Bot-Api-Secret-Token': SECRET },
      body: JSON.stringify(privateText(7401, link.body.command ?? `/link ${link.body.code}`)),
    });
    assert.equal(res.status, 200, await res.text());
    await eventually(async () => (await server.api('GET', '/api/v1/operators/me', { token: agent.token })).body.telegram_linked === true, {
      message: 'Telegram is linked',
    });
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
    bot?.close();
  });

  test('the API answers what Telegram said', async () => {
    const res = await server.api('GET', '/api/v1/admin/telegram', { token: admin.token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.enabled, true);
    assert.equal(res.body.bot_username, 'acme_support_bot');
    assert.deepEqual(res.body.support_chat, { id: SUPPORT_CHAT, title: 'Acme Support Team', forum: true });
    assert.equal(res.body.webhook.url, `${PUBLIC_URL}/telegram/webhook`);
    assert.equal(res.body.webhook.pending_update_count, 2);
    assert.equal(res.body.webhook.last_error_message, 'Connection refused');
    assert.equal(new Date(res.body.webhook.last_error_at).getTime(), LAST_ERROR_AT * 1000);
    assert.equal(res.body.polling, false);
    assert.deepEqual(res.body.linked_operators, [{ id: agent.id, name: agent.name }]);
    assert.deepEqual(res.body.problems, []);
  });

  test('the page shows the bot, the forum, the webhook and the linked operators', async () => {
    const page = await newPage(browser);
    await signIn(page, server, admin);
    await openTelegramPage(page, server);

    const enabled = byId(page, 'tg-enabled');
    assert.equal(await enabled.getAttribute('data-enabled'), 'true');
    assert.match(await enabled.innerText(), /The Telegram channel is on\./);
    assert.match(await enabled.innerText(), /webhook/);

    assert.match(await byId(page, 'tg-bot').innerText(), /@acme_support_bot/);
    assert.equal(await byId(page, 'tg-bot').locator('a').getAttribute('href'), 'https://t.me/acme_support_bot');

    const chat = await byId(page, 'tg-chat').innerText();
    assert.match(chat, /Acme Support Team/);
    assert.ok(chat.includes(String(SUPPORT_CHAT)), `the id: ${chat}`);
    assert.match(chat, /Forum: each conversation gets a topic/);

    const hook = byId(page, 'tg-webhook');
    assert.equal(await byId(page, 'tg-webhook-url').innerText(), `${PUBLIC_URL}/telegram/webhook`);
    assert.equal(await byId(page, 'tg-webhook-pending').innerText(), '2');
    assert.match(await byId(page, 'tg-webhook-error').innerText(), /Connection refused/);
    const at = await byId(page, 'tg-webhook-error-at').getAttribute('datetime');
    assert.equal(new Date(at).getTime(), LAST_ERROR_AT * 1000, `the error's time: ${at}`);
    assert.match(await byId(page, 'tg-webhook-error-at').innerText(), /2025/);
    assert.doesNotMatch(await hook.innerText(), /Long polling/);

    const linked = byId(page, 'tg-linked');
    assert.equal(await linked.getAttribute('data-count'), '1');
    assert.match(await linked.innerText(), /Olga Petrova/);
    assert.doesNotMatch(await linked.innerText(), /Ada Admin/);
    assert.equal(await byId(page, 'tg-problems').isVisible(), false);

    const register = byId(page, 'tg-register');
    assert.equal(await register.innerText(), 'Register webhook again');
    assert.equal(await register.isEnabled(), true);
    await screenshot(page, 'panel-telegram-admin-on');
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('"Register webhook again" calls setWebhook with the public URL and the secret', async () => {
    const page = await newPage(browser);
    await signIn(page, server, admin);
    await openTelegramPage(page, server);
    const before = bot.calls.filter((c) => c.method === 'setwebhook').length;

    await byId(page, 'tg-register').click();
    const result = byId(page, 'tg-register-result');
    await result.waitFor();
    assert.equal(await result.getAttribute('data-state'), 'ok');
    assert.match(await result.innerText(), /Telegram accepted the webhook/);
    assert.ok((await result.innerText()).includes(`${PUBLIC_URL}/telegram/webhook`), await result.innerText());
    await eventually(async () => (await byId(page, 'tg-register').isEnabled()), { message: 'the button is back' });
    assert.equal(await byId(page, 'tg-register').innerText(), 'Register webhook again');

    const sets = bot.calls.filter((c) => c.method === 'setwebhook');
    assert.equal(sets.length, before + 1, 'one setWebhook');
    const call = sets.at(-1);
    assert.ok(call.raw.includes(`${PUBLIC_URL}/telegram/webhook`), `the URL is sent: ${call.contentType} ${call.raw}`);
    assert.ok(call.raw.includes(SECRET), 'the secret is sent');
    const audited = await server.sql("SELECT count(*) FROM audit_log WHERE action = 'telegram.webhook_set'");
    assert.equal(audited[0][0], '1', 'audited');
    await screenshot(page, 'panel-telegram-admin-registered');
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('Telegram refusing setWebhook is shown; what Telegram does not answer is listed', async () => {
    const page = await newPage(browser);
    await signIn(page, server, admin);
    await openTelegramPage(page, server);

    bot.fail.set('setwebhook', 'Bad Request: bad webhook: Failed to resolve host');
    try {
      await byId(page, 'tg-register').click();
      const result = byId(page, 'tg-register-result');
      await eventually(async () => (await result.getAttribute('data-state')) === 'error', { message: 'the refusal is shown' });
      assert.equal(await result.getAttribute('role'), 'alert');
      const text = await result.innerText();
      assert.match(text, /^The webhook was not registered: /);
      assert.match(text, /Failed to resolve host/);
      const api = await server.api('POST', '/api/v1/admin/telegram/webhook', { token: admin.token });
      assert.equal(api.status, 409, JSON.stringify(api.body));
      assert.equal(api.body.error.code, 'webhook_not_set');
    } finally {
      bot.fail.delete('setwebhook');
    }

    bot.fail.set('getwebhookinfo', 'Unauthorized');
    try {
      await byId(page, 'tg-refresh').click();
      const problems = byId(page, 'tg-problems');
      await problems.waitFor();
      assert.match(await problems.innerText(), /getWebhookInfo/);
      assert.match(await problems.innerText(), /Unauthorized/);
      assert.match(await byId(page, 'tg-webhook').innerText(), /Telegram did not answer about the webhook/);
      // The rest is still shown.
      assert.match(await byId(page, 'tg-bot').innerText(), /@acme_support_bot/);
      assert.match(await byId(page, 'tg-chat').innerText(), /Acme Support Team/);
      await screenshot(page, 'panel-telegram-admin-problems');
    } finally {
      bot.fail.delete('getwebhookinfo');
    }
    await byId(page, 'tg-refresh').click();
    await eventually(async () => !(await byId(page, 'tg-problems').isVisible()), { message: 'the problems go away' });
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('in Russian', async () => {
    const page = await newPage(browser, { locale: 'ru-RU' });
    await page.addInitScript(() => localStorage.setItem('sb.lang', 'ru'));
    await signIn(page, server, admin);
    await page.goto(`${server.url}/admin#/admin/telegram`);
    await eventually(async () => (await byId(page, 'tg-enabled').getAttribute('data-enabled')) === 'true', { message: 'loaded' });
    assert.match(await byId(page, 'tg-enabled').innerText(), /Канал Telegram включён\./);
    assert.match(await byId(page, 'tg-chat').innerText(), /Форум: у каждого диалога своя тема/);
    assert.equal(await byId(page, 'tg-register').innerText(), 'Зарегистрировать webhook заново');
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
});

describe('admin Telegram page without a public URL or a support group', () => {
  let server;
  let browser;
  let bot;
  let admin;

  before(async () => {
    bot = await fakeBotApi();
    server = await Server.start({
      TELEGRAM_BOT_TOKEN: TOKEN,
      TELEGRAM_WEBHOOK_SECRET: SECRET,
      TELEGRAM_API_URL: bot.url,
      SWITCHBOARD_IDENTITY_KEY: randomBytes(32).toString('base64'),
    });
    browser = await launchBrowser();
    admin = await server.addOperator({ email: 'ada@example.com', name: 'Ada Admin', role: 'admin', maxConcurrent: 0 });
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
    bot?.close();
  });

  test('the page says there is no support group, and why the webhook cannot be registered', async () => {
    const page = await newPage(browser);
    await signIn(page, server, admin);
    await openTelegramPage(page, server);
    assert.equal(await byId(page, 'tg-enabled').getAttribute('data-enabled'), 'true');
    assert.match(await byId(page, 'tg-chat').innerText(), /No support group is set\./);
    assert.match(await byId(page, 'tg-chat').innerText(), /TELEGRAM_SUPPORT_CHAT_ID/);

    await byId(page, 'tg-register').click();
    const result = byId(page, 'tg-register-result');
    await eventually(async () => (await result.getAttribute('data-state')) === 'error', { message: 'the 409 is shown' });
    assert.match(await result.innerText(), /SWITCHBOARD_PUBLIC_URL is not set/);
    assert.equal(bot.calls.filter((c) => c.method === 'setwebhook').length, 0, 'Telegram was not asked');
    const audited = await server.sql("SELECT count(*) FROM audit_log WHERE action = 'telegram.webhook_set'");
    assert.equal(audited[0][0], '0');
    await screenshot(page, 'panel-telegram-admin-no-public-url');
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
});
