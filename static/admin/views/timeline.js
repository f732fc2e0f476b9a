// The chat history: events in seq order (deduplicated by seq), paging upward, messages
// pending until their ack, and "Seen" marks from how far the customer has read (live `read`
// frames, and the summaries' `visitor_read_seq`, so the marks survive a reload).

import * as api from '../api.js';
import * as store from '../store.js';
import { h, replace, timeEl } from '../dom.js';
import { t } from '../i18n.js';
import { toastError } from '../toast.js';

const PAGE = 50;

export function createTimeline(conversationId) {
  /** seq → element */
  const bySeq = new Map();
  /** client_id → element */
  const pending = new Map();
  let older = null; // `next` cursor: the seq to pass as `before`
  let loadedOnce = false;
  let seenUpTo = store.state.visitorRead.get(conversationId) ?? 0;

  const olderBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'load-older', hidden: true }, t('chat.older'));
  const list = h('ol', { class: 'events' });
  const start = h('p', { class: 'timeline-start muted small', hidden: true }, t('chat.start'));
  const el = h('div', { class: 'timeline', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': t('chat.history'), tabindex: '0' },
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

  /** Inserts an event at its place; an already-known seq only refreshes the element. */
  function add(ev) {
    if (!ev || typeof ev.seq !== 'number') return;
    const existing = bySeq.get(ev.seq);
    const node = build(ev);
    if (existing) {
      existing.replaceWith(node);
      bySeq.set(ev.seq, node);
      return;
    }
    bySeq.set(ev.seq, node);
    // After the last element with a smaller seq (pending messages stay at the end).
    let after = null;
    for (let child = list.lastElementChild; child; child = child.previousElementSibling) {
      if (child.dataset.seq && Number(child.dataset.seq) < ev.seq) { after = child; break; }
    }
    if (after) after.after(node);
    else list.prepend(node);
  }

  function lastSeq() {
    let max = 0;
    for (const seq of bySeq.keys()) if (seq > max) max = seq;
    return max;
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
    add({ seq: ack.seq, kind: item.kind ?? 'message', author: 'operator', name: store.state.me?.name, text: item.text ?? node.querySelector('.ev-text')?.textContent ?? '', at: ack.at });
    toBottom();
  }

  // ----------------------------------------------------------------- history

  async function loadLatest() {
    const page = await api.get(`/conversations/${conversationId}/events`, { limit: PAGE });
    for (const ev of page.items ?? []) add(ev);
    older = page.next ?? null;
    olderBtn.hidden = !older;
    start.hidden = Boolean(older);
    loadedOnce = true;
    for (const [clientId, item] of store.state.outbox) {
      if (item.conversation_id === conversationId) showPending(clientId, item);
    }
    toBottom();
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
    add(ev);
    if (stick && loadedOnce) toBottom();
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
    loadLatest,
    lastSeq,
    showError(message) {
      replace(list, h('li', { class: 'timeline-error', role: 'alert' }, message));
    },
    destroy() { offs.forEach((off) => off()); },
  };
}
