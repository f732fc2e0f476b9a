// Boot, the shell (sidebar, list pane, main pane) and hash routing:
//   #/queue  #/mine  #/all  #/c/<id>  #/dashboard
//   #/admin/operators  #/admin/groups  #/admin/tags  #/admin/canned  #/admin/telegram
//   #/admin/automation (supervisors read it, admins change it)

import * as api from './api.js';
import * as store from './store.js';
import { h, replace, select, onPick } from './dom.js';
import { t, tc, lang, languages, setLanguage } from './i18n.js';
import { toastError } from './toast.js';
import { notificationPermission, requestNotifications, notifyEscalation } from './notify.js';
import { showLogin } from './views/login.js';
import { mountList } from './views/list.js';
import { mountChat } from './views/chat.js';
import { mountDashboard } from './views/dashboard.js';
import { mountAdmin } from './views/admin.js';
import { mountForbidden } from './views/forbidden.js';
import { createProfileMenu } from './views/profile.js';

const root = document.getElementById('app');
document.documentElement.lang = lang;

const NAV = [
  { key: 'queue', href: '#/queue', role: 'agent', badge: true },
  { key: 'mine', href: '#/mine', role: 'agent', badge: true },
  { key: 'all', href: '#/all', role: 'supervisor', badge: true },
  { key: 'dashboard', href: '#/dashboard', role: 'supervisor', section: 'team' },
  { key: 'operators', href: '#/admin/operators', role: 'admin', section: 'admin' },
  { key: 'groups', href: '#/admin/groups', role: 'admin', section: 'admin' },
  { key: 'tags', href: '#/admin/tags', role: 'admin', section: 'admin' },
  { key: 'canned', href: '#/admin/canned', role: 'admin', section: 'admin' },
  { key: 'telegram', href: '#/admin/telegram', role: 'admin', section: 'admin' },
  { key: 'automation', href: '#/admin/automation', role: 'supervisor', section: 'admin' },
];

/** Admin pages a lower role may open (read-only there); the others are for admins. */
const ADMIN_PAGE_ROLE = { automation: 'supervisor' };

