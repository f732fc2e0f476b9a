// The conversation lists: queue (waiting), mine (assigned to me) and all (supervisors).
// Rows come from the store, which the socket keeps live; HTTP pages fill in what the socket's
// welcome does not carry (resolved and closed conversations, older pages).

import * as api from '../api.js';
import * as store from '../store.js';
import { h, replace, select, pill, timeEl } from '../dom.js';
import { t, tc } from '../i18n.js';
import { toastError } from '../toast.js';
import { assigneeLabel } from './names.js';

const STATUSES = ['pending', 'active', 'resolved', 'closed'];
const PRIORITIES = ['urgent', 'high', 'medium', 'low'];
const CHANNELS = ['web', 'telegram'];

function loadFilters(kind) {
  try {
    return { status: '', priority: '', tag: '', channel: '', ...JSON.parse(sessionStorage.getItem(`sb.filters.${kind}`) || '{}') };
  } catch {
    return { status: '', priority: '', tag: '', channel: '' };
  }
}

export function mountList(el, kind) {
  const filters = loadFilters(kind);
  if (kind === 'queue') filters.status = '';
  let activeId = null;
  let next = null; // cursor of the next HTTP page for the current status filter
  let loading = false;
  let disposed = false;

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

  const list = h('ul', { class: 'conv-list', 'aria-label': t(`nav.${kind}`) });
  const empty = h('p', { class: 'empty', hidden: true }, t('list.empty'));
  const more = h('button', { type: 'button', class: 'btn btn-secondary btn-block', hidden: true, 'data-testid': 'load-more' }, t('list.more'));
  const status = h('p', { class: 'muted small', role: 'status' });

  replace(el, h('div', { class: 'list-view', 'data-list': kind },
    h('header', { class: 'pane-head' }, title, count),
    h('div', { class: 'filters', role: 'group', 'aria-label': t('filter.label') },
      statusSel, prioritySel, tagSel, channelSel),
    status,
    list, empty, more));

  const fillTags = (tags) => {
    const current = filters.tag;
    replace(tagSel, h('option', { value: '' }, t('filter.anyTag')),
      tags.map((tag) => h('option', { value: tag.name }, tag.name)));
    if (current && !tags.some((x) => x.name === current)) tagSel.append(h('option', { value: current }, current));
    tagSel.value = current;
  };
  store.loadTags().then(fillTags).catch(() => {});

  const saveFilters = () => sessionStorage.setItem(`sb.filters.${kind}`, JSON.stringify(filters));

  const onFilter = (sel, key, refetch) => sel.addEventListener('change', () => {
    filters[key] = sel.value;
    saveFilters();
    if (refetch) fetchPage(true);
    render();
  });
  onFilter(statusSel, 'status', true);
  onFilter(prioritySel, 'priority', false);
  onFilter(tagSel, 'tag', false);
  onFilter(channelSel, 'channel', false);

  // ------------------------------------------------------------ data

  /** The HTTP queries behind the current list and status filter. */
  function queries() {
    const s = filters.status;
    const mine = kind === 'mine' ? { assignee: 'me' } : {};
    if (kind === 'queue') return [{ status: 'pending' }];
    if (s === '') return kind === 'mine' ? [{ status: 'active', ...mine }, { status: 'pending', ...mine }] : [{ status: 'pending' }, { status: 'active' }];
    if (s === 'all') return [{ ...mine }];
    return [{ status: s, ...mine }];
  }

  async function fetchPage(reset) {
    if (loading && !reset) return;
    loading = true;
    more.disabled = true;
    status.textContent = t('list.loading');
    try {
      const qs = queries();
      if (reset) next = null;
      if (qs.length > 1 || kind === 'queue' || filters.status === '') {
        // Open conversations: few enough to take every page.
        const pages = await Promise.all(qs.map((q) => api.getAllPages('/conversations', q, 500)));
        if (disposed) return;
        store.upsert(pages.flat());
        next = null;
      } else {
        const page = await api.get('/conversations', { ...qs[0], limit: 50, cursor: reset ? undefined : next });
        if (disposed) return;
        store.upsert(page.items ?? []);
        next = page.next ?? null;
      }
      status.textContent = '';
    } catch (err) {
      if (!disposed) {
        status.textContent = '';
        toastError(err);
      }
    } finally {
      loading = false;
      more.disabled = false;
      more.hidden = !next;
    }
  }
  more.addEventListener('click', () => fetchPage(false));

  // ---------------------------------------------------------- render

  function matches(c) {
    const s = filters.status;
    if (kind === 'queue') { if (c.status !== 'pending') return false; }
    else if (s === '') { if (!store.isOpen(c)) return false; }
    else if (s !== 'all' && c.status !== s) return false;
    if (filters.priority && c.priority !== filters.priority) return false;
    if (filters.channel && c.channel !== filters.channel) return false;
    if (filters.tag && !(c.tags ?? []).includes(filters.tag)) return false;
    return true;
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
      unread ? h('span', { class: 'unread', 'data-testid': 'unread', 'aria-label': t('list.unread', { n: unread }), title: t('list.unread', { n: unread }) }, String(unread)) : null,
      timeEl(c.last_message_at ?? c.created_at, 'conv-time')),
    h('div', { class: 'conv-line conv-sub' },
      h('span', { class: 'conv-ticket' }, c.ticket),
      c.channel && c.channel !== 'web' ? h('span', { class: 'conv-channel' }, t(`channel.${c.channel}`)) : null),
    h('div', { class: 'conv-line conv-meta' },
      pill('status', c.status),
      pill('priority', c.priority),
      c.level > 0 ? h('span', { class: 'pill pill-level', title: t('conv.level') }, `L${c.level + 1}`) : null,
      (c.tags ?? []).slice(0, 3).map((tag) => h('span', { class: 'tag-chip tag-chip-small' }, tag)),
      kind !== 'mine' && c.assignee ? h('span', { class: 'conv-assignee' }, assigneeLabel(c.assignee)) : null));
    return h('li', {}, link);
  }

  let frame = 0;
  function render() {
    frame = 0;
    if (disposed) return;
    const items = sorted(store.listOf(kind).filter(matches));
    const focusedId = document.activeElement?.closest?.('[data-testid="conv-item"]')?.dataset.id;
    replace(list, items.map(row));
    if (focusedId) list.querySelector(`[data-id="${CSS.escape(focusedId)}"]`)?.focus({ preventScroll: true });
    empty.hidden = items.length > 0;
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
    store.on('convs', schedule),
    store.on('names', schedule),
    store.on('tags', fillTags),
    store.on('welcome', ({ again }) => { if (again) fetchPage(true); }),
    store.on('route', (r) => {
      activeId = r.view === 'chat' ? r.id : null;
      schedule();
    }),
  ];
  if (kind !== 'mine' && store.isSupervisor()) {
    store.loadOperators().then(schedule).catch(() => {});
  }

  render();
  fetchPage(true);

  return () => {
    disposed = true;
    if (frame) cancelAnimationFrame(frame);
    offs.forEach((off) => off());
  };
}
