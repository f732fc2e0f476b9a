// The Automation page (`#/admin/automation`): the offline auto-reply templates, the escalation
// rules and each group's business hours. Admins change them; supervisors see them read-only
// (the API lets supervisors read and only admins write).
//   GET/POST /auto-replies, PUT/DELETE /auto-replies/{id}  (PUT takes the whole template)
//   GET/PUT  /settings/escalation                           (PUT takes every field)
//   GET/PUT/DELETE /groups/{id}/business-hours              (PUT takes the schedule itself)
// A 422 names the field at fault (`category`, `keywords`, `business_hours.days.mon`, …): its
// message is shown under that field. Also home of the categories the panel offers elsewhere
// (the list filter, the chat's category picker).

import * as api from '../api.js';
import * as store from '../store.js';
import { h, replace, uid } from '../dom.js';
import { t, lang } from '../i18n.js';
import { toast, toastError } from '../toast.js';

/** The reply languages every form offers; others are added by code. */
const BASE_LANGUAGES = ['en', 'ru', 'ur'];
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const LANGUAGE_CODE = /^[a-z]{2,3}$/;
export const CATEGORY = /^[a-z0-9_]{1,40}$/;
/** The categories a new installation's templates have (README "Offline auto-replies"). */
const SEEDED_CATEGORIES = ['order', 'payment', 'delivery', 'technical', 'general'];

// ------------------------------------------------------------------ categories

let categoriesPromise = null;

/** The page has just read the templates: no need to ask again. */
function rememberCategories(templates) {
  categoriesPromise = Promise.resolve(templates.map((tpl) => tpl.category));
}

/**
 * Categories worth offering: the templates' (supervisors and admins may read them; agents get
 * the seeded ones), plus any a conversation in the store carries. Sorted, unique.
 */
export async function knownCategories(force = false) {
  if (!categoriesPromise || force) {
    categoriesPromise = store.isSupervisor()
      ? api.get('/auto-replies').then((res) => (res.items ?? []).map((tpl) => tpl.category))
      : Promise.resolve(SEEDED_CATEGORIES);
    categoriesPromise.catch(() => { categoriesPromise = null; });
  }
  const fromTemplates = await categoriesPromise.catch(() => SEEDED_CATEGORIES);
  const seen = [...store.state.convs.values()].map((c) => c.category).filter(Boolean);
  return [...new Set([...fromTemplates, ...seen])].sort();
}

// ------------------------------------------------------------------ helpers

const splitList = (text) => text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);

function languageName(code) {
  try {
    const name = new Intl.DisplayNames([lang], { type: 'language' }).of(code);
    if (name && name !== code) return `${name.charAt(0).toLocaleUpperCase(lang)}${name.slice(1)} (${code})`;
  } catch { /* an engine without DisplayNames, or an odd code */ }
  return code;
}

function orderedLanguages(codes) {
  const rest = [...codes].filter((c) => !BASE_LANGUAGES.includes(c)).sort();
  return [...BASE_LANGUAGES.filter((c) => codes.has(c)), ...rest];
}

/**
 * Error slots of one form: each a message element under a field and the controls it marks.
 * `show(err)` puts a server error under the field it names (trying `days.mon[0]`, then
 * `days.mon`, then `days`), or in the form's own error line when no field matches.
 */
