//! The rules of every action on a conversation: who may do it, from which states, and what it
//! leaves behind (a system event, an audit entry, an assignment record when the assignee
//! changes). Each action becomes a `Plan` the actor commits before applying it.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::state::{Plan, State};
use crate::auth::OperatorIdentity;
use crate::automation::rules::Trigger;
use crate::db::audit::AuditEntry;
use crate::db::event_writer::{AssignmentChange, TagChange};
use crate::domain::{AssignmentKind, ConversationStatus, Priority};
use crate::error::{AppError, AppResult};
use crate::ids::{ContactId, GroupId, OperatorId, TagId};

#[derive(Debug, Clone)]
pub enum Action {
    /// The router's choice; only a pending, unassigned conversation accepts it.
    AutoAssign(OperatorIdentity),
    /// An operator takes a conversation from the queue (a supervisor may take over any).
    Take(OperatorIdentity),
    /// A supervisor hands the conversation to an operator.
    Assign {
        by: OperatorIdentity,
        to: OperatorIdentity,
    },
    /// The assignee (or a supervisor) passes the conversation to another operator...
    TransferToOperator {
        by: OperatorIdentity,
        to: OperatorIdentity,
    },
    /// ...or back to the queue of another group.
    TransferToGroup {
        by: OperatorIdentity,
        group: GroupId,
        name: String,
    },
    /// One level up (L1 → L2 → L3) and the priority urgent.
    Escalate(OperatorIdentity),
    /// What the conversation is about (`None` clears it).
    SetCategory {
        by: OperatorIdentity,
        category: Option<String>,
    },
    SetPriority {
        by: OperatorIdentity,
        priority: Priority,
    },
    Resolve(OperatorIdentity),
    /// The customer ends their own conversation (Telegram's `/close`).
    ResolveByCustomer(ContactId),
    /// The customer blocked the bot: operators are told replies cannot reach them.
    CustomerUnreachable,
    /// A resolved conversation becomes active again, with whoever reopened it.
    Reopen(OperatorIdentity),
    Close(OperatorIdentity),
    AddTag {
        by: OperatorIdentity,
        tag: TagId,
        name: String,
    },
    RemoveTag {
        by: OperatorIdentity,
        tag: TagId,
    },
    /// The router takes the conversation back to the queue (its operator went offline).
    Unassign {
        reason: Unassigned,
    },
    /// The router gives the conversation to someone else (its operator did not answer).
    Reassign {
        to: OperatorIdentity,
        reason: Unassigned,
    },
}

/// Why the router took a conversation away from its operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unassigned {
    OperatorOffline,
    NoAnswer,
    /// Escalated: an operator of a higher tier takes over.
    Escalated,
}

impl Unassigned {
    fn as_str(self) -> &'static str {
        match self {
            Unassigned::OperatorOffline => "operator_offline",
            Unassigned::NoAnswer => "no_answer",
            Unassigned::Escalated => "escalated",
        }
    }
}

fn forbidden() -> AppError {
    AppError::Forbidden("you may not act on this conversation".into())
}

fn closed() -> AppError {
    AppError::conflict("conversation_closed", "the conversation is closed")
}

