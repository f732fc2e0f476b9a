//! A conversation's rules: its state as loaded from the snapshot, who may see and act on it,
//! and how each request becomes a plan (new events, a new snapshot, an assignment change) that
//! the actor commits before anything is applied.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Ack, By, Origin, PostMessage, MAX_CLIENT_ID_CHARS, SYSTEM_NAME};
use crate::auth::OperatorIdentity;
use crate::config::Config;
use crate::db::audit::AuditEntry;
use crate::db::conversations::{self, Snapshot};
use crate::db::event_writer::{AssignmentChange, TagChange};
use crate::db::events::{self, EventRow};
use crate::db::DbPool;
use crate::domain::{Author, Channel, ConversationStatus, EventKind};
use crate::error::{AppError, AppResult};
use crate::ids::{ContactId, ConversationId, OperatorId, TagId};
use crate::protocol::ConversationSummary;

/// The conversation as loaded from its snapshot.
pub(super) struct State {
    pub(super) ticket: String,
    pub(super) alias: String,
    pub(super) contact: ContactId,
    pub(super) channel: Channel,
    pub(super) language: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) snap: Snapshot,
    /// Read marks changed since the last write.
    pub(super) dirty: bool,
    /// The current assignee has answered since being assigned.
    pub(super) answered: bool,
    /// (author_id, client_id) → the ack it got: retries are answered from here.
    pub(super) sent: HashMap<(Option<Uuid>, String), (i64, DateTime<Utc>)>,
    /// Tags, by name.
    pub(super) tags: Vec<(TagId, String)>,
    /// Who had the conversation last, for sticky routing when it comes back.
    pub(super) previous_assignee: Option<OperatorId>,
    /// The customer is blocked (until then, if given): nothing they send is stored.
    pub(super) blocked: Option<Option<DateTime<Utc>>>,
    /// The deadlines stored for this conversation.
    pub(super) armed: crate::automation::deadlines::Armed,
}

impl State {
    pub(super) fn is_dormant(&self) -> bool {
        self.snap.status.is_dormant(self.snap.last_message_at)
    }

    pub(super) fn summary(&self) -> ConversationSummary {
        ConversationSummary {
            id: self.snap.id,
            ticket: self.ticket.clone(),
            status: self.snap.status,
            priority: self.snap.priority,
            level: self.snap.level,
            assignee: self.snap.assignee_id,
            channel: self.channel,
            group_id: self.snap.group_id,
            alias: self.alias.clone(),
            tags: self.tags.iter().map(|(_, name)| name.clone()).collect(),
            last_seq: self.snap.last_seq,
            last_message_at: self.snap.last_message_at,
            unanswered: self.snap.unanswered,
            visitor_read_seq: self.snap.visitor_read_seq,
            operator_read_seq: self.snap.operator_read_seq,
            created_at: self.created_at,
            category: self.snap.category.clone(),
        }
    }

    /// The Telegram calls that deliver `events` (to the customer's chat, to the support group).
    pub(super) fn telegram_calls(
        &self,
        config: &Config,
        texts: &crate::telegram::texts::Texts,
        events: &[EventRow],
    ) -> Vec<crate::telegram::outbox::NewCall> {
        let conv = crate::telegram::outbox::Conversation {
            id: self.snap.id,
            channel: self.channel,
            contact: self.contact,
            ticket: &self.ticket,
            alias: &self.alias,
            language: &self.language,
        };
        crate::telegram::outbox::calls_for(config, texts, &conv, events)
    }

    pub(super) fn may_see(&self, op: &OperatorIdentity) -> bool {
        op.may_see(self.snap.status, self.snap.assignee_id)
    }

    /// Writing to the customer or changing the status: the assignee, or anyone who sees all.
    pub(super) fn may_act(&self, op: &OperatorIdentity) -> bool {
        op.role.sees_all() || self.snap.assignee_id == Some(op.id)
    }
}

