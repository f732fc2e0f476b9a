// Signing in to the operator panel with a one-time code from the support bot, in a real
// browser: with the Telegram channel off the sign-in page says code sign-in is not set up and
// offers only the password; with it on (a fake Bot API here, updates posted to the webhook) an
// operator who linked Telegram with `/link CODE` asks for a code, reads it in the bot's private
// message, is refused a wrong one, signs in with the right one exactly as with a password,
// gets a new code with "Resend code" (the old one stops working), and is locked out with the
// wait shown after too many wrong codes.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Server, eventually, launchBrowser, newPage, screenshot, signIn } from './harness.mjs';
import { fakeBotApi, privateText as textFrom } from './fake-telegram.mjs';

/** An operator's private-chat message to the bot. */
const privateText = (user, text) => textFrom(user, text, 'Olga');

const byId = (page, id) => page.locator(`[data-testid="${id}"]`);
const hasFocus = (locator) => locator.evaluate((el) => el === document.activeElement);

/** The operator's panel is up: their name in the sidebar. */
const signedInAs = (page, operator) => page.locator('[data-testid="me"]', { hasText: operator.name }).waitFor();

describe('panel: code sign-in with the Telegram channel off', () => {
  let server;
  let browser;
  let agent;

  before(async () => {
    server = await Server.start();
    browser = await launchBrowser();
    agent = await server.addOperator({ email: 'olga@example.com', name: 'Olga Petrova', role: 'agent', maxConcurrent: 0 });
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
  });

  test('the code endpoints answer 404 not_found', async () => {
    for (const [path, body] of [
      ['/api/v1/auth/otp/request', { email: agent.email }],
      ['/api/v1/auth/otp/verify', { email: agent.email, code: '123456' }],
    ]) {
      const res = await server.api('POST', path, { body });
      assert.equal(res.status, 404, `${path}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, 'not_found');
    }
  });

  test('the sign-in page says Telegram sign-in is not set up, and the password still works', async () => {
    const page = await newPage(browser);
    await page.goto(`${server.url}/admin`);
    const mode = byId(page, 'otp-mode');
    assert.equal(await mode.innerText(), 'Send me a code in Telegram');
    assert.equal(await byId(page, 'otp-off').isHidden(), true);
    await page.locator('#login-email').fill(agent.email);
    await mode.click();

    const email = byId(page, 'otp-email');
    assert.equal(await email.inputValue(), agent.email, 'the email typed for the password is carried over');
    await byId(page, 'otp-send').click();
    const error = byId(page, 'otp-error');
    await error.waitFor();
    assert.equal(await error.innerText(), 'Telegram sign-in is not set up on this server.');
    assert.equal(await error.getAttribute('role'), 'alert');
    assert.equal(await email.isHidden(), true, 'no email field to send to');
    assert.equal(await byId(page, 'otp-send').isHidden(), true);
    assert.equal(await byId(page, 'otp-code').isHidden(), true);
    assert.ok(await hasFocus(byId(page, 'otp-back')), '"Back to password" has the focus');
    await screenshot(page, 'panel-otp-off');

    // Back on the password form the option is disabled and says why.
    await byId(page, 'otp-back').click();
    assert.equal(await mode.isDisabled(), true);
    const note = byId(page, 'otp-off');
    assert.equal(await note.isVisible(), true);
    assert.equal(await note.innerText(), 'Telegram sign-in is not set up on this server.');
    assert.equal(await mode.getAttribute('aria-describedby'), await note.getAttribute('id'));
    await screenshot(page, 'panel-otp-option-off');
    assert.equal(await page.locator('#login-email').inputValue(), agent.email);
    await page.locator('#login-password').fill(agent.password);
    await page.locator('#login-password').press('Enter');
    await signedInAs(page, agent);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('in Russian', async () => {
    const page = await newPage(browser, { locale: 'ru-RU' });
    await page.addInitScript(() => localStorage.setItem('sb.lang', 'ru'));
    await page.goto(`${server.url}/admin`);
    await byId(page, 'otp-mode').click();
    assert.equal(await byId(page, 'otp-send').innerText(), 'Отправить код');
    assert.match(await byId(page, 'otp-intro').innerText(), /Привязать Telegram/);
    await byId(page, 'otp-email').fill(agent.email);
    await byId(page, 'otp-send').click();
    await eventually(async () => (await byId(page, 'otp-error').innerText()) === 'Вход через Telegram на этом сервере не настроен.', {
      message: 'the Russian "not set up"',
    });
    assert.equal(await byId(page, 'otp-back').innerText(), 'Войти по паролю');
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
});

// ---------------------------------------------------------------------- Telegram on

const TOKEN = '7001234567:AAH-fake_token_for_otp_tests';
const SECRET = 'hook-Secret_otp_42';
const OPERATOR_CHAT = 7301;

describe('panel: code sign-in with the Telegram channel on', () => {
  let server;
  let browser;
  let bot;
  let agent; // linked to OPERATOR_CHAT
  let unlinked;

  async function webhook(update) {
    const res = await fetch(`${server.url}/telegram/webhook`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Telegram-Bot-Api-Secret-Token': SECRET },
      body: JSON.stringify(update),
    });
    assert.equal(res.status, 200, await res.text());
  }

  /** The sign-in codes the bot has sent to a private chat, oldest first. */
  const codesSent = (chat = OPERATOR_CHAT) => bot.calls
    .filter((c) => c.method === 'sendmessage' && Number(c.body.chat_id) === chat)
    .map((c) => String(c.body.text ?? '').match(/Your Switchboard sign-in code: (\d{6})/)?.[1])
    .filter(Boolean);

  /** Waits for the bot's next code after `before` codes and returns it. */
  const nextCode = (before) => eventually(() => codesSent()[before], { message: 'the bot sends a sign-in code' });

  /** A six-digit code that is not `code`. */
  const otherThan = (code) => String((Number(code) + 1) % 1000000).padStart(6, '0');

  /** The sign-in page, switched to code sign-in, with the email typed in. */
  async function codeMode(page, email) {
    await page.goto(`${server.url}/admin`);
    await byId(page, 'otp-mode').click();
    await byId(page, 'otp-email').waitFor();
    assert.ok(await hasFocus(byId(page, 'otp-email')), 'the email field has the focus');
    await byId(page, 'otp-email').fill(email);
  }

  before(async () => {
    bot = await fakeBotApi();
    server = await Server.start({
      // A new code on every ask (the default keeps a code asked for within the minute).
      SWITCHBOARD_OTP_RESEND_SECS: '0',
      TELEGRAM_BOT_TOKEN: TOKEN,
      TELEGRAM_WEBHOOK_SECRET: SECRET,
      TELEGRAM_API_URL: bot.url,
      SWITCHBOARD_IDENTITY_KEY: randomBytes(32).toString('base64'),
    });
    browser = await launchBrowser();
    agent = await server.addOperator({ email: 'olga@example.com', name: 'Olga Petrova', role: 'agent', maxConcurrent: 0 });
    unlinked = await server.addOperator({ email: 'ivan@example.com', name: 'Ivan Unlinked', role: 'agent', maxConcurrent: 0 });

    // Olga links her Telegram account: a code from the API, `/link CODE` to the bot.
    const link = await server.api('POST', '/api/v1/operators/me/telegram-link', { token: agent.token });
    assert.equal(link.status, 201, JSON.stringify(link.body));
    await webhook(privateText(OPERATOR_CHAT, link.body.command ?? `/link ${link.body.code}`));
    await eventually(async () => (await server.api('GET', '/api/v1/operators/me', { token: agent.token })).body.telegram_linked === true, {
      message: 'Telegram is linked',
    });
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
    bot?.close();
  });

  test('asking for a code answers the same for anyone; only a linked operator gets one', async () => {
    const answers = [];
    for (const email of ['nobody@example.com', unlinked.email]) {
      const res = await server.api('POST', '/api/v1/auth/otp/request', { body: { email } });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      answers.push(res.body);
    }
    assert.deepEqual(answers[0], answers[1], 'no account enumeration');
    assert.equal(answers[0].status, 'accepted');
    const rows = await server.sql("SELECT details->>'sent' FROM audit_log WHERE action = 'operator.otp_request'");
    assert.deepEqual(rows, [['false']], 'nothing sent to the unlinked operator');
  });

  test('a wrong code is refused, the right one signs in like a password', async () => {
    const page = await newPage(browser);
    await codeMode(page, agent.email);
    const intro = await byId(page, 'otp-intro').innerText();
    assert.match(intro, /linked Telegram \(profile menu → Link Telegram\) and started the bot/);
    const before = codesSent().length;
    await byId(page, 'otp-send').click();

    const sent = byId(page, 'otp-sent');
    await sent.waitFor();
    assert.equal(await sent.getAttribute('role'), 'status');
    assert.match(await sent.innerText(), /olga@example\.com/);
    assert.match(await sent.innerText(), /5 minutes/);
    const code = byId(page, 'otp-code');
    assert.equal(await code.getAttribute('inputmode'), 'numeric');
    assert.equal(await code.getAttribute('autocomplete'), 'one-time-code');
    assert.ok(await hasFocus(code), 'the code field has the focus');
    assert.equal(await byId(page, 'otp-email').isHidden(), true);
    assert.equal(await byId(page, 'otp-resend').isVisible(), true);
    assert.equal(await byId(page, 'otp-back').isVisible(), true);
    const right = await nextCode(before);
    await screenshot(page, 'panel-otp-code');

    // Too short: caught in the page, nothing is sent.
    await code.fill('12');
    await byId(page, 'otp-submit').click();
    const error = byId(page, 'otp-error');
    await error.waitFor();
    assert.equal(await error.innerText(), 'Enter the 6-digit code from Telegram.');
    assert.equal(await code.getAttribute('aria-invalid'), 'true');

    // A wrong code: the server's 401.
    await code.fill(otherThan(right));
    await byId(page, 'otp-submit').click();
    await eventually(async () => (await error.innerText()) === 'Wrong or expired code.', { message: 'the wrong code is refused' });
    assert.equal(await error.getAttribute('role'), 'alert');
    assert.equal(await byId(page, 'otp-submit').isEnabled(), true);
    assert.ok(await hasFocus(code), 'the code field has the focus again');
    await screenshot(page, 'panel-otp-wrong');

    // The right one (as pasted, with a space), sent with Enter: the panel opens.
    await code.fill(`${right.slice(0, 3)} ${right.slice(3)}`);
    await code.press('Enter');
    await signedInAs(page, agent);
    await byId(page, 'profile-menu').waitFor();
    assert.match(page.url(), /#\/queue$/);
    const token = await page.evaluate(() => sessionStorage.getItem('sb.token'));
    assert.ok(token, 'the token is kept for the socket and the Authorization header');
    const me = await server.api('GET', '/api/v1/auth/me', { token });
    assert.equal(me.status, 200);
    assert.equal(me.body.id, agent.id);
    await eventually(async () => (await byId(page, 'connection').getAttribute('data-state')) === 'open', {
      message: 'the operator socket is open',
    });
    // The session cookie was set too: a reload stays signed in.
    await page.evaluate(() => sessionStorage.removeItem('sb.token'));
    await page.reload();
    await signedInAs(page, agent);

    // A used code does not work again.
    const again = await server.api('POST', '/api/v1/auth/otp/verify', { body: { email: agent.email, code: right } });
    assert.equal(again.status, 401, JSON.stringify(again.body));
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test('"Resend code" sends a new code and the old one stops working', async () => {
    const page = await newPage(browser);
    await codeMode(page, agent.email);
    let before = codesSent().length;
    await byId(page, 'otp-send').click();
    await byId(page, 'otp-code').waitFor();
    const first = await nextCode(before);

    before = codesSent().length;
    await byId(page, 'otp-resend').click();
    await eventually(async () => /new code/.test(await byId(page, 'otp-sent').innerText()), { message: 'the page says a new code was asked for' });
    const second = await nextCode(before);
    assert.ok(await hasFocus(byId(page, 'otp-code')));

    if (first !== second) {
      await byId(page, 'otp-code').fill(first);
      await byId(page, 'otp-submit').click();
      await eventually(async () => (await byId(page, 'otp-error').innerText()) === 'Wrong or expired code.', {
        message: 'the first code no longer works',
      });
    }
    await byId(page, 'otp-code').fill(second);
    await byId(page, 'otp-submit').click();
    await signedInAs(page, agent);
    assert.deepEqual(page.problems, []);

    // Signing out leads back to the sign-in page, where codes work again.
    await byId(page, 'logout').click();
    await byId(page, 'otp-mode').waitFor();
    assert.equal(await byId(page, 'otp-mode').isEnabled(), true);
    await page.context().close();
  });

  test('"Back to password" returns to the password form', async () => {
    const page = await newPage(browser);
    await codeMode(page, agent.email);
    await byId(page, 'otp-back').click();
    assert.equal(await byId(page, 'otp-email').isHidden(), true);
    assert.equal(await page.locator('#login-email').inputValue(), agent.email);
    await page.locator('#login-password').fill(agent.password);
    await page.locator('#login-password').press('Enter');
    await signedInAs(page, agent);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  // Last: the lock is per address too, so after it no code sign-in from here works.
  test('after five wrong codes the page says how long to wait', async () => {
    // Wrong codes from this address until the server locks code sign-in.
    let locked;
    for (let i = 0; i < 6 && !locked; i += 1) {
      const res = await fetch(`${server.url}/api/v1/auth/otp/verify`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: agent.email, code: '000000' }),
      });
      if (res.status === 429) locked = res;
      else assert.equal(res.status, 401);
    }
    assert.ok(locked, 'locked after five wrong codes');
    const wait = Number(locked.headers.get('retry-after'));
    assert.ok(wait > 10 * 60 && wait <= 15 * 60, `Retry-After: ${wait}`);
    assert.equal((await locked.json()).error.code, 'rate_limited');

    const page = await newPage(browser);
    await codeMode(page, agent.email);
    await byId(page, 'otp-send').click();
    await byId(page, 'otp-code').waitFor();
    await byId(page, 'otp-code').fill('123456');
    await byId(page, 'otp-submit').click();
    const error = byId(page, 'otp-error');
    // Retry-After counts from the oldest of the five wrong codes, so about a quarter of an hour.
    await eventually(async () => /^Too many attempts\. Try again in 1[0-5] minutes\.$/.test(await error.innerText()), {
      message: 'the wait is shown',
    });
    assert.equal(await byId(page, 'otp-submit').isDisabled(), true, 'Sign in waits for the lock to pass');
    await screenshot(page, 'panel-otp-locked');

    // The password still works.
    await byId(page, 'otp-back').click();
    await signIn(page, server, agent);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
});
