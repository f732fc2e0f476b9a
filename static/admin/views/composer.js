// The reply box: messages or internal notes, `/shortcut` canned responses, typing frames
// (throttled; active:false when idle or on send), drafts kept per operator and conversation.
// Lengths are counted in Unicode characters (code points), as the server counts them.

import * as store from '../store.js';
import { h, replace, uid } from '../dom.js';
import { t, lang } from '../i18n.js';

const TYPING_REFRESH = 3000; // resend active:true at most this often while typing
const TYPING_IDLE = 4000; // active:false after this long without a keystroke
const MAX_CHARS = 2000;
const drafts = new Map(); // `<operator id>:<conversation id>` → {text, note}

/** Characters as the server counts them: code points, not UTF-16 units. */
const charCount = (text) => [...text].length;

export function createComposer(conversationId) {
  const listId = uid('canned');
  const hintId = uid('hint');
  const errorId = uid('composer-error');
  // Drafts belong to the operator who wrote them: another one signing in here never sees them.
  const draftKey = `${store.state.me?.id ?? 'anon'}:${conversationId}`;
  const textarea = h('textarea', {
    'data-testid': 'composer',
    id: uid('composer'),
    rows: '3',
    placeholder: t('composer.placeholder'),
    'aria-label': t('composer.label'),
    'aria-autocomplete': 'list',
    'aria-controls': listId,
    'aria-expanded': 'false',
    'aria-describedby': `${hintId} ${errorId}`,
    // Above the limit on purpose (a code point may take 2 UTF-16 units): a longer paste is
    // shown with the counter and refused with a message rather than cut silently.
    maxlength: String(MAX_CHARS * 4),
  });
  const noteToggle = h('input', { type: 'checkbox', 'data-testid': 'note-toggle', id: uid('note') });
  const send = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'send' }, t('composer.send'));
  const suggestions = h('ul', { class: 'canned', id: listId, role: 'listbox', 'data-testid': 'canned-suggestions', 'aria-label': t('composer.canned'), hidden: true });
  const banner = h('p', { class: 'composer-banner', hidden: true, role: 'note' });
  const counter = h('span', { class: 'counter', 'aria-live': 'polite' });
  const error = h('p', { class: 'composer-error', id: errorId, role: 'alert', 'data-testid': 'composer-error', hidden: true });
  const form = h('form', { class: 'composer', 'data-mode': 'message', 'aria-label': t('composer.label') },
    banner,
    suggestions,
    textarea,
    error,
    h('div', { class: 'composer-bar' },
      h('label', { class: 'note-toggle', for: noteToggle.id }, noteToggle, h('span', {}, t('composer.note'))),
      h('span', { class: 'composer-hint muted small', id: hintId }, t('composer.hint')),
      counter,
      send));

  let summary = null;
  let typingActive = false;
  let typingSentAt = 0;
  let idleTimer = null;

  // --------------------------------------------------------------- modes

  const draft = drafts.get(draftKey);
  if (draft) {
    textarea.value = draft.text;
    noteToggle.checked = draft.note;
  }

  function isNote() {
    return noteToggle.checked;
  }

  function update() {
    form.dataset.mode = isNote() ? 'note' : 'message';
    textarea.placeholder = isNote() ? t('composer.notePlaceholder') : t('composer.placeholder');
    send.textContent = isNote() ? t('composer.sendNote') : t('composer.send');
    const closed = summary?.status === 'closed';
    const me = store.state.me;
    const mayWrite = summary && (store.isSupervisor() || summary.assignee === me?.id);
    textarea.disabled = Boolean(closed);
    send.disabled = Boolean(closed);
    noteToggle.disabled = Boolean(closed);
    let message = '';
    if (closed) message = t('composer.closed');
    else if (summary && !mayWrite && !isNote()) message = t('composer.takeFirst');
    banner.textContent = message;
    banner.hidden = !message;
    const len = charCount(textarea.value.trim());
    counter.textContent = len > MAX_CHARS * 0.9 ? `${len}/${MAX_CHARS}` : '';
    counter.classList.toggle('over', len > MAX_CHARS);
    if (len <= MAX_CHARS) showError('');
  }

  /** The refusal, announced (role="alert") and tied to the textarea; '' hides it. */
  function showError(message) {
    if (!message && error.hidden) return;
    error.hidden = !message;
    // A new text node each time, so a repeated refusal is announced again.
    error.replaceChildren(message ? document.createTextNode(message) : '');
    if (message) textarea.setAttribute('aria-invalid', 'true');
    else textarea.removeAttribute('aria-invalid');
  }

  noteToggle.addEventListener('change', () => {
    if (isNote()) stopTyping();
    update();
    saveDraft();
    textarea.focus();
  });

  function saveDraft() {
    if (textarea.value || isNote()) drafts.set(draftKey, { text: textarea.value, note: isNote() });
    else drafts.delete(draftKey);
  }

  // -------------------------------------------------------------- typing

  function startTyping() {
    if (isNote() || !summary || summary.status === 'closed') return;
    const now = Date.now();
    if (!typingActive || now - typingSentAt > TYPING_REFRESH) {
      if (store.send({ type: 'typing', conversation_id: conversationId, active: true })) {
        typingActive = true;
        typingSentAt = now;
      }
    }
    clearTimeout(idleTimer);
    idleTimer = setTimeout(stopTyping, TYPING_IDLE);
  }

  function stopTyping() {
    clearTimeout(idleTimer);
    if (typingActive) {
      store.send({ type: 'typing', conversation_id: conversationId, active: false });
      typingActive = false;
    }
  }

  // ------------------------------------------------------- canned responses

  let matches = [];
  let active = 0;
  let token = null; // {start, end} of the `/shortcut` being typed

  function currentToken() {
    const caret = textarea.selectionStart;
    if (caret !== textarea.selectionEnd) return null;
    const before = textarea.value.slice(0, caret);
    const m = before.match(/(^|\s)\/([\p{L}\p{N}_-]*)$/u);
    if (!m) return null;
    return { start: caret - m[2].length - 1, end: caret, query: m[2].toLowerCase() };
  }

  async function refreshSuggestions() {
    token = currentToken();
    if (!token) return closeSuggestions();
    let canned;
    try {
      canned = await store.loadCanned();
    } catch {
      return closeSuggestions();
    }
    const fresh = currentToken();
    if (!fresh || fresh.start !== token.start) return closeSuggestions();
    token = fresh;
    const q = token.query;
    matches = canned
      .filter((c) => c.shortcut.toLowerCase().startsWith(q) || c.title.toLowerCase().startsWith(q))
      .sort((a, b) => (a.shortcut.toLowerCase() === q ? -1 : 0) - (b.shortcut.toLowerCase() === q ? -1 : 0)
        || (a.language === lang ? -1 : 0) - (b.language === lang ? -1 : 0)
        || a.shortcut.localeCompare(b.shortcut))
      .slice(0, 8);
    if (!matches.length) return closeSuggestions();
    active = Math.min(active, matches.length - 1);
    renderSuggestions();
  }

  function renderSuggestions() {
    replace(suggestions, matches.map((c, i) => {
      const li = h('li', {
        role: 'option',
        id: `${listId}-${i}`,
        class: `canned-item${i === active ? ' is-active' : ''}`,
        'aria-selected': i === active ? 'true' : 'false',
        'data-testid': 'canned-item',
        'data-shortcut': c.shortcut,
      },
      h('span', { class: 'canned-shortcut' }, `/${c.shortcut}`),
      h('span', { class: 'canned-title' }, c.title),
      c.language ? h('span', { class: 'canned-lang' }, c.language) : null,
      h('span', { class: 'canned-body' }, c.body));
      li.addEventListener('mousedown', (e) => e.preventDefault()); // keep the caret in the textarea
      li.addEventListener('click', () => choose(i));
      return li;
    }));
    suggestions.hidden = false;
    textarea.setAttribute('aria-expanded', 'true');
    textarea.setAttribute('aria-activedescendant', `${listId}-${active}`);
    suggestions.children[active]?.scrollIntoView({ block: 'nearest' });
  }

  function closeSuggestions() {
    matches = [];
    active = 0;
    suggestions.hidden = true;
    suggestions.replaceChildren();
    textarea.setAttribute('aria-expanded', 'false');
    textarea.removeAttribute('aria-activedescendant');
  }

  function choose(i) {
    const c = matches[i];
    const tok = currentToken() ?? token;
    if (!c || !tok) return;
    const value = textarea.value;
    textarea.value = value.slice(0, tok.start) + c.body + value.slice(tok.end);
    const caret = tok.start + c.body.length;
    textarea.setSelectionRange(caret, caret);
    closeSuggestions();
    textarea.focus();
    update();
    saveDraft();
  }

  // ----------------------------------------------------------------- events

  textarea.addEventListener('input', () => {
    update();
    saveDraft();
    if (textarea.value.trim()) startTyping();
    else stopTyping();
    refreshSuggestions();
  });
  textarea.addEventListener('click', refreshSuggestions);
  textarea.addEventListener('blur', () => setTimeout(() => {
    if (document.activeElement !== textarea) closeSuggestions();
  }, 150));

  textarea.addEventListener('keydown', (e) => {
    if (!suggestions.hidden && matches.length) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        active = (active + (e.key === 'ArrowDown' ? 1 : -1) + matches.length) % matches.length;
        renderSuggestions();
        return;
      }
      if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
        e.preventDefault();
        choose(active);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        closeSuggestions();
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });

  function submit() {
    const text = textarea.value.trim();
    if (!text || textarea.disabled) return;
    const len = charCount(text);
    if (len > MAX_CHARS) {
      counter.classList.add('over');
      showError(t('composer.tooLong', { count: len, max: MAX_CHARS }));
      return;
    }
    showError('');
    stopTyping();
    store.sendMessage(conversationId, isNote() ? 'note' : 'message', text);
    textarea.value = '';
    closeSuggestions();
    update();
    saveDraft();
    textarea.focus();
  }

  update();

  return {
    el: form,
    setSummary(s) {
      summary = s;
      update();
    },
    focus() { textarea.focus({ preventScroll: true }); },
    destroy() {
      stopTyping();
      saveDraft();
    },
  };
}