function errorSlots(formError) {
  const slots = new Map(); // key → {el, controls}
  let shown = [];

  function slot(key, controls) {
    const el = h('p', { class: 'field-error', id: uid('err'), hidden: true, 'data-testid': `error-${key}`, 'data-field': key });
    slots.set(key, { el, controls });
    for (const c of controls) c.setAttribute('aria-describedby', [c.getAttribute('aria-describedby'), el.id].filter(Boolean).join(' '));
    return el;
  }

  function drop(key) {
    slots.delete(key);
  }

  function clear() {
    for (const s of shown) {
      s.el.hidden = true;
      s.el.textContent = '';
      s.el.removeAttribute('role');
      for (const c of s.controls) c.removeAttribute('aria-invalid');
    }
    shown = [];
    formError.hidden = true;
    formError.textContent = '';
  }

  function resolve(field, message) {
    if (!field) return null;
    let f = String(field).replace(/^\./, '').replace(/^business_hours\./, '');
    // `keywords` with `"de" is not …`: the language the message names, when it has a block.
    const quoted = /"([^"]+)"/.exec(message ?? '')?.[1];
    if (quoted && slots.has(`${f}.${quoted}`)) return slots.get(`${f}.${quoted}`);
    while (f) {
      if (slots.has(f)) return slots.get(f);
      const cut = Math.max(f.lastIndexOf('.'), f.lastIndexOf('['));
      if (cut <= 0) break;
      f = f.slice(0, cut);
    }
    return null;
  }

  /** Shows `err` ({message, field}); returns whether it went under a field. */
  function show(err) {
    clear();
    const s = resolve(err.field, err.message);
    if (!s) {
      formError.textContent = err.message;
      formError.hidden = false;
      return false;
    }
    s.el.textContent = err.message;
    s.el.hidden = false;
    s.el.setAttribute('role', 'alert');
    for (const c of s.controls) c.setAttribute('aria-invalid', 'true');
    s.controls.find((c) => !c.disabled)?.focus();
    shown = [s];
    return true;
  }

  return { slot, drop, clear, show };
}

/** A labelled field with a hint and an error slot; `errors.slot(key, [control])`. */
function fieldBox(label, control, { hint, errors, key } = {}) {
  if (!control.id) control.id = uid('f');
  const hintEl = hint ? h('small', { class: 'hint', id: uid('hint') }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' },
    h('label', { for: control.id }, label),
    control,
    hintEl,
    errors && key ? errors.slot(key, [control]) : null);
}

// ------------------------------------------------------------------ the page

export function mountAutomation(el) {
  const canEdit = store.hasRole('admin');
  let disposed = false;

  const templates = templatesSection(canEdit, () => disposed);
  const escalation = escalationSection(canEdit, () => disposed);
  const hours = hoursSection(canEdit, () => disposed);

  replace(el, h('section', {
    class: 'page automation',
    'data-testid': 'admin-automation',
    'data-readonly': canEdit ? 'false' : 'true',
    'aria-labelledby': 'automation-title',
  },
  h('header', { class: 'page-head' },
    h('h1', { id: 'automation-title' }, t('nav.automation')),
    canEdit ? null : h('p', { class: 'muted small', 'data-testid': 'automation-readonly' }, t('auto.readonly'))),
  templates.el,
  escalation.el,
  hours.el));

  templates.load();
  escalation.load();
  hours.load();
  return { dispose() { disposed = true; } };
}

// ------------------------------------------------------------ auto-replies

