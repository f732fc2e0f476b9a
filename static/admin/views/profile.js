// The profile menu under the operator's name in the sidebar: a disclosure button and a
// panel with the operator's own Telegram link.
//   GET    /operators/me                → telegram_linked
//   POST   /operators/me/telegram-link  → {code, expires_at, command}; 404 when the channel is off
//   DELETE /operators/me/telegram-link  → 204
// While a code is shown the panel asks GET /operators/me every few seconds, so it says
// "Telegram linked" as soon as the operator has sent `/link CODE` to the bot.

import * as api from '../api.js';
import { h, replace, uid, fullTime } from '../dom.js';
import { t, lang } from '../i18n.js';
import { toast, toastError } from '../toast.js';

const POLL_MS = 3000;

/** `t(key)` with `{command}` as a <code> element (the rest stays text). */
function withCommand(key, command) {
  const [before, after] = t(key).split('{command}');
  return [before, h('code', { class: 'tg-command', 'data-testid': 'telegram-command' }, command), after ?? ''];
}

const timeOf = (iso) => new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' }).format(new Date(iso));

export function createProfileMenu() {
  const panelId = uid('profile-panel');
  const headingId = uid('profile-telegram');
  const codeLabelId = uid('telegram-code-label');

  const toggle = h('button', {
    type: 'button',
    class: 'profile-toggle',
    'aria-expanded': 'false',
    'aria-controls': panelId,
    'data-testid': 'profile-menu',
  }, h('span', {}, t('profile.menu')), h('span', { class: 'profile-caret', 'aria-hidden': 'true' }, '▾'));

  const status = h('p', { class: 'tg-status', role: 'status', 'data-testid': 'telegram-status' });
  const codeBox = h('div', {
    class: 'tg-code-box',
    role: 'region',
    'aria-labelledby': codeLabelId,
    tabindex: '-1',
    'data-testid': 'telegram-code-box',
    hidden: true,
  });
  const linkBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'data-testid': 'telegram-link', hidden: true }, t('telegram.link'));
  const unlinkBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'data-testid': 'telegram-unlink', hidden: true }, t('telegram.unlink'));

  const panel = h('div', { id: panelId, class: 'profile-panel', 'data-testid': 'profile-panel', hidden: true },
    h('section', { class: 'tg', 'aria-labelledby': headingId },
      h('h2', { id: headingId, class: 'profile-heading' }, t('telegram.title')),
      status,
      codeBox,
      h('div', { class: 'profile-actions' }, linkBtn, unlinkBtn)));

  const el = h('div', { class: 'profile' }, toggle, panel);

  // linked: null until GET /operators/me answered; off: the link endpoint said 404.
  const state = { linked: null, off: false, code: null, expired: false, busy: false };
  let pollTimer = null;
  let expiryTimer = null;
  let destroyed = false;
  let shownCode = '';

  function render() {
    const { linked, off, code, expired } = state;
    const text = linked ? t('telegram.linked')
      : off ? t('telegram.off')
        : linked === false ? t('telegram.notLinked') : '';
    // Only a change is written: the same words again would be announced again.
    if (status.textContent !== text) status.textContent = text;
    status.dataset.state = linked ? 'linked' : off ? 'off' : linked === false ? 'unlinked' : 'unknown';
    linkBtn.hidden = linked !== false || off;
    linkBtn.textContent = code ? t('telegram.newCode') : t('telegram.link');
    unlinkBtn.hidden = !linked;
    // aria-disabled, not disabled: a disabled button would drop the keyboard focus.
    for (const b of [linkBtn, unlinkBtn]) b.setAttribute('aria-disabled', String(state.busy));
    panel.setAttribute('aria-busy', String(state.busy));
    const showCode = Boolean(code) && linked === false && !off;
    codeBox.hidden = !showCode;
    // Rebuilt only when the code or its expiry changes, so a selection of the code survives polls.
    const key = showCode ? `${code.code}:${expired}` : '';
    if (key !== shownCode && !showCode) {
      codeBox.replaceChildren();
    } else if (key !== shownCode) {
      replace(codeBox,
        h('p', { id: codeLabelId, class: 'tg-code-label' }, t('telegram.codeLabel')),
        h('p', { class: 'tg-code', 'data-testid': 'telegram-code', 'data-expired': expired ? 'true' : 'false' }, code.code),
        expired
          ? h('p', { class: 'tg-expired', 'data-testid': 'telegram-expired' }, t('telegram.expired'))
          : [
            h('p', { class: 'tg-expiry', 'data-testid': 'telegram-expiry' },
              h('time', { datetime: code.expires_at, title: fullTime(code.expires_at) }, t('telegram.expires', { time: timeOf(code.expires_at) }))),
            h('ol', { class: 'tg-steps', 'data-testid': 'telegram-steps' },
              h('li', {}, t('telegram.step1')),
              h('li', {}, withCommand('telegram.step2', code.command)),
              h('li', {}, t('telegram.step3'))),
          ]);
    }
    shownCode = key;
    schedulePoll();
  }

  /** Renders; if the focused control was hidden by it, focus moves to the visible action. */
  function update() {
    const focused = document.activeElement;
    const hadFocus = focused && panel.contains(focused);
    render();
    if (hadFocus && (focused.hidden || !focused.isConnected || focused.closest('[hidden]'))) {
      ([unlinkBtn, linkBtn].find((b) => !b.hidden) ?? toggle).focus();
    }
  }

  function schedulePoll() {
    const wanted = !destroyed && !panel.hidden && state.code && !state.expired && state.linked === false && !state.off;
    if (wanted && !pollTimer) {
      pollTimer = setInterval(() => refresh({ quiet: true }), POLL_MS);
    } else if (!wanted && pollTimer) {
      clearInterval(pollTimer);
      pollTimer = null;
    }
  }

  async function refresh({ quiet = false } = {}) {
    try {
      const me = await api.get('/operators/me');
      if (destroyed) return;
      const was = state.linked;
      state.linked = Boolean(me?.telegram_linked);
      if (state.linked) state.code = null;
      update();
      if (was === false && state.linked) toast(t('telegram.linkedNow'), 'info');
    } catch (err) {
      if (!quiet && !destroyed) toastError(err);
    }
  }

  async function link() {
    if (state.busy) return;
    state.busy = true;
    render();
    try {
      const code = await api.post('/operators/me/telegram-link');
      if (destroyed) return;
      state.code = code;
      state.expired = false;
      clearTimeout(expiryTimer);
      const left = new Date(code.expires_at).getTime() - Date.now();
      expiryTimer = setTimeout(() => { state.expired = true; update(); }, Math.max(0, left));
      state.busy = false;
      render();
      codeBox.focus();
    } catch (err) {
      if (destroyed) return;
      state.busy = false;
      if (err.status === 404) {
        state.off = true;
        state.code = null;
        update();
        return;
      }
      render();
      toastError(err);
    }
  }

  async function unlink() {
    if (state.busy) return;
    state.busy = true;
    render();
    try {
      await api.del('/operators/me/telegram-link');
      if (destroyed) return;
      state.linked = false;
      state.code = null;
      state.busy = false;
      update();
      toast(t('telegram.unlinked'), 'info');
    } catch (err) {
      if (destroyed) return;
      state.busy = false;
      render();
      toastError(err);
    }
  }

  function setOpen(open) {
    toggle.setAttribute('aria-expanded', String(open));
    panel.hidden = !open;
    el.classList.toggle('is-open', open);
    if (open) refresh();
    schedulePoll();
  }

  toggle.addEventListener('click', () => setOpen(panel.hidden));
  el.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !panel.hidden) {
      e.preventDefault();
      setOpen(false);
      toggle.focus();
    }
  });
  linkBtn.addEventListener('click', link);
  unlinkBtn.addEventListener('click', unlink);

  return {
    el,
    destroy() {
      destroyed = true;
      clearInterval(pollTimer);
      clearTimeout(expiryTimer);
      pollTimer = null;
    },
  };
}
