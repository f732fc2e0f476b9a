// Visible, dismissible notices. Errors stay until dismissed or for 10 s; infos for 2.5 s;
// notices (a new assignment) for 15 s.

import { h } from './dom.js';
import { t } from './i18n.js';

const LIFETIME = { error: 10000, info: 2500, notice: 15000 };

/** `action`: an optional `{label, href}` link shown in the notice (following it dismisses it). */
export function toast(message, kind = 'error', { action } = {}) {
  const host = document.getElementById('toasts');
  if (!host) return;
  // The same text twice in a row only refreshes the existing notice.
  for (const existing of host.children) {
    if (existing.dataset.message === message) existing.remove();
  }
  const link = action ? h('a', { class: 'toast-action', href: action.href, 'data-testid': 'toast-action' }, action.label) : null;
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': t('toast.dismiss'), title: t('toast.dismiss') }, '×');
  const el = h('div', {
    class: `toast toast-${kind}`,
    role: kind === 'error' ? 'alert' : 'status',
    'data-testid': 'toast',
    dataset: { message, kind },
  }, h('span', { class: 'toast-text' }, message), link, close);
  const remove = () => el.remove();
  close.addEventListener('click', remove);
  link?.addEventListener('click', remove);
  el.addEventListener('keydown', (e) => { if (e.key === 'Escape') remove(); });
  host.append(el);
  setTimeout(remove, LIFETIME[kind] ?? LIFETIME.error);
  while (host.children.length > 3) host.firstElementChild.remove();
}

/** Shows an API or socket error: the server's own `error.message`. */
export function toastError(err) {
  if (!err) return;
  const message = err.message || err.code || String(err);
  toast(message, 'error');
}