/// A write the actor has decided on, to apply once it is committed.
pub(super) struct Plan {
    pub(super) events: Vec<EventRow>,
    pub(super) snap: Snapshot,
    pub(super) assignment: Option<AssignmentChange>,
    pub(super) sent: Option<(Option<Uuid>, String)>,
    pub(super) answered: Option<bool>,
    /// Sent to the origin after the commit and before the events fan out.
    pub(super) ack: Option<(Ack, Option<Origin>)>,
    pub(super) audit: Vec<AuditEntry>,
    pub(super) tag: Option<TagChange>,
    /// The name of a tag being added, for the summary.
    pub(super) tag_name: Option<String>,
    /// This write runs the first message's automation: its `Automate` deadline goes with it
    /// (any other write keeps it).
    pub(super) first_automated: bool,
}

impl Plan {
    pub(super) fn new(snap: Snapshot) -> Plan {
        Plan {
            events: Vec::new(),
            snap,
            assignment: None,
            sent: None,
            answered: None,
            ack: None,
            audit: Vec::new(),
            tag: None,
            tag_name: None,
            first_automated: false,
        }
    }
}

impl State {
    pub(super) fn plan_post(
        &self,
        deps: &super::ConversationDeps,
        msg: &PostMessage,
        now: DateTime<Utc>,
    ) -> AppResult<Result<Plan, Ack>> {
        let config = &deps.config;
        let client_id = msg.client_id.as_str();
        if client_id.is_empty() || client_id.chars().count() > MAX_CLIENT_ID_CHARS {
            return Err(AppError::invalid(
                "client_id",
                format!("client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters"),
            ));
        }
        crate::validate::text("client_id", client_id)?;
        crate::validate::text("text", &msg.text)?;
        if msg.text.trim().is_empty() {
            return Err(AppError::invalid("text", "text must not be empty"));
        }
        if msg.text.chars().count() > config.max_text_chars {
            return Err(AppError::TooLong(format!(
                "text is longer than {} characters",
                config.max_text_chars
            )));
        }
        let state = self;
        let (author, author_id, author_name) = match &msg.by {
            By::Visitor(contact) => {
                if *contact != state.contact || msg.kind != EventKind::Message {
                    return Err(AppError::Forbidden("not your conversation".into()));
                }
                if state
                    .blocked
                    .is_some_and(|until| until.is_none_or(|u| u > now))
                {
                    return Err(AppError::Blocked);
                }
                (Author::Visitor, contact.0, state.alias.clone())
            }
            By::Operator(op) => {
                let allowed = match msg.kind {
                    EventKind::Note => state.may_see(op),
                    _ => state.may_act(op),
                };
                if !allowed {
                    let why = if state.may_see(op) {
                        "take the conversation before writing to the customer"
                    } else {
                        "you may not act on this conversation"
                    };
                    return Err(AppError::Forbidden(why.into()));
                }
                (Author::Operator, op.id.0, op.name.clone())
            }
        };
        let key = (Some(author_id), client_id.to_owned());
        if let Some((seq, at)) = state.sent.get(&key) {
            return Ok(Err(Ack {
                conversation_id: self.snap.id,
                client_id: client_id.to_owned(),
                seq: *seq,
                at: *at,
            }));
        }

        let mut snap = state.snap.clone();
        let mut events = Vec::new();
        let mut assignment = None;
        let mut answered = None;
        match snap.status {
            ConversationStatus::Closed => return Err(AppError::ConversationClosed),
            ConversationStatus::Resolved if author == Author::Visitor => {
                let window = chrono::Duration::hours(config.reopen_window_hours);
                if snap.resolved_at.is_some_and(|at| now - at > window) {
                    return Err(AppError::ConversationClosed);
                }
                snap.status = ConversationStatus::Pending;
                snap.assignee_id = None;
                snap.resolved_at = None;
                answered = Some(false);
                events.push(self.system_event(
                    &mut snap,
                    now,
                    "The conversation was reopened",
                    serde_json::json!({"action": "reopened"}),
                ));
            }
            _ => {}
        }
        snap.last_seq += 1;
        events.push(EventRow {
            conversation_id: self.snap.id,
            seq: snap.last_seq,
            kind: msg.kind,
            author,
            author_id: Some(author_id),
            author_name,
            body: msg.text.clone(),
            data: msg.data.clone(),
            client_id: Some(client_id.to_owned()),
            created_at: now,
        });
        if msg.kind == EventKind::Message {
            snap.last_message_at = Some(now);
            match &msg.by {
                By::Visitor(_) => {
                    snap.unanswered += 1;
                    snap.automation.customer_wrote_at.get_or_insert(now);
                }
                By::Operator(op) => {
                    snap.unanswered = 0;
                    // The unanswered-messages rule counts from the reply on.
                    snap.automation.mark = 0;
                    snap.first_response_at.get_or_insert(now);
                    if snap.assignee_id == Some(op.id) && !state.answered {
                        assignment = Some(AssignmentChange::FirstResponse);
                        answered = Some(true);
                    }
                }
            }
        }
        snap.updated_at = now;
        let ack = Ack {
            conversation_id: self.snap.id,
            client_id: client_id.to_owned(),
            seq: snap.last_seq,
            at: now,
        };
        let mut plan = Plan {
            events,
            assignment,
            sent: Some(key),
            answered,
            ack: Some((ack, msg.origin.clone())),
            ..Plan::new(snap)
        };
        if author == Author::Visitor && msg.kind == EventKind::Message {
            self.automate(&mut plan, &msg.text, now, deps);
        }
        Ok(Ok(plan))
    }

