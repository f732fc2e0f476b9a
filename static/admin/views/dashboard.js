// The supervisor dashboard: the live queue, the team's presence and load, and today's
// figures (GET /api/v1/stats from local midnight), with CSAT (the share of ratings that are
// 4 or 5) overall, per operator and per group.

import * as api from '../api.js';
import * as store from '../store.js';
import { h, replace, duration, debounce, shortTime } from '../dom.js';
import { t, tc } from '../i18n.js';
import { toastError } from '../toast.js';

const OPERATORS_EVERY = 10000;
const STATS_EVERY = 30000;

export function mountDashboard(el) {
  let disposed = false;
  const queueLength = h('span', { class: 'kpi-value', 'data-testid': 'queue-length' }, '0');
  const activeCount = h('span', { class: 'kpi-value', 'data-testid': 'active-count' }, '0');
  const onlineCount = h('span', { class: 'kpi-value', 'data-testid': 'online-count' }, '–');
  const oldestWait = h('span', { class: 'kpi-value', 'data-testid': 'oldest-wait' }, '–');
  const operatorsBody = h('tbody');
  const groupsBody = h('tbody');
  const statsBox = h('div', { class: 'stats', 'data-testid': 'stats' }, h('p', { class: 'muted' }, t('list.loading')));
  const updated = h('p', { class: 'muted small', 'aria-live': 'polite' });

  replace(el, h('section', { class: 'page dashboard', 'data-testid': 'dashboard', 'aria-labelledby': 'dash-title' },
    h('header', { class: 'page-head' },
      h('h1', { id: 'dash-title' }, t('dash.title')),
      updated),
    h('div', { class: 'kpis' },
      kpi(t('dash.queue'), queueLength, '#/queue'),
      kpi(t('dash.active'), activeCount, '#/all'),
      kpi(t('dash.online'), onlineCount),
      kpi(t('dash.oldest'), oldestWait)),
    h('div', { class: 'dash-grid' },
      h('div', { class: 'dash-col' },
        h('section', { class: 'card', 'aria-labelledby': 'dash-ops' },
          h('h2', { id: 'dash-ops' }, t('dash.operators')),
          h('div', { class: 'table-wrap' },
            h('table', { class: 'table', 'data-testid': 'dash-operators' },
              h('thead', {}, h('tr', {},
                h('th', { scope: 'col' }, t('op.name')),
                h('th', { scope: 'col' }, t('op.status')),
                h('th', { scope: 'col' }, t('dash.load')),
                h('th', { scope: 'col' }, t('op.tier')),
                h('th', { scope: 'col' }, t('dash.handled')),
                h('th', { scope: 'col', title: t('stats.csatTitle') }, t('dash.csat')))),
              operatorsBody))),
        h('section', { class: 'card', 'aria-labelledby': 'dash-groups' },
          h('h2', { id: 'dash-groups' }, t('dash.groups')),
          h('div', { class: 'table-wrap' },
            h('table', { class: 'table', 'data-testid': 'dash-groups' },
              h('thead', {}, h('tr', {},
                h('th', { scope: 'col' }, t('dash.group')),
                h('th', { scope: 'col' }, t('dash.handled')),
                h('th', { scope: 'col' }, t('dash.rated')),
                h('th', { scope: 'col', title: t('stats.csatTitle') }, t('dash.csat')))),
              groupsBody)))),
      h('section', { class: 'card', 'aria-labelledby': 'dash-stats' },
        h('h2', { id: 'dash-stats' }, t('dash.today')),
        statsBox))));

  // ------------------------------------------------------------- live queue

  function renderQueue() {
    const c = store.counts();
    queueLength.textContent = String(c.queue);
    activeCount.textContent = String(c.all - c.queue);
    let oldest = null;
    for (const conv of store.state.convs.values()) {
      if (conv.status === 'pending' && (!oldest || conv.created_at < oldest)) oldest = conv.created_at;
    }
    oldestWait.textContent = oldest ? duration((Date.now() - new Date(oldest).getTime()) / 1000) : '–';
  }

  // --------------------------------------------------------------- operators

  // Today's figures per operator id: handled, rated, csat_share.
  let handled = new Map();
  async function loadOperators() {
    try {
      const ops = await store.loadOperators(true);
      if (disposed) return;
      const live = ops.filter((op) => !op.deleted);
      onlineCount.textContent = String(live.filter((op) => op.status !== 'offline').length);
      const order = { online: 0, busy: 1, away: 2, offline: 3 };
      live.sort((a, b) => (order[a.status] - order[b.status]) || a.name.localeCompare(b.name));
      replace(operatorsBody, live.map((op) => {
        const ratio = op.max_concurrent > 0 ? Math.min(1, op.load / op.max_concurrent) : (op.load > 0 ? 1 : 0);
        return h('tr', { 'data-operator': op.id },
          h('th', { scope: 'row' }, op.name, h('span', { class: 'muted small' }, ` · ${t(`role.${op.role}`)}`)),
          h('td', { class: 'nowrap' }, h('span', { class: `presence-dot presence-${op.status}`, 'aria-hidden': 'true' }), tc(`presence.${op.status}`),
            op.accepting === false ? h('span', { class: 'muted small' }, ` · ${t('op.notAccepting')}`) : null),
          h('td', {},
            h('span', { class: 'load-text' }, `${op.load} / ${op.max_concurrent}`),
            h('span', { class: 'meter', role: 'presentation' }, h('span', { class: `meter-fill${ratio >= 1 ? ' full' : ''}`, style: `width:${Math.round(ratio * 100)}%` }))),
          h('td', {}, `L${op.tier}`),
          h('td', { 'data-testid': 'op-handled' }, String(handled.get(op.id)?.handled ?? '–')),
          h('td', { 'data-testid': 'op-csat', title: rated(handled.get(op.id)) }, percent(handled.get(op.id)?.csat_share)));
      }));
      updated.textContent = t('dash.updated', { time: shortTime(new Date().toISOString()) });
    } catch (err) {
      if (!disposed) toastError(err);
    }
  }

  // ------------------------------------------------------------------- stats

  async function loadStats() {
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    try {
      const s = await api.get('/stats', { from: midnight.toISOString() });
      if (disposed) return;
      handled = new Map((s.operators ?? []).map((o) => [o.id, o]));
      renderOperatorCsat();
      renderGroups(s.groups ?? []);
      const v = s.conversations ?? {};
      replace(statsBox,
        h('dl', { class: 'stat-grid' },
          stat(t('stats.total'), v.total ?? 0, 'stat-total'),
          stat(tc('status.pending'), v.by_status?.pending ?? 0),
          stat(tc('status.active'), v.by_status?.active ?? 0),
          stat(tc('status.resolved'), v.by_status?.resolved ?? 0),
          stat(tc('status.closed'), v.by_status?.closed ?? 0),
          stat(t('channel.web'), v.by_channel?.web ?? 0),
          stat(t('channel.telegram'), v.by_channel?.telegram ?? 0)),
        h('dl', { class: 'stat-grid' },
          stat(t('stats.firstResponse'), `${duration(s.first_response?.median_secs)} / ${duration(s.first_response?.p90_secs)}`, null, t('stats.medianP90')),
          stat(t('stats.resolution'), `${duration(s.resolution?.median_secs)} / ${duration(s.resolution?.p90_secs)}`, null, t('stats.medianP90')),
          stat(t('stats.csat'), s.csat?.average != null ? `${s.csat.average.toFixed(1)} / 5` : '—', null, t('stats.rated', { n: s.csat?.count ?? 0 })),
          stat(t('dash.csat'), percent(s.csat?.share), 'stat-csat', t('stats.csatHint', { n: s.csat?.satisfied ?? 0, total: s.csat?.count ?? 0 }))));
    } catch (err) {
      if (!disposed) replace(statsBox, h('p', { class: 'muted' }, err.message));
    }
  }

  // The operators' rows may be drawn before today's figures arrive: their CSAT cells follow.
  function renderOperatorCsat() {
    for (const row of operatorsBody.querySelectorAll('tr[data-operator]')) {
      const figures = handled.get(row.dataset.operator);
      const csat = row.querySelector('[data-testid="op-csat"]');
      const count = row.querySelector('[data-testid="op-handled"]');
      if (csat) {
        csat.textContent = percent(figures?.csat_share);
        csat.title = rated(figures);
      }
      if (count) count.textContent = String(figures?.handled ?? '–');
    }
  }

  function renderGroups(groups) {
    replace(groupsBody, groups.filter((g) => !g.deleted || g.handled > 0).map((g) =>
      h('tr', { 'data-group': g.id },
        h('th', { scope: 'row' }, g.name),
        h('td', {}, String(g.handled)),
        h('td', {}, String(g.rated)),
        h('td', { 'data-testid': 'group-csat', title: rated(g) }, percent(g.csat_share)))));
  }

  const refreshOps = debounce(loadOperators, 800);
  const offs = [
    store.on('convs', renderQueue),
    store.on('conversation-frame', refreshOps),
    store.on('welcome', () => { loadOperators(); loadStats(); }),
  ];
  const timers = [
    setInterval(() => { renderQueue(); loadOperators(); }, OPERATORS_EVERY),
    setInterval(loadStats, STATS_EVERY),
  ];

  // The queue may hold more than the socket's welcome carried.
  api.getAllPages('/conversations', { status: 'pending' }, 500)
    .then((items) => { if (!disposed) store.upsert(items); })
    .catch(() => {});
  renderQueue();
  loadStats().then(loadOperators);

  return () => {
    disposed = true;
    refreshOps.cancel();
    offs.forEach((off) => off());
    timers.forEach(clearInterval);
  };
}

function kpi(label, valueEl, href) {
  const body = [h('span', { class: 'kpi-label' }, label), valueEl];
  return href
    ? h('a', { class: 'kpi card', href }, body)
    : h('div', { class: 'kpi card' }, body);
}

/** A share (0–1) as a whole percentage; a dash when there is none (nothing rated). */
function percent(share) {
  return share === null || share === undefined ? '—' : `${Math.round(share * 100)}%`;
}

/** "2 of 3 rated 4–5", for a cell's tooltip. */
function rated(figures) {
  return figures?.rated ? t('stats.csatHint', { n: figures.satisfied ?? 0, total: figures.rated }) : '';
}

function stat(label, value, testid, hint) {
  return h('div', { class: 'stat' },
    h('dt', {}, label, hint ? h('span', { class: 'muted small stat-hint' }, ` (${hint})`) : null),
    h('dd', { 'data-testid': testid }, String(value)));
}
