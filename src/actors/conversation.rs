//! One actor per live conversation. It is the only writer of its conversation's events: it
//! checks each request against the conversation's rules, assigns the next `seq`, has the event
//! committed (with its snapshot) and only then acknowledges it and fans it out. Handlers that
//! write are atomic, so a conversation has one total order and no gaps.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tokio::sync::watch;
use uuid::Uuid;

use super::operator_session::OperatorPush;
use super::registry::ConversationRegistry;
use super::router::{ConversationChanged, Publish, QueryPosition, Router};
use super::visitor_session::VisitorPush;
use crate::auth::OperatorIdentity;
use crate::config::{Config, OperatorDisplay};
use crate::db::conversations::{self, Snapshot};
use crate::db::event_writer::{AssignmentChange, EventWriter, WriteJob};
use crate::db::events::{self, EventRow};
use crate::db::DbPool;
use crate::domain::{AssignmentKind, Author, Channel, ConversationStatus, EventKind};
use crate::error::{AppError, AppResult};
use crate::ids::{ContactId, ConversationId, SessionId};
use crate::protocol::{encode, ConversationSummary, OperatorOut, VisitorOut};

/// Events are read back in pages of this size when a client catches up.
const REPLAY_PAGE: i64 = 500;
const SYSTEM_NAME: &str = "System";
pub const MAX_CLIENT_ID_CHARS: usize = 64;
const MAX_COMMENT_CHARS: usize = 1000;

/// What every Conversation actor needs; shared by all of them.
#[derive(Clone)]
pub struct ConversationDeps {
    pub pool: DbPool,
    pub writer: EventWriter,
    pub router: Addr<Router>,
    pub config: Arc<Config>,
}

/// Who is asking.
#[derive(Debug, Clone)]
pub enum By {
    Visitor(ContactId),
    Operator(OperatorIdentity),
}

/// Where the `ack` of a socket-sent message goes (HTTP callers get it as the reply instead).
#[derive(Clone)]
pub enum Origin {
    Visitor(Recipient<VisitorPush>),
    Operator(Recipient<OperatorPush>),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Ack {
    pub conversation_id: ConversationId,
    pub client_id: String,
    pub seq: i64,
    pub at: DateTime<Utc>,
}

/// A visitor socket subscribes: `welcome` (unless rejoining), then every visible event after
/// `last_seq`, then live events.
#[derive(Message)]
#[rtype(result = "AppResult<JoinReply>")]
pub struct Join {
    pub session: SessionId,
    pub contact: ContactId,
    pub recipient: Recipient<VisitorPush>,
    /// Replay every visible event after this seq first.
    pub last_seq: Option<i64>,
    /// A session re-subscribing after this actor was replaced: no second `welcome`.
    pub rejoin: bool,
}

pub struct JoinReply {
    /// Closes when this actor goes away.
    pub alive: watch::Receiver<()>,
    /// The seq the replay started after; replayed events follow in the session's mailbox.
    pub from: i64,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub session: SessionId,
}

/// A message or internal note; idempotent by (author, client_id).
#[derive(Message, Clone)]
#[rtype(result = "AppResult<Ack>")]
pub struct PostMessage {
    pub by: By,
    pub kind: EventKind,
    pub client_id: String,
    pub text: String,
    pub origin: Option<Origin>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Typing {
    pub by: By,
    pub active: bool,
}

#[derive(Message)]
#[rtype(result = "AppResult<()>")]
pub struct MarkRead {
    pub by: By,
    pub seq: i64,
}

#[derive(Message)]
#[rtype(result = "AppResult<()>")]
pub struct Rate {
    pub contact: ContactId,
    pub score: i16,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Action {
    /// The router's choice; only a pending, unassigned conversation accepts it.
    AutoAssign(OperatorIdentity),
    Take(OperatorIdentity),
    Resolve(OperatorIdentity),
    Close(OperatorIdentity),
}

#[derive(Message, Clone)]
#[rtype(result = "AppResult<ConversationSummary>")]
pub struct Act(pub Action);

/// An operator socket catching up: every event after `after`, then `ReplayDone`.
#[derive(Message)]
#[rtype(result = "AppResult<()>")]
pub struct Replay {
    pub operator: OperatorIdentity,
    pub after: i64,
    pub recipient: Recipient<OperatorPush>,
}

/// From the router: where this conversation now stands in the queue.
#[derive(Message)]
#[rtype(result = "()")]
pub struct QueuePosition(pub usize);

/// Persist what is not yet persisted and stop (graceful shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

/// Stop at once without persisting anything: what a crash looks like to everyone else.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Kill;

/// The conversation as loaded from its snapshot.
struct State {
    ticket: String,
    alias: String,
    contact: ContactId,
    channel: Channel,
    created_at: DateTime<Utc>,
    snap: Snapshot,
    /// Read marks changed since the last write.
    dirty: bool,
    /// The current assignee has answered since being assigned.
    answered: bool,
    /// (author_id, client_id) → the ack it got: retries are answered from here.
    sent: HashMap<(Option<Uuid>, String), (i64, DateTime<Utc>)>,
}

impl State {
    fn summary(&self) -> ConversationSummary {
        ConversationSummary {
            id: self.snap.id,
            ticket: self.ticket.clone(),
            status: self.snap.status,
            priority: self.snap.priority,
            level: self.snap.level,
            assignee: self.snap.assignee_id,
            channel: self.channel,
            alias: self.alias.clone(),
            tags: Vec::new(),
            last_seq: self.snap.last_seq,
            last_message_at: self.snap.last_message_at,
            unanswered: self.snap.unanswered,
            created_at: self.created_at,
        }
    }

