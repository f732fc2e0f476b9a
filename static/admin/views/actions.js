// The chat header's actions. Only what the status and role allow is shown:
//   take, assign (supervisor), transfer, escalate, priority, resolve, reopen, close, tags,
//   and the category (its own control, kept across summary updates).

import * as api from '../api.js';
import * as store from '../store.js';
import { h, replace, onPick, uid } from '../dom.js';
import { t, tc } from '../i18n.js';
import { toast, toastError } from '../toast.js';
import { knownCategories } from './automation.js';

const PRIORITIES = ['low', 'medium', 'high', 'urgent'];

/** What the operator may do with this conversation now. */
export function permissions(c) {
  const me = store.state.me;
  const sup = store.isSupervisor();
  const mine = c.assignee === me?.id;
  const open = c.status === 'pending' || c.status === 'active';
  const mayAct = sup || mine;
  return {
    take: (c.status === 'pending' && !mine) || (c.status === 'active' && !mine && sup),
    assign: sup && open,
    transfer: open && mayAct,
    escalate: open && mayAct && (c.level ?? 0) < 2,
    priority: open && mayAct,
    resolve: open && mayAct,
    reopen: c.status === 'resolved' && mayAct,
    close: c.status !== 'closed' && mayAct,
    tags: c.status !== 'closed' && (sup || mine || c.status === 'pending'),
    category: c.status !== 'closed',
  };
}

/**
 * Renders the actions into `el` for summary `c`. Refreshed by the chat view whenever the
 * summary changes.
 */
export function renderActions(el, c, { onSummary }) {
  const can = permissions(c);
  const base = `/conversations/${c.id}`;

  async function run(control, request, okMessage) {
    control.disabled = true;
    try {
      const summary = await request();
      if (summary && summary.id) onSummary(summary);
      if (okMessage) toast(okMessage, 'info');
    } catch (err) {
      toastError(err);
    } finally {
      control.disabled = false;
    }
  }

  const button = (action, cls = 'btn-secondary') => {
    const b = h('button', { type: 'button', class: `btn ${cls} btn-small`, 'data-action': action }, t(`action.${action}`));
    b.addEventListener('click', () => {
      if (action === 'take' || action === 'reopen') store.noteOwnMove(c.id);
      run(b, () => api.post(`${base}/${action}`), null);
    });
    return b;
  };

  const primary = [];
  const secondary = [];

  if (can.take) primary.push(button('take', 'btn-primary'));
  if (can.reopen) primary.push(button('reopen', 'btn-primary'));
  if (can.resolve) primary.push(button('resolve', c.status === 'active' && !can.take ? 'btn-primary' : 'btn-secondary'));

  if (can.assign) secondary.push(assignSelect(c, base, run));
  if (can.transfer) secondary.push(transferSelect(c, base, run));

  const priority = h('select', {
    'data-testid': 'priority',
    class: `priority-select priority-${c.priority}`,
    'aria-label': t('action.priority'),
    title: t('action.priority'),
    disabled: !can.priority,
  }, PRIORITIES.map((p) => h('option', { value: p }, tc(`priority.${p}`))));
  priority.value = c.priority;
  onPick(priority, (value) => {
    run(priority, () => api.post(`${base}/priority`, { priority: value })).then(() => {
      priority.value = store.conv(c.id)?.priority ?? value;
    });
  }, { revert: () => { priority.value = store.conv(c.id)?.priority ?? c.priority; } });
  secondary.push(h('label', { class: 'inline-field' }, h('span', { class: 'sr-only' }, t('action.priority')), priority));

  if (can.escalate) secondary.push(button('escalate'));
  if (can.close) secondary.push(button('close', 'btn-danger-outline'));

  replace(el,
    h('div', { class: 'actions-row' }, primary, secondary),
    tagsEditor(c, base, can.tags, run));
}

