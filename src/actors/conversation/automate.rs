//! Automation inside a conversation: the offline auto-reply, escalation by rule, and the
//! deadlines the conversation's state calls for (auto-close, the reopen window, the
//! first-response SLA). Each decision joins the plan of the write that caused it, so it is
//! committed with it or not at all.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::state::{Plan, State};
use super::ConversationDeps;
use crate::automation::deadlines::{Armed, Kind};
use crate::automation::intent;
use crate::automation::rules::Trigger;
use crate::automation::{templates, texts};
use crate::db::conversations::Snapshot;
use crate::domain::{ConversationStatus, Priority};
use crate::ids::OperatorId;

impl State {
    /// The deadlines `snap` calls for.
    pub(super) fn wanted_deadlines(&self, snap: &Snapshot, deps: &ConversationDeps) -> Armed {
        wanted_deadlines(snap, self.created_at, deps)
    }
}

/// The deadlines a conversation in the state `snap` (opened at `created_at`) calls for.
pub(super) fn wanted_deadlines(
    snap: &Snapshot,
    created_at: DateTime<Utc>,
    deps: &ConversationDeps,
) -> Armed {
    {
        let config = &deps.config;
        let mut wanted = Armed::new();
        // Settings are bounded here so that no setting can overflow a date (a century at most).
        let hours = |h: i64| Duration::hours(h.clamp(1, 876_000));
        match snap.status {
            ConversationStatus::Pending | ConversationStatus::Active
                if !snap.status.is_dormant(snap.last_message_at) =>
            {
                let memo = &snap.automation;
                if snap.status == ConversationStatus::Pending
                    && memo.customer_wrote_at.is_none()
                    && config.abandoned_close_hours > 0
                {
                    wanted.insert(
                        Kind::Abandoned,
                        created_at + hours(config.abandoned_close_hours),
                    );
                } else if config.auto_close_idle_hours > 0 {
                    let last = snap.last_message_at.unwrap_or(created_at);
                    wanted.insert(Kind::Idle, last + hours(config.auto_close_idle_hours));
                }
                let rules = deps.automation.rules();
                let since = memo.escalated_at.or(memo.customer_wrote_at);
                if let (None, true, Some(since), Some(span)) = (
                    snap.first_response_at,
                    snap.level < 2 && config.automation,
                    since,
                    rules.0.first_response(snap.priority),
                ) {
                    let due = match deps.automation.hours(snap.group_id) {
                        Some(schedule) => schedule.add_open_time(since, span),
                        None => since + span,
                    };
                    wanted.insert(Kind::FirstResponse, due);
                }
            }
            ConversationStatus::Resolved => {
                if let Some(at) = snap.resolved_at {
                    wanted.insert(
                        Kind::ReopenWindow,
                        at + Duration::hours(config.reopen_window_hours.clamp(0, 876_000)),
                    );
                }
            }
            _ => {}
        }
        wanted
    }
}

impl State {
    /// What a customer's message `text` sets off: an auto-reply when nobody of the group is
    /// at work, and an escalation when a rule says so. Added to `plan`, which holds the message.
    pub(super) fn automate(
        &self,
        plan: &mut Plan,
        text: &str,
        now: DateTime<Utc>,
        deps: &ConversationDeps,
    ) {
        if !plan.snap.status.is_open() || !deps.config.automation {
            return;
        }
        let words = intent::words(text);
        self.auto_reply(plan, &words, now, deps);
        let rules = deps.automation.rules();
        let (rules, keywords) = (&rules.0, &rules.1);
        let trigger = if intent::hits(keywords, &words) > 0 {
            Some(Trigger::Keyword)
        } else if rules.unanswered_messages > 0
            && plan.snap.unanswered - plan.snap.automation.mark
                >= i32::try_from(rules.unanswered_messages).unwrap_or(i32::MAX)
        {
            Some(Trigger::Unanswered)
        } else {
            None
        };
        if let Some(trigger) = trigger {
            self.escalate(plan, trigger, None, now, deps);
        }
    }

    fn auto_reply(
        &self,
        plan: &mut Plan,
        words: &[String],
        now: DateTime<Utc>,
        deps: &ConversationDeps,
    ) {
        let presence = deps.automation.group_presence(plan.snap.group_id);
        let memo = &plan.snap.automation;
        let again = memo
            .auto_replied_at
            .is_none_or(|at| presence.last_online.is_some_and(|seen| seen > at));
        if presence.online || !again {
            return;
        }
        let templates = deps.automation.templates();
        let Some(template) = templates::choose(&templates, words) else {
            return;
        };
        let Some(reply) = template.reply_in(&self.language) else {
            return;
        };
        let mut body = reply.to_owned();
        if let Some(schedule) = deps.automation.hours(plan.snap.group_id) {
            if !schedule.is_open(now) {
                if let Some(back) = schedule.next_open(now) {
                    let (date, time) = schedule.local(back);
                    body.push(' ');
                    body.push_str(&texts::back_at(
                        &self.language,
                        &date,
                        &time,
                        schedule.time_zone(),
                    ));
                }
            }
        }
        plan.snap.automation.auto_replied_at = Some(now);
        if plan.snap.priority < Priority::High {
            plan.snap.priority = Priority::High;
        }
        if plan.snap.category.is_none() {
            plan.snap.category = Some(template.category.clone());
        }
        let data = json!({
            "action": "auto_reply",
            "category": template.category,
            "template_id": template.id,
            "priority": plan.snap.priority,
        });
        let event = self.system_event(&mut plan.snap, now, &body, data);
        plan.events.push(event);
        metrics::counter!(crate::telemetry::AUTO_REPLIES).increment(1);
    }

