// Admin pages: operators, groups, tags, canned responses and Telegram (admins only), and
// Automation (admins edit, supervisors read). The router shows the forbidden view to anyone
// whose role is too low before any of this loads.

import * as api from '../api.js';
import * as store from '../store.js';
import { h, shortTime, onPick } from '../dom.js';
import { t, tc } from '../i18n.js';
import { toast, toastError } from '../toast.js';
import { crudPage } from './crud.js';
import { mountTelegram } from './telegram.js';
import { mountAutomation } from './automation.js';

export function mountAdmin(el, page) {
  const mount = { operators, groups, tags, canned, telegram: mountTelegram, automation: mountAutomation }[page];
  const handle = mount(el);
  return () => handle.dispose();
}

const ROLES = ['agent', 'supervisor', 'admin'];
const STRATEGIES = ['least_loaded', 'round_robin', 'sticky'];

/** Only the fields that changed, for PATCH. */
function changed(item, values, names) {
  const out = {};
  for (const name of names) {
    const value = values[name];
    if (value === undefined || value === null) continue;
    if (value !== item[name]) out[name] = value;
  }
  return out;
}

// ------------------------------------------------------------------ operators

function operators(el) {
  let includeDeleted = false;
  const toggle = h('input', { type: 'checkbox', id: 'ops-show-deleted', 'data-testid': 'show-deleted' });
  const toolbar = h('div', { class: 'toolbar' }, toggle, h('label', { for: 'ops-show-deleted' }, t('op.showDeleted')));
  const me = store.state.me;

  const page = crudPage(el, {
    testid: 'admin-operators',
    title: t('nav.operators'),
    newTitle: t('op.new'),
    editTitle: (op) => t('op.edit', { name: op.name }),
    itemName: (op) => op.name,
    toolbar,
    load: async () => {
      const ops = await api.get('/operators', includeDeleted ? { include_deleted: true } : undefined);
      for (const op of ops) store.rememberName(op.id, op.name);
      store.loadOperators(true).catch(() => {});
      return ops;
    },
    columns: [
      { label: t('op.name'), cell: (op) => [op.name, op.id === me.id ? h('span', { class: 'muted small' }, ` (${t('conv.you')})`) : null] },
      { label: t('op.email'), cell: (op) => op.email },
      { label: t('op.roleTier'), cell: (op) => h('span', { class: 'nowrap' }, `${tc(`role.${op.role}`)} · L${op.tier}`) },
      { label: t('op.capacity'), cell: (op) => `${op.load ?? 0} / ${op.max_concurrent}` },
      {
        label: t('op.status'),
        cell: (op) => (op.deleted
          ? h('span', { class: 'pill pill-deleted' }, t('op.deleted'))
          : [h('span', { class: 'nowrap' }, h('span', { class: `presence-dot presence-${op.status}`, 'aria-hidden': 'true' }), tc(`presence.${op.status}`)),
            op.accepting ? null : h('div', { class: 'muted small' }, t('op.notAccepting'))]),
      },
    ],
    fields: [
      { name: 'name', label: t('op.name'), required: true, maxlength: 100 },
      { name: 'email', label: t('op.email'), type: 'email', required: true },
      { name: 'password', label: t('op.password'), type: 'password', required: true, mode: 'create', hint: t('op.passwordHint') },
      { name: 'role', label: t('op.role'), type: 'select', options: ROLES.map((r) => [r, tc(`role.${r}`)]), default: 'agent' },
      { name: 'tier', label: t('op.tier'), type: 'number', min: 1, max: 3, default: 1, hint: t('op.tierHint') },
      { name: 'max_concurrent', label: t('op.maxConcurrent'), type: 'number', min: 0, max: 100, default: 5, hint: t('op.maxHint') },
      { name: 'accepting', label: t('op.accepting'), type: 'checkbox', mode: 'edit', hint: t('op.acceptingHint') },
      { name: 'new_password', label: t('op.newPassword'), type: 'password', mode: 'edit', hint: t('op.newPasswordHint'), value: () => '' },
    ],
    create: (v) => api.post('/operators', {
      email: v.email, name: v.name, password: v.password, role: v.role,
      tier: v.tier ?? 1, max_concurrent: v.max_concurrent ?? 5,
    }),
    update: async (op, v) => {
      const body = changed(op, v, ['email', 'name', 'role', 'tier', 'max_concurrent', 'accepting']);
      if (Object.keys(body).length) await api.patch(`/operators/${op.id}`, body);
      if (v.new_password) {
        await api.post(`/operators/${op.id}/password`, { new_password: v.new_password });
      }
    },
    remove: (op) => api.del(`/operators/${op.id}`),
    canDelete: (op) => !op.deleted && op.id !== me.id,
    canEdit: (op) => !op.deleted,
    rowActions: (op, reload) => {
      if (!op.deleted) return [];
      const restore = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'restore', 'aria-label': t('op.restoreNamed', { name: op.name }) }, t('op.restore'));
      restore.addEventListener('click', async () => {
        try { await api.post(`/operators/${op.id}/restore`); await reload(); } catch (err) { toastError(err); }
      });
      return [restore];
    },
    formExtras: (op) => {
      if (op.id === me.id) return null;
      const revoke = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'revoke-sessions' }, t('op.revokeNamed', { name: op.name }));
      revoke.addEventListener('click', async () => {
        try {
          const res = await api.post(`/operators/${op.id}/revoke-sessions`);
          toast(t('op.revoked', { n: res?.revoked ?? 0 }), 'info');
        } catch (err) { toastError(err); }
      });
      return [h('hr'), revoke];
    },
  });
  toggle.addEventListener('change', () => { includeDeleted = toggle.checked; page.reload(); });
  // Presence and load are live: refresh once this panel's own socket is in.
  const off = store.on('welcome', () => page.reload());
  return { reload: page.reload, dispose() { off(); page.dispose(); } };
}

