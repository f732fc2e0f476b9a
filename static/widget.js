/*
 * Switchboard chat widget.
 *
 *   <script src="https://support.example/widget.js" data-group="sales" data-lang="en" async></script>
 *
 * Adds a launcher button and a chat window to the page. Everything it shows lives in a shadow
 * root, so the host page's styles cannot break it and its styles cannot leak out.
 *
 * Optional attributes: data-group (a group name), data-lang (en, ru; default: the browser's),
 * data-title (the window title), data-position (right, left), data-open ("true" opens it).
 *
 * Delivery: each message gets a client_id and waits in an outbox kept in localStorage until
 * the server acknowledges it. After a reconnect or a reload the widget says hello with the
 * last seq it has shown and sends the outbox again with the same client_ids, so a message is
 * never lost and never stored twice.
 */
(() => {
  'use strict';

  // One widget per page. currentScript is null in some loaders: then find the tag by its src.
  const script = document.currentScript || document.querySelector('script[src$="/widget.js"], script[src*="/widget.js?"]');
  if (!script || window.Switchboard) return;

  // ---------------------------------------------------------------------------------------
  // Strings: every text the visitor can see, per language.
  // ---------------------------------------------------------------------------------------
  const STRINGS = {
    en: {
      title: 'Support',
      open: 'Open chat with support',
      close: 'Close chat',
      intro: 'Hi! Ask us anything. We usually reply in a few minutes.',
      name: 'Your name (optional)',
      message: 'Message',
      placeholder: 'Type your message…',
      send: 'Send',
      you: 'You',
      sending: 'Sending…',
      sent: 'Sent',
      read: 'Read',
      failed: 'Not sent',
      retry: 'Retry',
      typing: (who) => `${who} is typing…`,
      queue: (n) => (n === 1 ? 'You are next in line.' : `You are number ${n} in line.`),
      wait: (mins) => (mins <= 1 ? 'Expected wait: under a minute.' : `Expected wait: about ${mins} min.`),
      pending: 'Waiting for an operator',
      active: 'You are chatting with support',
      resolved: 'This conversation was resolved',
      closed: 'This conversation is closed',
      connecting: 'Connecting…',
      connectionLost: 'Connection lost.',
      reconnecting: (s) => `Reconnecting in ${s} s…`,
      reconnectingNow: 'Reconnecting…',
      offline: 'You are offline. Messages will be sent when you are back online.',
      retryNow: 'Retry now',
      rateTitle: 'How did we do?',
      star: (n) => (n === 1 ? '1 star' : `${n} stars`),
      comment: 'Comment (optional)',
      rateSend: 'Send rating',
      rated: 'Thank you for your feedback!',
      newChat: 'Start a new conversation',
      unread: (n) => `${n} unread`,
      // System events, by the action the server reports; unknown ones keep the server's text.
      system: {
        assigned: 'An operator joined the conversation',
        transferred: 'You were transferred to another team',
        unassigned: 'Your conversation is waiting for the next operator',
        resolved: 'The conversation was resolved',
        reopened: 'The conversation was reopened',
        closed: 'The conversation was closed',
      },
      errors: {
        too_long: 'This message is too long.',
        rate_limited: 'You are sending messages too fast; retrying shortly.',
        conversation_closed: 'This conversation is closed. Start a new one to write to us.',
        unavailable: 'Our service is briefly unavailable; retrying.',
        network: 'Cannot reach support right now; retrying.',
        generic: 'Something went wrong. Please try again.',
        not_resolved: 'You can rate the conversation once it is resolved.',
      },
    },
    ru: {
      title: 'Поддержка',
      open: 'Открыть чат с поддержкой',
      close: 'Закрыть чат',
      intro: 'Здравствуйте! Задайте нам вопрос. Обычно мы отвечаем за несколько минут.',
      name: 'Ваше имя (необязательно)',
      message: 'Сообщение',
      placeholder: 'Введите сообщение…',
      send: 'Отправить',
      you: 'Вы',
      sending: 'Отправляется…',
      sent: 'Отправлено',
      read: 'Прочитано',
      failed: 'Не отправлено',
      retry: 'Повторить',
      typing: (who) => `${who} печатает…`,
      queue: (n) => (n === 1 ? 'Вы следующий в очереди.' : `Ваше место в очереди: ${n}.`),
      wait: (mins) => (mins <= 1 ? 'Ожидание: меньше минуты.' : `Ожидание: около ${mins} мин.`),
      pending: 'Ожидаем оператора',
      active: 'Вы в чате с поддержкой',
      resolved: 'Обращение решено',
      closed: 'Обращение закрыто',
      connecting: 'Подключение…',
      connectionLost: 'Связь потеряна.',
      reconnecting: (s) => `Переподключение через ${s} с…`,
      reconnectingNow: 'Переподключение…',
      offline: 'Нет сети. Сообщения отправятся, когда связь вернётся.',
      retryNow: 'Повторить сейчас',
      rateTitle: 'Оцените, пожалуйста, нашу работу',
      star: (n) => `${n} из 5`,
      comment: 'Комментарий (необязательно)',
      rateSend: 'Отправить оценку',
      rated: 'Спасибо за отзыв!',
      newChat: 'Начать новое обращение',
      unread: (n) => `Непрочитанных: ${n}`,
      system: {
        assigned: 'Оператор подключился к разговору',
        transferred: 'Вас перевели в другой отдел',
        unassigned: 'Ваше обращение ждёт следующего оператора',
        resolved: 'Обращение решено',
        reopened: 'Обращение снова открыто',
        closed: 'Обращение закрыто',
      },
      errors: {
        too_long: 'Сообщение слишком длинное.',
        rate_limited: 'Вы отправляете сообщения слишком часто; повторим чуть позже.',
        conversation_closed: 'Обращение закрыто. Начните новое, чтобы написать нам.',
        unavailable: 'Сервис ненадолго недоступен; повторяем.',
        network: 'Не удаётся связаться с поддержкой; повторяем.',
        generic: 'Что-то пошло не так. Попробуйте ещё раз.',
        not_resolved: 'Оценить можно после решения обращения.',
      },
    },
  };

  const MAX_TEXT_CHARS = 2000;
  const TYPING_REPEAT_MS = 3000;
  const TYPING_IDLE_MS = 4000;
  const REMOTE_TYPING_MS = 8000;
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const RETRY_SOON_MS = 1500;
  const ACK_TIMEOUT_MS = 10000;

  // ---------------------------------------------------------------------------------------
  // Settings from the script tag
  // ---------------------------------------------------------------------------------------
  const server = new URL(script.src, location.href);
  const origin = server.origin;
  const wsUrl = `${origin.replace(/^http/, 'ws')}/ws/visitor`;
  const lang = pickLanguage(script.dataset.lang);
  const t = STRINGS[lang];
  const settings = {
    group: script.dataset.group || null,
    title: script.dataset.title || t.title,
    side: script.dataset.position === 'left' ? 'left' : 'right',
    openAtStart: script.dataset.open === 'true',
  };

  function pickLanguage(wanted) {
    const candidates = [wanted, ...(navigator.languages || [navigator.language])];
    for (const tag of candidates) {
      const base = String(tag || '').toLowerCase().split('-')[0];
      if (STRINGS[base]) return base;
    }
    return 'en';
  }

  // ---------------------------------------------------------------------------------------
  // Stored state: the session, the outbox (messages not acknowledged yet, each with the token
  // of the chat it belongs to), how far the visitor has read, whether the window was open.
  // One key per support server. Several tabs of the site share it: every save merges with
  // what the other tabs saved, so none of them drops another's unsent messages.
  // ---------------------------------------------------------------------------------------
  const storageKey = `switchboard:${origin}`;
  const settled = new Set(); // client_ids acknowledged or refused for good in this tab
  const nonEmpty = (v) => (typeof v === 'string' && v ? v : null);
  const stored = load();

  function readStorage() {
    try {
      const raw = JSON.parse(localStorage.getItem(storageKey) || '{}');
      return raw && typeof raw === 'object' ? raw : {};
    } catch {
      return {};
    }
  }


  /** The outbox as saved: an object keyed by position (so a page's Array.prototype.toJSON,
   * as old Prototype.js defines, cannot mangle it), checked entry by entry. */
  function outboxFrom(raw) {
    const list = raw && typeof raw === 'object' ? Object.keys(raw).sort((a, b) => a - b).map((k) => raw[k]) : [];
    return list.filter((e) => e && nonEmpty(e.client_id) && nonEmpty(e.text)).map((e) => ({ client_id: e.client_id, text: e.text, token: nonEmpty(e.token) }));
  }

  function load() {
    const raw = readStorage();
    return {
      token: nonEmpty(raw.token),
      conversationId: nonEmpty(raw.conversationId),
      contactToken: nonEmpty(raw.contactToken),
      outbox: outboxFrom(raw.outbox),
      open: raw.open === true,
      rated: nonEmpty(raw.rated),
      readSeq: Number.isInteger(raw.readSeq) ? raw.readSeq : 0,
    };
  }

  function save() {
    // Another tab's unsent messages join ours (unless this tab saw them settled).
    const mine = new Set(stored.outbox.map((e) => e.client_id));
    for (const e of outboxFrom(readStorage().outbox)) {
      const ours = e.token === null || e.token === stored.token;
      if (ours && !mine.has(e.client_id) && !settled.has(e.client_id)) stored.outbox.push(e);
    }
    const outbox = {};
    stored.outbox.forEach((e, i) => (outbox[i] = { client_id: e.client_id, text: e.text, token: e.token }));
    try {
      localStorage.setItem(storageKey, JSON.stringify({ ...stored, outbox }));
    } catch {
      // Storage full or disabled: the chat still works for this page view.
    }
  }

  function newClientId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return `w-${Date.now().toString(36)}-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  }

  // ---------------------------------------------------------------------------------------
  // The view
  // ---------------------------------------------------------------------------------------
  const host = document.createElement('div');
  host.id = 'switchboard-widget';
  const root = host.attachShadow({ mode: 'open' });
  // A constructed stylesheet is not subject to the host page's style-src CSP; <style> is the
  // fallback for browsers without adoptedStyleSheets.
  let styleTag = '';
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css());
    root.adoptedStyleSheets = [sheet];
  } catch {
    styleTag = `<style>${css()}</style>`;
  }
  root.innerHTML = `${styleTag}
    <div class="sb" data-side="${settings.side}">
      <button class="launcher" type="button" aria-expanded="false" aria-controls="sb-window" data-testid="launcher">
        <svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true"><path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>
        <span class="badge" data-testid="unread" hidden></span>
      </button>
      <section class="window" id="sb-window" role="dialog" aria-modal="false" hidden data-testid="window">
        <header>
          <div class="heading">
            <h2 class="title"></h2>
            <p class="subtitle" data-testid="status"></p>
          </div>
          <button class="close" type="button" data-testid="close">
            <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true"><path fill="currentColor" d="M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z"/></svg>
          </button>
        </header>
        <div class="banner connection" data-testid="connection" hidden>
          <span class="text" role="status"></span> <span class="countdown" aria-hidden="true"></span>
          <button type="button" class="link retry-now"></button>
        </div>
        <div class="banner queue" role="status" data-testid="queue" hidden></div>
        <div class="log" role="log" aria-live="polite" tabindex="0" data-testid="log">
          <p class="intro"></p>
        </div>
        <p class="typing" data-testid="typing" aria-live="polite" hidden></p>
        <p class="error" role="alert" data-testid="error" hidden></p>
        <form class="rating" data-testid="rating" hidden>
          <fieldset>
            <legend class="rate-title"></legend>
            <div class="stars"></div>
          </fieldset>
          <label class="visually-hidden" for="sb-comment"></label>
          <textarea id="sb-comment" class="comment" rows="2" maxlength="1000"></textarea>
          <button type="submit" class="primary rate-send" disabled></button>
        </form>
        <p class="rated" role="status" data-testid="rated" hidden></p>
        <div class="ended" data-testid="ended" hidden>
          <button type="button" class="secondary new-chat" data-testid="new-chat"></button>
        </div>
        <form class="composer" data-testid="composer">
          <div class="name-row">
            <label class="visually-hidden" for="sb-name"></label>
            <input id="sb-name" class="name" type="text" maxlength="100" autocomplete="name" data-testid="name">
          </div>
          <div class="input-row">
            <label class="visually-hidden" for="sb-input"></label>
            <textarea id="sb-input" class="input" rows="1" data-testid="input"></textarea>
            <button type="submit" class="send" data-testid="send">
              <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true"><path fill="currentColor" d="M3 20.5v-7l9-1.5-9-1.5v-7L22 12z"/></svg>
            </button>
          </div>
        </form>
      </section>
    </div>`;

  const $ = (selector) => root.querySelector(selector);
  const ui = {
    launcher: $('.launcher'),
    badge: $('.badge'),
    window: $('.window'),
    title: $('.title'),
    status: $('.subtitle'),
    close: $('.close'),
    connection: $('.connection'),
    connectionText: $('.connection .text'),
    countdown: $('.connection .countdown'),
    retryNow: $('.retry-now'),
    queue: $('.queue'),
    log: $('.log'),
    intro: $('.intro'),
    typing: $('.typing'),
    error: $('.error'),
    rating: $('.rating'),
    stars: $('.stars'),
    comment: $('.comment'),
    rateSend: $('.rate-send'),
    rated: $('.rated'),
    ended: $('.ended'),
    newChat: $('.new-chat'),
    composer: $('.composer'),
    nameRow: $('.name-row'),
    name: $('#sb-name'),
    input: $('#sb-input'),
    send: $('.send'),
  };

  ui.title.textContent = settings.title;
  ui.window.setAttribute('aria-label', settings.title);
  ui.launcher.setAttribute('aria-label', t.open);
  ui.close.setAttribute('aria-label', t.close);
  ui.retryNow.textContent = t.retryNow;
  ui.intro.textContent = t.intro;
  root.querySelector('label[for="sb-name"]').textContent = t.name;
  ui.name.placeholder = t.name;
  root.querySelector('label[for="sb-input"]').textContent = t.message;
  ui.input.placeholder = t.placeholder;
  ui.send.setAttribute('aria-label', t.send);
  root.querySelector('.rate-title').textContent = t.rateTitle;
  root.querySelector('label[for="sb-comment"]').textContent = t.comment;
  ui.comment.placeholder = t.comment;
  ui.rateSend.textContent = t.rateSend;
  ui.rated.textContent = t.rated;
  ui.newChat.textContent = t.newChat;
  for (let score = 1; score <= 5; score++) {
    const label = document.createElement('label');
    label.className = 'star';
    const radio = document.createElement('input');
    radio.type = 'radio';
    radio.name = 'score';
    radio.value = String(score);
    radio.setAttribute('aria-label', t.star(score));
    radio.dataset.testid = `star-${score}`;
    const glyph = document.createElement('span');
    glyph.setAttribute('aria-hidden', 'true');
    glyph.textContent = '★';
    label.append(radio, glyph);
    ui.stars.append(label);
  }

  // ---------------------------------------------------------------------------------------
  // Conversation state
  // ---------------------------------------------------------------------------------------
  const shown = new Map(); // seq -> element, for every event on screen
  const pending = new Map(); // client_id -> element of a message not acknowledged yet
  let lastSeq = 0;
  let status = null;
  let socket = null;
  let welcomed = false;
  let attempts = 0;
  let reconnectTimer = null;
  let countdownTimer = null;
  let creating = null;
  let unread = 0;
  let typingSentAt = 0;
  let typingIdleTimer = null;
  let remoteTypingTimer = null;
  let operatorReadSeq = 0;
  let supportName = null;

  // ---------------------------------------------------------------------------------------
  // Rendering
  // ---------------------------------------------------------------------------------------
  const timeFormat = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' });

  function messageElement({ mine, author, name, text, at }) {
    const item = document.createElement('div');
    item.className = `msg ${mine ? 'mine' : author === 'system' ? 'system' : 'theirs'}`;
    item.dataset.testid = 'message';
    item.dataset.author = mine ? 'visitor' : author;
    if (author !== 'system') {
      const who = document.createElement('span');
      who.className = 'who';
      who.textContent = mine ? t.you : name;
      item.append(who);
    }
    const body = document.createElement('p');
    body.className = 'text';
    body.textContent = text;
    item.append(body);
    if (author !== 'system') {
      const meta = document.createElement('span');
      meta.className = 'meta';
      const time = document.createElement('time');
      if (at) {
        time.dateTime = at;
        time.textContent = timeFormat.format(new Date(at));
      }
      const state = document.createElement('span');
      state.className = 'state';
      meta.append(time, state);
      item.append(meta);
    }
    return item;
  }

  function setMessageState(item, state) {
    item.dataset.state = state;
    const label = item.querySelector('.state');
    if (!label) return;
    label.textContent = { sending: t.sending, sent: `✓ ${t.sent}`, read: `✓✓ ${t.read}`, failed: t.failed }[state] || '';
  }

  function append(item) {
    const nearBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 80;
    // Events are kept in seq order; messages still being sent stay below them.
    const firstPending = item.dataset.seq ? ui.log.querySelector('.msg[data-state="sending"], .msg[data-state="failed"]') : null;
    ui.log.insertBefore(item, firstPending);
    if (nearBottom || item.classList.contains('mine')) ui.log.scrollTop = ui.log.scrollHeight;
  }

  function showEvent(ev) {
    if (shown.has(ev.seq)) return;
    const mine = ev.author === 'visitor';
    const text = (ev.kind === 'system' && t.system[ev.action]) || ev.text;
    const item = messageElement({ mine, author: ev.author, name: ev.name, text, at: ev.at });
    item.dataset.seq = String(ev.seq);
    item.dataset.kind = ev.kind;
    if (mine) setMessageState(item, ev.seq <= operatorReadSeq ? 'read' : 'sent');
    shown.set(ev.seq, item);
    append(item);
    if (ev.author === 'operator') {
      showRemoteTyping(false);
      // Replayed history the visitor has already read does not count again.
      if (!isOpen() && ev.seq > stored.readSeq) setUnread(unread + 1);
    }
  }

  function showPending(entry) {
    const item = messageElement({ mine: true, author: 'visitor', text: entry.text, at: null });
    item.dataset.clientId = entry.client_id;
    setMessageState(item, 'sending');
    pending.set(entry.client_id, item);
    append(item);
    return item;
  }

  function setStatus(next) {
    status = next;
    ui.status.textContent = next ? t[next] || '' : '';
    host.dataset.status = next || '';
    if (next !== 'pending') ui.queue.hidden = true;
    const ended = next === 'resolved' || next === 'closed';
    const rated = stored.rated && stored.rated === stored.conversationId;
    ui.rating.hidden = !ended || Boolean(rated);
    ui.rated.hidden = !ended || !rated;
    ui.ended.hidden = next !== 'closed';
    ui.composer.hidden = next === 'closed';
    ui.nameRow.hidden = Boolean(stored.token);
  }

  function showQueue(frame) {
    if (status && status !== 'pending') return;
    let text = t.queue(frame.position);
    if (typeof frame.estimated_wait_secs === 'number') {
      text += ` ${t.wait(Math.ceil(frame.estimated_wait_secs / 60))}`;
    }
    ui.queue.textContent = text;
    ui.queue.hidden = false;
  }

  function showRemoteTyping(active) {
    clearTimeout(remoteTypingTimer);
    ui.typing.textContent = t.typing(lastOperatorName());
    ui.typing.hidden = !active;
    // A lost "stopped typing" frame must not leave the indicator on forever.
    if (active) remoteTypingTimer = setTimeout(() => (ui.typing.hidden = true), REMOTE_TYPING_MS);
  }

  function lastOperatorName() {
    const names = ui.log.querySelectorAll('.msg.theirs .who');
    return names.length ? names[names.length - 1].textContent : supportName || t.title;
  }

  function showError(text) {
    ui.error.textContent = text || '';
    ui.error.hidden = !text;
  }

  /** The banner: `text` is announced to screen readers; the ticking `countdown` is not. */
  function showConnection(text, withButton, countdown) {
    if (ui.connectionText.textContent !== (text || '')) ui.connectionText.textContent = text || '';
    ui.countdown.textContent = countdown || '';
    ui.retryNow.hidden = !withButton;
    ui.connection.hidden = !text;
  }

  function markRead(upTo) {
    operatorReadSeq = Math.max(operatorReadSeq, upTo);
    for (const [seq, item] of shown) {
      if (seq <= operatorReadSeq && item.classList.contains('mine')) setMessageState(item, 'read');
    }
  }

  function setUnread(n) {
    unread = n;
    ui.badge.textContent = n > 9 ? '9+' : String(n);
    ui.badge.hidden = n === 0;
    ui.launcher.setAttribute('aria-label', n ? `${t.open} (${t.unread(n)})` : t.open);
  }

  // ---------------------------------------------------------------------------------------
  // Opening and closing
  // ---------------------------------------------------------------------------------------
  function isOpen() {
    return !ui.window.hidden;
  }

  /** `focus`: the visitor opened it, so the keyboard goes to the chat; not on a page load. */
  function open(focus = true) {
    ui.window.hidden = false;
    ui.launcher.setAttribute('aria-expanded', 'true');
    host.dataset.open = 'true';
    stored.open = true;
    save();
    setUnread(0);
    ui.log.scrollTop = ui.log.scrollHeight;
    if (focus) (ui.nameRow.hidden ? ui.input : ui.name).focus();
    sendRead();
  }

  function close(focus = true) {
    ui.window.hidden = true;
    ui.launcher.setAttribute('aria-expanded', 'false');
    host.dataset.open = 'false';
    stored.open = false;
    save();
    if (focus) ui.launcher.focus();
  }

  // ---------------------------------------------------------------------------------------
  // The connection
  // ---------------------------------------------------------------------------------------
  function frame(data) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(data));
      return true;
    }
    return false;
  }

  function connect() {
    clearTimeout(reconnectTimer);
    clearInterval(countdownTimer);
    if (!stored.token || socket) return;
    if (navigator.onLine === false) {
      showConnection(t.offline, false);
      return;
    }
    if (attempts > 0) showConnection(t.connectionLost, false, t.reconnectingNow);
    welcomed = false;
    const ws = new WebSocket(wsUrl);
    socket = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: 'hello', token: stored.token, last_seq: lastSeq }));
    };
    ws.onmessage = (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      receive(data);
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      welcomed = false;
      inFlight = null;
      clearTimeout(ackTimer);
      showRemoteTyping(false);
      scheduleReconnect(event.code === 1012);
    };
  }

  function scheduleReconnect(serverRestart) {
    if (!stored.token) return;
    attempts += 1;
    // Exponential backoff with jitter, so a restarted server is not hit by every widget at once.
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempts - 1, 10));
    const delay = Math.round(cap / 2 + Math.random() * (cap / 2)) + (serverRestart ? 250 : 0);
    let left = Math.ceil(delay / 1000);
    showConnection(t.connectionLost, true, t.reconnecting(left));
    countdownTimer = setInterval(() => {
      left = Math.max(0, left - 1);
      showConnection(t.connectionLost, true, t.reconnecting(left));
    }, 1000);
    reconnectTimer = setTimeout(connect, delay);
  }

  function receive(data) {
    switch (data.type) {
      case 'welcome':
        welcomed = true;
        attempts = 0;
        clearInterval(countdownTimer);
        showConnection(null);
        stored.conversationId = data.conversation_id;
        supportName = data.support_name || supportName;
        save();
        setStatus(data.status);
        // Unsent messages shown since the page loaded (or typed in another tab) go now.
        for (const entry of sendable()) if (!pending.has(entry.client_id)) showPending(entry);
        pump();
        sendRead();
        break;
      case 'ack':
        acknowledged(data);
        break;
      case 'event':
        lastSeq = Math.max(lastSeq, data.seq);
        if (shown.has(data.seq)) {
          setMessageState(shown.get(data.seq), data.seq <= operatorReadSeq ? 'read' : 'sent');
        } else {
          showEvent(data);
        }
        sendRead();
        break;
      case 'typing':
        if (data.author === 'operator') showRemoteTyping(Boolean(data.active));
        break;
      case 'queue':
        showQueue(data);
        break;
      case 'status':
        setStatus(data.status);
        break;
      case 'read':
        if (data.author === 'operator') markRead(data.seq);
        break;
      case 'rated':
        stored.rated = stored.conversationId;
        save();
        setStatus(status);
        break;
      case 'error':
        failed(data);
        break;
      default:
        break;
    }
  }

  function acknowledged(ack) {
    const item = pending.get(ack.client_id);
    pending.delete(ack.client_id);
    settle(ack.client_id);
    release(ack.client_id);
    if (!item) return;
    if (shown.has(ack.seq)) {
      // The replayed history already holds this message (an ack lost before a reload).
      item.remove();
      return;
    }
    item.dataset.seq = String(ack.seq);
    delete item.dataset.clientId;
    const time = item.querySelector('time');
    time.dateTime = ack.at;
    time.textContent = timeFormat.format(new Date(ack.at));
    setMessageState(item, ack.seq <= operatorReadSeq ? 'read' : 'sent');
    shown.set(ack.seq, item);
    // Keep seq order: above any message still being sent (it usually is already).
    const firstWaiting = ui.log.querySelector('.msg[data-state="sending"], .msg[data-state="failed"]');
    if (firstWaiting && item.compareDocumentPosition(firstWaiting) & Node.DOCUMENT_POSITION_PRECEDING) {
      ui.log.insertBefore(item, firstWaiting);
    }
  }

  function failed(error) {
    const t_err = t.errors;
    if (!welcomed && !error.client_id) {
      if (error.code === 'unauthorized') {
        // The hello was refused: the token expired or was revoked. Start a new chat, keeping
        // the unsent messages.
        forgetSession(true);
      } else if (socket) {
        // Anything else (storage briefly down) is worth another try on a fresh socket.
        socket.close();
      }
      return;
    }
    if (error.client_id) {
      if (error.code === 'rate_limited' || error.code === 'unavailable') {
        // Not stored: the same message goes again shortly, still ahead of the ones after it.
        showError(t_err[error.code]);
        release(error.client_id, RETRY_SOON_MS + Math.random() * 500, () => showError(null));
        return;
      }
      // Refused for good: keep the text on screen, marked, so the visitor can copy it.
      const item = pending.get(error.client_id);
      pending.delete(error.client_id);
      settle(error.client_id);
      if (item) setMessageState(item, 'failed');
      if (error.code === 'conversation_closed') setStatus('closed');
      showError(t_err[error.code] || error.message || t_err.generic);
      release(error.client_id);
      return;
    }
    if (error.code === 'not_resolved') showError(t_err.not_resolved);
    else if (error.code !== 'invalid_frame') showError(t_err[error.code] || t_err.generic);
  }

  // ---------------------------------------------------------------------------------------
  // Sending: one message in flight at a time, in the order typed. The next goes when the
  // previous is acknowledged, so a burst typed offline is stored in order even when the rate
  // limit refuses part of it. Without an ack in ACK_TIMEOUT_MS the same message goes again
  // (the server stores it once).
  // ---------------------------------------------------------------------------------------
  let inFlight = null;
  let ackTimer = null;

  function settle(clientId) {
    settled.add(clientId);
    const before = stored.outbox.length;
    stored.outbox = stored.outbox.filter((entry) => entry.client_id !== clientId);
    if (stored.outbox.length !== before) save();
  }

  /** The messages of this chat still to send, oldest first (others belong to another tab's chat). */
  function sendable() {
    return stored.outbox.filter((e) => e.token === stored.token && !settled.has(e.client_id));
  }

  function pump() {
    if (!welcomed || inFlight) return;
    const next = sendable()[0];
    if (!next) return;
    if (!pending.has(next.client_id)) showPending(next);
    inFlight = next.client_id;
    frame({ type: 'message', client_id: next.client_id, text: next.text });
    clearTimeout(ackTimer);
    ackTimer = setTimeout(() => release(next.client_id), ACK_TIMEOUT_MS);
  }

  /** `clientId` stops holding the queue: the next message (or it again) goes, after `delay`. */
  function release(clientId, delay = 0, then = () => {}) {
    if (inFlight !== clientId) return;
    clearTimeout(ackTimer);
    const go = () => {
      then();
      inFlight = null;
      pump();
    };
    if (delay) ackTimer = setTimeout(go, delay);
    else go();
  }

  async function submitMessage() {
    const text = ui.input.value.trim();
    if (!text) return;
    if ([...text].length > MAX_TEXT_CHARS) {
      showError(t.errors.too_long);
      return;
    }
    showError(null);
    const entry = { client_id: newClientId(), text, token: stored.token };
    // Into the outbox first: from here on a reload or a lost connection cannot lose it.
    stored.outbox.push(entry);
    save();
    ui.input.value = '';
    autosize();
    stopTyping();
    showPending(entry);
    if (!stored.token) {
      await startSession();
      return;
    }
    if (welcomed) pump();
    else if (!socket) connect();
  }

  /** Tabs of the site take turns at starting a chat (Web Locks), so two never start two. */
  function withSessionLock(fn) {
    if (navigator.locks && typeof navigator.locks.request === 'function') {
      return navigator.locks.request(`${storageKey}:session`, fn);
    }
    return fn();
  }

  /** Joins the chat another tab of the site has started, if there is one. */
  function adoptSession() {
    if (stored.token) return;
    const other = load();
    if (!other.token) return;
    stored.token = other.token;
    stored.conversationId = other.conversationId;
    for (const entry of stored.outbox) if (!entry.token) entry.token = other.token;
    save();
  }

  async function startSession() {
    if (creating) return creating;
    const name = ui.name.value.trim();
    creating = withSessionLock(async () => {
      adoptSession();
      for (let attempt = 0; !stored.token; attempt++) {
        try {
          const body = { language: lang };
          if (name) body.name = name;
          if (settings.group) body.group = settings.group;
          if (stored.contactToken) body.contact_token = stored.contactToken;
          const res = await fetch(`${origin}/api/v1/widget/sessions`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(body),
            credentials: 'omit',
          });
          if (stored.token) break; // another tab of the site started the chat meanwhile
          if (res.status === 201) {
            const session = await res.json();
            stored.token = session.token;
            for (const entry of stored.outbox) if (!entry.token) entry.token = session.token;
            stored.conversationId = session.conversation_id;
            stored.rated = null;
            save();
            showError(null);
            setStatus(session.status);
            break;
          }
          const problem = await res.json().catch(() => ({}));
          const field = problem.error && problem.error.field;
          if (res.status === 422 && field === 'contact_token') {
            // The earlier conversation's token is no longer valid: start as a new customer.
            stored.contactToken = null;
            continue;
          }
          if (res.status === 422 && field === 'group') {
            // A group the server does not know (a typo in data-group): the customer still
            // reaches support, through the default group.
            console.warn(`Switchboard widget: unknown group "${settings.group}"; using the default group`);
            settings.group = null;
            continue;
          }
          const code = problem.error && problem.error.code;
          showError(t.errors[code] || (problem.error && problem.error.message) || t.errors.generic);
          if (res.status < 500 && res.status !== 429) {
            // Refused for good: the messages waiting for this chat cannot go.
            for (const entry of stored.outbox.filter((e) => !e.token)) {
              const item = pending.get(entry.client_id);
              pending.delete(entry.client_id);
              if (item) setMessageState(item, 'failed');
              settle(entry.client_id);
            }
            return;
          }
        } catch {
          showError(t.errors.network);
        }
        await new Promise((r) => setTimeout(r, Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt) * (0.5 + Math.random() / 2)));
      }
      ui.nameRow.hidden = true;
      connect();
    });
    try {
      await creating;
    } finally {
      creating = null;
    }
  }

  function forgetSession(keepOutbox) {
    const old = stored.token;
    if (old) stored.contactToken = old;
    stored.token = null;
    stored.conversationId = null;
    stored.rated = null;
    stored.readSeq = 0;
    inFlight = null;
    clearTimeout(ackTimer);
    for (const entry of stored.outbox) {
      // Unsent messages of an expired chat go to the next one; a new chat starts empty.
      if (keepOutbox && entry.token === old) entry.token = null;
      else if (!keepOutbox) settled.add(entry.client_id);
    }
    if (!keepOutbox) stored.outbox = [];
    save();
    if (socket) {
      const ws = socket;
      socket = null;
      ws.close();
    }
    welcomed = false;
    lastSeq = 0;
    operatorReadSeq = 0;
    shown.clear();
    for (const item of ui.log.querySelectorAll('.msg')) {
      if (!(keepOutbox && item.dataset.clientId)) item.remove();
    }
    showConnection(null);
    ui.queue.hidden = true;
    setStatus(null);
    if (keepOutbox && stored.outbox.length) startSession();
  }

  function sendRead() {
    if (!welcomed || !isOpen() || document.visibilityState === 'hidden' || lastSeq === 0) return;
    if (sendRead.last === lastSeq) return;
    sendRead.last = lastSeq;
    frame({ type: 'read', seq: lastSeq });
    if (lastSeq > stored.readSeq) {
      stored.readSeq = lastSeq;
      save();
    }
  }

  function typed() {
    autosize();
    if (!welcomed) return;
    if (!ui.input.value.trim()) {
      stopTyping();
      return;
    }
    const now = Date.now();
    if (now - typingSentAt > TYPING_REPEAT_MS) {
      typingSentAt = now;
      frame({ type: 'typing', active: true });
    }
    clearTimeout(typingIdleTimer);
    typingIdleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(typingIdleTimer);
    if (typingSentAt) {
      typingSentAt = 0;
      frame({ type: 'typing', active: false });
    }
  }

  function autosize() {
    ui.input.style.height = 'auto';
    ui.input.style.height = `${Math.min(ui.input.scrollHeight, 120)}px`;
  }

  // ---------------------------------------------------------------------------------------
  // Events
  // ---------------------------------------------------------------------------------------
  ui.launcher.addEventListener('click', () => (isOpen() ? close() : open()));
  ui.close.addEventListener('click', () => close());
  ui.window.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') close();
  });
  ui.retryNow.addEventListener('click', () => {
    attempts = 0;
    connect();
  });
  ui.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    submitMessage();
  });
  ui.input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submitMessage();
    }
  });
  ui.input.addEventListener('input', typed);
  ui.name.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      ui.input.focus();
    }
  });
  ui.stars.addEventListener('change', () => {
    ui.rateSend.disabled = false;
  });
  ui.rating.addEventListener('submit', (e) => {
    e.preventDefault();
    const chosen = ui.stars.querySelector('input:checked');
    if (!chosen) return;
    const rating = { type: 'rate', score: Number(chosen.value) };
    const comment = ui.comment.value.trim();
    if (comment) rating.comment = comment;
    if (!frame(rating)) showError(t.errors.network);
  });
  ui.newChat.addEventListener('click', () => {
    forgetSession(false);
    ui.input.focus();
  });
  document.addEventListener('visibilitychange', sendRead);
  // Another tab of the site started the chat: join it rather than start a second one.
  window.addEventListener('storage', (e) => {
    if (e.key !== storageKey || stored.token || creating) return;
    adoptSession();
    if (!stored.token) return;
    ui.nameRow.hidden = true;
    connect();
  });
  window.addEventListener('online', () => {
    attempts = 0;
    connect();
  });
  window.addEventListener('offline', () => showConnection(t.offline, false));

  // ---------------------------------------------------------------------------------------
  // Start
  // ---------------------------------------------------------------------------------------
  function mount() {
    document.body.append(host);
    setStatus(null);
    // Messages typed before a reload wait on screen until the server acknowledges them.
    for (const entry of sendable()) showPending(entry);
    if (stored.token) {
      showConnection(t.connecting, false);
      connect();
    } else if (stored.outbox.length) {
      startSession();
    }
    if (stored.open || settings.openAtStart) open(false);
  }

  window.Switchboard = { open: () => open(true), close: () => close(false) };
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);

  // ---------------------------------------------------------------------------------------
  // Styles (inside the shadow root only)
  // ---------------------------------------------------------------------------------------
  function css() {
    return `
      :host { all: initial; }
      .sb { --accent: #1d4ed8; --accent-ink: #fff; --ink: #111827; --muted: #4b5563; --line: #d1d5db;
        --bg: #fff; --soft: #f3f4f6; --mine: #1d4ed8; --mine-ink: #fff;
        font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
        color: var(--ink); position: fixed; bottom: 20px; z-index: 2147483000; }
      .sb[data-side="right"] { right: 20px; }
      .sb[data-side="left"] { left: 20px; }
      button { font: inherit; cursor: pointer; }
      :focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
      .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
      [hidden] { display: none !important; }
      .launcher { width: 60px; height: 60px; border-radius: 50%; border: 0; background: var(--accent);
        color: var(--accent-ink); box-shadow: 0 6px 20px rgba(0,0,0,.25); display: grid; place-items: center;
        position: relative; margin-left: auto; }
      .launcher:hover { background: #1e40af; }
      .badge { position: absolute; top: -4px; right: -4px; min-width: 22px; height: 22px; padding: 0 6px;
        border-radius: 11px; background: #b91c1c; color: #fff; font-size: 12px; font-weight: 700;
        line-height: 22px; box-sizing: border-box; }
      .window { position: absolute; bottom: 76px; width: 370px; height: min(600px, calc(100vh - 120px));
        background: var(--bg); border-radius: 14px; box-shadow: 0 12px 40px rgba(0,0,0,.25);
        display: flex; flex-direction: column; overflow: hidden; border: 1px solid var(--line); }
      .sb[data-side="right"] .window { right: 0; }
      .sb[data-side="left"] .window { left: 0; }
      header { background: var(--accent); color: var(--accent-ink); padding: 14px 12px 14px 18px;
        display: flex; align-items: center; gap: 8px; }
      .heading { flex: 1; min-width: 0; }
      .title { margin: 0; font-size: 17px; font-weight: 650; }
      .subtitle { margin: 2px 0 0; font-size: 13px; opacity: .95; min-height: 1em; }
      .close { border: 0; background: transparent; color: inherit; width: 36px; height: 36px;
        border-radius: 8px; display: grid; place-items: center; }
      .close:hover { background: rgba(255,255,255,.15); }
      .banner { padding: 8px 14px; font-size: 13px; border-bottom: 1px solid var(--line); }
      .connection { background: #fef3c7; color: #78350f; }
      .queue { background: #eff6ff; color: #1e3a8a; }
      .link { border: 0; background: none; color: inherit; text-decoration: underline; padding: 0; font-weight: 600; }
      .log { flex: 1; overflow-y: auto; padding: 14px; display: flex; flex-direction: column; gap: 8px;
        background: var(--soft); }
      .intro { margin: 0 0 4px; color: var(--muted); font-size: 14px; }
      .msg { max-width: 82%; display: flex; flex-direction: column; }
      .msg .who { font-size: 12px; color: var(--muted); margin: 0 4px 2px; }
      .msg .text { margin: 0; padding: 8px 12px; border-radius: 14px; white-space: pre-wrap;
        overflow-wrap: anywhere; }
      .msg .meta { font-size: 11px; color: var(--muted); margin: 2px 4px 0; display: flex; gap: 6px; }
      .theirs { align-self: flex-start; }
      .theirs .text { background: var(--bg); border: 1px solid var(--line); border-bottom-left-radius: 4px; }
      .mine { align-self: flex-end; align-items: flex-end; }
      .mine .text { background: var(--mine); color: var(--mine-ink); border-bottom-right-radius: 4px; }
      .mine[data-state="sending"] .text { opacity: .7; }
      .mine[data-state="failed"] .text { background: #fee2e2; color: #7f1d1d; }
      .mine[data-state="failed"] .state { color: #b91c1c; font-weight: 600; }
      .system { align-self: center; max-width: 95%; }
      .system .text { background: transparent; color: var(--muted); font-size: 13px; text-align: center; padding: 2px 8px; }
      .typing { margin: 0; padding: 4px 16px; font-size: 13px; color: var(--muted); font-style: italic; background: var(--soft); }
      .error { margin: 0; padding: 8px 14px; font-size: 13px; background: #fee2e2; color: #7f1d1d; }
      .rating { padding: 12px 14px; border-top: 1px solid var(--line); display: grid; gap: 8px; }
      .rating fieldset { border: 0; margin: 0; padding: 0; }
      .rating legend { font-weight: 600; margin-bottom: 4px; padding: 0; }
      .stars { display: flex; gap: 2px; }
      .star { position: relative; font-size: 28px; color: #9ca3af; cursor: pointer; line-height: 1; }
      .star input { position: absolute; opacity: 0; width: 100%; height: 100%; margin: 0; cursor: pointer; }
      .star:has(input:focus-visible) { outline: 3px solid #f59e0b; border-radius: 4px; }
      /* A star is lit when it or a star after it is chosen (or hovered). */
      .star:has(input:checked), .star:has(~ .star input:checked), .stars:hover .star { color: #b45309; }
      .stars:hover .star:hover ~ .star { color: #9ca3af; }
      .comment, .name, .input { font: inherit; color: var(--ink); border: 1px solid #9ca3af; border-radius: 10px;
        padding: 8px 10px; background: var(--bg); box-sizing: border-box; width: 100%; }
      .primary { background: var(--accent); color: var(--accent-ink); border: 0; border-radius: 10px; padding: 9px 14px; font-weight: 600; }
      .primary:disabled { background: #9ca3af; cursor: default; }
      .secondary { background: var(--bg); color: var(--accent); border: 1px solid var(--accent); border-radius: 10px; padding: 9px 14px; font-weight: 600; width: 100%; }
      .rated { margin: 0; padding: 12px 14px; border-top: 1px solid var(--line); color: #065f46; font-weight: 600; }
      .ended { padding: 10px 14px; border-top: 1px solid var(--line); }
      .composer { border-top: 1px solid var(--line); padding: 10px; display: grid; gap: 8px; background: var(--bg); }
      .input-row { display: flex; gap: 8px; align-items: flex-end; }
      .input { resize: none; min-height: 40px; max-height: 120px; }
      .send { flex: none; width: 42px; height: 42px; border-radius: 50%; border: 0; background: var(--accent);
        color: var(--accent-ink); display: grid; place-items: center; }
      .send:hover { background: #1e40af; }
      @media (max-width: 480px) {
        .sb { bottom: 12px; }
        .sb[data-side="right"] { right: 12px; }
        .sb[data-side="left"] { left: 12px; }
        .window { position: fixed; inset: 0; width: auto; height: auto; border-radius: 0; border: 0; }
      }
    `;
  }
})();
