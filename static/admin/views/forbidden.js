// Shown instead of a page the operator's role may not use. It loads no data at all.

import { h, replace } from '../dom.js';
import { t } from '../i18n.js';

export function mountForbidden(el) {
  replace(el, h('section', { class: 'forbidden', 'data-testid': 'forbidden', role: 'alert' },
    h('h1', {}, t('forbidden.title')),
    h('p', {}, t('forbidden.text')),
    h('a', { href: '#/queue', class: 'btn btn-primary' }, t('forbidden.back'))));
  return () => {};
}