    fn may_see(&self, op: &OperatorIdentity) -> bool {
        op.role.sees_all()
            || self.snap.status == ConversationStatus::Pending
            || self.snap.assignee_id == Some(op.id)
    }

    /// Writing to the customer or changing the status: the assignee, or anyone who sees all.
    fn may_act(&self, op: &OperatorIdentity) -> bool {
        op.role.sees_all() || self.snap.assignee_id == Some(op.id)
    }
}

/// A write the actor has decided on, to apply once it is committed.
struct Plan {
    events: Vec<EventRow>,
    snap: Snapshot,
    assignment: Option<AssignmentChange>,
    sent: Option<(Option<Uuid>, String)>,
    answered: Option<bool>,
    /// Sent to the origin after the commit and before the events fan out.
    ack: Option<(Ack, Option<Origin>)>,
}

pub struct Conversation {
    id: ConversationId,
    generation: u64,
    deps: ConversationDeps,
    registry: Weak<ConversationRegistry>,
    state: Option<State>,
    visitors: HashMap<SessionId, Recipient<VisitorPush>>,
    /// Dropped with the actor, which is how subscribed sessions notice it is gone.
    alive: watch::Sender<()>,
    last_activity: Instant,
}

impl Conversation {
    pub fn new(
        id: ConversationId,
        generation: u64,
        deps: ConversationDeps,
        registry: Weak<ConversationRegistry>,
    ) -> Self {
        Conversation {
            id,
            generation,
            deps,
            registry,
            state: None,
            visitors: HashMap::new(),
            alive: watch::channel(()).0,
            last_activity: Instant::now(),
        }
    }

    /// Runs `then` once the state is loaded, loading it first if needed (after start, or after
    /// a failed write, when what was committed is uncertain).
    fn with_state<R: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, &mut Context<Self>) -> ResponseActFuture<Self, AppResult<R>>
            + 'static,
    ) -> ResponseActFuture<Self, AppResult<R>> {
        self.last_activity = Instant::now();
        if self.state.is_some() {
            return then(self, ctx);
        }
        let load = load_state(self.deps.pool.clone(), self.id);
        Box::pin(
            fut::wrap_future::<_, Self>(load).then(move |loaded, act, ctx| match loaded {
                Ok(state) => {
                    act.state = Some(state);
                    then(act, ctx)
                }
                Err(e) => {
                    if matches!(e, AppError::NotFound(_)) {
                        ctx.stop();
                    }
                    Box::pin(fut::ready(Err(e)))
                }
            }),
        )
    }

    /// Commits `plan`; on success applies it and fans its events out, on failure forgets the
    /// state so the next request re-reads what was really stored.
    fn commit(&mut self, plan: Plan) -> ResponseActFuture<Self, AppResult<()>> {
        let job = WriteJob {
            events: plan.events.clone(),
            snapshot: plan.snap.clone(),
            assignment: plan.assignment.clone(),
        };
        let writer = self.deps.writer.clone();
        Box::pin(
            fut::wrap_future::<_, Self>(async move { writer.commit(job).await }).map(
                move |result, act, _ctx| match result {
                    Ok(()) => {
                        act.apply(plan);
                        Ok(())
                    }
                    Err(e) => {
                        act.state = None;
                        Err(e)
                    }
                },
            ),
        )
    }