// --------------------------------------------------------------------- groups

function groups(el) {
  let ops = [];
  const page = crudPage(el, {
    testid: 'admin-groups',
    title: t('nav.groups'),
    newTitle: t('group.new'),
    editTitle: (g) => t('group.edit', { name: g.name }),
    itemName: (g) => g.name,
    load: async () => {
      const [list, operatorsList] = await Promise.all([api.get('/groups'), api.get('/operators')]);
      ops = operatorsList;
      store.state.groups = list;
      store.emit('groups', list);
      return list;
    },
    columns: [
      { label: t('group.name'), cell: (g) => [g.name, g.is_default ? h('span', { class: 'pill pill-default' }, t('group.default')) : null] },
      { label: t('group.strategy'), cell: (g) => t(`strategy.${g.strategy}`) },
      { label: t('group.members'), cell: (g) => members(g) },
    ],
    fields: [
      { name: 'name', label: t('group.name'), required: true, maxlength: 100 },
      { name: 'strategy', label: t('group.strategy'), type: 'select', options: STRATEGIES.map((s) => [s, t(`strategy.${s}`)]), default: 'least_loaded' },
      { name: 'is_default', label: t('group.makeDefault'), type: 'checkbox', hint: t('group.defaultHint'), disabled: (g) => g?.is_default },
    ],
    create: (v) => api.post('/groups', { name: v.name, strategy: v.strategy, is_default: v.is_default || undefined }),
    update: (g, v) => {
      const body = changed(g, v, ['name', 'strategy']);
      if (v.is_default && !g.is_default) body.is_default = true;
      return Object.keys(body).length ? api.patch(`/groups/${g.id}`, body) : null;
    },
    remove: (g) => api.del(`/groups/${g.id}`),
    canDelete: (g) => !g.is_default,
  });

  function members(g) {
    const wrap = h('div', { class: 'members' });
    const byId = new Map(ops.map((op) => [op.id, op]));
    for (const id of g.members ?? []) {
      const op = byId.get(id);
      const name = op?.name ?? id.slice(0, 8);
      const remove = h('button', { type: 'button', class: 'tag-remove', 'aria-label': t('group.removeMember', { name, group: g.name }), title: t('group.removeMember', { name, group: g.name }) }, '×');
      remove.addEventListener('click', async () => {
        try { await api.del(`/groups/${g.id}/members/${id}`); await page.reload(); } catch (err) { toastError(err); }
      });
      wrap.append(h('span', { class: 'tag-chip', 'data-member': id }, h('span', {}, name), remove));
    }
    const candidates = ops.filter((op) => !op.deleted && !(g.members ?? []).includes(op.id));
    if (candidates.length) {
      const add = h('select', { class: 'tag-add', 'aria-label': t('group.addMember', { group: g.name }), 'data-testid': 'member-add' },
        h('option', { value: '' }, `+ ${t('group.add')}`),
        candidates.map((op) => h('option', { value: op.id }, op.name)));
      onPick(add, async (id) => {
        if (!id) return;
        add.disabled = true;
        try { await api.put(`/groups/${g.id}/members/${id}`); await page.reload(); } catch (err) { toastError(err); add.disabled = false; }
      }, { revert: () => { add.value = ''; } });
      wrap.append(add);
    }
    return wrap;
  }
  return page;
}

