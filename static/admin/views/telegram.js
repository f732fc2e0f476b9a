// The Telegram page for admins (`#/admin/telegram`): is the channel on (and how to turn it
// on), the bot, the support group, how updates arrive (the webhook as Telegram reports it, or
// long polling), the operators who linked Telegram, what Telegram did not answer, and
// "Register webhook again".
//   GET  /admin/telegram          → {enabled, bot_username, support_chat, webhook, polling,
//                                     linked_operators, problems}; Telegram is asked live
//   POST /admin/telegram/webhook  → {message}; 409 webhook_not_set (with the reason), 404 off
// The router shows the forbidden view to anyone but admins before any of this loads.

import * as api from '../api.js';
import { h, replace, fullTime, shortTime } from '../dom.js';
import { t } from '../i18n.js';

/** What turns the channel on, as in the README's "Telegram → Setting it up". */
const SETTINGS = [
  ['TELEGRAM_BOT_TOKEN', 'tga.env.token'],
  ['SWITCHBOARD_IDENTITY_KEY', 'tga.env.identity'],
  ['TELEGRAM_WEBHOOK_SECRET', 'tga.env.secret'],
  ['TELEGRAM_SUPPORT_CHAT_ID', 'tga.env.chat'],
  ['SWITCHBOARD_PUBLIC_URL', 'tga.env.public'],
];