    fn apply(&mut self, plan: Plan) {
        let Some(state) = self.state.as_mut() else {
            return;
        };
        let before = state.summary();
        state.snap = plan.snap;
        state.dirty = false;
        if let Some(answered) = plan.answered {
            state.answered = answered;
        }
        if let (Some(key), Some(last)) = (plan.sent, plan.events.last()) {
            state.sent.insert(key, (last.seq, last.created_at));
        }
        if let Some((ack, origin)) = &plan.ack {
            send_ack(origin.as_ref(), ack);
        }
        let after = state.summary();
        let changed = before.status != after.status
            || before.assignee != after.assignee
            || before.priority != after.priority
            || before.level != after.level;
        if changed {
            if before.status != after.status {
                self.push_visitors(
                    encode(&VisitorOut::Status {
                        status: after.status,
                        reason: None,
                    }),
                    None,
                );
            }
            self.deps.router.do_send(ConversationChanged(after));
        }
        for event in &plan.events {
            self.publish(event);
        }
    }

    fn publish(&mut self, event: &EventRow) {
        let Some((status, assignee)) = self
            .state
            .as_ref()
            .map(|s| (s.snap.status, s.snap.assignee_id))
        else {
            return;
        };
        if event.kind != EventKind::Note {
            let frame = encode(&VisitorOut::Event {
                seq: event.seq,
                kind: event.kind,
                author: event.author,
                name: &self.visitor_facing_name(event),
                text: &event.body,
                at: event.created_at,
            });
            self.push_visitors(frame, Some(event.seq));
        }
        self.deps.router.do_send(Publish {
            conversation: self.id,
            status,
            assignee,
            frame: operator_event_frame(event),
            seq: Some(event.seq),
        });
    }

    fn visitor_facing_name(&self, event: &EventRow) -> String {
        visitor_facing_name(&self.deps.config, event)
    }

    fn push_visitors(&mut self, frame: bytestring::ByteString, seq: Option<i64>) {
        self.visitors.retain(|_, recipient| {
            recipient
                .try_send(VisitorPush {
                    frame: frame.clone(),
                    seq,
                })
                .is_ok()
        });
    }

    fn publish_to_operators(&self, frame: bytestring::ByteString) {
        if let Some(state) = self.state.as_ref() {
            self.deps.router.do_send(Publish {
                conversation: self.id,
                status: state.snap.status,
                assignee: state.snap.assignee_id,
                frame,
                seq: None,
            });
        }
    }

