// The customer panel: alias, channel, whether they are blocked or unreachable on Telegram,
// and the customer's other conversations. The server never sends a name, email, IP or channel
// identity, and this panel shows nothing else. Supervisors and admins block and unblock the
// customer here (POST/DELETE /contacts/{id}/block); agents only see the state.

import * as api from '../api.js';
import * as store from '../store.js';
import { h, replace, pill, shortTime, fullTime, field, select } from '../dom.js';
import { t } from '../i18n.js';
import { toast, toastError } from '../toast.js';

const HOUR = 3600 * 1000;
const DURATIONS = [['forever', 0], ['1h', HOUR], ['1d', 24 * HOUR], ['7d', 7 * 24 * HOUR], ['30d', 30 * 24 * HOUR]];
const MAX_REASON = 500;

export function createContact(conversationId) {
  const body = h('div', { class: 'contact-body' }, h('p', { class: 'muted small' }, t('list.loading')));
  const details = h('div', { class: 'contact-details' });
  const el = h('aside', { class: 'contact', 'data-testid': 'contact', 'aria-labelledby': `contact-${conversationId}` },
    h('h2', { id: `contact-${conversationId}`, class: 'contact-title' }, t('contact.title')),
    body,
    details);

  let disposed = false;
  // The control to focus once the panel is drawn again (after block or unblock).
  let focusNext = null;

  async function load() {
    try {
      const data = await api.get(`/conversations/${conversationId}/contact`);
      if (disposed) return;
      const others = (data.conversations ?? []).filter((c) => c.id !== conversationId);
      replace(body,
        flags(data),
        store.isSupervisor() ? blockControls(data) : null,
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
      if (focusNext) {
        body.querySelector(`[data-testid="${focusNext}"]`)?.focus();
        focusNext = null;
      }
    } catch (err) {
      if (!disposed) replace(body, h('p', { class: 'muted small' }, err.message));
    }
  }

  /** "Blocked: reason" and "Can't be reached on Telegram", when they apply. */
  function flags(data) {
    const blocked = data.blocked
      ? h('div', { class: 'contact-flag flag-blocked' },
        h('p', { class: 'flag-title', 'data-testid': 'contact-blocked' }, t('contact.blocked', { reason: data.blocked.reason })),
        h('p', { class: 'flag-detail', 'data-testid': 'contact-blocked-until' },
          data.blocked.until
            ? h('time', { datetime: data.blocked.until, title: fullTime(data.blocked.until) }, t('contact.blockedUntil', { time: fullTime(data.blocked.until) }))
            : t('contact.blockedForever')))
      : null;
    const unreachable = data.reachable === false
      ? h('div', { class: 'contact-flag flag-unreachable' },
        h('p', { class: 'flag-title', 'data-testid': 'contact-unreachable' }, t('contact.unreachable')),
        h('p', { class: 'flag-detail' }, t('contact.unreachableHint')))
      : null;
    return blocked || unreachable ? h('div', { class: 'contact-flags' }, blocked, unreachable) : null;
  }

  /** Unblock when blocked; else Block, which opens a small form (reason, for how long). */
  function blockControls(data) {
    const base = `/contacts/${encodeURIComponent(data.id)}/block`;
    if (data.blocked) {
      const unblock = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'contact-unblock' }, t('contact.unblock'));
      unblock.addEventListener('click', async () => {
        if (unblock.getAttribute('aria-disabled') === 'true') return;
        unblock.setAttribute('aria-disabled', 'true');
        try {
          await api.del(base);
          toast(t('contact.unblockedDone'), 'info');
          focusNext = 'contact-block';
          await load();
        } catch (err) {
          unblock.removeAttribute('aria-disabled');
          toastError(err);
        }
      });
      return h('div', { class: 'contact-block' }, unblock);
    }

    const open = h('button', { type: 'button', class: 'btn btn-danger-outline btn-small', 'data-testid': 'contact-block', 'aria-expanded': 'false' }, t('contact.block'));
    const reason = h('input', { type: 'text', maxlength: String(MAX_REASON), required: true, autocomplete: 'off', 'data-testid': 'contact-block-reason' });
    const duration = select({ 'data-testid': 'contact-block-duration' },
      DURATIONS.map(([key]) => [key, t(`contact.duration.${key}`)]), 'forever');
    const formId = `contact-block-form-${conversationId}`;
    const error = h('p', { id: `${formId}-error`, class: 'form-error', role: 'alert', 'data-testid': 'contact-block-error', hidden: true });
    const submit = h('button', { type: 'submit', class: 'btn btn-danger-outline btn-small', 'data-testid': 'contact-block-submit' }, t('contact.block'));
    const cancel = h('button', { type: 'button', class: 'btn btn-secondary btn-small' }, t('admin.cancel'));
    const titleId = `contact-block-title-${conversationId}`;
    const form = h('form', { id: formId, class: 'contact-block-form', novalidate: true, hidden: true, 'aria-labelledby': titleId, 'data-testid': 'contact-block-form' },
      h('h3', { id: titleId, class: 'contact-sub' }, t('contact.blockTitle')),
      field(t('contact.blockReason'), reason, t('contact.blockReasonHint')),
      field(t('contact.blockDuration'), duration),
      error,
      h('div', { class: 'form-actions' }, submit, cancel));
    open.setAttribute('aria-controls', formId);

    const showError = (message, control) => {
      error.textContent = message;
      error.hidden = false;
      if (control) {
        control.setAttribute('aria-invalid', 'true');
        control.setAttribute('aria-describedby', error.id);
        control.focus();
      }
    };
    const clearError = () => {
      error.hidden = true;
      error.textContent = '';
      for (const c of [reason, duration]) {
        c.removeAttribute('aria-invalid');
        c.removeAttribute('aria-describedby');
      }
    };
    const setOpen = (on) => {
      form.hidden = !on;
      open.hidden = on;
      open.setAttribute('aria-expanded', String(on));
      if (on) reason.focus();
      else { clearError(); open.focus(); }
    };

    open.addEventListener('click', () => setOpen(true));
    cancel.addEventListener('click', () => setOpen(false));
    form.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') { e.preventDefault(); setOpen(false); }
    });
    reason.addEventListener('input', () => { if (!error.hidden) clearError(); });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (submit.getAttribute('aria-disabled') === 'true') return;
      clearError();
      const text = reason.value.trim();
      if (!text) {
        showError(t('contact.reasonMissing'), reason);
        return;
      }
      const ms = DURATIONS.find(([key]) => key === duration.value)?.[1] ?? 0;
      const payload = { reason: text };
      if (ms) payload.until = new Date(Date.now() + ms).toISOString();
      submit.setAttribute('aria-disabled', 'true');
      try {
        await api.post(base, payload);
        toast(t('contact.blockedDone'), 'info');
        focusNext = 'contact-unblock';
        await load();
      } catch (err) {
        submit.removeAttribute('aria-disabled');
        toastError(err);
        if (err.field === 'reason') showError(err.message, reason);
        else if (err.field === 'until') showError(err.message, duration);
      }
    });
    return h('div', { class: 'contact-block' }, open, form);
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
  return { el, setSummary, destroy() { disposed = true; } };
}