    /// One level up (never past L3), priority urgent, the customer reassured once; by a rule
    /// (`by` none) or an operator. The router re-routes to a higher tier and tells supervisors.
    pub(super) fn escalate(
        &self,
        plan: &mut Plan,
        trigger: Trigger,
        by: Option<OperatorId>,
        now: DateTime<Utc>,
        deps: &ConversationDeps,
    ) -> bool {
        if plan.snap.level >= 2 {
            return false;
        }
        let rules = deps.automation.rules();
        plan.snap.level += 1;
        plan.snap.priority = Priority::Urgent;
        let memo = &mut plan.snap.automation;
        memo.mark = plan.snap.unanswered;
        memo.escalated_at = Some(now);
        let level = plan.snap.level;
        let text = format!("Escalated to L{}: {}", level + 1, trigger.reason(&rules.0));
        let data = json!({
            "action": "escalated",
            "internal": true,
            "level": level,
            "priority": Priority::Urgent,
            "trigger": trigger.as_str(),
            "operator_id": by,
        });
        let event = self.system_event(&mut plan.snap, now, &text, data);
        plan.events.push(event);
        if !plan.snap.automation.reassured {
            plan.snap.automation.reassured = true;
            let text = texts::prioritised(&self.language);
            let event =
                self.system_event(&mut plan.snap, now, text, json!({"action": "prioritised"}));
            plan.events.push(event);
        }
        plan.audit.push(self.audit(
            by,
            "escalate",
            json!({"level": level, "priority": Priority::Urgent, "trigger": trigger.as_str()}),
        ));
        metrics::counter!(crate::telemetry::ESCALATIONS).increment(1);
        true
    }

    /// A deadline of `kind` fell due: what it means now, if anything (`None`: it is not due
    /// any more, or never was, and only the stored deadlines need to follow the state).
    pub(super) fn plan_deadline(
        &self,
        kind: Kind,
        now: DateTime<Utc>,
        deps: &ConversationDeps,
    ) -> Option<Plan> {
        let wanted = self.wanted_deadlines(&self.snap, deps);
        if wanted.get(&kind).is_none_or(|due| *due > now) {
            return None;
        }
        let mut plan = Plan::new(self.snap.clone());
        match kind {
            Kind::Idle => {
                let hours = deps.config.auto_close_idle_hours;
                let text = texts::idle_closed(&self.language, hours);
                let data = json!({"action": "closed", "reason": "idle", "localized": true});
                self.close(&mut plan, &text, data, "idle", now);
            }
            Kind::Abandoned => {
                let data = json!({"action": "closed", "reason": "abandoned", "internal": true});
                let text = "Closed: the customer never wrote";
                self.close(&mut plan, text, data, "abandoned", now);
            }
            Kind::ReopenWindow => {
                let data = json!({"action": "closed", "reason": "reopen_window", "internal": true});
                let text = "Closed: the time to reopen it passed";
                self.close(&mut plan, text, data, "reopen_window", now);
            }
            Kind::FirstResponse => {
                if !self.escalate(&mut plan, Trigger::FirstResponse, None, now, deps) {
                    return None;
                }
            }
            Kind::Automate | Kind::Review => return None,
        }
        plan.snap.updated_at = now;
        Some(plan)
    }

    fn close(
        &self,
        plan: &mut Plan,
        text: &str,
        data: serde_json::Value,
        reason: &str,
        now: DateTime<Utc>,
    ) {
        plan.snap.status = ConversationStatus::Closed;
        plan.snap.closed_at = Some(now);
        if plan.snap.assignee_id.is_some() {
            plan.assignment =
                Some(crate::db::event_writer::AssignmentChange::Reassign { to: None });
        }
        let event = self.system_event(&mut plan.snap, now, text, data);
        plan.events.push(event);
        plan.audit
            .push(self.audit(None, "close", json!({"reason": reason})));
    }

    /// The conversation's first message, stored when it opened, gets its automation now.
    pub(super) fn plan_first_message(
        &self,
        text: &str,
        now: DateTime<Utc>,
        deps: &ConversationDeps,
    ) -> Plan {
        let mut plan = Plan::new(self.snap.clone());
        plan.first_automated = true;
        if !plan.snap.status.is_open() {
            // Ended before its first message's turn came: nothing to do.
            return plan;
        }
        plan.snap
            .automation
            .customer_wrote_at
            .get_or_insert(self.created_at);
        self.automate(&mut plan, text, now, deps);
        if !plan.events.is_empty() {
            plan.snap.updated_at = now;
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keywords found in a text.
    fn found(keywords: &[intent::Keyword], text: &str) -> bool {
        intent::hits(keywords, &intent::words(text)) > 0
    }

    #[test]
    fn the_default_trigger_words_are_found_in_both_scripts() {
        let rules = crate::automation::rules::EscalationRules::default();
        let keywords = rules.keywords();
        assert!(found(&keywords, "I want to talk to a HUMAN"));
        assert!(found(&keywords, "Это ЖАЛОБА!"));
        assert!(!found(&keywords, "humane society"));
    }
}