    fn plan_post(&self, msg: &PostMessage, now: DateTime<Utc>) -> AppResult<Result<Plan, Ack>> {
        let config = &self.deps.config;
        let client_id = msg.client_id.as_str();
        if client_id.is_empty() || client_id.chars().count() > MAX_CLIENT_ID_CHARS {
            return Err(AppError::invalid(
                "client_id",
                format!("client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters"),
            ));
        }
        if msg.text.trim().is_empty() {
            return Err(AppError::invalid("text", "text must not be empty"));
        }
        if msg.text.chars().count() > config.max_text_chars {
            return Err(AppError::TooLong(format!(
                "text is longer than {} characters",
                config.max_text_chars
            )));
        }
        let state = self.state.as_ref().ok_or(AppError::Unavailable)?;
        let (author, author_id, author_name) = match &msg.by {
            By::Visitor(contact) => {
                if *contact != state.contact || msg.kind != EventKind::Message {
                    return Err(AppError::Forbidden("not your conversation".into()));
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
                conversation_id: self.id,
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
            conversation_id: self.id,
            seq: snap.last_seq,
            kind: msg.kind,
            author,
            author_id: Some(author_id),
            author_name,
            body: msg.text.clone(),
            data: None,
            client_id: Some(client_id.to_owned()),
            created_at: now,
        });
        if msg.kind == EventKind::Message {
            snap.last_message_at = Some(now);
            match &msg.by {
                By::Visitor(_) => snap.unanswered += 1,
                By::Operator(op) => {
                    snap.unanswered = 0;
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
            conversation_id: self.id,
            client_id: client_id.to_owned(),
            seq: snap.last_seq,
            at: now,
        };
        Ok(Ok(Plan {
            events,
            snap,
            assignment,
            sent: Some(key),
            answered,
            ack: Some((ack, msg.origin.clone())),
        }))
    }

    fn system_event(
        &self,
        snap: &mut Snapshot,
        now: DateTime<Utc>,
        text: &str,
        data: serde_json::Value,
    ) -> EventRow {
        snap.last_seq += 1;
        EventRow {
            conversation_id: self.id,
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

    /// Decides an action; `Ok(None)` means there is nothing to change.
    fn plan_action(&self, action: &Action, now: DateTime<Utc>) -> AppResult<Option<Plan>> {
        let state = self.state.as_ref().ok_or(AppError::Unavailable)?;
        let mut snap = state.snap.clone();
        let status = snap.status;
        let assign = |snap: &mut Snapshot, op: &OperatorIdentity, kind: AssignmentKind| {
            snap.status = ConversationStatus::Active;
            snap.assignee_id = Some(op.id);
            snap.assigned_at = Some(now);
            let data = serde_json::json!({
                "action": "assigned", "kind": kind, "operator_id": op.id, "operator_name": op.name,
            });
            let event = self.system_event(snap, now, "An operator joined the conversation", data);
            (
                event,
                AssignmentChange::Reassign {
                    to: Some((op.id, kind)),
                },
            )
        };
        let (event, change) = match action {
            Action::AutoAssign(op) => {
                if status != ConversationStatus::Pending || snap.assignee_id.is_some() {
                    return Err(AppError::conflict(
                        "not_pending",
                        "the conversation is not waiting",
                    ));
                }
                assign(&mut snap, op, AssignmentKind::Auto)
            }
            Action::Take(op) => {
                if !state.may_see(op) {
                    return Err(AppError::Forbidden(
                        "you may not act on this conversation".into(),
                    ));
                }
                match status {
                    ConversationStatus::Active if snap.assignee_id == Some(op.id) => {
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
                assign(&mut snap, op, AssignmentKind::Take)
            }
            Action::Resolve(op) => {
                if !state.may_act(op) {
                    return Err(AppError::Forbidden(
                        "you may not act on this conversation".into(),
                    ));
                }
                match status {
                    ConversationStatus::Closed => {
                        return Err(AppError::conflict(
                            "conversation_closed",
                            "the conversation is closed",
                        ))
                    }
                    ConversationStatus::Resolved => {
                        return Err(AppError::conflict(
                            "already_resolved",
                            "the conversation is already resolved",
                        ))
                    }
                    _ => {}
                }
                snap.status = ConversationStatus::Resolved;
                snap.resolved_at = Some(now);
                let data = serde_json::json!({"action": "resolved", "operator_id": op.id, "operator_name": op.name});
                let event =
                    self.system_event(&mut snap, now, "The conversation was resolved", data);
                (event, AssignmentChange::Reassign { to: None })
            }
            Action::Close(op) => {
                if !state.may_act(op) {
                    return Err(AppError::Forbidden(
                        "you may not act on this conversation".into(),
                    ));
                }
                if status == ConversationStatus::Closed {
                    return Err(AppError::conflict(
                        "already_closed",
                        "the conversation is already closed",
                    ));
                }
                snap.status = ConversationStatus::Closed;
                snap.closed_at = Some(now);
                let data = serde_json::json!({"action": "closed", "operator_id": op.id, "operator_name": op.name});
                let event = self.system_event(&mut snap, now, "The conversation was closed", data);
                (event, AssignmentChange::Reassign { to: None })
            }
        };
        snap.updated_at = now;
        let answered = matches!(action, Action::AutoAssign(_) | Action::Take(_)).then_some(false);
        Ok(Some(Plan {
            events: vec![event],
            snap,
            assignment: Some(change),
            sent: None,
            answered,
            ack: None,
        }))
    }

    fn state_summary(&self) -> AppResult<ConversationSummary> {
        self.state
            .as_ref()
            .map(State::summary)
            .ok_or(AppError::Unavailable)
    }
}

/// The name a customer sees on an event: their own alias, the team's name (or an operator's
/// first name, if so configured), or "System" — never more about an operator.
pub fn visitor_facing_name(config: &Config, event: &EventRow) -> String {
    match event.author {
        Author::Visitor => event.author_name.clone(),
        Author::System => SYSTEM_NAME.to_owned(),
        Author::Operator => match config.operator_display {
            OperatorDisplay::Team => config.support_name.clone(),
            OperatorDisplay::FirstName => event
                .author_name
                .split_whitespace()
                .next()
                .unwrap_or(&config.support_name)
                .to_owned(),
        },
    }
}

fn operator_event_frame(event: &EventRow) -> bytestring::ByteString {
    encode(&OperatorOut::Event {
        conversation_id: event.conversation_id,
        seq: event.seq,
        kind: event.kind,
        author: event.author,
        name: &event.author_name,
        text: &event.body,
        at: event.created_at,
        data: event.data.as_ref(),
    })
}

async fn load_state(pool: DbPool, id: ConversationId) -> AppResult<State> {
    let mut conn = pool.get().await?;
    let (row, alias) = conversations::find(&mut conn, id)
        .await
        .map_err(|e| match e {
            diesel::result::Error::NotFound => AppError::not_found("conversation"),
            other => other.into(),
        })?;
    let stored_max = events::max_seq(&mut conn, id).await?;
    let answered = conversations::open_assignment_answered(&mut conn, id).await?;
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
        created_at: row.created_at,
        snap,
        dirty: false,
        answered,
        sent,
    })
}

async fn load_events_after(
    pool: DbPool,
    id: ConversationId,
    mut after: i64,
    upto: i64,
) -> AppResult<Vec<EventRow>> {
    let mut conn = pool.get().await?;
    let mut all = Vec::new();
    while after < upto {
        let page = events::after(&mut conn, id, after, REPLAY_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        all.extend(page.into_iter().filter(|e| e.seq <= upto));
    }
    Ok(all)
}

impl Actor for Conversation {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let idle = self.deps.config.conversation_idle();
        let tick = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
        ctx.run_interval(tick, move |act, ctx| {
            act.visitors.retain(|_, r| r.connected());
            if act.visitors.is_empty() && act.last_activity.elapsed() >= idle {
                ctx.notify(Flush);
            }
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if let Some(registry) = self.registry.upgrade() {
            registry.forget(self.id, self.generation);
        }
    }
}

impl Handler<Join> for Conversation {
    type Result = AtomicResponse<Self, AppResult<JoinReply>>;

    fn handle(&mut self, msg: Join, ctx: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.with_state(ctx, move |act, _ctx| {
            let (contact, last_seq, status) = match act.state.as_ref() {
                Some(s) => (s.contact, s.snap.last_seq, s.snap.status),
                None => return Box::pin(fut::ready(Err(AppError::Unavailable))),
            };
            if contact != msg.contact {
                return Box::pin(fut::ready(Err(AppError::Forbidden(
                    "not your conversation".into(),
                ))));
            }
            let from = msg.last_seq.unwrap_or(last_seq).clamp(0, last_seq);
            let load = load_events_after(act.deps.pool.clone(), act.id, from, last_seq);
            Box::pin(
                fut::wrap_future::<_, Self>(load).map(move |loaded, act, _ctx| {
                    let replay = loaded?;
                    let state = act.state.as_ref().ok_or(AppError::Unavailable)?;
                    if !msg.rejoin {
                        let welcome = encode(&VisitorOut::Welcome {
                            conversation_id: act.id,
                            ticket: &state.ticket,
                            status,
                            last_seq,
                        });
                        let _ = msg.recipient.try_send(VisitorPush {
                            frame: welcome,
                            seq: None,
                        });
                    }
                    for event in replay.iter().filter(|e| e.kind != EventKind::Note) {
                        let frame = encode(&VisitorOut::Event {
                            seq: event.seq,
                            kind: event.kind,
                            author: event.author,
                            name: &act.visitor_facing_name(event),
                            text: &event.body,
                            at: event.created_at,
                        });
                        let _ = msg.recipient.try_send(VisitorPush {
                            frame,
                            seq: Some(event.seq),
                        });
                    }
                    act.visitors.insert(msg.session, msg.recipient);
                    if status == ConversationStatus::Pending {
                        act.deps.router.do_send(QueryPosition(act.id));
                    }
                    Ok(JoinReply {
                        alive: act.alive.subscribe(),
                        from,
                    })
                }),
            )
        }))
    }
}

impl Handler<Leave> for Conversation {
    type Result = ();

    fn handle(&mut self, msg: Leave, _ctx: &mut Context<Self>) {
        self.visitors.remove(&msg.session);
        self.last_activity = Instant::now();
    }
}

impl Handler<PostMessage> for Conversation {
    type Result = AtomicResponse<Self, AppResult<Ack>>;

    fn handle(&mut self, msg: PostMessage, ctx: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.with_state(ctx, move |act, _ctx| {
            let plan = match act.plan_post(&msg, Utc::now()) {
                Ok(Ok(plan)) => plan,
                Ok(Err(original)) => {
                    send_ack(msg.origin.as_ref(), &original);
                    return Box::pin(fut::ready(Ok(original)));
                }
                Err(e) => return Box::pin(fut::ready(Err(e))),
            };
            let ack = plan.ack.as_ref().map(|(ack, _)| ack.clone());
            Box::pin(
                act.commit(plan).map(move |result, _act, _ctx| {
                    result.and_then(|()| ack.ok_or(AppError::Internal))
                }),
            )
        }))
    }
}

fn send_ack(origin: Option<&Origin>, ack: &Ack) {
    match origin {
        Some(Origin::Visitor(r)) => {
            let frame = encode(&VisitorOut::Ack {
                client_id: &ack.client_id,
                seq: ack.seq,
                at: ack.at,
            });
            let _ = r.try_send(VisitorPush { frame, seq: None });
        }
        Some(Origin::Operator(r)) => {
            let frame = encode(&OperatorOut::Ack {
                conversation_id: ack.conversation_id,
                client_id: &ack.client_id,
                seq: ack.seq,
                at: ack.at,
            });
            let _ = r.try_send(OperatorPush::Frame { frame, event: None });
        }
        None => {}
    }
}

impl Handler<Act> for Conversation {
    type Result = AtomicResponse<Self, AppResult<ConversationSummary>>;

    fn handle(&mut self, msg: Act, ctx: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.with_state(ctx, move |act, _ctx| {
            match act.plan_action(&msg.0, Utc::now()) {
                Ok(Some(plan)) => Box::pin(
                    act.commit(plan)
                        .map(|result, act, _ctx| result.and_then(|()| act.state_summary())),
                ),
                Ok(None) => Box::pin(fut::ready(act.state_summary())),
                Err(e) => Box::pin(fut::ready(Err(e))),
            }
        }))
    }
}

impl Handler<Typing> for Conversation {
    type Result = ();

    fn handle(&mut self, msg: Typing, _ctx: &mut Context<Self>) {
        let Some(state) = self.state.as_ref() else {
            return;
        };
        match &msg.by {
            By::Visitor(contact) if *contact == state.contact => {
                self.publish_to_operators(encode(&OperatorOut::Typing {
                    conversation_id: self.id,
                    author: Author::Visitor,
                    active: msg.active,
                }));
            }
            By::Operator(op) if state.may_act(op) => {
                self.push_visitors(
                    encode(&VisitorOut::Typing {
                        author: Author::Operator,
                        active: msg.active,
                    }),
                    None,
                );
                self.publish_to_operators(encode(&OperatorOut::Typing {
                    conversation_id: self.id,
                    author: Author::Operator,
                    active: msg.active,
                }));
            }
            _ => {}
        }
    }
}

impl Handler<MarkRead> for Conversation {
    type Result = AtomicResponse<Self, AppResult<()>>;

    fn handle(&mut self, msg: MarkRead, ctx: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.with_state(ctx, move |act, _ctx| {
            let result = act.mark_read(&msg);
            Box::pin(fut::ready(result))
        }))
    }
}

impl Conversation {
    fn mark_read(&mut self, msg: &MarkRead) -> AppResult<()> {
        let id = self.id;
        let state = self.state.as_mut().ok_or(AppError::Unavailable)?;
        if msg.seq < 0 || msg.seq > state.snap.last_seq {
            return Err(AppError::invalid("seq", "seq is beyond the last event"));
        }
        let author = match &msg.by {
            By::Visitor(contact) if *contact == state.contact => {
                if msg.seq <= state.snap.visitor_read_seq {
                    return Ok(());
                }
                state.snap.visitor_read_seq = msg.seq;
                Author::Visitor
            }
            By::Operator(op) if state.may_see(op) => {
                if msg.seq <= state.snap.operator_read_seq {
                    return Ok(());
                }
                state.snap.operator_read_seq = msg.seq;
                Author::Operator
            }
            _ => {
                return Err(AppError::Forbidden(
                    "you may not act on this conversation".into(),
                ))
            }
        };
        state.dirty = true;
        if author == Author::Operator {
            self.push_visitors(
                encode(&VisitorOut::Read {
                    author,
                    seq: msg.seq,
                }),
                None,
            );
        }
        self.publish_to_operators(encode(&OperatorOut::Read {
            conversation_id: id,
            author,
            seq: msg.seq,
        }));
        Ok(())
    }
}

impl Handler<Rate> for Conversation {
    type Result = AtomicResponse<Self, AppResult<()>>;

    fn handle(&mut self, msg: Rate, ctx: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.with_state(ctx, move |act, _ctx| {
            let check = act
                .state
                .as_ref()
                .ok_or(AppError::Unavailable)
                .and_then(|s| {
                    if s.contact != msg.contact {
                        return Err(AppError::Forbidden("not your conversation".into()));
                    }
                    if !matches!(
                        s.snap.status,
                        ConversationStatus::Resolved | ConversationStatus::Closed
                    ) {
                        return Err(AppError::conflict(
                            "not_resolved",
                            "a conversation can be rated once it is resolved",
                        ));
                    }
                    if !(1..=5).contains(&msg.score) {
                        return Err(AppError::invalid("score", "score must be 1 to 5"));
                    }
                    if msg
                        .comment
                        .as_ref()
                        .is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS)
                    {
                        return Err(AppError::TooLong(format!(
                            "comment is longer than {MAX_COMMENT_CHARS} characters"
                        )));
                    }
                    Ok(())
                });
            if let Err(e) = check {
                return Box::pin(fut::ready(Err(e)));
            }
            let pool = act.deps.pool.clone();
            let id = act.id;
            let (score, comment) = (msg.score, msg.comment);
            let write = async move {
                use crate::db::schema::conversations as c;
                let mut conn = pool.get().await?;
                diesel::update(c::table.find(id))
                    .set((
                        c::rating.eq(score),
                        c::rating_comment.eq(comment),
                        c::rated_at.eq(Utc::now()),
                    ))
                    .execute(&mut conn)
                    .await?;
                AppResult::Ok(())
            };
            Box::pin(
                fut::wrap_future::<_, Self>(write).map(move |result, act, _ctx| {
                    result?;
                    act.push_visitors(encode(&VisitorOut::Rated { score }), None);
                    Ok(())
                }),
            )
        }))
    }
}

impl Handler<Replay> for Conversation {
    type Result = AtomicResponse<Self, AppResult<()>>;

