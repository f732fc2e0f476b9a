// The chat history: events in seq order (deduplicated by seq), paging upward, messages
// pending until their ack, and "Seen" marks from how far the customer has read (live `read`
// frames, and the summaries' `visitor_read_seq`, so the marks survive a reload).
//
// `lastSeq()` is the end of the contiguous run of events received (from the history or as
// events, never from acks alone): what `resume` and read marks start from. When an event or an
// ack shows a higher seq, the gap is filled from `GET …/events?after=`.
//
// The history itself is not a live region (opening a chat would read out the whole page, and
// my own message would be read out as pending, acked and stored). A separate visually hidden
// live region announces new customer messages and system events only.

import * as api from '../api.js';
import * as store from '../store.js';
import { h, replace, timeEl } from '../dom.js';
import { t } from '../i18n.js';
import { toastError } from '../toast.js';

const PAGE = 50;
const FILL_PAGE = 100;
/** How long a gap may stay open before it is fetched (its event is usually on the way). */
const GAP_WAIT = 300;
/** Announcements kept in the live region. */
const ANNOUNCE_KEEP = 3;

export function createTimeline(conversationId, { onAdvance } = {}) {
  /** seq → element */
  const bySeq = new Map();
  /** seqs of events received (not only acknowledged) */
  const received = new Set();
  /** Every event from the newest page's first up to this one is here; null before the page. */
  let contiguous = null;
  let gapTimer = null;
  let filling = false;
  let destroyed = false;
  /** client_id → element */
  const pending = new Map();
  let older = null; // `next` cursor: the seq to pass as `before`
  let loadedOnce = false;
  let seenUpTo = store.state.visitorRead.get(conversationId) ?? 0;

  const olderBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'load-older', hidden: true }, t('chat.older'));
  const list = h('ol', { class: 'events' });
  const start = h('p', { class: 'timeline-start muted small', hidden: true }, t('chat.start'));
  const announcer = h('div', { class: 'sr-only', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-atomic': 'false', 'data-testid': 'chat-announcer' });
  const el = h('div', { class: 'timeline', role: 'region', 'aria-label': t('chat.history'), tabindex: '0' },
    h('div', { class: 'timeline-top' }, olderBtn, start),
    list);

  const nearBottom = () => el.scrollHeight - el.scrollTop - el.clientHeight < 120;
  const toBottom = () => { el.scrollTop = el.scrollHeight; };

  function build(ev) {
    const kind = ev.kind;
    const author = ev.author;
    const attrs = {
      class: `ev ev-${kind} ev-${author}${ev.data?.internal ? ' ev-internal' : ''}`,
      'data-testid': 'event',
      'data-seq': ev.seq,
      'data-kind': kind,
      'data-author': author,
    };
    if (kind === 'system') {
      return h('li', attrs,
        h('span', { class: 'ev-system-text' },
          ev.data?.internal ? h('span', { class: 'ev-label' }, `${t('chat.internal')} · `) : null,
          ev.data?.action === 'auto_reply'
            ? h('span', { class: 'ev-label' }, `${t('chat.autoReply', { category: ev.data.category ?? '' })} · `)
            : null,
          h('span', { class: 'ev-text' }, ev.text)),
        ' ',
        timeEl(ev.at, 'ev-time'));
    }
    const li = h('li', attrs,
      h('div', { class: 'bubble' },
        h('div', { class: 'ev-head' },
          kind === 'note' ? h('span', { class: 'ev-label note-label' }, t('chat.noteLabel')) : null,
          h('span', { class: 'ev-name' }, ev.name ?? ''),
          timeEl(ev.at, 'ev-time')),
        h('div', { class: 'ev-text' }, ev.text),
        h('div', { class: 'ev-foot' })));
    if (kind === 'message' && author === 'operator') markSeen(li);
    return li;
  }

  function markSeen(li) {
    const seq = Number(li.dataset.seq);
    const foot = li.querySelector('.ev-foot');
    if (!foot || !seq || li.dataset.kind !== 'message' || li.dataset.author !== 'operator') return;
    const seen = seq <= seenUpTo;
    const has = foot.querySelector('[data-testid="seen"]');
    if (seen && !has) foot.append(h('span', { class: 'seen', 'data-testid': 'seen', title: t('chat.seenTitle') }, `✓✓ ${t('chat.seen')}`));
    if (!seen && has) has.remove();
  }

  /**
   * Inserts an event at its place; an already-known seq only refreshes the element. `real` is
   * false for an event made up from an ack (its event is still to come). Returns whether the
   * seq is new here.
   */
  function add(ev, real = true) {
    if (!ev || typeof ev.seq !== 'number') return false;
    if (real) received.add(ev.seq);
    const existing = bySeq.get(ev.seq);
    const node = build(ev);
    if (existing) {
      existing.replaceWith(node);
      bySeq.set(ev.seq, node);
      return false;
    }
    bySeq.set(ev.seq, node);
    // After the last element with a smaller seq (pending messages stay at the end).
    let after = null;
    for (let child = list.lastElementChild; child; child = child.previousElementSibling) {
      if (child.dataset.seq && Number(child.dataset.seq) < ev.seq) { after = child; break; }
    }
    if (after) after.after(node);
    else list.prepend(node);
    return true;
  }

  function highestSeq() {
    let max = 0;
    for (const seq of bySeq.keys()) if (seq > max) max = seq;
    return max;
  }

  /** Moves `contiguous` over the events received since; tells the chat when it moved. */
  function advance() {
    if (contiguous === null) return;
    const before = contiguous;
    while (received.has(contiguous + 1)) contiguous += 1;
    if (contiguous !== before) onAdvance?.(contiguous);
  }

  /**
   * The highest seq up to which every event is here (null until the newest page is in):
   * `resume` and read marks start from it, so an event behind a gap is never skipped.
   */
  function lastSeq() {
    return contiguous;
  }

  // ------------------------------------------------------------------ gaps

  /** A seq above contiguous + 1 is known (an event or an ack): fetch what lies between. */
  function checkGap() {
    if (destroyed || filling || gapTimer || !hasGap()) return;
    gapTimer = setTimeout(() => {
      gapTimer = null;
      fill();
    }, GAP_WAIT);
  }

  function hasGap() {
    // Something above contiguous is known but not every event up to it has arrived.
    return contiguous !== null && highestSeq() > contiguous + 1;
  }

  async function fill() {
    if (destroyed || filling || !hasGap()) return;
    filling = true;
    try {
      for (let round = 0; round < 20 && hasGap() && !destroyed; round += 1) {
        const from = contiguous;
        const page = await api.get(`/conversations/${conversationId}/events`, { after: from, limit: FILL_PAGE });
        if (destroyed) return;
        const items = page?.items ?? [];
        const stick = nearBottom();
        for (const ev of items) {
          if (add(ev)) announce(ev);
        }
        advance();
        if (stick) toBottom();
        if (!items.length || contiguous === from) break;
      }
    } catch {
      // Not now (offline, or the server is away): the next resume or event tries again.
    } finally {
      filling = false;
    }
  }

  // ---------------------------------------------------------- announcements

  /** Reads out a new customer message or system event (never my own, never history). */
  function announce(ev) {
    if (!loadedOnce) return;
    let text = null;
    if (ev.kind === 'message' && ev.author === 'visitor') text = t('chat.announceMessage', { name: ev.name ?? '', text: ev.text ?? '' });
    else if (ev.kind === 'system') text = ev.text ?? '';
    if (!text) return;
    announcer.append(h('p', { 'data-seq': ev.seq }, text));
    while (announcer.childElementCount > ANNOUNCE_KEEP) announcer.firstElementChild.remove();
  }

  // ------------------------------------------------------------ pending messages

  function pendingEl(clientId, item) {
    const foot = h('div', { class: 'ev-foot' });
    if (item.status === 'failed') {
      const retry = h('button', { type: 'button', class: 'btn btn-link btn-small', 'data-testid': 'retry' }, t('chat.retry'));
      retry.addEventListener('click', () => store.retry(clientId));
      const drop = h('button', { type: 'button', class: 'btn btn-link btn-small' }, t('chat.discard'));
      drop.addEventListener('click', () => store.discard(clientId));
      foot.append(h('span', { class: 'failed' }, t('chat.failed', { error: item.error ?? '' })), ' ', retry, ' ', drop);
    } else {
      foot.append(h('span', { class: 'sending' }, t('chat.sending')));
    }
    return h('li', {
      class: `ev ev-${item.kind} ev-operator is-pending${item.status === 'failed' ? ' is-failed' : ''}`,
      'data-testid': 'event',
      'data-kind': item.kind,
      'data-author': 'operator',
      'data-pending': 'true',
      'data-client-id': clientId,
    },
    h('div', { class: 'bubble' },
      h('div', { class: 'ev-head' },
        item.kind === 'note' ? h('span', { class: 'ev-label note-label' }, t('chat.noteLabel')) : null,
        h('span', { class: 'ev-name' }, store.state.me?.name ?? '')),
      h('div', { class: 'ev-text' }, item.text),
      foot));
  }

  function showPending(clientId, item) {
    if (item.conversation_id !== conversationId) return;
    const stick = nearBottom();
    const old = pending.get(clientId);
    if (item.status === 'discarded') {
      old?.remove();
      pending.delete(clientId);
      return;
    }
    const node = pendingEl(clientId, item);
    if (old) old.replaceWith(node);
    else list.append(node);
    pending.set(clientId, node);
    if (stick || !old) toBottom();
  }

  function onAck(ack) {
    if (ack.conversation_id !== conversationId) return;
    const node = pending.get(ack.client_id);
    if (!node) return;
    pending.delete(ack.client_id);
    if (bySeq.has(ack.seq)) {
      node.remove();
      return;
    }
    // Stored: it becomes the event with that seq (the event frame itself follows).
    const item = ack.item ?? {};
    node.remove();
    add({ seq: ack.seq, kind: item.kind ?? 'message', author: 'operator', name: store.state.me?.name, text: item.text ?? node.querySelector('.ev-text')?.textContent ?? '', at: ack.at }, false);
    toBottom();
    checkGap();
  }

  // ----------------------------------------------------------------- history

  async function loadLatest() {
    const page = await api.get(`/conversations/${conversationId}/events`, { limit: PAGE });
    const items = page.items ?? [];
    for (const ev of items) add(ev);
    older = page.next ?? null;
    olderBtn.hidden = !older;
    start.hidden = Boolean(older);
    // Everything before the newest page is there for "Load older": the run starts after it.
    contiguous = items.length ? Math.min(...items.map((ev) => ev.seq)) - 1 : 0;
    advance();
    loadedOnce = true;
    for (const [clientId, item] of store.state.outbox) {
      if (item.conversation_id === conversationId) showPending(clientId, item);
    }
    toBottom();
    checkGap();
  }

  async function loadOlder() {
    if (!older) return;
    olderBtn.disabled = true;
    const prevHeight = el.scrollHeight;
    const prevTop = el.scrollTop;
    try {
      const page = await api.get(`/conversations/${conversationId}/events`, { limit: PAGE, before: older });
      for (const ev of page.items ?? []) add(ev);
      older = page.next ?? null;
      el.scrollTop = prevTop + (el.scrollHeight - prevHeight);
    } catch (err) {
      toastError(err);
    } finally {
      olderBtn.disabled = false;
      olderBtn.hidden = !older;
      start.hidden = Boolean(older);
      if (!older) el.focus({ preventScroll: true });
    }
  }
  olderBtn.addEventListener('click', loadOlder);

  /** A live or replayed event of this conversation. */
  function onEvent(ev) {
    if (ev.conversation_id !== conversationId) return;
    const stick = nearBottom();
    if (add(ev)) announce(ev);
    advance();
    if (stick && loadedOnce) toBottom();
    checkGap();
  }

  function onSeen({ conversation_id: id, seq }) {
    if (id !== conversationId || seq <= seenUpTo) return;
    seenUpTo = seq;
    for (const node of bySeq.values()) markSeen(node);
  }

  const offs = [
    store.on('event', onEvent),
    store.on('ack', onAck),
    store.on('outbox', ({ clientId, item }) => showPending(clientId, item)),
    store.on('seen', onSeen),
  ];

  return {
    el,
    announcer,
    loadLatest,
    lastSeq,
    showError(message) {
      replace(list, h('li', { class: 'timeline-error', role: 'alert' }, message));
    },
    destroy() {
      destroyed = true;
      clearTimeout(gapTimer);
      offs.forEach((off) => off());
    },
  };
}