function assignSelect(c, base, run) {
  const sel = h('select', { 'data-action': 'assign', 'aria-label': t('action.assign'), title: t('action.assign'), class: 'action-select' },
    h('option', { value: '' }, `${t('action.assign')}…`));
  store.loadOperators().then((ops) => {
    for (const op of ops) {
      if (op.deleted || op.id === c.assignee) continue;
      sel.append(h('option', { value: op.id }, op.name));
    }
  }).catch(() => {});
  onPick(sel, (id) => {
    if (!id) return;
    run(sel, () => api.post(`${base}/assign`, { operator_id: id }), t('action.assigned')).then(() => { sel.value = ''; });
  }, { revert: () => { sel.value = ''; } });
  return sel;
}

function transferSelect(c, base, run) {
  const sel = h('select', { 'data-action': 'transfer', 'aria-label': t('action.transfer'), title: t('action.transfer'), class: 'action-select' },
    h('option', { value: '' }, `${t('action.transfer')}…`));
  const kinds = new Map(); // option value → 'group' | 'operator'
  Promise.all([store.loadGroups().catch(() => []), store.loadOperators().catch(() => [])]).then(([groups, ops]) => {
    if (groups.length) {
      const g = h('optgroup', { label: t('action.toGroup') });
      for (const group of groups) {
        kinds.set(group.id, 'group');
        g.append(h('option', { value: group.id }, group.name));
      }
      sel.append(g);
    }
    const others = ops.filter((op) => !op.deleted && op.id !== c.assignee);
    if (others.length) {
      const g = h('optgroup', { label: t('action.toOperator') });
      for (const op of others) {
        kinds.set(op.id, 'operator');
        g.append(h('option', { value: op.id }, op.name));
      }
      sel.append(g);
    }
  });
  onPick(sel, (id) => {
    if (!id) return;
    const body = kinds.get(id) === 'operator' ? { operator_id: id } : { group_id: id };
    run(sel, () => api.post(`${base}/transfer`, body), t('action.transferred')).then(() => { sel.value = ''; });
  }, { revert: () => { sel.value = ''; } });
  return sel;
}

function tagsEditor(c, base, editable, run) {
  const wrap = h('div', { class: 'tags-editor', 'data-testid': 'tags', role: 'group', 'aria-label': t('tags.label') });
  const chips = (c.tags ?? []).map((name) => {
    const chip = h('span', { class: 'tag-chip', 'data-testid': 'tag', 'data-tag': name }, h('span', {}, name));
    if (editable) {
      const remove = h('button', { type: 'button', class: 'tag-remove', 'data-testid': 'tag-remove', 'aria-label': t('tags.remove', { name }), title: t('tags.remove', { name }) }, '×');
      remove.addEventListener('click', async () => {
        const tags = await store.loadTags().catch(() => []);
        const tag = tags.find((x) => x.name === name) ?? (await store.loadTags(true).catch(() => [])).find((x) => x.name === name);
        if (!tag) { toastError({ message: t('tags.unknown', { name }) }); return; }
        run(remove, () => api.del(`${base}/tags/${tag.id}`).then(() => api.get(base)));
      });
      chip.append(remove);
    }
    return chip;
  });
  wrap.append(h('span', { class: 'tags-title' }, `${t('tags.label')}:`), ...chips);
  if (!chips.length) wrap.append(h('span', { class: 'muted small' }, t('tags.none')));
  if (editable) {
    const add = h('select', { 'data-testid': 'tag-add', 'aria-label': t('tags.add'), title: t('tags.add'), class: 'tag-add' },
      h('option', { value: '' }, `+ ${t('tags.add')}`));
    store.loadTags().then((tags) => {
      for (const tag of tags) {
        if (!(c.tags ?? []).includes(tag.name)) add.append(h('option', { value: tag.id }, tag.name));
      }
      add.disabled = add.options.length <= 1;
    }).catch(() => {});
    onPick(add, (id) => {
      if (!id) return;
      run(add, () => api.post(`${base}/tags`, { tag_id: id }));
    }, { revert: () => { add.value = ''; } });
    wrap.append(add);
  }
  return wrap;
}

/** The "Other…" option: a colon is never part of a category. */
const OTHER = ':other';

