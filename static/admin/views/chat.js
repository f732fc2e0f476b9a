// One conversation: header (alias, ticket, status, category, assignee), actions, history, typing
// indicator, composer and the customer panel. Catches up with `resume` after loading the
// newest page and after every reconnect, and sends read marks while the tab is visible.

import * as api from '../api.js';
import * as store from '../store.js';
import { h, replace, pill, throttle } from '../dom.js';
import { t } from '../i18n.js';
import { createTimeline } from './timeline.js';
import { createComposer } from './composer.js';
import { createContact } from './contact.js';
import { renderActions, createCategoryControl } from './actions.js';
import { assigneeLabel } from './names.js';

const TYPING_TIMEOUT = 8000;

export function mountChat(el, id) {
  let summary = store.conv(id) ?? null;
  let disposed = false;
  let ready = false;

  const back = h('a', { href: `#/${sessionStorage.getItem('sb.list') || 'queue'}`, class: 'back-link' }, `← ${t('chat.back')}`);
  const title = h('h1', { class: 'chat-title', 'data-testid': 'conv-alias' });
  const ticket = h('span', { class: 'chat-ticket', 'data-testid': 'conv-ticket' });
  const statusBox = h('span', { class: 'chat-status' });
  const assignee = h('span', { class: 'chat-assignee', 'data-testid': 'conv-assignee' });
  const actions = h('div', { class: 'chat-actions' });
  const typing = h('div', { class: 'typing', 'data-testid': 'typing', hidden: true, 'aria-live': 'polite' },
    h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
    h('span', {}, t('chat.typing')));

  // Read marks follow the contiguous run of events (see timeline.lastSeq); called only after
  // the newest page is in, when sendRead below exists.
  const timeline = createTimeline(id, { onAdvance: () => sendRead() });
  const composer = createComposer(id);
  const contact = createContact(id);
  const category = createCategoryControl(id);

  const header = h('header', { class: 'chat-head' },
    back,
    h('div', { class: 'chat-id' },
      title,
      h('div', { class: 'chat-sub' }, ticket, statusBox, assignee, category.el)),
    actions);

  replace(el, h('div', { class: 'chat', 'data-conversation': id },
    h('section', { class: 'chat-main', 'aria-label': t('chat.label') },
      header,
      timeline.el,
      timeline.announcer,
      typing,
      composer.el),
    contact.el));

  function setSummary(s) {
    if (!s || s.id !== id) return;
    summary = { ...summary, ...s };
    title.textContent = summary.alias;
    ticket.textContent = summary.ticket;
    replace(statusBox, pill('status', summary.status, 'conv-status'));
    replace(assignee,
      h('span', { class: 'muted' }, `${t('conv.assignee')}: `),
      h('span', { class: 'assignee-name' }, assigneeLabel(summary.assignee)));
    renderActions(actions, summary, { onSummary: (next) => store.upsert(next) });
    category.update(summary);
    composer.setSummary(summary);
    contact.setSummary(summary);
    store.emit('title', summary.alias);
  }

  // ------------------------------------------------------------ read marks

  const sendRead = throttle(() => {
    if (disposed || !ready || document.visibilityState !== 'visible') return;
    store.markRead(id, timeline.lastSeq());
  }, 800);

  const onVisibility = () => { if (document.visibilityState === 'visible') sendRead(); };
  document.addEventListener('visibilitychange', onVisibility);
  window.addEventListener('focus', onVisibility);

  // ---------------------------------------------------------- typing indicator

  let typingTimer = null;
  function showTyping(active) {
    clearTimeout(typingTimer);
    typing.hidden = !active;
    if (active) typingTimer = setTimeout(() => { typing.hidden = true; }, TYPING_TIMEOUT);
  }

  // ---------------------------------------------------------------- wiring

  // Until the newest page is in, a reconnect has nothing to resume from (null).
  store.state.open = { id, lastSeq: () => (ready ? timeline.lastSeq() : null) };

  const offs = [
    store.on('conv', (c) => { if (c.id === id) setSummary(c); }),
    store.on('names', () => summary && setSummary(summary)),
    store.on('event', (ev) => {
      if (ev.conversation_id !== id) return;
      if (ev.kind === 'message' && ev.author === 'visitor') showTyping(false);
      sendRead();
    }),
    store.on('typing', (f) => {
      if (f.conversation_id === id && f.author === 'visitor') showTyping(f.active);
    }),
  ];

  async function open() {
    try {
      const fresh = await api.get(`/conversations/${id}`);
      if (disposed) return;
      store.upsert(fresh);
      setSummary(store.conv(id) ?? fresh);
    } catch (err) {
      if (disposed) return;
      const message = err.status === 404 ? t('chat.notFound') : err.status === 403 ? t('chat.forbidden') : err.message;
      replace(el, h('div', { class: 'empty-main', role: 'alert', 'data-testid': 'chat-error' }, h('p', {}, message), back));
      return;
    }
    try {
      await timeline.loadLatest();
    } catch (err) {
      if (!disposed) timeline.showError(err.message);
      return;
    }
    if (disposed) return;
    ready = true;
    // Anything stored between the page and now comes back here, deduplicated by seq.
    store.send({ type: 'resume', conversation_id: id, last_seq: timeline.lastSeq() });
    sendRead();
    if (matchMedia('(pointer: fine)').matches) composer.focus();
  }

  if (summary) setSummary(summary);
  open();

  return () => {
    disposed = true;
    clearTimeout(typingTimer);
    if (store.state.open?.id === id) store.state.open = null;
    store.emit('title', null);
    document.removeEventListener('visibilitychange', onVisibility);
    window.removeEventListener('focus', onVisibility);
    offs.forEach((off) => off());
    timeline.destroy();
    composer.destroy();
    contact.destroy();
    category.destroy();
  };
}