function templatesSection(canEdit, gone) {
  let items = [];
  let editing = null; // the template in the form, or null for a new one
  let confirming = null; // id of the row asking "Delete …?"

  const tbody = h('tbody');
  const empty = h('p', { class: 'empty', hidden: true }, t('auto.none'));
  const loadError = h('p', { class: 'form-error', role: 'alert', hidden: true });

  // ------------------------------------------------------------ the form
  const formTitle = h('h3', { id: uid('ar-form-title') });
  const formError = h('p', { class: 'form-error', hidden: true, role: 'alert', 'data-testid': 'ar-form-error' });
  const errors = errorSlots(formError);

  const category = h('input', { type: 'text', name: 'category', maxlength: '40', autocomplete: 'off', spellcheck: 'false', 'data-testid': 'ar-category', placeholder: 'order' });
  const active = h('input', { type: 'checkbox', id: uid('ar-active'), 'data-testid': 'ar-active-input' });
  const fallback = h('input', { type: 'checkbox', id: uid('ar-fallback'), 'data-testid': 'ar-fallback' });

  /** code → {box, keywords, reply, extra} */
  const langs = new Map();
  const langsBox = h('div', { class: 'ar-langs' });
  const keywordsGroupError = h('div');
  const repliesGroupError = h('div');

  const newLang = h('input', { type: 'text', maxlength: '3', autocomplete: 'off', spellcheck: 'false', 'data-testid': 'ar-new-lang', placeholder: 'de', class: 'ar-new-lang' });
  const addLang = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'ar-add-lang' }, t('auto.addLanguage'));
  const newLangError = h('p', { class: 'field-error', hidden: true, id: uid('err'), 'data-testid': 'error-new-lang' });
  newLang.setAttribute('aria-describedby', newLangError.id);
  if (!newLang.id) newLang.id = uid('f');

  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'ar-submit' });
  const cancel = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'ar-cancel' }, canEdit ? t('admin.cancel') : t('auto.close'));
  const fieldset = h('fieldset', { class: 'plain-fieldset', disabled: !canEdit },
    fieldBox(t('auto.category'), category, { hint: t('auto.categoryHint'), errors, key: 'category' }),
    h('div', { class: 'field-group' },
      h('p', { class: 'field-group-title' }, t('auto.languages')),
      h('p', { class: 'muted small' }, t('auto.keywordsHint')),
      langsBox,
      keywordsGroupError,
      repliesGroupError,
      canEdit ? h('div', { class: 'field ar-add' },
        h('label', { for: newLang.id }, t('auto.languageCode')),
        h('div', { class: 'inline-row' }, newLang, addLang),
        h('small', { class: 'hint' }, t('auto.languageCodeHint')),
        newLangError) : null),
    h('div', { class: 'field field-check' }, active, h('label', { for: active.id }, t('auto.active')),
      h('small', { class: 'hint' }, t('auto.activeHint'))),
    h('div', { class: 'field field-check' }, fallback, h('label', { for: fallback.id }, t('auto.isFallback')),
      h('small', { class: 'hint' }, t('auto.fallbackHint'))));
  keywordsGroupError.append(errors.slot('keywords', []));
  repliesGroupError.append(errors.slot('replies', []));

  const form = h('form', { class: 'crud-form', novalidate: true, 'aria-labelledby': formTitle.id, 'data-testid': 'ar-form' },
    fieldset, formError,
    canEdit ? h('div', { class: 'form-actions' }, submit, cancel) : h('div', { class: 'form-actions' }, cancel));
  const formCard = h('div', { class: 'card form-card' }, formTitle, form);

  function addLanguage(code, keywords = [], reply = '') {
    if (langs.has(code)) return langs.get(code);
    const kw = h('input', { type: 'text', autocomplete: 'off', 'data-testid': `ar-keywords-${code}`, value: keywords.join(', ') });
    const rp = h('textarea', { rows: '3', maxlength: '2000', 'data-testid': `ar-reply-${code}`, value: reply });
    const extra = !BASE_LANGUAGES.includes(code);
    const remove = extra && canEdit
      ? h('button', { type: 'button', class: 'btn btn-link btn-small', 'data-testid': `ar-remove-${code}` }, t('auto.removeLanguage', { language: code }))
      : null;
    const box = h('fieldset', { class: 'ar-lang', 'data-lang': code },
      h('legend', {}, languageName(code)),
      fieldBox(t('auto.keywords'), kw, { errors, key: `keywords.${code}` }),
      fieldBox(t('auto.reply'), rp, { errors, key: `replies.${code}` }),
      remove);
    const entry = { box, keywords: kw, reply: rp, extra };
    remove?.addEventListener('click', () => {
      box.remove();
      langs.delete(code);
      errors.drop(`keywords.${code}`);
      errors.drop(`replies.${code}`);
      newLang.focus();
    });
    langs.set(code, entry);
    langsBox.append(box);
    return entry;
  }

  function setMode(tpl) {
    editing = tpl;
    errors.clear();
    newLangError.hidden = true;
    newLang.removeAttribute('aria-invalid');
    newLang.value = '';
    langs.clear();
    langsBox.replaceChildren();
    formTitle.textContent = tpl ? (canEdit ? t('auto.edit', { name: tpl.category }) : tpl.category) : t('auto.new');
    submit.textContent = tpl ? t('admin.save') : t('admin.create');
    cancel.hidden = !tpl;
    category.value = tpl?.category ?? '';
    active.checked = tpl ? Boolean(tpl.active) : true;
    fallback.checked = Boolean(tpl?.is_fallback);
    const keywords = tpl?.keywords ?? {};
    const replies = tpl?.replies ?? {};
    const codes = new Set([...BASE_LANGUAGES, ...Object.keys(keywords), ...Object.keys(replies)]);
    for (const code of orderedLanguages(codes)) addLanguage(code, keywords[code] ?? [], replies[code] ?? '');
    // Supervisors have nothing to create: the form shows only a template they chose to view.
    formCard.hidden = !canEdit && !tpl;
    form.dataset.mode = tpl ? 'edit' : 'new';
    if (tpl) form.dataset.id = tpl.id; else delete form.dataset.id;
  }

  addLang.addEventListener('click', () => {
    const code = newLang.value.trim().toLowerCase();
    if (!LANGUAGE_CODE.test(code)) {
      newLangError.textContent = t('auto.badLanguage');
      newLangError.hidden = false;
      newLangError.setAttribute('role', 'alert');
      newLang.setAttribute('aria-invalid', 'true');
      newLang.focus();
      return;
    }
    newLangError.hidden = true;
    newLang.removeAttribute('aria-invalid');
    newLang.value = '';
    const entry = addLanguage(code);
    entry.keywords.focus();
  });
  newLang.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); addLang.click(); }
  });

  /** The template as the API takes it (languages without keywords or a reply are left out). */
  function body() {
    const keywords = {};
    const replies = {};
    for (const [code, entry] of langs) {
      const words = splitList(entry.keywords.value);
      if (words.length) keywords[code] = words;
      const reply = entry.reply.value.trim();
      if (reply) replies[code] = reply;
    }
    return { category: category.value.trim(), keywords, replies, is_fallback: fallback.checked, active: active.checked };
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!canEdit) return;
    const b = body();
    if (!b.category) { errors.show({ field: 'category', message: t('admin.required', { field: t('auto.category') }) }); return; }
    if (!Object.keys(b.replies).length) { errors.show({ field: 'replies', message: t('auto.replyMissing') }); return; }
    submit.disabled = true;
    try {
      if (editing) await api.put(`/auto-replies/${editing.id}`, b);
      else await api.post('/auto-replies', b);
      if (gone()) return;
      toast(editing ? t('admin.saved') : t('admin.created'), 'info');
      setMode(null);
      await load();
    } catch (err) {
      if (gone()) return;
      errors.show(err);
    } finally {
      submit.disabled = false;
    }
  });
  cancel.addEventListener('click', () => setMode(null));

  // ------------------------------------------------------------ the table

  const languagesOf = (tpl) => orderedLanguages(new Set([...Object.keys(tpl.keywords ?? {}), ...Object.keys(tpl.replies ?? {})]));

  function row(tpl) {
    const name = tpl.category;
    const toggle = h('input', {
      type: 'checkbox',
      checked: tpl.active,
      disabled: !canEdit,
      'data-testid': 'ar-active',
      'aria-label': t('auto.activeNamed', { name }),
      title: t('auto.activeNamed', { name }),
    });
    toggle.addEventListener('change', async () => {
      toggle.disabled = true;
      const next = { category: tpl.category, keywords: tpl.keywords ?? {}, replies: tpl.replies ?? {}, is_fallback: tpl.is_fallback, active: toggle.checked };
      try {
        await api.put(`/auto-replies/${tpl.id}`, next);
        toast(t(toggle.checked ? 'auto.nowActive' : 'auto.nowInactive', { name }), 'info');
        await load();
      } catch (err) {
        toggle.checked = !toggle.checked;
        toggle.disabled = false;
        toastError(err);
      }
    });

    const buttons = [];
    if (confirming === tpl.id) {
      const yes = h('button', { type: 'button', class: 'btn btn-danger-outline btn-small', 'data-testid': 'ar-confirm-delete' }, t('auto.confirmYes'));
      const no = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'ar-cancel-delete' }, t('admin.cancel'));
      yes.addEventListener('click', async () => {
        yes.disabled = true;
        try {
          await api.del(`/auto-replies/${tpl.id}`);
          toast(t('admin.deleted', { name }), 'info');
          confirming = null;
          if (editing?.id === tpl.id) setMode(null);
          await load();
        } catch (err) {
          yes.disabled = false;
          toastError(err);
        }
      });
      no.addEventListener('click', () => { confirming = null; render(); focusRow(tpl.id, 'delete'); });
      buttons.push(h('span', { class: 'confirm-text', role: 'alert' }, t('auto.confirmDelete', { name })), yes, no);
    } else {
      const edit = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'edit', 'aria-label': t(canEdit ? 'admin.editNamed' : 'auto.viewNamed', { name }) }, canEdit ? t('admin.edit') : t('auto.view'));
      edit.addEventListener('click', () => {
        setMode(tpl);
        (canEdit ? category : cancel).focus();
      });
      buttons.push(edit);
      if (canEdit) {
        const del = h('button', { type: 'button', class: 'btn btn-danger-outline btn-small', 'data-testid': 'delete', 'aria-label': t('admin.deleteNamed', { name }) }, t('admin.delete'));
        del.addEventListener('click', () => { confirming = tpl.id; render(); focusRow(tpl.id, 'ar-confirm-delete'); });
        buttons.push(del);
      }
    }
    const english = tpl.replies?.en ?? Object.values(tpl.replies ?? {})[0] ?? '';
    return h('tr', { 'data-id': tpl.id, 'data-category': tpl.category },
      h('th', { scope: 'row' }, h('code', {}, tpl.category),
        tpl.is_fallback ? h('span', { class: 'pill pill-default', 'data-testid': 'ar-fallback-mark' }, t('auto.fallback')) : null),
      h('td', { 'data-testid': 'ar-languages' }, languagesOf(tpl).join(', ')),
      h('td', {}, h('span', { class: 'clamp', title: english }, english)),
      h('td', {}, toggle),
      h('td', { class: 'row-actions' }, h('div', { class: 'row-actions-inner' }, buttons)));
  }

  function focusRow(id, testid) {
    tbody.querySelector(`tr[data-id="${CSS.escape(id)}"] [data-testid="${testid}"]`)?.focus();
  }

  function render() {
    replace(tbody, items.map(row));
    empty.hidden = items.length > 0;
  }

  async function load() {
    try {
      const res = await api.get('/auto-replies');
      if (gone()) return;
      items = res.items ?? [];
      loadError.hidden = true;
      render();
      rememberCategories(items);
      // The template in the form may have changed meanwhile: keep showing the stored one.
      if (editing) {
        const fresh = items.find((x) => x.id === editing.id);
        if (!fresh) setMode(null); else editing = fresh;
      }
    } catch (err) {
      if (gone()) return;
      loadError.textContent = t('auto.loadFailed', { message: err.message });
      loadError.hidden = false;
    }
  }

  setMode(null);

  const el = h('section', { class: 'auto-section', 'aria-labelledby': 'ar-title', 'data-testid': 'auto-replies' },
    h('h2', { id: 'ar-title' }, t('auto.replies')),
    h('p', { class: 'muted small' }, t('auto.repliesIntro')),
    loadError,
    h('div', { class: 'admin-grid automation-grid' },
      h('div', { class: 'card table-card' },
        h('div', { class: 'table-wrap' },
          h('table', { class: 'table', 'data-testid': 'ar-table' },
            h('thead', {}, h('tr', {},
              h('th', { scope: 'col' }, t('auto.category')),
              h('th', { scope: 'col' }, t('auto.languages')),
              h('th', { scope: 'col' }, t('auto.reply')),
              h('th', { scope: 'col' }, t('auto.active')),
              h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, t('admin.actions'))))),
            tbody)),
        empty),
      formCard));
  return { el, load };
}