/**
 * The conversation's category: a select of the known categories (the templates', see
 * automation.js), "None" to clear it and "Other…" for a new one typed in. Built once per chat
 * view and updated with each summary, so a category being typed survives live updates.
 * `POST /conversations/{id}/category` answers with the summary.
 */
export function createCategoryControl(id) {
  let current = null; // the summary's category
  let editable = false;
  let destroyed = false;
  const selectId = uid('category');

  const sel = h('select', { id: selectId, class: 'category-select', 'data-testid': 'category-select' });
  const input = h('input', {
    type: 'text', maxlength: '40', autocomplete: 'off', spellcheck: 'false',
    'data-testid': 'category-input', 'aria-label': t('category.custom'), placeholder: t('category.placeholder'),
  });
  const setBtn = h('button', { type: 'submit', class: 'btn btn-secondary btn-small', 'data-testid': 'category-set' }, t('category.set'));
  const cancelBtn = h('button', { type: 'button', class: 'btn btn-link btn-small' }, t('admin.cancel'));
  const other = h('form', { class: 'category-other', hidden: true, novalidate: true }, input, setBtn, cancelBtn);
  const error = h('p', { class: 'field-error', hidden: true, id: uid('err'), 'data-testid': 'category-error' });
  input.setAttribute('aria-describedby', error.id);
  const el = h('div', { class: 'category-field', 'data-testid': 'chat-category' },
    h('label', { for: selectId, class: 'muted' }, `${t('conv.category')}:`),
    sel, other, error);

  function showError(message) {
    error.textContent = message ?? '';
    error.hidden = !message;
    if (message) error.setAttribute('role', 'alert'); else error.removeAttribute('role');
    if (message && !other.hidden) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
  }

  async function fillOptions() {
    const known = await knownCategories().catch(() => []);
    if (destroyed) return;
    const values = new Set(known);
    if (current) values.add(current);
    // A choice being made (staged from the keyboard, or "Other…" open) stays chosen.
    const staged = sel.classList.contains('is-staged') || !other.hidden;
    const value = staged ? sel.value : current ?? '';
    replace(sel,
      h('option', { value: '' }, t('category.none')),
      [...values].sort().map((c) => h('option', { value: c }, c)),
      h('option', { value: OTHER }, t('category.other')));
    sel.value = value;
  }

  async function apply(category) {
    sel.disabled = true;
    setBtn.disabled = true;
    showError(null);
    try {
      const summary = await api.post(`/conversations/${id}/category`, { category });
      if (summary?.id) store.upsert(summary);
      other.hidden = true;
      fillOptions();
      toast(category ? t('category.saved', { category }) : t('category.cleared'), 'info');
      return true;
    } catch (err) {
      if (destroyed) return false;
      showError(err.message);
      if (other.hidden) sel.value = current ?? '';
      return false;
    } finally {
      if (!destroyed) {
        sel.disabled = !editable;
        setBtn.disabled = false;
      }
    }
  }

  onPick(sel, (value) => {
    if (value === OTHER) {
      other.hidden = false;
      input.value = '';
      showError(null);
      input.focus();
      return;
    }
    other.hidden = true;
    if ((value || null) === current) return;
    apply(value || null);
  }, { revert: () => { sel.value = other.hidden ? current ?? '' : OTHER; } });

  other.addEventListener('submit', async (e) => {
    e.preventDefault();
    // Typed as words: "Late refund" becomes late_refund; the server checks the rest.
    const category = input.value.trim().toLowerCase().replace(/\s+/g, '_');
    if (!category) { showError(t('admin.required', { field: t('conv.category') })); input.focus(); return; }
    if (await apply(category)) sel.focus();
  });
  cancelBtn.addEventListener('click', () => {
    other.hidden = true;
    showError(null);
    sel.value = current ?? '';
    sel.focus();
  });

  return {
    el,
    update(summary) {
      const next = summary.category ?? null;
      const changed = next !== current;
      current = next;
      editable = permissions(summary).category;
      sel.disabled = !editable;
      el.dataset.value = current ?? '';
      if (!editable) other.hidden = true;
      if (changed || !sel.options.length) fillOptions();
    },
    destroy() { destroyed = true; },
  };
}