impl State {
    /// Decides an action; `Ok(None)` means there is nothing to change.
    pub(super) fn plan_action(
        &self,
        action: &Action,
        now: DateTime<Utc>,
        deps: &super::ConversationDeps,
    ) -> AppResult<Option<Plan>> {
        let status = self.snap.status;
        let mut plan = Plan::new(self.snap.clone());
        let audit = |by: Option<OperatorId>, what: &str, details| self.audit(by, what, details);
        match action {
            Action::AutoAssign(op) => {
                if status != ConversationStatus::Pending || self.snap.assignee_id.is_some() {
                    return Err(AppError::conflict(
                        "not_pending",
                        "the conversation is not waiting",
                    ));
                }
                self.assign(&mut plan, op, AssignmentKind::Auto, now);
                plan.audit
                    .push(audit(None, "auto_assign", json!({"operator_id": op.id})));
            }
            Action::Take(op) => {
                if !self.may_see(op) {
                    return Err(forbidden());
                }
                match status {
                    ConversationStatus::Active if self.snap.assignee_id == Some(op.id) => {
                        return Ok(None)
                    }
                    ConversationStatus::Pending => {}
                    ConversationStatus::Active if op.role.sees_all() => {}
                    ConversationStatus::Active => {
                        return Err(AppError::conflict(
                            "already_assigned",
                            "another operator has it",
                        ))
                    }
                    ConversationStatus::Resolved | ConversationStatus::Closed => {
                        return Err(AppError::conflict(
                            "not_pending",
                            "the conversation is not open",
                        ))
                    }
                }
                self.assign(&mut plan, op, AssignmentKind::Take, now);
                plan.audit.push(audit(Some(op.id), "take", json!({})));
            }
            Action::Assign { by, to } | Action::TransferToOperator { by, to } => {
                let transfer = matches!(action, Action::TransferToOperator { .. });
                let allowed = if transfer {
                    self.may_act(by)
                } else {
                    by.role.sees_all()
                };
                if !allowed {
                    return Err(forbidden());
                }
                self.require_open()?;
                if self.snap.assignee_id == Some(to.id) {
                    return Err(AppError::conflict(
                        "already_assigned",
                        "that operator already has it",
                    ));
                }
                let kind = if transfer {
                    AssignmentKind::Transfer
                } else {
                    AssignmentKind::Manual
                };
                self.assign(&mut plan, to, kind, now);
                let what = if transfer { "transfer" } else { "assign" };
                plan.audit.push(audit(
                    Some(by.id),
                    what,
                    json!({"operator_id": to.id, "from": self.snap.assignee_id}),
                ));
            }
            Action::TransferToGroup { by, group, name } => {
                if !self.may_act(by) {
                    return Err(forbidden());
                }
                self.require_open()?;
                plan.snap.status = ConversationStatus::Pending;
                plan.snap.assignee_id = None;
                plan.snap.group_id = *group;
                plan.answered = Some(false);
                plan.assignment = Some(AssignmentChange::Reassign { to: None });
                let data = json!({"action": "transferred", "group_id": group, "group": name});
                plan.events.push(self.system_event(
                    &mut plan.snap,
                    now,
                    "You were transferred to another team",
                    data,
                ));
                plan.audit.push(audit(
                    Some(by.id),
                    "transfer",
                    json!({"group_id": group, "from": self.snap.assignee_id}),
                ));
            }
            Action::Escalate(by) => {
                if !self.may_act(by) {
                    return Err(forbidden());
                }
                self.require_open()?;
                if self.snap.level >= 2 {
                    return Err(AppError::conflict(
                        "max_level",
                        "the conversation is already at L3",
                    ));
                }
                self.escalate(&mut plan, Trigger::Manual, Some(by.id), now, deps);
            }
            Action::SetCategory { by, category } => {
                if !self.may_see(by) {
                    return Err(forbidden());
                }
                if self.snap.status == ConversationStatus::Closed {
                    return Err(closed());
                }
                if *category == self.snap.category {
                    return Ok(None);
                }
                plan.snap.category = category.clone();
                let text = match category {
                    Some(c) => format!("Category set to {c}"),
                    None => "Category cleared".to_owned(),
                };
                let data = json!({"action": "category", "internal": true, "category": category, "operator_id": by.id});
                plan.events
                    .push(self.system_event(&mut plan.snap, now, &text, data));
                plan.audit.push(audit(
                    Some(by.id),
                    "category",
                    json!({"from": self.snap.category, "to": category}),
                ));
            }
            Action::SetPriority { by, priority } => {
                if !self.may_act(by) {
                    return Err(forbidden());
                }
                self.require_open()?;
                if *priority == self.snap.priority {
                    return Ok(None);
                }
                plan.snap.priority = *priority;
                let data = json!({"action": "priority", "internal": true, "priority": priority, "operator_id": by.id});
                let text = format!("Priority set to {}", priority_name(*priority));
                plan.events
                    .push(self.system_event(&mut plan.snap, now, &text, data));
                plan.audit.push(audit(
                    Some(by.id),
                    "priority",
                    json!({"from": self.snap.priority, "to": priority}),
                ));
            }
            Action::Resolve(by) => {
                if !self.may_act(by) {
                    return Err(forbidden());
                }
                match status {
                    ConversationStatus::Closed => return Err(closed()),
                    ConversationStatus::Resolved => {
                        return Err(AppError::conflict(
                            "already_resolved",
                            "the conversation is already resolved",
                        ))
                    }
                    _ => {}
                }
                plan.snap.status = ConversationStatus::Resolved;
                plan.snap.resolved_at = Some(now);
                self.end(
                    &mut plan,
                    by,
                    ("resolved", "resolve"),
                    "The conversation was resolved",
                    now,
                );
            }
            Action::ResolveByCustomer(contact) => {
                if *contact != self.contact {
                    return Err(forbidden());
                }
                match status {
                    ConversationStatus::Closed | ConversationStatus::Resolved => return Ok(None),
                    _ => {}
                }
                plan.snap.status = ConversationStatus::Resolved;
                plan.snap.resolved_at = Some(now);
                plan.assignment = Some(AssignmentChange::Reassign { to: None });
                plan.events.push(self.system_event(
                    &mut plan.snap,
                    now,
                    "The customer closed the conversation",
                    json!({"action": "resolved", "by": "customer"}),
                ));
                plan.audit
                    .push(audit(None, "resolve", json!({"by": "customer"})));
            }
            Action::CustomerUnreachable => {
                plan.events.push(self.system_event(
                    &mut plan.snap,
                    now,
                    "The customer blocked the bot: replies cannot be delivered",
                    json!({"action": "unreachable", "internal": true}),
                ));
            }
            Action::Reopen(by) => {
                if !self.may_act(by) {
                    return Err(forbidden());
                }
                match status {
                    ConversationStatus::Closed => return Err(closed()),
                    ConversationStatus::Resolved => {}
                    _ => {
                        return Err(AppError::conflict(
                            "not_resolved",
                            "only a resolved conversation can be reopened",
                        ))
                    }
                }
                plan.snap.resolved_at = None;
                self.assign(&mut plan, by, AssignmentKind::Manual, now);
                if let Some(event) = plan.events.last_mut() {
                    event.body = "The conversation was reopened".into();
                    event.data = Some(
                        json!({"action": "reopened", "operator_id": by.id, "operator_name": by.name}),
                    );
                }
                plan.audit.push(audit(Some(by.id), "reopen", json!({})));
            }
            Action::Close(by) => {
                if !self.may_act(by) {
                    return Err(forbidden());
                }
                if status == ConversationStatus::Closed {
                    return Err(AppError::conflict(
                        "already_closed",
                        "the conversation is already closed",
                    ));
                }
                plan.snap.status = ConversationStatus::Closed;
                plan.snap.closed_at = Some(now);
                self.end(
                    &mut plan,
                    by,
                    ("closed", "close"),
                    "The conversation was closed",
                    now,
                );
            }
            Action::AddTag { by, tag, name } => {
                if !self.may_see(by) {
                    return Err(forbidden());
                }
                if self.tags.iter().any(|(t, _)| t == tag) {
                    return Ok(None);
                }
                plan.tag = Some(TagChange::Add(*tag));
                plan.tag_name = Some(name.clone());
                let data = json!({"action": "tagged", "internal": true, "tag_id": tag, "tag": name, "operator_id": by.id});
                plan.events.push(self.system_event(
                    &mut plan.snap,
                    now,
                    &format!("Tagged {name}"),
                    data,
                ));
                plan.audit.push(audit(
                    Some(by.id),
                    "tag_add",
                    json!({"tag_id": tag, "tag": name}),
                ));
            }
            Action::RemoveTag { by, tag } => {
                if !self.may_see(by) {
                    return Err(forbidden());
                }
                let Some((_, name)) = self.tags.iter().find(|(t, _)| t == tag) else {
                    return Ok(None);
                };
                plan.tag = Some(TagChange::Remove(*tag));
                let data = json!({"action": "untagged", "internal": true, "tag_id": tag, "tag": name, "operator_id": by.id});
                plan.events.push(self.system_event(
                    &mut plan.snap,
                    now,
                    &format!("Tag {name} removed"),
                    data,
                ));
                plan.audit.push(audit(
                    Some(by.id),
                    "tag_remove",
                    json!({"tag_id": tag, "tag": name}),
                ));
            }
            Action::Unassign { reason } => {
                if status != ConversationStatus::Active {
                    return Ok(None);
                }
                plan.snap.status = ConversationStatus::Pending;
                plan.snap.assignee_id = None;
                plan.answered = Some(false);
                plan.assignment = Some(AssignmentChange::Reassign { to: None });
                let data = json!({"action": "unassigned", "reason": reason.as_str(), "operator_id": self.snap.assignee_id});
                plan.events.push(self.system_event(
                    &mut plan.snap,
                    now,
                    "Your conversation is waiting for the next operator",
                    data,
                ));
                plan.audit.push(audit(
                    None,
                    "unassign",
                    json!({"reason": reason.as_str(), "operator_id": self.snap.assignee_id}),
                ));
            }
            Action::Reassign { to, reason } => {
                if status != ConversationStatus::Active || self.snap.assignee_id == Some(to.id) {
                    return Err(AppError::conflict(
                        "not_reassignable",
                        "the conversation moved on",
                    ));
                }
                self.assign(&mut plan, to, AssignmentKind::Auto, now);
                if let Some(event) = plan.events.last_mut() {
                    if let Some(data) = event.data.as_mut() {
                        data["reason"] = json!(reason.as_str());
                        data["from"] = json!(self.snap.assignee_id);
                    }
                }
                plan.audit.push(audit(None, "reassign", json!({"reason": reason.as_str(), "from": self.snap.assignee_id, "operator_id": to.id})));
            }
        }
        plan.snap.updated_at = now;
        Ok(Some(plan))
    }