// -------------------------------------------------------------- escalation

function escalationSection(canEdit, gone) {
  const formError = h('p', { class: 'form-error', hidden: true, role: 'alert', 'data-testid': 'esc-form-error' });
  const errors = errorSlots(formError);
  const unanswered = h('input', { type: 'number', min: '0', max: '1000', step: '1', inputmode: 'numeric', 'data-testid': 'esc-unanswered' });
  const keywords = h('textarea', { rows: '3', 'data-testid': 'esc-keywords' });
  const firstUrgent = h('input', { type: 'number', min: '0', max: '10080', step: '1', inputmode: 'numeric', 'data-testid': 'esc-first-urgent' });
  const first = h('input', { type: 'number', min: '0', max: '10080', step: '1', inputmode: 'numeric', 'data-testid': 'esc-first' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'esc-save' }, t('esc.save'));
  const loadError = h('p', { class: 'form-error', role: 'alert', hidden: true });

  const fieldset = h('fieldset', { class: 'plain-fieldset esc-fields', disabled: true },
    fieldBox(t('esc.unanswered'), unanswered, { hint: t('esc.unansweredHint'), errors, key: 'unanswered_messages' }),
    fieldBox(t('esc.keywords'), keywords, { hint: t('esc.keywordsHint'), errors, key: 'keywords' }),
    fieldBox(t('esc.firstUrgent'), firstUrgent, { errors, key: 'first_response_minutes_urgent' }),
    fieldBox(t('esc.first'), first, { hint: t('esc.firstHint'), errors, key: 'first_response_minutes' }));
  const form = h('form', { class: 'card esc-form', novalidate: true, 'aria-labelledby': 'esc-title', 'data-testid': 'esc-form' },
    fieldset, formError, canEdit ? h('div', { class: 'form-actions' }, save) : null);

  /** A whole number from a number input, or the input's text as typed (the server says why not). */
  const number = (input) => {
    const raw = input.value.trim();
    return /^\d+$/.test(raw) ? Number(raw) : null;
  };

  function fill(rules) {
    unanswered.value = String(rules.unanswered_messages ?? 0);
    keywords.value = (rules.keywords ?? []).join(', ');
    firstUrgent.value = String(rules.first_response_minutes_urgent ?? 0);
    first.value = String(rules.first_response_minutes ?? 0);
  }

  async function load() {
    try {
      const rules = await api.get('/settings/escalation');
      if (gone()) return;
      fill(rules);
      fieldset.disabled = !canEdit;
      form.dataset.loaded = 'true';
      loadError.hidden = true;
    } catch (err) {
      if (gone()) return;
      loadError.textContent = t('auto.loadFailed', { message: err.message });
      loadError.hidden = false;
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!canEdit) return;
    const numbers = [[unanswered, 'unanswered_messages'], [firstUrgent, 'first_response_minutes_urgent'], [first, 'first_response_minutes']];
    for (const [input, key] of numbers) {
      if (number(input) === null) { errors.show({ field: key, message: t('esc.number') }); return; }
    }
    const body = {
      unanswered_messages: number(unanswered),
      keywords: splitList(keywords.value),
      first_response_minutes_urgent: number(firstUrgent),
      first_response_minutes: number(first),
    };
    save.disabled = true;
    errors.clear();
    try {
      const rules = await api.put('/settings/escalation', body);
      if (gone()) return;
      fill(rules);
      toast(t('esc.saved'), 'info');
    } catch (err) {
      if (!gone()) errors.show(err);
    } finally {
      save.disabled = false;
    }
  });

  const el = h('section', { class: 'auto-section', 'aria-labelledby': 'esc-title', 'data-testid': 'escalation-rules' },
    h('h2', { id: 'esc-title' }, t('esc.title')),
    h('p', { class: 'muted small' }, t('esc.intro')),
    loadError,
    form);
  return { el, load };
}