/** Parses the hash into a route: {view, role, ...}. */
function parseRoute(hash) {
  const path = hash.replace(/^#/, '') || '/';
  let m;
  if ((m = path.match(/^\/(queue|mine|all)\/?$/))) {
    return { view: 'list', kind: m[1], nav: m[1], role: m[1] === 'all' ? 'supervisor' : 'agent' };
  }
  if ((m = path.match(/^\/c\/([^/?#]+)\/?$/))) {
    return { view: 'chat', id: decodeURIComponent(m[1]), role: 'agent' };
  }
  if (/^\/dashboard\/?$/.test(path)) return { view: 'dashboard', nav: 'dashboard', role: 'supervisor' };
  if ((m = path.match(/^\/admin(?:\/([a-z]*))?\/?$/))) {
    const page = m[1] || 'operators';
    if (['operators', 'groups', 'tags', 'canned', 'telegram', 'automation'].includes(page)) {
      return { view: 'admin', page, nav: page, role: ADMIN_PAGE_ROLE[page] ?? 'admin' };
    }
  }
  return null;
}

// ------------------------------------------------------------------------ shell

let shell = null; // {sidebar, listPane, mainPane, badges, navLinks, presence, conn, profile}
let listMount = null; // {kind, cleanup}
let mainCleanup = null;
let lastListKind = sessionStorage.getItem('sb.list') || 'queue';
let lastFocusHash = null;

function buildShell() {
  const me = store.state.me;
  const badges = {};
  const navLinks = {};
  const sections = { lists: [], team: [], admin: [] };
  for (const item of NAV) {
    if (!store.hasRole(item.role)) continue; // links the role may not use are not shown
    const badge = item.badge
      ? h('span', { class: 'badge', 'data-testid': `badge-${item.key}`, 'aria-label': '' }, '0')
      : null;
    if (badge) badges[item.key] = badge;
    const link = h('a', { href: item.href, class: 'nav-link', 'data-nav': item.key },
      h('span', { class: 'nav-label' }, t(`nav.${item.key}`)), badge);
    navLinks[item.key] = link;
    sections[item.section ?? 'lists'].push(h('li', {}, link));
  }
  const nav = h('nav', { class: 'nav', 'aria-label': t('nav.label') },
    h('ul', {}, sections.lists),
    sections.team.length ? [h('h2', { class: 'nav-heading' }, t('nav.team')), h('ul', {}, sections.team)] : null,
    sections.admin.length ? [h('h2', { class: 'nav-heading' }, t('nav.admin')), h('ul', {}, sections.admin)] : null);

  const presence = select({ 'data-testid': 'presence', id: 'presence-select', class: `presence presence-${store.state.presence}` }, [
    ['online', tc('presence.online')],
    ['away', tc('presence.away')],
    ['busy', tc('presence.busy')],
  ], store.state.presence);
  presence.addEventListener('change', () => store.setPresence(presence.value));

  const conn = h('div', { class: 'conn', role: 'status', 'aria-live': 'polite', 'data-testid': 'connection' });

  const notifyBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'data-testid': 'enable-notifications' }, t('notify.enable'));
  const refreshNotify = () => {
    const perm = notificationPermission();
    notifyBtn.hidden = perm !== 'default';
  };
  notifyBtn.addEventListener('click', async () => {
    const perm = await requestNotifications();
    if (perm === 'denied') toastError({ message: t('notify.denied') });
    refreshNotify();
  });
  refreshNotify();

  const langSel = select({ 'aria-label': t('lang.label'), class: 'lang-select' },
    languages.map((l) => [l.code, l.name]), lang);
  onPick(langSel, setLanguage, { revert: () => { langSel.value = lang; } });

  shell?.profile.destroy();
  const profile = createProfileMenu();

  const logout = h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'data-testid': 'logout' }, t('auth.logout'));
  logout.addEventListener('click', signOut);

  const sidebar = h('aside', { class: 'sidebar' },
    h('div', { class: 'brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, 'S'), 'Switchboard'),
    h('div', { class: 'me-box' },
      h('div', { class: 'me-line' },
        h('span', { class: 'me-name', 'data-testid': 'me' }, me.name),
        h('span', { class: 'role-tag' }, tc(`role.${me.role}`))),
      h('div', { class: 'presence-line' },
        h('label', { for: 'presence-select', class: 'presence-label' }, t('presence.label')),
        presence),
      profile.el),
    nav,
    h('div', { class: 'sidebar-foot' }, conn, notifyBtn, langSel, logout));

  const listPane = h('section', { class: 'list-pane', 'aria-label': t('list.label') });
  const mainPane = h('main', { class: 'main-pane', id: 'main', tabindex: '-1' });
  const skip = h('a', { class: 'skip-link', href: '#main' }, t('a11y.skip'));
  skip.addEventListener('click', (e) => { e.preventDefault(); mainPane.focus(); });

  root.className = 'shell';
  root.removeAttribute('aria-busy');
  replace(root, skip, sidebar, listPane, mainPane);
  shell = { sidebar, listPane, mainPane, badges, navLinks, presence, conn, profile };
  updateBadges();
  updateConn(store.state.socketState);
}

function updateBadges() {
  if (!shell) return;
  const c = store.counts();
  const sets = { queue: [c.queue, c.unreadQueue], mine: [c.mine, c.unreadMine], all: [c.all, c.unreadAll] };
  for (const [key, [count, unread]] of Object.entries(sets)) {
    const badge = shell.badges[key];
    if (!badge) continue;
    badge.textContent = String(count);
    badge.classList.toggle('badge-unread', unread > 0);
    badge.classList.toggle('badge-zero', count === 0);
    badge.setAttribute('aria-label', t('badge.aria', { count, unread }));
    badge.title = t('badge.aria', { count, unread });
  }
  unreadTotal = c.unreadAll || c.unreadMine + c.unreadQueue;
  updateTitle();
}

let unreadTotal = 0;
let pageTitle = null;

/** "(3) User-7KQ2MX · Switchboard": unread messages first, then the open conversation. */
function updateTitle() {
  const base = pageTitle ? `${pageTitle} · Switchboard` : 'Switchboard';
  document.title = unreadTotal > 0 ? `(${unreadTotal}) ${base}` : base;
}

function updateConn(s) {
  if (!shell) return;
  shell.conn.dataset.state = s;
  shell.conn.textContent = s === 'open' ? t('conn.open') : s === 'connecting' ? t('conn.connecting') : t('conn.closed');
}

// ----------------------------------------------------------------------- routing

function route() {
  if (!shell) return;
  const r = parseRoute(location.hash);
  if (!r) {
    location.replace('#/queue');
    return;
  }
  for (const [key, link] of Object.entries(shell.navLinks)) {
    const current = r.nav === key || (r.view === 'chat' && key === lastListKind);
    if (r.nav === key) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
    link.classList.toggle('nav-context', current && r.nav !== key);
  }
  if (mainCleanup) { mainCleanup(); mainCleanup = null; }

  const allowed = store.hasRole(r.role);
  const layout = !allowed ? 'page' : r.view === 'list' ? 'list' : r.view === 'chat' ? 'chat' : 'page';
  root.dataset.layout = layout;

  if (!allowed) {
    unmountList();
    mainCleanup = mountForbidden(shell.mainPane);
    return;
  }
  if (r.view === 'list' || r.view === 'chat') {
    const kind = r.view === 'list' ? r.kind : (store.hasRole(lastListKind === 'all' ? 'supervisor' : 'agent') ? lastListKind : 'queue');
    if (r.view === 'list') {
      lastListKind = kind;
      sessionStorage.setItem('sb.list', kind);
    }
    if (!listMount || listMount.kind !== kind) {
      unmountList();
      listMount = { kind, cleanup: mountList(shell.listPane, kind) };
    }
    store.emit('route', r);
    if (r.view === 'chat') {
      mainCleanup = mountChat(shell.mainPane, r.id);
    } else {
      mainCleanup = mountEmpty(shell.mainPane);
    }
  } else {
    unmountList();
    if (r.view === 'dashboard') mainCleanup = mountDashboard(shell.mainPane);
    else if (r.view === 'admin') mainCleanup = mountAdmin(shell.mainPane, r.page);
  }
  // Move focus to the new content when the user navigated (not on live refreshes).
  if (lastFocusHash !== null && lastFocusHash !== location.hash && r.view !== 'chat') {
    shell.mainPane.focus({ preventScroll: true });
  }
  lastFocusHash = location.hash;
}

function unmountList() {
  if (listMount) {
    listMount.cleanup();
    listMount = null;
    shell.listPane.replaceChildren();
  }
}

function mountEmpty(el) {
  replace(el, h('div', { class: 'empty-main' },
    h('p', {}, t('chat.none'))));
  return () => {};
}

// ----------------------------------------------------------------------- session

async function start(me) {
  store.signIn(me);
  buildShell();
  store.connect();
  route();
}

// After the first welcome the socket is registered, so the server reports my live presence
// (a reconnect within the presence timeout keeps an earlier away or busy).
store.on('welcome', ({ again }) => {
  const me = store.state.me;
  if (again || !me) return;
  api.get(`/operators/${me.id}`).then((op) => {
    if (op?.status && op.status !== 'offline') {
      store.state.presence = op.status;
      store.emit('presence', op.status);
    }
  }).catch(() => {});
});

async function signOut() {
  try { await api.post('/auth/logout'); } catch { /* signed out locally anyway */ }
  endSession();
  showLogin(root, onSignedIn);
}

function endSession(message) {
  if (mainCleanup) { mainCleanup(); mainCleanup = null; }
  unmountList();
  store.signOut();
  api.setToken(null);
  shell?.profile.destroy();
  shell = null;
  if (message) toastError({ message });
}

function onSignedIn(me) {
  if (!parseRoute(location.hash)) location.replace('#/queue');
  start(me);
}

store.on('convs', updateBadges);
store.on('title', (title) => { pageTitle = title; updateTitle(); });
store.on('socket', ({ state: s }) => updateConn(s));
store.on('presence', (status) => {
  if (!shell) return;
  shell.presence.value = status;
  shell.presence.className = `presence presence-${status}`;
});
// My role or name changed: navigation and actions follow at once.
store.on('me', () => {
  if (!shell) return;
  if (mainCleanup) { mainCleanup(); mainCleanup = null; }
  unmountList();
  buildShell();
  route();
});

// ------------------------------------------------------------- automation

/** An escalation for supervisors and admins, named by its conversation's ticket and alias. */
async function escalated(info) {
  if (!store.isSupervisor()) return;
  let c = store.conv(info.conversation_id);
  if (!c && (!info.ticket || !info.alias)) {
    try { c = await api.get(`/conversations/${info.conversation_id}`); } catch { c = null; }
  }
  notifyEscalation({ ticket: c?.ticket ?? '', alias: c?.alias ?? '', ...info });
}

store.on('event', (ev) => {
  if (ev.kind !== 'system' || !ev.data) return;
  // My own escalation needs no alert; one by a rule or a colleague does.
  if (ev.data.action === 'escalated' && ev.data.operator_id !== store.state.me?.id) {
    escalated({
      conversation_id: ev.conversation_id,
      level: ev.data.level,
      priority: ev.data.priority,
      trigger: ev.data.trigger ?? 'manual',
      at: ev.at,
    });
  }
});
// The `escalated` event, which supervisors get for every conversation, says what the
// `escalation` frame says; a store that passes the frame on as 'escalation' is heard too.
// notifyEscalation announces each level once, whichever comes first.
store.on('escalation', (frame) => escalated(frame));

store.on('unauthorized', async () => {
  try { await api.get('/auth/me'); } catch { /* the 401 handler signs out */ }
});

api.onUnauthorized(() => {
  if (!store.state.me) return;
  endSession(t('auth.expired'));
  showLogin(root, onSignedIn);
});

window.addEventListener('hashchange', route);

async function boot() {
  let me;
  try {
    me = await api.get('/auth/me');
  } catch (err) {
    if (err.status === 401) {
      api.setToken(null);
      showLogin(root, onSignedIn);
    } else {
      root.removeAttribute('aria-busy');
      const retry = h('button', { type: 'button', class: 'btn btn-primary' }, t('boot.retry'));
      retry.addEventListener('click', () => { replace(root, h('p', { class: 'boot-msg' }, t('boot.loading'))); boot(); });
      root.className = 'boot';
      replace(root, h('div', { class: 'boot-error', role: 'alert' }, h('p', {}, t('boot.failed')), h('p', { class: 'muted' }, err.message), retry));
    }
    return;
  }
  start(me);
}

boot();