    pub(super) fn system_event(
        &self,
        snap: &mut Snapshot,
        now: DateTime<Utc>,
        text: &str,
        data: serde_json::Value,
    ) -> EventRow {
        snap.last_seq += 1;
        EventRow {
            conversation_id: self.snap.id,
            seq: snap.last_seq,
            kind: EventKind::System,
            author: Author::System,
            author_id: None,
            author_name: SYSTEM_NAME.to_owned(),
            body: text.to_owned(),
            data: Some(data),
            client_id: None,
            created_at: now,
        }
    }
}

pub(super) async fn load_state(pool: DbPool, id: ConversationId) -> AppResult<State> {
    let mut conn = pool.get().await?;
    let (row, alias) = conversations::find(&mut conn, id)
        .await
        .map_err(|e| match e {
            diesel::result::Error::NotFound => AppError::not_found("conversation"),
            other => other.into(),
        })?;
    let stored_max = events::max_seq(&mut conn, id).await?;
    let armed = crate::automation::deadlines::load(&mut conn, id).await?;
    let answered = conversations::open_assignment_answered(&mut conn, id).await?;
    let tags = conversations::tags_of(&mut conn, id).await?;
    let blocked = crate::db::contacts::block_of(&mut conn, row.contact_id)
        .await?
        .map(|b| b.until);
    let sent = events::sent_client_ids(&mut conn, id)
        .await?
        .into_iter()
        .filter_map(|(author, client_id, seq, at)| client_id.map(|c| ((author, c), (seq, at))))
        .collect();
    let mut snap = Snapshot::from(&row);
    if stored_max != snap.last_seq {
        // Events and snapshot are written in one transaction, so this means manual meddling;
        // the events are the truth.
        tracing::warn!(conversation = %id, snapshot = snap.last_seq, stored = stored_max, "snapshot seq repaired");
        snap.last_seq = stored_max;
    }
    Ok(State {
        ticket: row.ticket,
        alias,
        contact: row.contact_id,
        channel: row.channel,
        language: row.language,
        created_at: row.created_at,
        snap,
        dirty: false,
        answered,
        sent,
        tags,
        previous_assignee: row.assignee_id,
        blocked,
        armed,
    })
}