export function mountTelegram(el) {
  let disposed = false;
  let settings = null;
  let loading = false;

  const updated = h('p', { class: 'muted small', 'aria-live': 'polite', 'data-testid': 'tg-updated' });
  const refresh = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'tg-refresh' }, t('tga.refresh'));
  const loadError = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'tg-error', hidden: true });

  const enabledBox = h('div', { 'data-testid': 'tg-enabled' }, h('p', { class: 'muted' }, t('list.loading')));
  const botBox = h('div', { 'data-testid': 'tg-bot' });
  const chatBox = h('div', { 'data-testid': 'tg-chat' });
  const webhookBox = h('div', { 'data-testid': 'tg-webhook' });
  const linkedBox = h('div', { 'data-testid': 'tg-linked' });
  const problemsBox = h('section', { class: 'card tgadm-card tgadm-problems', 'aria-labelledby': 'tga-problems-title', 'data-testid': 'tg-problems', hidden: true });

  const register = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'tg-register' }, t('tga.register'));
  const registerNote = h('p', { id: 'tga-register-note', class: 'muted small', hidden: true });
  // A polite live region; an error goes in as a new role="alert" paragraph (announced at once).
  const registerResult = h('div', { class: 'tgadm-result-box', role: 'status' });
  const registerBox = h('div', { class: 'tgadm-register', hidden: true },
    h('div', { class: 'tgadm-register-row' }, register, registerNote),
    registerResult);

  const card = (id, title, ...body) => h('section', { class: 'card tgadm-card', 'aria-labelledby': id },
    h('h2', { id }, title), ...body);

  const botCard = card('tga-bot-title', t('tga.bot'), botBox);
  const chatCard = card('tga-chat-title', t('tga.chat'), chatBox);
  const webhookCard = card('tga-webhook-title', t('tga.updates'), webhookBox, registerBox);
  for (const c of [botCard, chatCard, webhookCard]) c.hidden = true;

  const pageEl = h('section', { class: 'page tgadm', 'data-testid': 'admin-telegram', 'aria-labelledby': 'tga-title' },
    h('header', { class: 'page-head' },
      h('h1', { id: 'tga-title' }, t('nav.telegram')),
      h('div', { class: 'toolbar' }, updated, refresh)),
    loadError,
    card('tga-channel-title', t('tga.channel'), enabledBox),
    problemsBox,
    h('div', { class: 'tgadm-grid' },
      botCard,
      chatCard,
      webhookCard,
      card('tga-linked-title', t('tga.linked'), linkedBox)));
  replace(el, pageEl);

  // ------------------------------------------------------------------ loading

  async function load() {
    if (loading) return;
    loading = true;
    refresh.disabled = true;
    pageEl.setAttribute('aria-busy', 'true');
    try {
      const data = await api.get('/admin/telegram');
      if (disposed) return;
      settings = data;
      loadError.hidden = true;
      render();
      updated.textContent = t('dash.updated', { time: shortTime(new Date().toISOString()) });
    } catch (err) {
      if (disposed) return;
      loadError.textContent = t('tga.loadFailed', { message: err.message });
      loadError.hidden = false;
    } finally {
      loading = false;
      refresh.disabled = false;
      pageEl.removeAttribute('aria-busy');
    }
  }

  function render() {
    const s = settings;
    renderEnabled(s);
    botCard.hidden = !s.enabled;
    chatCard.hidden = !s.enabled;
    webhookCard.hidden = !s.enabled;
    if (s.enabled) {
      renderBot(s);
      renderChat(s);
      renderWebhook(s);
    }
    renderLinked(s);
    renderProblems(s);
  }

  function renderEnabled(s) {
    enabledBox.dataset.enabled = s.enabled ? 'true' : 'false';
    if (s.enabled) {
      replace(enabledBox,
        h('p', { class: 'tgadm-state tgadm-on' }, t('tga.on')),
        h('p', { class: 'muted small' }, s.polling ? t('tga.onPolling') : t('tga.onWebhook')));
      return;
    }
    replace(enabledBox,
      h('p', { class: 'tgadm-state tgadm-off' }, t('tga.off')),
      h('p', {}, t('tga.howTo')),
      h('dl', { class: 'tgadm-env' },
        SETTINGS.map(([name, key]) => [h('dt', {}, h('code', {}, name)), h('dd', {}, t(key))])),
      h('p', { class: 'muted small' }, t('tga.howToThen')),
      h('p', { class: 'muted small' }, t('tga.readme')));
  }

  function renderBot(s) {
    if (!s.bot_username) {
      replace(botBox, h('p', { class: 'muted' }, t('tga.unknown')));
      return;
    }
    replace(botBox,
      h('p', { class: 'tgadm-big' },
        h('a', { href: `https://t.me/${encodeURIComponent(s.bot_username)}`, target: '_blank', rel: 'noopener noreferrer' }, `@${s.bot_username}`)),
      h('p', { class: 'muted small' }, t('tga.botHint')));
  }

  function renderChat(s) {
    const chat = s.support_chat;
    if (!chat) {
      replace(chatBox,
        h('p', {}, t('tga.noChat')),
        h('p', { class: 'muted small' }, t('tga.noChatHint')));
      return;
    }
    replace(chatBox,
      h('p', { class: 'tgadm-big' }, chat.title ?? t('tga.untitled')),
      h('dl', { class: 'tgadm-facts' },
        h('dt', {}, t('tga.chatId')), h('dd', {}, h('code', {}, String(chat.id))),
        h('dt', {}, t('tga.chatKind')),
        h('dd', { 'data-forum': chat.forum ? 'true' : 'false' }, chat.forum ? t('tga.forum') : t('tga.classic'))));
  }

  function renderWebhook(s) {
    const hook = s.webhook;
    const parts = [];
    if (s.polling) {
      parts.push(h('p', { class: 'tgadm-big' }, t('tga.polling')),
        h('p', { class: 'muted small' }, t('tga.pollingHint')));
    }
    if (!hook) {
      parts.push(h('p', { class: 'muted' }, t('tga.webhookUnknown')));
    } else if (hook.url || !s.polling) {
      parts.push(h('dl', { class: 'tgadm-facts' },
        h('dt', {}, t('tga.webhookUrl')),
        h('dd', {}, hook.url ? h('code', { class: 'tgadm-url', 'data-testid': 'tg-webhook-url' }, hook.url) : t('tga.noWebhook')),
        h('dt', {}, t('tga.pending')),
        h('dd', { 'data-testid': 'tg-webhook-pending' }, String(hook.pending_update_count ?? 0)),
        h('dt', {}, t('tga.lastError')),
        h('dd', { 'data-testid': 'tg-webhook-error' }, hook.last_error_message
          ? [h('span', { class: 'tgadm-error-text' }, hook.last_error_message),
            hook.last_error_at ? [' · ', h('time', { datetime: hook.last_error_at, 'data-testid': 'tg-webhook-error-at' }, fullTime(hook.last_error_at))] : null]
          : t('tga.noError'))));
    }
    replace(webhookBox, parts);

    registerBox.hidden = false;
    // With long polling a webhook would stop getUpdates: the button stays, disabled, saying so.
    register.disabled = s.polling;
    registerNote.hidden = !s.polling;
    registerNote.textContent = s.polling ? t('tga.registerPolling') : '';
    if (s.polling) register.setAttribute('aria-describedby', registerNote.id);
    else register.removeAttribute('aria-describedby');
  }

  function renderLinked(s) {
    const ops = s.linked_operators ?? [];
    linkedBox.dataset.count = String(ops.length);
    if (!ops.length) {
      replace(linkedBox,
        h('p', {}, t('tga.noneLinked')),
        h('p', { class: 'muted small' }, t('tga.linkHint')));
      return;
    }
    replace(linkedBox,
      h('ul', { class: 'tgadm-list' }, ops.map((op) => h('li', { 'data-operator': op.id }, op.name))),
      h('p', { class: 'muted small' }, t('tga.linkHint')));
  }

  function renderProblems(s) {
    const problems = s.problems ?? [];
    problemsBox.hidden = problems.length === 0;
    replace(problemsBox,
      h('h2', { id: 'tga-problems-title' }, t('tga.problems')),
      h('ul', { class: 'tgadm-list' }, problems.map((p) => h('li', {}, h('code', {}, p)))));
  }

  // --------------------------------------------------------- register webhook

  register.addEventListener('click', async () => {
    register.disabled = true;
    register.textContent = t('tga.registering');
    registerResult.replaceChildren();
    try {
      const res = await api.post('/admin/telegram/webhook');
      if (disposed) return;
      showResult(true, t('tga.registered', { message: res?.message ?? '' }));
      await load();
    } catch (err) {
      if (disposed) return;
      const message = err.status === 404 ? t('tga.off') : t('tga.registerFailed', { message: err.message });
      showResult(false, message);
    } finally {
      if (!disposed) {
        register.textContent = t('tga.register');
        register.disabled = Boolean(settings?.polling);
      }
    }
  });

  function showResult(ok, message) {
    replace(registerResult, h('p', {
      class: ok ? 'tgadm-result tgadm-result-ok' : 'tgadm-result form-error',
      role: ok ? null : 'alert',
      'data-testid': 'tg-register-result',
      'data-state': ok ? 'ok' : 'error',
    }, message));
  }

  refresh.addEventListener('click', load);
  load();

  return { dispose() { disposed = true; } };
}
