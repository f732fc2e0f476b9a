// A list + create/edit/delete page, shared by the admin pages. Each page describes its
// columns and form fields; this module does the table, the form and the error display.

import { h, replace, uid } from '../dom.js';
import { t } from '../i18n.js';
import { toast, toastError } from '../toast.js';

/**
 * @param {HTMLElement} el
 * @param {object} cfg
 *   testid, title, newTitle, editTitle(item), load(), columns[{label, cell(item)}],
 *   fields[{name, label, type, options, required, mode, min, max, maxlength, pattern, hint,
 *           placeholder, value(item), default}],
 *   create(values), update(item, values), remove(item), canDelete(item), canEdit(item),
 *   rowActions(item, reload), formExtras(item) (nodes under the form while editing),
 *   itemName(item), toolbar (node), emptyText
 */
export function crudPage(el, cfg) {
  const key = cfg.key ?? ((item) => item.id);
  let items = [];
  let editing = null;
  let disposed = false;

  const tbody = h('tbody');
  const empty = h('p', { class: 'empty', hidden: true }, cfg.emptyText ?? t('admin.empty'));
  const formTitle = h('h2', { id: uid('form-title') });
  const formError = h('p', { class: 'form-error', role: 'alert', hidden: true, 'data-testid': 'form-error' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'form-submit' });
  const cancel = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'form-cancel' }, t('admin.cancel'));
  const controls = new Map(); // name → {field, control, wrap, get(), set(v)}
  const fieldsBox = h('div', { class: 'form-fields' });
  const extras = h('div', { class: 'form-extras' });
  const form = h('form', { class: 'crud-form', novalidate: true, 'aria-labelledby': formTitle.id },
    fieldsBox, formError, h('div', { class: 'form-actions' }, submit, cancel), extras);

  for (const f of cfg.fields) controls.set(f.name, makeControl(f));
  fieldsBox.append(...[...controls.values()].map((c) => c.wrap));

  replace(el, h('section', { class: `page admin-page`, 'data-testid': cfg.testid, 'aria-labelledby': `${cfg.testid}-title` },
    h('header', { class: 'page-head' },
      h('h1', { id: `${cfg.testid}-title` }, cfg.title),
      cfg.toolbar ?? null),
    h('div', { class: 'admin-grid' },
      h('div', { class: 'card table-card' },
        h('div', { class: 'table-wrap' },
          h('table', { class: 'table', 'data-testid': `${cfg.testid}-table` },
            h('thead', {}, h('tr', {},
              cfg.columns.map((c) => h('th', { scope: 'col' }, c.label)),
              h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, t('admin.actions'))))),
            tbody)),
        empty),
      h('div', { class: 'card form-card' }, formTitle, form))));

  // -------------------------------------------------------------------- form

  function makeControl(f) {
    const id = uid(`${cfg.testid}-${f.name}`);
    let control;
    let get;
    let set;
    let wrap;
    if (f.type === 'select') {
      control = h('select', { id, name: f.name, required: f.required }, f.options.map(([v, l]) => h('option', { value: v }, l)));
      get = () => control.value;
      set = (v) => { control.value = v ?? f.default ?? f.options[0][0]; };
    } else if (f.type === 'checkbox') {
      control = h('input', { id, name: f.name, type: 'checkbox' });
      get = () => control.checked;
      set = (v) => { control.checked = Boolean(v ?? f.default); };
      wrap = h('div', { class: 'field field-check' }, control, h('label', { for: id }, f.label),
        f.hint ? h('small', { class: 'hint' }, f.hint) : null);
    } else if (f.type === 'color') {
      control = h('input', { id, name: f.name, type: 'color', value: '#4f7cff' });
      const use = h('input', { type: 'checkbox', id: `${id}-use`, checked: true, 'aria-label': t('tag.useColor') });
      use.addEventListener('change', () => { control.disabled = !use.checked; });
      get = () => (use.checked ? control.value : null);
      set = (v) => {
        use.checked = Boolean(v);
        control.disabled = !v;
        control.value = v || '#4f7cff';
      };
      wrap = h('div', { class: 'field' },
        h('label', { for: id }, f.label),
        h('div', { class: 'color-row' }, use, h('label', { for: `${id}-use`, class: 'small' }, t('tag.useColor')), control));
    } else if (f.type === 'textarea') {
      control = h('textarea', { id, name: f.name, rows: '5', required: f.required, maxlength: f.maxlength, placeholder: f.placeholder });
      get = () => control.value;
      set = (v) => { control.value = v ?? f.default ?? ''; };
    } else {
      control = h('input', {
        id, name: f.name, type: f.type ?? 'text', required: f.required, min: f.min, max: f.max,
        maxlength: f.maxlength, pattern: f.pattern, placeholder: f.placeholder,
        autocomplete: f.type === 'password' ? 'new-password' : f.type === 'email' ? 'off' : null,
      });
      get = () => (f.type === 'number' ? (control.value === '' ? null : Number(control.value)) : control.value.trim());
      set = (v) => { control.value = v ?? f.default ?? ''; };
    }
    if (!wrap) {
      wrap = h('div', { class: 'field' },
        h('label', { for: id }, f.label),
        control,
        f.hint ? h('small', { class: 'hint' }, f.hint) : null);
    }
    return { field: f, control, wrap, get, set };
  }

  function setMode(item) {
    editing = item;
    formTitle.textContent = item ? cfg.editTitle(item) : cfg.newTitle;
    submit.textContent = item ? t('admin.save') : t('admin.create');
    cancel.hidden = !item;
    replace(extras, item && cfg.formExtras ? cfg.formExtras(item) : null);
    showError(null);
    for (const c of controls.values()) {
      const mode = c.field.mode;
      const visible = !mode || (mode === 'edit') === Boolean(item);
      c.wrap.hidden = !visible;
      c.control.disabled = !visible;
      c.control.removeAttribute('aria-invalid');
      if (visible) c.set(item ? (c.field.value ? c.field.value(item) : item[c.field.name]) : undefined);
      if (visible && c.field.disabled) c.control.disabled = Boolean(c.field.disabled(item));
    }
  }

  function values() {
    const out = {};
    for (const [name, c] of controls) {
      if (c.wrap.hidden) continue;
      out[name] = c.get();
    }
    return out;
  }

  function showError(err) {
    for (const c of controls.values()) c.control.removeAttribute('aria-invalid');
    if (!err) {
      formError.hidden = true;
      formError.textContent = '';
      return;
    }
    formError.textContent = err.message;
    formError.hidden = false;
    const c = err.field && controls.get(err.field);
    if (c) {
      c.control.setAttribute('aria-invalid', 'true');
      c.control.focus();
    }
  }

  /** Client-side checks before the server's: required fields. */
  function check(v) {
    for (const [name, c] of controls) {
      if (c.wrap.hidden || !c.field.required) continue;
      const value = v[name];
      if (value === '' || value === null || value === undefined) {
        return { message: t('admin.required', { field: c.field.label }), field: name };
      }
    }
    return null;
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = values();
    const problem = check(v);
    if (problem) { showError(problem); return; }
    submit.disabled = true;
    try {
      if (editing) {
        await cfg.update(editing, v);
        toast(t('admin.saved'), 'info');
      } else {
        await cfg.create(v);
        toast(t('admin.created'), 'info');
      }
      setMode(null);
      await reload();
    } catch (err) {
      showError(err);
      toastError(err);
    } finally {
      submit.disabled = false;
    }
  });
  cancel.addEventListener('click', () => setMode(null));

  // ------------------------------------------------------------------- table

  function render() {
    replace(tbody, items.map((item) => {
      const name = cfg.itemName(item);
      const buttons = [];
      if (!cfg.canEdit || cfg.canEdit(item)) {
        const edit = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'edit', 'aria-label': t('admin.editNamed', { name }) }, t('admin.edit'));
        edit.addEventListener('click', () => {
          setMode(item);
          const first = [...controls.values()].find((c) => !c.wrap.hidden && !c.control.disabled);
          first?.control.focus();
        });
        buttons.push(edit);
      }
      if (cfg.remove && (!cfg.canDelete || cfg.canDelete(item))) {
        const del = h('button', { type: 'button', class: 'btn btn-danger-outline btn-small', 'data-testid': 'delete', 'aria-label': t('admin.deleteNamed', { name }) }, t('admin.delete'));
        del.addEventListener('click', async () => {
          del.disabled = true;
          try {
            await cfg.remove(item);
            toast(t('admin.deleted', { name }), 'info');
            if (editing && key(editing) === key(item)) setMode(null);
            await reload();
          } catch (err) {
            toastError(err);
            del.disabled = false;
          }
        });
        buttons.push(del);
      }
      if (cfg.rowActions) buttons.push(...cfg.rowActions(item, reload));
      return h('tr', { 'data-id': key(item), class: item.deleted ? 'is-deleted' : null },
        cfg.columns.map((c, i) => (i === 0
          ? h('th', { scope: 'row' }, c.cell(item))
          : h('td', {}, c.cell(item)))),
        h('td', { class: 'row-actions' }, h('div', { class: 'row-actions-inner' }, buttons)));
    }));
    empty.hidden = items.length > 0;
  }

  async function reload() {
    try {
      const loaded = await cfg.load();
      if (disposed) return;
      items = loaded;
      render();
    } catch (err) {
      if (!disposed) toastError(err);
    }
  }

  setMode(null);
  reload();
  return {
    reload,
    dispose() { disposed = true; },
  };
}
