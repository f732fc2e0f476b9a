// The conversation lists: queue (waiting), mine (assigned to me) and all (supervisors).
// Status, priority, channel, tag and category filters go to the server (`GET /conversations?…`),
// and so does paging (`next` keeps the filters). The list shows what the server returned for the
// current filters plus what live `conversation` frames make match; a conversation whose new
// summary stops matching leaves it.

import * as api from '../api.js';
import * as store from '../store.js';
import { h, replace, select, pill, timeEl } from '../dom.js';
import { t, tc } from '../i18n.js';
import { toast, toastError } from '../toast.js';
import { assigneeLabel } from './names.js';
import { knownCategories, CATEGORY } from './automation.js';

const STATUSES = ['pending', 'active', 'resolved', 'closed'];
const PRIORITIES = ['urgent', 'high', 'medium', 'low'];
const CHANNELS = ['web', 'telegram'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NO_FILTERS = { status: '', priority: '', tag: '', channel: '', category: '' };

function loadFilters(kind) {
  let saved = {};
  try { saved = JSON.parse(sessionStorage.getItem(`sb.filters.${kind}`) || '{}') || {}; } catch { saved = {}; }
  const f = { ...NO_FILTERS, ...saved };
  // Anything this version would not send (an older panel kept tag names here) is dropped.
  if (!['', 'all', ...STATUSES].includes(f.status)) f.status = '';
  if (!PRIORITIES.includes(f.priority)) f.priority = '';
  if (!CHANNELS.includes(f.channel)) f.channel = '';
  if (!UUID.test(f.tag)) f.tag = '';
  if (!CATEGORY.test(f.category)) f.category = '';
  if (kind === 'queue') f.status = '';
  return f;
}

export function mountList(el, kind) {
  const filters = loadFilters(kind);
  let activeId = null;
  let next = null; // cursor of the next HTTP page for the current filters
  let loading = false;
  let generation = 0; // bumped on every filter change: answers to older queries are dropped
  let disposed = false;
  /** Ids listed for the current filters: the server's pages plus live joins. */
  const members = new Set();

  const title = h('h1', { class: 'pane-title' }, t(`nav.${kind}`));
  const count = h('span', { class: 'pane-count', 'aria-live': 'polite' });

  const statusOptions = kind === 'queue'
    ? [['', tc('status.pending')]]
    : [['', t('filter.open')], ...STATUSES.map((s) => [s, tc(`status.${s}`)]), ['all', t('filter.anyStatus')]];
  const statusSel = select({ 'data-testid': 'filter-status', 'aria-label': t('filter.status'), disabled: kind === 'queue' }, statusOptions, filters.status);
  const prioritySel = select({ 'data-testid': 'filter-priority', 'aria-label': t('filter.priority') },
    [['', t('filter.anyPriority')], ...PRIORITIES.map((p) => [p, tc(`priority.${p}`)])], filters.priority);
  const tagSel = select({ 'data-testid': 'filter-tag', 'aria-label': t('filter.tag') }, [['', t('filter.anyTag')]], '');
  const channelSel = select({ 'data-testid': 'filter-channel', 'aria-label': t('filter.channel') },
    [['', t('filter.anyChannel')], ...CHANNELS.map((c) => [c, t(`channel.${c}`)])], filters.channel);
  const categorySel = select({ 'data-testid': 'filter-category', 'aria-label': t('filter.category') },
    [['', t('filter.anyCategory')], ...(filters.category ? [[filters.category, filters.category]] : [])], filters.category);
  const selects = { status: statusSel, priority: prioritySel, tag: tagSel, channel: channelSel, category: categorySel };

  const list = h('ul', { class: 'conv-list', 'aria-label': t(`nav.${kind}`) });
  const emptyText = h('span', {}, t('list.empty'));
  const clearBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'clear-filters', hidden: true }, t('list.clearFilters'));
  const empty = h('div', { class: 'empty', hidden: true, 'data-testid': 'list-empty' }, h('p', {}, emptyText), clearBtn);
  const more = h('button', { type: 'button', class: 'btn btn-secondary btn-block', hidden: true, 'data-testid': 'load-more' }, t('list.more'));
  const status = h('p', { class: 'muted small', role: 'status' });

  const view = h('div', { class: 'list-view', 'data-list': kind, 'data-loading': 'true' },
    h('header', { class: 'pane-head' }, title, count),
    h('div', { class: 'filters', role: 'group', 'aria-label': t('filter.label') },
      statusSel, prioritySel, tagSel, channelSel, categorySel),
    status,
    list, empty, more);
  replace(el, view);

  // ------------------------------------------------------------ filters

  /** Tag names by id, once the tags are loaded (summaries carry tag names). */
  let tagNames = null;

  const fillTags = (tags) => {
    tagNames = new Map(tags.map((tag) => [tag.id, tag.name]));
    const current = filters.tag;
    replace(tagSel, h('option', { value: '' }, t('filter.anyTag')),
      tags.map((tag) => h('option', { value: tag.id }, tag.name)));
    if (current && !tagNames.has(current)) {
      // Deleted since it was chosen: nothing carries it any more.
      tagSel.append(h('option', { value: current }, '—'));
    }
    tagSel.value = current;
    absorbStore();
    schedule();
  };
  store.loadTags().then(fillTags).catch(() => {});

  /** The categories offered: the templates' and those of listed conversations. */
  const fillCategories = async () => {
    const known = await knownCategories().catch(() => []);
    if (disposed) return;
    const values = new Set(known);
    if (filters.category) values.add(filters.category);
    const have = [...categorySel.options].map((o) => o.value).filter(Boolean);
    const want = [...values].sort();
    if (have.join('\n') === want.join('\n')) return;
    replace(categorySel, h('option', { value: '' }, t('filter.anyCategory')),
      want.map((c) => h('option', { value: c }, c)));
    categorySel.value = filters.category;
  };
  fillCategories();

  const saveFilters = () => sessionStorage.setItem(`sb.filters.${kind}`, JSON.stringify(filters));
  const filtered = () => Boolean(filters.priority || filters.tag || filters.channel || filters.category || (filters.status && kind !== 'queue'));

  function setFilters(changes) {
    Object.assign(filters, changes);
    for (const [key, sel] of Object.entries(selects)) if (sel.value !== filters[key]) sel.value = filters[key];
    saveFilters();
    refresh();
  }

  for (const [key, sel] of Object.entries(selects)) {
    sel.addEventListener('change', () => setFilters({ [key]: sel.value }));
  }
  clearBtn.addEventListener('click', () => {
    setFilters({ ...NO_FILTERS });
    statusSel.focus();
  });

  /** After a filter change: start over from the server's first page. */
  function refresh() {
    generation += 1;
    members.clear();
    next = null;
    more.hidden = true;
    absorbStore();
    render();
    fetchPage(true);
  }

  // ------------------------------------------------------------ data

  /** The HTTP queries behind the current list and filters. */
  function queries() {
    const s = filters.status;
    const common = {
      ...(kind === 'mine' ? { assignee: 'me' } : {}),
      priority: filters.priority || undefined,
      channel: filters.channel || undefined,
      tag: filters.tag || undefined,
      category: filters.category || undefined,
    };
    if (kind === 'queue') return [{ status: 'pending', ...common }];
    if (s === '') return [{ status: 'pending', ...common }, { status: 'active', ...common }];
    if (s === 'all') return [common];
    return [{ status: s, ...common }];
  }

  /** Open conversations are all in the store (the socket's welcome lists them). */
  const openOnly = () => kind === 'queue' || filters.status === '' || filters.status === 'pending' || filters.status === 'active';

  /** For open lists, everything the store knows to match joins at once (no empty flash). */
  function absorbStore() {
    if (!openOnly()) return;
    for (const c of store.listOf(kind)) if (matches(c) === true) members.add(c.id);
  }

  async function fetchPage(reset) {
    if (loading && !reset) return;
    const gen = generation;
    loading = true;
    more.disabled = true;
    view.dataset.loading = 'true';
    status.textContent = t('list.loading');
    if (reset) empty.hidden = true;
    try {
      const qs = queries();
      let items;
      let cursor = null;
      if (qs.length > 1 || kind === 'queue') {
        // Open conversations: few enough to take every page.
        const pages = await Promise.all(qs.map((q) => api.getAllPages('/conversations', q, 500)));
        items = pages.flat();
      } else {
        const page = await api.get('/conversations', { ...qs[0], limit: 50, cursor: reset ? undefined : next });
        items = page.items ?? [];
        cursor = page.next ?? null;
      }
      if (disposed || gen !== generation) return;
      for (const c of items) members.add(c.id);
      next = cursor;
      store.upsert(items);
      status.textContent = '';
    } catch (err) {
      if (disposed || gen !== generation) return;
      status.textContent = '';
      if (err.status === 422 && err.field && Object.hasOwn(filters, err.field) && filters[err.field]) {
        // A value the server does not accept (say, a tag deleted meanwhile): drop that filter.
        toast(t('list.badFilter', { field: t(`filter.${err.field}`), message: err.message }), 'error');
        loading = false;
        setFilters({ [err.field]: '' });
        return;
      }
      toastError(err);
    } finally {
      if (!disposed && gen === generation) {
        loading = false;
        more.disabled = false;
        more.hidden = !next;
        delete view.dataset.loading;
        schedule();
      }
    }
  }
  more.addEventListener('click', () => fetchPage(false));

  // ---------------------------------------------------------- render

  /** Whether a summary matches the list and its filters: true, false, or null (not known yet). */
  function matches(c) {
    const s = filters.status;
    if (kind === 'queue') { if (c.status !== 'pending') return false; }
    else if (s === '') { if (!store.isOpen(c)) return false; }
    else if (s !== 'all' && c.status !== s) return false;
    if (kind === 'mine' && c.assignee !== store.state.me?.id) return false;
    if (filters.priority && c.priority !== filters.priority) return false;
    if (filters.channel && c.channel !== filters.channel) return false;
    if (filters.category && c.category !== filters.category) return false;
    if (filters.tag) {
      if (!tagNames) return null;
      const name = tagNames.get(filters.tag);
      if (name === undefined || !(c.tags ?? []).includes(name)) return false;
    }
    return true;
  }

  /** A changed summary (live frame, an action's answer, a page): it joins or leaves. */
  function onConv(c) {
    if (c.category && ![...categorySel.options].some((o) => o.value === c.category)) fillCategories();
    const m = matches(c);
    if (m === true) members.add(c.id);
    else if (m === false) members.delete(c.id);
    schedule();
  }

  function sorted(items) {
    if (kind === 'queue') {
      // The order the router serves them in: priority, then oldest first.
      return items.sort((a, b) => (store.PRIORITY_RANK[a.priority] - store.PRIORITY_RANK[b.priority])
        || String(a.created_at).localeCompare(String(b.created_at)));
    }
    const at = (c) => c.last_message_at ?? c.created_at ?? '';
    return items.sort((a, b) => String(at(b)).localeCompare(String(at(a))));
  }

  function row(c) {
    const unread = store.unreadOf(c.id);
    const link = h('a', {
      href: `#/c/${encodeURIComponent(c.id)}`,
      class: `conv-item${unread ? ' is-unread' : ''}${c.id === activeId ? ' is-active' : ''}`,
      'data-testid': 'conv-item',
      'data-id': c.id,
      'data-status': c.status,
      'aria-current': c.id === activeId ? 'true' : null,
    },
    h('div', { class: 'conv-line' },
      h('span', { class: 'conv-alias' }, c.alias),
      store.state.fresh.has(c.id) ? h('span', { class: 'new-chip', 'data-testid': 'new-assigned', title: t('list.newTitle') }, t('list.new')) : null,
      unread ? h('span', { class: 'unread', 'data-testid': 'unread', 'aria-label': t('list.unread', { n: unread }), title: t('list.unread', { n: unread }) }, String(unread)) : null,
      timeEl(c.last_message_at ?? c.created_at, 'conv-time')),
    h('div', { class: 'conv-line conv-sub' },
      h('span', { class: 'conv-ticket' }, c.ticket),
      c.channel && c.channel !== 'web' ? h('span', { class: 'conv-channel' }, t(`channel.${c.channel}`)) : null),
    h('div', { class: 'conv-line conv-meta' },
      pill('status', c.status),
      pill('priority', c.priority),
      c.level > 0 ? h('span', { class: 'pill pill-level', title: t('conv.level') }, `L${c.level + 1}`) : null,
      c.category ? h('span', { class: 'cat-chip', 'data-testid': 'conv-category', title: t('conv.category') }, c.category) : null,
      (c.tags ?? []).slice(0, 3).map((tag) => h('span', { class: 'tag-chip tag-chip-small' }, tag)),
      kind !== 'mine' && c.assignee ? h('span', { class: 'conv-assignee' }, assigneeLabel(c.assignee)) : null));
    return h('li', {}, link);
  }

  let frame = 0;
  function render() {
    frame = 0;
    if (disposed) return;
    const items = [];
    for (const id of members) {
      const c = store.conv(id);
      if (c && matches(c) !== false) items.push(c);
      else if (!c) members.delete(id); // dropped from the store (taken by someone else while away)
    }
    sorted(items);
    const focusedId = document.activeElement?.closest?.('[data-testid="conv-item"]')?.dataset.id;
    replace(list, items.map(row));
    if (focusedId) list.querySelector(`[data-id="${CSS.escape(focusedId)}"]`)?.focus({ preventScroll: true });
    const isFiltered = filtered();
    emptyText.textContent = isFiltered ? t('list.emptyFiltered') : t('list.empty');
    clearBtn.hidden = !isFiltered;
    empty.hidden = items.length > 0 || loading;
    count.textContent = String(items.length);
    count.setAttribute('aria-label', t('list.count', { n: items.length }));
  }
  const schedule = () => { if (!frame) frame = requestAnimationFrame(render); };

  // Arrow keys move between rows.
  list.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const links = [...list.querySelectorAll('[data-testid="conv-item"]')];
    const i = links.indexOf(document.activeElement);
    if (i < 0) return;
    e.preventDefault();
    links[Math.max(0, Math.min(links.length - 1, i + (e.key === 'ArrowDown' ? 1 : -1)))].focus();
  });

  const offs = [
    store.on('conv', onConv),
    store.on('convs', schedule),
    store.on('names', schedule),
    store.on('tags', fillTags),
    store.on('welcome', ({ again }) => {
      // Back after a reconnect: the store may have dropped or gained open conversations.
      absorbStore();
      schedule();
      if (again && !loading) fetchPage(true);
    }),
    store.on('route', (r) => {
      activeId = r.view === 'chat' ? r.id : null;
      schedule();
    }),
  ];
  if (kind !== 'mine' && store.isSupervisor()) {
    store.loadOperators().then(schedule).catch(() => {});
  }

  absorbStore();
  render();
  fetchPage(true);

  return () => {
    disposed = true;
    if (frame) cancelAnimationFrame(frame);
    offs.forEach((off) => off());
  };
}
