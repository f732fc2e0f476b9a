//! Automation: offline auto-replies by intent, escalation rules, business hours and durable
//! timers. The rules live here, shared by every Conversation actor (which applies them to its
//! own conversation) and refreshed when admins change them.

pub mod deadlines;
pub mod hours;
pub mod intent;
pub mod rules;
pub mod scheduler;
pub mod templates;
pub mod texts;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::db::schema::{groups, settings};
use crate::ids::GroupId;
use hours::{BusinessHours, Schedule};
use intent::Keyword;
use rules::EscalationRules;
use templates::Template;

/// What automation remembers about one conversation (stored with its snapshot).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memo {
    /// The last auto-reply; no other until an operator of the group has been online since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_replied_at: Option<DateTime<Utc>>,
    /// The customer's first message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_wrote_at: Option<DateTime<Utc>>,
    /// The last escalation: the first-response clock restarts from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalated_at: Option<DateTime<Utc>>,
    /// Unanswered messages when the level last rose: the count starts again from there.
    pub mark: i32,
    /// The customer was told their case went to senior support.
    pub reassured: bool,
}

/// Whether any operator of a group is online, and when one last was.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GroupPresence {
    pub online: bool,
    pub last_online: Option<DateTime<Utc>>,
}

/// The rules in force, shared by all conversations.
#[derive(Default)]
pub struct Automation {
    rules: RwLock<Arc<(EscalationRules, Vec<Keyword>)>>,
    templates: RwLock<Arc<Vec<Template>>>,
    hours: RwLock<HashMap<GroupId, Arc<Schedule>>>,
    presence: RwLock<HashMap<GroupId, GroupPresence>>,
    pub timers: TimerWake,
    /// One reload at a time, so two admins' changes cannot land in the wrong order.
    reload: tokio::sync::Mutex<()>,
}

impl Automation {
    /// Reads the rules, templates and business hours (seeding the templates on first start).
    pub async fn load(conn: &mut AsyncPgConnection) -> QueryResult<Arc<Automation>> {
        templates::seed(conn).await?;
        let automation = Arc::new(Automation::default());
        automation.set_rules(load_rules(conn).await?);
        automation.reload_templates(conn).await?;
        automation.reload_hours(conn).await?;
        Ok(automation)
    }

    pub fn rules(&self) -> Arc<(EscalationRules, Vec<Keyword>)> {
        self.rules.read().clone()
    }

    pub fn set_rules(&self, rules: EscalationRules) {
        let keywords = rules.keywords();
        *self.rules.write() = Arc::new((rules, keywords));
    }

    pub fn templates(&self) -> Arc<Vec<Template>> {
        self.templates.read().clone()
    }

    pub async fn reload_templates(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        let rows = templates::list(conn).await?;
        *self.templates.write() = Arc::new(Template::active(&rows));
        Ok(())
    }

    pub fn hours(&self, group: GroupId) -> Option<Arc<Schedule>> {
        self.hours.read().get(&group).cloned()
    }

    pub async fn reload_hours(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        let rows: Vec<(GroupId, Option<serde_json::Value>)> = groups::table
            .filter(groups::deleted_at.is_null())
            .filter(groups::business_hours.is_not_null())
            .select((groups::id, groups::business_hours))
            .load(conn)
            .await?;
        let parsed = rows
            .into_iter()
            .filter_map(|(id, json)| {
                let hours: BusinessHours = serde_json::from_value(json?).ok()?;
                Some((id, Arc::new(Schedule::parse(&hours).ok()?)))
            })
            .collect();
        *self.hours.write() = parsed;
        Ok(())
    }

    pub async fn reloading(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.reload.lock().await
    }

    pub fn group_presence(&self, group: GroupId) -> GroupPresence {
        self.presence
            .read()
            .get(&group)
            .copied()
            .unwrap_or_default()
    }

    /// From the router: which groups have an operator online now.
    pub fn set_online_groups(
        &self,
        online: &std::collections::HashSet<GroupId>,
        now: DateTime<Utc>,
    ) {
        let mut presence = self.presence.write();
        for (group, p) in presence.iter_mut() {
            if p.online && !online.contains(group) {
                p.online = false;
                p.last_online = Some(now);
            }
        }
        for group in online {
            let p = presence.entry(*group).or_default();
            p.online = true;
            p.last_online = Some(now);
        }
    }
}

pub async fn load_rules(conn: &mut AsyncPgConnection) -> QueryResult<EscalationRules> {
    let value: Option<serde_json::Value> = settings::table
        .find(rules::SETTINGS_KEY)
        .select(settings::value)
        .first(conn)
        .await
        .optional()?;
    Ok(match value.map(serde_json::from_value::<EscalationRules>) {
        Some(Ok(rules)) => rules,
        Some(Err(e)) => {
            tracing::warn!(error = %e, "stored escalation rules unreadable; using the defaults");
            EscalationRules::default()
        }
        None => EscalationRules::default(),
    })
}

pub async fn save_rules(conn: &mut AsyncPgConnection, rules: &EscalationRules) -> QueryResult<()> {
    let value = serde_json::to_value(rules).unwrap_or_default();
    diesel::insert_into(settings::table)
        .values((
            settings::key.eq(rules::SETTINGS_KEY),
            settings::value.eq(&value),
        ))
        .on_conflict(settings::key)
        .do_update()
        .set((
            settings::value.eq(&value),
            settings::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Wakes the scheduler when a deadline earlier than the one it sleeps towards is set.
#[derive(Default)]
pub struct TimerWake {
    next: Mutex<Option<DateTime<Utc>>>,
    notify: tokio::sync::Notify,
}

impl TimerWake {
    pub fn arm(&self, due: DateTime<Utc>) {
        let mut next = self.next.lock();
        if next.is_none_or(|n| due < n) {
            *next = Some(due);
            self.notify.notify_one();
        }
    }

    /// The scheduler sleeps towards `due`.
    fn sleeping_until(&self, due: Option<DateTime<Utc>>) {
        *self.next.lock() = due;
    }
}