    fn handle(&mut self, msg: Replay, ctx: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.with_state(ctx, move |act, _ctx| {
            let Some(state) = act.state.as_ref() else {
                return Box::pin(fut::ready(Err(AppError::Unavailable)));
            };
            if !state.may_see(&msg.operator) {
                return Box::pin(fut::ready(Err(AppError::Forbidden(
                    "you may not see this conversation".into(),
                ))));
            }
            let upto = state.snap.last_seq;
            let load = load_events_after(act.deps.pool.clone(), act.id, msg.after.max(0), upto);
            let id = act.id;
            Box::pin(
                fut::wrap_future::<_, Self>(load).map(move |loaded, _act, _ctx| {
                    for event in loaded? {
                        let _ = msg.recipient.try_send(OperatorPush::Replayed {
                            frame: operator_event_frame(&event),
                            conversation: id,
                            seq: event.seq,
                        });
                    }
                    let _ = msg
                        .recipient
                        .try_send(OperatorPush::ReplayDone { conversation: id });
                    Ok(())
                }),
            )
        }))
    }
}

impl Handler<QueuePosition> for Conversation {
    type Result = ();

    fn handle(&mut self, msg: QueuePosition, _ctx: &mut Context<Self>) {
        self.push_visitors(encode(&VisitorOut::Queue { position: msg.0 }), None);
    }
}

impl Handler<Flush> for Conversation {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _msg: Flush, _ctx: &mut Context<Self>) -> Self::Result {
        let dirty = self.state.as_ref().filter(|s| s.dirty).map(|s| WriteJob {
            events: Vec::new(),
            snapshot: s.snap.clone(),
            assignment: None,
        });
        let writer = self.deps.writer.clone();
        AtomicResponse::new(Box::pin(
            fut::wrap_future::<_, Self>(async move {
                if let Some(job) = dirty {
                    if let Err(e) = writer.commit(job).await {
                        tracing::warn!(error = %e, "read marks not persisted at stop");
                    }
                }
            })
            .map(|(), _act, ctx| ctx.stop()),
        ))
    }
}