// ---------------------------------------------------------- business hours

/** "09:00–18:00, 19:00-21:00" → [["09:00","18:00"], ["19:00","21:00"]], or null if unreadable. */
function parseIntervals(text) {
  const out = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d{1,2}):(\d{2})\s*[-–—]\s*(\d{1,2}):(\d{2})$/.exec(part);
    if (!m) return null;
    out.push([`${m[1].padStart(2, '0')}:${m[2]}`, `${m[3].padStart(2, '0')}:${m[4]}`]);
  }
  return out;
}

const formatIntervals = (list) => (list ?? []).map(([from, to]) => `${from}–${to}`).join(', ');

function hoursSection(canEdit, gone) {
  const list = h('div', { class: 'hours-grid' });
  const loadError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const zones = h('datalist', { id: uid('time-zones') });
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

  async function load() {
    try {
      const groups = await store.loadGroups(true);
      const views = await Promise.all(groups.map((g) => api.get(`/groups/${g.id}/business-hours`)));
      if (gone()) return;
      loadError.hidden = true;
      if (!zones.childElementCount && typeof Intl.supportedValuesOf === 'function') {
        for (const zone of Intl.supportedValuesOf('timeZone')) zones.append(h('option', { value: zone }));
      }
      replace(list, groups.length
        ? groups.map((g, i) => groupCard(g, views[i]))
        : h('p', { class: 'muted' }, t('hours.none')));
    } catch (err) {
      if (gone()) return;
      loadError.textContent = t('auto.loadFailed', { message: err.message });
      loadError.hidden = false;
    }
  }

  function groupCard(group, view) {
    const titleId = uid('hours-title');
    const state = h('span', { class: 'hours-state', 'data-testid': 'hours-state' });
    const formError = h('p', { class: 'form-error', hidden: true, role: 'alert' });
    const errors = errorSlots(formError);
    const tz = h('input', { type: 'text', list: zones.id, autocomplete: 'off', spellcheck: 'false', 'data-testid': 'hours-tz' });
    const days = new Map(DAYS.map((d) => [d, h('input', { type: 'text', autocomplete: 'off', placeholder: t('hours.closed'), 'data-testid': `hours-${d}` })]));
    const save = h('button', { type: 'submit', class: 'btn btn-primary btn-small', 'data-testid': 'hours-save' }, t('hours.save'));
    const clear = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'hours-clear' }, t('hours.clear'));
    const daysHint = h('p', { class: 'muted small', id: uid('hint') }, t('hours.daysHint'));

    const dayRows = DAYS.map((d) => {
      const input = days.get(d);
      input.id = uid(`hours-${d}`);
      input.setAttribute('aria-describedby', daysHint.id);
      return h('div', { class: 'hours-day' },
        h('label', { for: input.id }, t(`day.${d}`)),
        h('div', {}, input, errors.slot(`days.${d}`, [input])));
    });
    const form = h('form', { novalidate: true, 'aria-labelledby': titleId },
      h('fieldset', { class: 'plain-fieldset', disabled: !canEdit },
        fieldBox(t('hours.timeZone'), tz, { hint: t('hours.timeZoneHint'), errors, key: 'time_zone' }),
        h('div', { class: 'hours-days', role: 'group', 'aria-label': t('hours.days') }, dayRows),
        daysHint,
        errors.slot('days', [])),
      formError,
      canEdit ? h('div', { class: 'form-actions' }, save, clear) : null);

    function show(v) {
      const bh = v.business_hours;
      state.dataset.state = bh ? (v.open_now ? 'open' : 'closed') : 'always';
      state.textContent = bh ? (v.open_now ? t('hours.openNow') : t('hours.closedNow')) : t('hours.always');
      // A new schedule starts in this browser's zone; a read-only view shows only what is set.
      tz.value = bh?.time_zone ?? (canEdit ? browserZone : '');
      for (const [d, input] of days) input.value = formatIntervals(bh?.days?.[d]);
      clear.hidden = !bh;
    }

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!canEdit) return;
      errors.clear();
      const body = { time_zone: tz.value.trim(), days: {} };
      for (const [d, input] of days) {
        const intervals = parseIntervals(input.value);
        if (!intervals) { errors.show({ field: `days.${d}`, message: t('hours.badInterval') }); return; }
        if (intervals.length) body.days[d] = intervals;
      }
      if (!body.time_zone) { errors.show({ field: 'time_zone', message: t('admin.required', { field: t('hours.timeZone') }) }); return; }
      if (!Object.keys(body.days).length) { errors.show({ field: 'days', message: t('hours.noDays') }); return; }
      save.disabled = true;
      try {
        const v = await api.put(`/groups/${group.id}/business-hours`, body);
        if (gone()) return;
        show(v);
        toast(t('hours.saved', { group: group.name }), 'info');
      } catch (err) {
        if (!gone()) errors.show(err);
      } finally {
        save.disabled = false;
      }
    });

    clear.addEventListener('click', async () => {
      clear.disabled = true;
      errors.clear();
      try {
        const v = await api.del(`/groups/${group.id}/business-hours`);
        if (gone()) return;
        // DELETE answers with the view (200); an empty 204 means the same.
        show(v ?? { business_hours: null, open_now: true });
        toast(t('hours.cleared', { group: group.name }), 'info');
        save.focus();
      } catch (err) {
        if (!gone()) errors.show(err);
      } finally {
        clear.disabled = false;
      }
    });

    show(view);
    return h('section', { class: 'card hours-card', 'data-testid': 'hours-group', 'data-group': group.id, 'aria-labelledby': titleId },
      h('header', { class: 'hours-head' },
        h('h3', { id: titleId }, group.name),
        state),
      form);
  }

  const el = h('section', { class: 'auto-section', 'aria-labelledby': 'hours-title', 'data-testid': 'business-hours' },
    h('h2', { id: 'hours-title' }, t('hours.title')),
    h('p', { class: 'muted small' }, t('hours.intro')),
    loadError,
    zones,
    list);
  return { el, load };
}