    fn require_open(&self) -> AppResult<()> {
        match self.snap.status {
            ConversationStatus::Pending | ConversationStatus::Active => Ok(()),
            ConversationStatus::Closed => Err(closed()),
            ConversationStatus::Resolved => Err(AppError::conflict(
                "not_open",
                "the conversation is resolved; reopen it first",
            )),
        }
    }

    /// Resolving or closing: the assignment ends, a system event names who did it, and the
    /// audit log records it. `names` is (the event's action, the audit action).
    fn end(
        &self,
        plan: &mut Plan,
        by: &OperatorIdentity,
        names: (&str, &str),
        text: &str,
        now: DateTime<Utc>,
    ) {
        let (event_action, audit_action) = names;
        plan.assignment = Some(AssignmentChange::Reassign { to: None });
        let data = json!({"action": event_action, "operator_id": by.id, "operator_name": by.name});
        plan.events
            .push(self.system_event(&mut plan.snap, now, text, data));
        plan.audit
            .push(self.audit(Some(by.id), audit_action, json!({})));
    }

    /// An audit entry `conversation.<what>` about this conversation.
    pub(super) fn audit(
        &self,
        by: Option<OperatorId>,
        what: &str,
        details: serde_json::Value,
    ) -> AuditEntry {
        let action = format!("conversation.{what}");
        AuditEntry::new(by, &action, "conversation", self.snap.id, details)
    }

    /// The conversation becomes `op`'s: active, an assignment record, a system event.
    fn assign(
        &self,
        plan: &mut Plan,
        op: &OperatorIdentity,
        kind: AssignmentKind,
        now: DateTime<Utc>,
    ) {
        plan.snap.status = ConversationStatus::Active;
        plan.snap.assignee_id = Some(op.id);
        plan.snap.assigned_at = Some(now);
        plan.answered = Some(false);
        plan.assignment = Some(AssignmentChange::Reassign {
            to: Some((op.id, kind)),
        });
        let data = json!({"action": "assigned", "kind": kind, "operator_id": op.id, "operator_name": op.name});
        plan.events.push(self.system_event(
            &mut plan.snap,
            now,
            "An operator joined the conversation",
            data,
        ));
    }
}

fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::Low => "low",
        Priority::Medium => "medium",
        Priority::High => "high",
        Priority::Urgent => "urgent",
    }
}