impl Handler<Kill> for Conversation {
    type Result = ();

    fn handle(&mut self, _msg: Kill, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// What a new conversation starts with.
pub struct OpenRequest {
    pub channel: Channel,
    pub language: String,
    pub metadata: serde_json::Value,
    pub first_message: Option<String>,
    pub token_ttl: chrono::Duration,
}

pub struct Opened {
    pub token: String,
    pub summary: ConversationSummary,
}

/// Opens a conversation: its contact, the conversation itself, the widget token and the
/// optional first message (seq 1), in one transaction. No actor exists for it yet, so nothing
/// else can be writing its events; the router is told once it is committed.
pub async fn open(pool: &DbPool, router: &Addr<Router>, request: OpenRequest) -> AppResult<Opened> {
    use crate::db::conversations::{NewContact, NewConversation};
    use crate::db::sessions::{self, NewWidgetSession};
    use crate::domain::Priority;
    use crate::ticket;
    use diesel_async::AsyncConnection;

    const TICKET_ATTEMPTS: usize = 5;
    let mut conn = pool.get().await?;
    for _ in 0..TICKET_ATTEMPTS {
        let now = Utc::now();
        let ticket = ticket::new_ticket(now);
        let alias = ticket::alias_for(&ticket);
        let id = ConversationId::new();
        let contact = ContactId::new();
        let (token, token_hash) = crate::auth::new_token();
        let first = request.first_message.as_ref().map(|text| EventRow {
            conversation_id: id,
            seq: 1,
            kind: EventKind::Message,
            author: Author::Visitor,
            author_id: Some(contact.0),
            author_name: alias.clone(),
            body: text.clone(),
            data: None,
            client_id: None,
            created_at: now,
        });
        let inserted = conn
            .transaction::<(), diesel::result::Error, _>(async |conn| {
                conversations::insert_contact(
                    conn,
                    &NewContact {
                        id: contact,
                        alias: &alias,
                        language: &request.language,
                    },
                )
                .await?;
                conversations::insert(
                    conn,
                    &NewConversation {
                        id,
                        ticket: &ticket,
                        contact_id: contact,
                        channel: request.channel,
                        status: ConversationStatus::Pending,
                        priority: Priority::Medium,
                        language: &request.language,
                        metadata: &request.metadata,
                        created_at: now,
                        updated_at: now,
                        last_seq: i64::from(first.is_some()),
                        last_message_at: first.as_ref().map(|_| now),
                        unanswered: i32::from(first.is_some()),
                    },
                )
                .await?;
                sessions::insert_widget_session(
                    conn,
                    &NewWidgetSession {
                        id: Uuid::now_v7(),
                        contact_id: contact,
                        conversation_id: id,
                        token_hash: &token_hash,
                        expires_at: now + request.token_ttl,
                    },
                )
                .await?;
                if let Some(event) = &first {
                    diesel::insert_into(crate::db::schema::events::table)
                        .values(event)
                        .execute(conn)
                        .await?;
                }
                Ok(())
            })
            .await;
        match inserted {
            Ok(()) => {
                let (row, alias) = conversations::find(&mut conn, id).await?;
                let summary = ConversationSummary::from(&(row, alias));
                router.do_send(ConversationChanged(summary.clone()));
                if let Some(event) = &first {
                    router.do_send(Publish {
                        conversation: id,
                        status: summary.status,
                        assignee: None,
                        frame: operator_event_frame(event),
                        seq: Some(event.seq),
                    });
                }
                return Ok(Opened { token, summary });
            }
            // A ticket collision: draw another.
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Internal)
}
