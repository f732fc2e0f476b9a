// How operators are named in the panel: "You", a colleague's name when known, or a neutral
// label (agents may not list the team).

import * as store from '../store.js';
import { t } from '../i18n.js';

export function assigneeLabel(id) {
  if (!id) return t('conv.unassigned');
  if (id === store.state.me?.id) return t('conv.you');
  return store.state.names.get(id) ?? t('conv.otherOperator');
}
