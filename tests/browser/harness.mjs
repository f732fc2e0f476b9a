// Shared set-up for the browser tests: a real switchboard process on its own database and
// port, and Debian's headless Chromium driven by playwright-core.
//
// tests/browser.rs runs these files with `node --test`, passing the binary cargo built in
// SWITCHBOARD_BIN. Screenshots go to artifacts/screenshots/ (ignored by git).

import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';

const run = promisify(execFile);

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.SWITCHBOARD_BIN || path.join(ROOT, 'target/debug/switchboard');
const PG_HOST = '127.0.0.1';
const PG_PORT = '5432';
const CHROMIUM = process.env.SB_CHROMIUM || '/usr/bin/chromium';
export const SCREENSHOTS = path.join(ROOT, 'artifacts/screenshots');

/** A port nobody listens on right now. */
async function freePort() {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address();
  probe.close();
  await once(probe, 'close');
  return port;
}

export async function eventually(check, { timeout = 15000, interval = 100, message } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value !== false && value !== undefined && value !== null) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`${message || 'condition not met'} within ${timeout} ms${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** One switchboard process on a fresh database (`sbtest_*`, dropped by destroy()). */
export class Server {
  static async start(env = {}) {
    const server = new Server(`sbtest_${randomBytes(8).toString('hex')}`, await freePort(), env);
    await server.spawn();
    return server;
  }

  constructor(db, port, env) {
    this.db = db;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.env = {
      ...process.env,
      DATABASE_URL: `postgres://postgres@${PG_HOST}:${PG_PORT}/${db}`,
      SWITCHBOARD_LISTEN: `127.0.0.1:${port}`,
      SWITCHBOARD_SHUTDOWN_TIMEOUT_SECS: '1',
      // Test set-ups make data and sign in faster than people do (the limits have Rust tests):
      // a test file signs in a dozen times a minute from one address.
      SWITCHBOARD_API_REQUESTS_PER_SEC: '10000',
      SWITCHBOARD_API_BURST: '10000',
      SWITCHBOARD_LOGINS_PER_IP_PER_MIN: '1000',
      // Offline auto-replies and rule escalations add events of their own; the automation
      // pages' test turns them on.
      SWITCHBOARD_AUTOMATION: 'false',
      RUST_LOG: process.env.SB_SERVER_LOG || 'warn',
      ...env,
    };
    this.log = [];
    this.child = null;
  }

  async spawn() {
    const child = spawn(BIN, ['serve'], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (chunk) => {
      this.log.push(chunk.toString());
      if (this.log.length > 500) this.log.shift();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.exited = once(child, 'exit');
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${this.log.join('')}`);
        const res = await fetch(`${this.url}/health`);
        return res.status === 200;
      },
      { timeout: 60000, interval: 200, message: 'the server answers /health' },
    );
  }

  /** SIGTERM: the graceful shutdown (sockets get 1012), as an operator restarting it would. */
  async stop() {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15000);
    await this.child.exited;
    clearTimeout(timer);
  }

  async restart() {
    await this.stop();
    await this.spawn();
  }

  async destroy() {
    await this.stop();
    await run('psql', psqlArgs('postgres', `DROP DATABASE IF EXISTS "${this.db}" WITH (FORCE)`)).catch(() => {});
  }

  /** `switchboard operator add`, the way an admin adds the first operators. */
  async addOperator({ email, name, role = 'agent', password = 'a-long-password', maxConcurrent }) {
    const args = ['operator', 'add', '--email', email, '--name', name, '--role', role];
    if (maxConcurrent !== undefined) args.push('--max-concurrent', String(maxConcurrent));
    const child = spawn(BIN, args, { env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.stdin.end(`${password}\n`);
    const [code] = await once(child, 'exit');
    if (code !== 0) throw new Error(`operator add failed: ${out}`);
    const token = (await this.api('POST', '/api/v1/auth/login', { body: { email, password } })).body.token;
    const me = (await this.api('GET', '/api/v1/auth/me', { token })).body;
    return { email, name, role, password, token, id: me.id };
  }

  async api(method, urlPath, { token, body } = {}) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(`${this.url}${urlPath}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    return { status: res.status, body: json };
  }

  /** Rows of a query on this server's database, as arrays of strings. */
  async sql(query, db = this.db) {
    const { stdout } = await run('psql', psqlArgs(db, query));
    return stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => line.split('|'));
  }

  logs() {
    return this.log.join('');
  }
}

function psqlArgs(db, query) {
  return ['-X', '-w', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', PG_HOST, '-p', PG_PORT, '-U', 'postgres', '-d', db, '-c', query];
}

/** Debian's Chromium, headless, with nothing that reaches for the network on its own. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/** A page that fails the test on any script error or console error. */
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // A refused connection while the server restarts is expected; script errors are not.
    if (m.type() === 'error' && !/WebSocket connection|Failed to load resource|ERR_CONNECTION_REFUSED/.test(m.text())) {
      page.problems.push(`console: ${m.text()}`);
    }
  });
  return page;
}

export async function screenshot(page, name) {
  await mkdir(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** An operator's own WebSocket (what a second operator client would open). */
export class OperatorSocket {
  static async open(server, token) {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws/operator`);
    const socket = new OperatorSocket(ws);
    await once(ws, 'open');
    ws.send(JSON.stringify({ type: 'hello', token }));
    await socket.next((f) => f.type === 'welcome');
    return socket;
  }

  constructor(ws) {
    this.ws = ws;
    this.frames = [];
    ws.addEventListener('message', (m) => this.frames.push(JSON.parse(m.data)));
  }

  send(frame) {
    this.ws.send(JSON.stringify(frame));
  }

  next(match, timeout = 15000) {
    return eventually(() => this.frames.find(match), { timeout, message: 'an operator frame' });
  }

  close() {
    this.ws.close();
  }
}

/** How many stored events carry exactly this text. */
export async function storedCount(server, text) {
  const rows = await server.sql(`SELECT count(*) FROM events WHERE body = '${text.replaceAll("'", "''")}'`);
  return Number(rows[0][0]);
}

/** The visitor's side: the widget on a page (its shadow root is open, so locators reach in). */
export const widget = {
  message: (page, text) => page.locator('[data-testid="message"]', { hasText: text }),
  countOf: (page, text) => page.locator('[data-testid="message"] .text', { hasText: text }).count(),
  async open(page, url) {
    await page.goto(url);
    await page.locator('[data-testid="launcher"]').click();
    await page.locator('[data-testid="window"]').waitFor({ state: 'visible' });
  },
  async write(page, text) {
    await page.locator('[data-testid="input"]').fill(text);
    await page.locator('[data-testid="input"]').press('Enter');
  },
  async sent(page, text) {
    const item = widget.message(page, text);
    // Acknowledged: "sent", or already "read" when an operator has the chat open.
    await eventually(async () => ['sent', 'read'].includes(await item.getAttribute('data-state')), {
      message: `"${text}" is marked sent`,
    });
    return item;
  },
};

/** Signs an operator in to the panel through its login form. */
export async function signIn(page, server, operator) {
  await page.goto(`${server.url}/admin`);
  await page.locator('#login-email').fill(operator.email);
  await page.locator('#login-password').fill(operator.password);
  await page.locator('#login-password').press('Enter');
  await page.locator('[data-testid="me"]', { hasText: operator.name }).waitFor();
}

/** The WebSocket client the harness uses, for scripts outside this folder. */
export { WebSocket };