// ----------------------------------------------------------------------- tags

function tags(el) {
  return crudPage(el, {
    testid: 'admin-tags',
    title: t('nav.tags'),
    newTitle: t('tag.new'),
    editTitle: (tag) => t('tag.edit', { name: tag.name }),
    itemName: (tag) => tag.name,
    load: async () => {
      const list = await store.loadTags(true);
      return list;
    },
    columns: [
      { label: t('tag.name'), cell: (tag) => h('span', { class: 'tag-chip' }, tag.color ? h('span', { class: 'swatch', style: `background:${/^#[0-9a-f]{6}$/i.test(tag.color) ? tag.color : 'transparent'}`, 'aria-hidden': 'true' }) : null, h('span', {}, tag.name)) },
      { label: t('tag.color'), cell: (tag) => tag.color ?? '—' },
      { label: t('admin.created'), cell: (tag) => shortTime(tag.created_at) },
    ],
    fields: [
      { name: 'name', label: t('tag.name'), required: true, maxlength: 40 },
      { name: 'color', label: t('tag.color'), type: 'color' },
    ],
    create: (v) => api.post('/tags', { name: v.name, color: v.color ?? undefined }),
    update: (tag, v) => {
      const body = {};
      if (v.name !== tag.name) body.name = v.name;
      if ((v.color ?? null) !== (tag.color ?? null)) body.color = v.color ?? null;
      return Object.keys(body).length ? api.patch(`/tags/${tag.id}`, body) : null;
    },
    remove: (tag) => api.del(`/tags/${tag.id}`),
  });
}

// -------------------------------------------------------------- canned responses

function canned(el) {
  return crudPage(el, {
    testid: 'admin-canned',
    title: t('nav.canned'),
    newTitle: t('canned.new'),
    editTitle: (c) => t('canned.edit', { name: `/${c.shortcut}` }),
    itemName: (c) => `/${c.shortcut}`,
    load: async () => {
      const list = await store.loadCanned(true);
      return list;
    },
    columns: [
      { label: t('canned.shortcut'), cell: (c) => h('code', {}, `/${c.shortcut}`) },
      { label: t('canned.language'), cell: (c) => c.language },
      { label: t('canned.title'), cell: (c) => c.title },
      { label: t('canned.body'), cell: (c) => h('span', { class: 'clamp', title: c.body }, c.body) },
    ],
    fields: [
      { name: 'shortcut', label: t('canned.shortcut'), required: true, maxlength: 33, pattern: '/?[a-z0-9_\\-]{1,32}', hint: t('canned.shortcutHint'), placeholder: 'greeting' },
      { name: 'language', label: t('canned.language'), default: 'en', maxlength: 16, placeholder: 'en' },
      { name: 'title', label: t('canned.title'), required: true, maxlength: 100 },
      { name: 'body', label: t('canned.body'), type: 'textarea', required: true, maxlength: 2000 },
    ],
    create: (v) => api.post('/canned-responses', { shortcut: v.shortcut, language: v.language || undefined, title: v.title, body: v.body }),
    update: (c, v) => {
      const body = changed(c, v, ['shortcut', 'language', 'title', 'body']);
      if (body.shortcut) body.shortcut = body.shortcut.replace(/^\//, '');
      if (body.shortcut === c.shortcut) delete body.shortcut;
      return Object.keys(body).length ? api.patch(`/canned-responses/${c.id}`, body) : null;
    },
    remove: (c) => api.del(`/canned-responses/${c.id}`),
  });
}

