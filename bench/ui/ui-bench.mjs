// UI benchmark: what the widget and the panel add on top of the server, measured in Debian's
// headless Chromium against a release build, each figure beside a baseline from the same run.
//
//   scripts/bench-ui.sh          (builds the release binary, then runs this file)
//
// 1. Delivery latency through the UIs: a visitor presses Enter in the widget → the text is in
//    the operator panel's DOM; and the panel's Send → the text is in the widget's DOM.
//    Baseline: the same server, the same direction, with two bare WebSocket clients (no
//    browser, no DOM) doing the same exchange.
// 2. The panel with many open conversations: load → list rendered, and the page's JS heap.
//    Baseline: the same panel with no conversations.
// 3. The widget's weight on a customer's page: transfer size, time until the launcher is
//    shown, JS heap. Baseline: the same page without the widget.
//
// Results: one JSON object on stdout (and BENCH_UI_OUT, if set).

import { writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { Server, OperatorSocket, WebSocket, eventually, launchBrowser, newPage, signIn, widget } from '../../tests/browser/harness.mjs';

const ROUNDS = Number(process.env.BENCH_UI_ROUNDS || 60);
const CONVERSATIONS = Number(process.env.BENCH_UI_CONVERSATIONS || 500);
const REPEAT = Number(process.env.BENCH_UI_REPEAT || 5);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const summary = (xs) => ({ n: xs.length, median: round(median(xs)), p90: round(pct(xs, 90)), max: round(Math.max(...xs)) });
const round = (x) => Math.round(x * 100) / 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function heapUsed(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  await cdp.send('HeapProfiler.collectGarbage');
  const { metrics } = await cdp.send('Performance.getMetrics');
  await cdp.detach();
  return metrics.find((m) => m.name === 'JSHeapUsedSize').value;
}


/** Records, in the page, when each text first appears in an element matching `selector`. */
async function watchTexts(page, selector) {
  await page.evaluate((sel) => {
    window.__seen = {};
    const scan = (root) => {
      const nodes = [];
      const walk = (n) => {
        if (n.nodeType !== 1) return;
        if (n.matches(sel)) nodes.push(n);
        n.querySelectorAll(sel).forEach((x) => nodes.push(x));
        if (n.shadowRoot) walk(n.shadowRoot.firstElementChild);
      };
      walk(root);
      for (const n of nodes) {
        const m = n.textContent.match(/\[bench-\d+-\w+\]/);
        if (m && !(m[0] in window.__seen)) window.__seen[m[0]] = performance.timeOrigin + performance.now();
      }
    };
    const observe = (root) => new MutationObserver((records) => {
      for (const r of records) for (const n of r.addedNodes) scan(n.nodeType === 1 ? n : n.parentElement);
    }).observe(root, { childList: true, subtree: true, characterData: true });
    observe(document.body);
    const host = document.getElementById('switchboard-widget');
    if (host) observe(host.shadowRoot);
  }, selector);
}

async function uiLatency(browser, server, op) {
  const visitor = await newPage(browser);
  await widget.open(visitor, `${server.url}/widget`);
  await widget.write(visitor, 'bench-0-start');
  await widget.sent(visitor, 'bench-0-start');
  const [conv] = (await server.api('GET', '/api/v1/conversations?status=pending', { token: op.token })).body.items;
  await server.api('POST', `/api/v1/conversations/${conv.id}/take`, { token: op.token });
  const panel = await newPage(browser);
  await signIn(panel, server, op);
  await panel.goto(`${server.url}/admin#/c/${conv.id}`);
  await panel.locator('[data-testid="event"]', { hasText: 'bench-0-start' }).waitFor();
  await watchTexts(panel, '[data-testid="event"]');
  await watchTexts(visitor, '[data-testid="message"]');

  const toPanel = [];
  const toWidget = [];
  for (let i = 1; i <= ROUNDS; i++) {
    // Visitor → operator: the visitor presses Enter; the panel shows it.
    const text = `[bench-${i}-v]`;
    const t0 = await visitor.evaluate((t) => {
      const root = document.getElementById('switchboard-widget').shadowRoot;
      const input = root.querySelector('[data-testid="input"]');
      input.value = t;
      const at = performance.timeOrigin + performance.now();
      input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
      return at;
    }, text);
    const t1 = await eventually(() => panel.evaluate((t) => window.__seen[t], text), { interval: 5 });
    toPanel.push(t1 - t0);
    // Operator → visitor: the operator clicks Send; the widget shows it.
    const reply = `[bench-${i}-o]`;
    const composer = panel.locator('[data-testid="composer"]');
    await composer.fill(reply);
    const s0 = await panel.evaluate(() => {
      const at = performance.timeOrigin + performance.now();
      document.querySelector('[data-testid="send"]').click();
      return at;
    });
    const s1 = await eventually(() => visitor.evaluate((t) => window.__seen[t], reply), { interval: 5 });
    toWidget.push(s1 - s0);
    await sleep(50);
  }
  await visitor.context().close();
  await panel.context().close();
  return { toPanel, toWidget };
}

/** The same exchange between two bare WebSocket clients (no browser): the baseline. */
async function socketLatency(server, op) {
  const session = (await server.api('POST', '/api/v1/widget/sessions', { body: {} })).body;
  await server.api('POST', `/api/v1/conversations/${session.conversation_id}/take`, { token: op.token });
  const opSock = await OperatorSocket.open(server, op.token);
  const visitor = new WebSocket(`${server.url.replace('http', 'ws')}/ws/visitor`);
  const vFrames = [];
  visitor.on('message', (m) => vFrames.push({ at: performance.now(), frame: JSON.parse(m) }));
  await new Promise((r) => visitor.once('open', r));
  visitor.send(JSON.stringify({ type: 'hello', token: session.token }));
  await eventually(() => vFrames.find((f) => f.frame.type === 'welcome'));
  const opSeen = {};
  opSock.ws.addEventListener('message', (m) => {
    const f = JSON.parse(m.data);
    if (f.type === 'event' && f.text) opSeen[f.text] ??= performance.now();
  });
  const toOperator = [];
  const toVisitor = [];
  for (let i = 1; i <= ROUNDS; i++) {
    const text = `[bench-${i}-v]`;
    const t0 = performance.now();
    visitor.send(JSON.stringify({ type: 'message', client_id: `v${i}`, text }));
    const t1 = await eventually(() => opSeen[text], { interval: 1 });
    toOperator.push(t1 - t0);
    const reply = `[bench-${i}-o]`;
    const s0 = performance.now();
    opSock.send({ type: 'message', conversation_id: session.conversation_id, client_id: `o${i}`, text: reply });
    const s1 = await eventually(() => vFrames.find((f) => f.frame.type === 'event' && f.frame.text === reply)?.at, { interval: 1 });
    toVisitor.push(s1 - s0);
    await sleep(50);
  }
  visitor.close();
  opSock.close();
  return { toOperator, toVisitor };
}

async function panelLoad(browser, server, op) {
  const page = await newPage(browser);
  await signIn(page, server, op);
  const times = [];
  let heap = 0;
  let rows = 0;
  for (let i = 0; i < REPEAT; i++) {
    const t0 = Date.now();
    await page.goto(`${server.url}/admin#/all`);
    const expected = Number((await server.sql(`SELECT count(*) FROM conversations WHERE status IN ('pending','active')`))[0][0]);
    await eventually(async () => (await page.locator('[data-testid="conv-item"]').count()) >= Math.min(expected, 1) && (expected === 0 || (await page.locator('[data-testid="badge-all"]').innerText()).trim() === String(expected)), { interval: 10, timeout: 60000 });
    times.push(Date.now() - t0);
    rows = await page.locator('[data-testid="conv-item"]').count();
    heap = await heapUsed(page);
  }
  await page.context().close();
  return { ms: times, heap, rows };
}

async function widgetWeight(browser, server) {
  const withWidget = [];
  const without = [];
  let heapWith = 0;
  let heapWithout = 0;
  for (let i = 0; i < REPEAT; i++) {
    const page = await newPage(browser);
    const t0 = Date.now();
    await page.goto(`${server.url}/widget`);
    await page.locator('[data-testid="launcher"]').waitFor();
    withWidget.push(Date.now() - t0);
    heapWith = await heapUsed(page);
    await page.context().close();

    const bare = await newPage(browser);
    // The same page with the script tag removed: the baseline.
    await bare.route('**/widget.js', (route) => route.fulfill({ status: 200, contentType: 'text/javascript', body: '' }));
    const b0 = Date.now();
    await bare.goto(`${server.url}/widget`);
    await bare.locator('h1').waitFor();
    without.push(Date.now() - b0);
    heapWithout = await heapUsed(bare);
    await bare.context().close();
  }
  const raw = await fetch(`${server.url}/widget.js`);
  const rawBytes = (await raw.arrayBuffer()).byteLength;
  // fetch() would undo the compression; count the bytes on the wire.
  const gzBytes = await new Promise((resolve, reject) => {
    get(`${server.url}/widget.js`, { headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
      let n = 0;
      res.on('data', (c) => (n += c.length));
      res.on('end', () => resolve(n));
    }).on('error', reject);
  });
  return { withWidget, without, heapWith, heapWithout, rawBytes, gzBytes };
}

// Rate limits off: one visitor sends a message every ~60 ms here.
const server = await Server.start({
  SWITCHBOARD_SESSIONS_PER_IP_PER_MIN: '100000',
  SWITCHBOARD_LOGINS_PER_IP_PER_MIN: '10000',
  SWITCHBOARD_VISITOR_MESSAGES_PER_SEC: '10000',
  SWITCHBOARD_VISITOR_BURST: '10000',
});
const browser = await launchBrowser();
try {
  const op = await server.addOperator({ email: 'bench@example.com', name: 'Bench Operator', role: 'admin', maxConcurrent: 0 });
  const base = await socketLatency(server, op);
  const ui = await uiLatency(browser, server, op);
  const empty = await panelLoad(browser, server, op);
  for (let i = 0; i < CONVERSATIONS; i++) {
    await server.api('POST', '/api/v1/widget/sessions', { body: { message: `Waiting customer ${i}` } });
  }
  const full = await panelLoad(browser, server, op);
  const weight = await widgetWeight(browser, server);
  const result = {
    rounds: ROUNDS,
    latency_ms: {
      visitor_to_operator: { ui: summary(ui.toPanel), sockets: summary(base.toOperator), ratio: round(median(ui.toPanel) / median(base.toOperator)) },
      operator_to_visitor: { ui: summary(ui.toWidget), sockets: summary(base.toVisitor), ratio: round(median(ui.toWidget) / median(base.toVisitor)) },
    },
    panel: {
      conversations: CONVERSATIONS,
      rows_rendered: full.rows,
      load_ms: { open: summary(full.ms), empty: summary(empty.ms), ratio: round(median(full.ms) / median(empty.ms)) },
      js_heap_mib: { open: round(full.heap / 2 ** 20), empty: round(empty.heap / 2 ** 20) },
    },
    widget: {
      script_bytes: weight.rawBytes,
      script_gzip_bytes: weight.gzBytes,
      ready_ms: { with_widget: summary(weight.withWidget), without: summary(weight.without) },
      js_heap_mib: { with_widget: round(weight.heapWith / 2 ** 20), without: round(weight.heapWithout / 2 ** 20) },
    },
  };
  const text = JSON.stringify(result, null, 2);
  console.log(text);
  if (process.env.BENCH_UI_OUT) await writeFile(process.env.BENCH_UI_OUT, text);
} finally {
  await browser.close();
  await server.destroy();
}
