// The supervisor dashboard's satisfaction figures in a real browser: three visitors rate their
// resolved chats 5, 4 and 2 with the widget's `rate` frame, and the dashboard shows CSAT (the
// share of ratings that are 4 or 5: 67%) overall, for the operator who handled them and for
// their group — and a dash, not 0%, where nothing was rated.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Server, WebSocket, eventually, launchBrowser, newPage, screenshot, signIn } from './harness.mjs';

/** A visitor's socket on their conversation; resolves once `welcome` arrived. */
async function visitorSocket(server, token) {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws/visitor`, { headers: { Origin: server.url } });
  const frames = [];
  ws.addEventListener('message', (m) => frames.push(JSON.parse(m.data)));
  await once(ws, 'open');
  ws.send(JSON.stringify({ type: 'hello', token }));
  await eventually(() => frames.find((f) => f.type === 'welcome'), { message: 'the visitor is welcomed' });
  return { ws, frames };
}

/** A web chat `agent` takes and resolves, then its visitor rates it `score`. */
async function ratedChat(server, agent, score) {
  const session = await server.api('POST', '/api/v1/widget/sessions', { body: { message: `Rate me ${score}` } });
  assert.equal(session.status, 201);
  const { token, conversation_id: id } = session.body;
  for (const action of ['take', 'resolve']) {
    const res = await server.api('POST', `/api/v1/conversations/${id}/${action}`, { token: agent.token, body: {} });
    assert.equal(res.status, 200, `${action}: ${JSON.stringify(res.body)}`);
  }
  const visitor = await visitorSocket(server, token);
  visitor.ws.send(JSON.stringify({ type: 'rate', score }));
  await eventually(() => visitor.frames.find((f) => f.type === 'rated'), { message: `the rating ${score} is taken` });
  visitor.ws.close();
}

describe('dashboard satisfaction', () => {
  let server;
  let browser;
  let supervisor;
  let agent;
  let idle;

  before(async () => {
    server = await Server.start();
    browser = await launchBrowser();
    supervisor = await server.addOperator({ email: 'sam@example.com', name: 'Sam Super', role: 'supervisor', maxConcurrent: 0 });
    agent = await server.addOperator({ email: 'olga@example.com', name: 'Olga Petrova', role: 'agent', maxConcurrent: 0 });
    idle = await server.addOperator({ email: 'ivan@example.com', name: 'Ivan Idle', role: 'agent', maxConcurrent: 0 });
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
  });

  test('the dashboard shows CSAT overall, per operator and per group after ratings', async () => {
    const page = await newPage(browser);
    await signIn(page, server, supervisor);
    await page.goto(`${server.url}/admin#/dashboard`);
    await page.locator('[data-testid="dashboard"]').waitFor();
    // Nothing rated yet: no figure rather than 0%.
    const overall = page.locator('[data-testid="stat-csat"]');
    await overall.waitFor();
    assert.equal((await overall.innerText()).trim(), '—');

    for (const score of [5, 4, 2]) await ratedChat(server, agent, score);

    // The dashboard reloads its figures on its own every 30 s; a reload shows them at once.
    await page.reload();
    await page.locator('[data-testid="dashboard"]').waitFor();
    await eventually(async () => (await overall.innerText()).trim() === '67%', {
      message: 'the overall CSAT is 2 of 3 ratings',
    });
    const statsText = await page.locator('[data-testid="stats"]').innerText();
    assert.match(statsText, /2 of 3 rated 4–5/);

    const olga = page.locator(`[data-testid="dash-operators"] tr[data-operator="${agent.id}"]`);
    await eventually(async () => (await olga.locator('[data-testid="op-csat"]').innerText()).trim() === '67%', {
      message: "the operator's CSAT",
    });
    assert.equal((await olga.locator('[data-testid="op-handled"]').innerText()).trim(), '3');
    const ivan = page.locator(`[data-testid="dash-operators"] tr[data-operator="${idle.id}"]`);
    assert.equal((await ivan.locator('[data-testid="op-csat"]').innerText()).trim(), '—');

    const group = page.locator('[data-testid="dash-groups"] tr[data-group]');
    await eventually(async () => (await group.count()) === 1, { message: 'the default group is listed' });
    assert.equal((await group.locator('[data-testid="group-csat"]').innerText()).trim(), '67%');
    assert.match(await group.innerText(), /\b3\b/);

    // The API says the same.
    const stats = (await server.api('GET', '/api/v1/stats', { token: supervisor.token })).body;
    assert.equal(stats.csat.count, 3);
    assert.ok(Math.abs(stats.csat.share - 2 / 3) < 1e-6, JSON.stringify(stats.csat));
    await screenshot(page, 'dashboard-csat');
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
});
