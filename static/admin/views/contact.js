// The customer panel: alias, channel and the customer's other conversations. The server
// never sends a name, email, IP or channel identity, and this panel shows nothing else.

import * as api from '../api.js';
import * as store from '../store.js';
import { h, replace, pill, shortTime, fullTime } from '../dom.js';
import { t } from '../i18n.js';

export function createContact(conversationId) {
  const body = h('div', { class: 'contact-body' }, h('p', { class: 'muted small' }, t('list.loading')));
  const details = h('div', { class: 'contact-details' });
  const el = h('aside', { class: 'contact', 'data-testid': 'contact', 'aria-labelledby': `contact-${conversationId}` },
    h('h2', { id: `contact-${conversationId}`, class: 'contact-title' }, t('contact.title')),
    body,
    details);

  async function load() {
    try {
      const data = await api.get(`/conversations/${conversationId}/contact`);
      const others = (data.conversations ?? []).filter((c) => c.id !== conversationId);
      replace(body,
        h('dl', { class: 'facts' },
          h('dt', {}, t('contact.alias')), h('dd', { 'data-testid': 'contact-alias' }, data.alias),
          h('dt', {}, t('contact.channel')), h('dd', { 'data-testid': 'contact-channel' }, t(`channel.${data.channel}`))),
        h('h3', { class: 'contact-sub' }, t('contact.earlier')),
        others.length
          ? h('ul', { class: 'earlier' }, others.map((c) => h('li', {},
            h('a', { href: `#/c/${encodeURIComponent(c.id)}`, class: 'earlier-link' },
              h('span', { class: 'earlier-ticket' }, c.ticket),
              h('span', { class: 'earlier-meta' },
                pill('status', c.status),
                h('time', { datetime: c.created_at, title: fullTime(c.created_at) }, shortTime(c.created_at)))))))
          : h('p', { class: 'muted small', 'data-testid': 'contact-none' }, t('contact.none')));
    } catch (err) {
      replace(body, h('p', { class: 'muted small' }, err.message));
    }
  }

  /** The conversation's own facts: ticket, group, level, created. */
  async function setSummary(c) {
    let groupName = '';
    try {
      const groups = await store.loadGroups();
      groupName = groups.find((g) => g.id === c.group_id)?.name ?? '';
    } catch { /* optional */ }
    replace(details,
      h('h3', { class: 'contact-sub' }, t('contact.conversation')),
      h('dl', { class: 'facts' },
        h('dt', {}, t('conv.ticket')), h('dd', {}, c.ticket),
        groupName ? [h('dt', {}, t('conv.group')), h('dd', {}, groupName)] : null,
        h('dt', {}, t('conv.level')), h('dd', {}, `L${(c.level ?? 0) + 1}`),
        h('dt', {}, t('conv.created')), h('dd', {}, h('time', { datetime: c.created_at }, fullTime(c.created_at)))));
  }

  load();
  return { el, setSummary };
}
