//! One actor per live conversation. It is the only writer of its conversation's events: it
//! checks each request against the conversation's rules, assigns the next `seq`, has the event
//! committed (with its snapshot) and only then acknowledges it and fans it out. Handlers that
//! write are atomic, so a conversation has one total order and no gaps.

mod actions;
mod automate;
mod erase;
mod fanout;
mod open;
mod state;
mod typing;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use governor::{DefaultDirectRateLimiter, RateLimiter};
use tokio::sync::watch;

use super::operator_session::OperatorPush;
use super::outbox::Outlet;
use super::registry::ConversationRegistry;
use super::router::{ConversationChanged, Publish, QueryPosition, Router, Routing};
use super::visitor_session::VisitorPush;
use crate::auth::OperatorIdentity;
use crate::config::{quota_per_second, Config};
use crate::db::event_writer::{EventWriter, TagChange, WriteJob};
use crate::db::events::EventRow;
use crate::db::DbPool;
use crate::domain::{Author, ConversationStatus, EventKind};
use crate::error::{AppError, AppResult};
use crate::ids::{ContactId, ConversationId, SessionId, TagId};
use crate::protocol::{encode, ConversationSummary, OperatorOut, VisitorOut};

pub use actions::{Action, Unassigned};
use fanout::send_ack;
pub use fanout::{
    operator_event_frame, system_action, visible_to_visitor, visitor_action, visitor_event_frame,
    visitor_facing_name,
};
pub use open::{open, Customer, First, OpenRequest, Opened};
use state::{load_state, Plan, State};
use typing::TypingGate;

const SYSTEM_NAME: &str = "System";
/// actix parks a sender once a mailbox holds its capacity (16 by default), and a request
/// parked in a socket's actor is dropped if that socket closes: a read mark or a message sent
/// just before a disconnect would be lost. A busy conversation gets room for bursts instead.
const MAILBOX_CAPACITY: usize = 1024;
pub const MAX_CLIENT_ID_CHARS: usize = 64;
pub const MAX_COMMENT_CHARS: usize = 1000;

/// What every Conversation actor needs; shared by all of them.
#[derive(Clone)]
pub struct ConversationDeps {
    pub pool: DbPool,
    pub writer: EventWriter,
    pub router: Addr<Router>,
    pub config: Arc<Config>,
    /// Woken when Telegram calls were committed (the gateway sends them).
    pub telegram_outbox: Arc<tokio::sync::Notify>,
    /// What the bot says to customers, with the texts admins wrote.
    pub telegram_texts: Arc<crate::telegram::texts::Texts>,
    /// The time conversations go by (tests move a manual clock).
    pub clock: crate::clock::SharedClock,
    /// Auto-replies, escalation rules, business hours, and the scheduler's wake-up.
    pub automation: Arc<crate::automation::Automation>,
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
    Visitor(Outlet<VisitorPush>),
    Operator(Outlet<OperatorPush>),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
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
    pub recipient: Outlet<VisitorPush>,
    /// Replay every visible event after this seq first.
    pub last_seq: Option<i64>,
    /// A session re-subscribing after this actor was replaced: no second `welcome`.
    pub rejoin: bool,
}

pub struct JoinReply {
    /// Closes when this actor goes away.
    pub alive: watch::Receiver<()>,
    /// The session replays the visible events after `from` up to `upto` itself, from the
    /// database, at the pace its client reads; live events (after `upto`) are pushed.
    pub from: i64,
    pub upto: i64,
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
    /// Details stored with the event (media kind, the message an edit replaces); from the
    /// server, never from a client.
    pub data: Option<serde_json::Value>,
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

#[derive(Message, Clone)]
#[rtype(result = "AppResult<ConversationSummary>")]
pub struct Act(pub Action);

/// An operator socket is about to catch up: may they see this conversation, and up to which
/// seq is it stored (the session reads the events itself; later ones reach it live)?
#[derive(Message)]
#[rtype(result = "AppResult<i64>")]
pub struct Replay {
    pub operator: OperatorIdentity,
}

/// From the router: where this conversation now stands in the queue.
#[derive(Message)]
#[rtype(result = "()")]
pub struct QueuePosition {
    pub position: usize,
    pub estimated_wait_secs: Option<u64>,
}

/// A tag was renamed (`name`) or deleted (`None`): conversations carrying it show the change.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct TagChanged {
    pub tag: TagId,
    pub name: Option<String>,
}

/// Tells every running conversation about a tag change committed by the caller. Actors started
/// later read their tags from the database, after the change.
pub fn tag_changed(registry: &ConversationRegistry, tag: TagId, name: Option<String>) {
    for addr in registry.all_running() {
        addr.do_send(TagChanged {
            tag,
            name: name.clone(),
        });
    }
}

/// The customer was blocked (`Some(until)`) or unblocked (`None`).
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct ContactBlocked {
    pub contact: ContactId,
    pub block: Option<Option<DateTime<Utc>>>,
}

impl Handler<ContactBlocked> for Conversation {
    type Result = ();

    fn handle(&mut self, msg: ContactBlocked, _ctx: &mut Context<Self>) {
        if let Some(state) = self.state.as_mut().filter(|s| s.contact == msg.contact) {
            state.blocked = msg.block;
        }
    }
}

/// From the router: delete this conversation if nobody ever wrote in it and no visitor is
/// connected (an unused widget session past its time); true when it was deleted.
#[derive(Message)]
#[rtype(result = "AppResult<bool>")]
pub struct PurgeIfEmpty;

/// Persist what is not yet persisted and stop (graceful shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

/// Write changed read marks to the snapshot (scheduled `READ_MARK_DELAY` after a change).
#[derive(Message)]
#[rtype(result = "()")]
struct PersistReads;

/// Read marks reach the database at most this long after they change, or sooner with the
/// next event, so lists and reloaded panels show them; a burst of marks costs one write.
const READ_MARK_DELAY: Duration = Duration::from_secs(2);

/// From the scheduler: a stored deadline of this conversation fell due.
#[derive(Message)]
#[rtype(result = "AppResult<()>")]
pub struct DeadlineDue {
    /// `None`: a kind this version does not know (its row is dropped).
    pub kind: Option<crate::automation::deadlines::Kind>,
    pub due_at: DateTime<Utc>,
}

/// Stop at once without persisting anything: what a crash looks like to everyone else.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Kill;

pub struct Conversation {
    id: ConversationId,
    generation: u64,
    deps: ConversationDeps,
    registry: Weak<ConversationRegistry>,
    state: Option<State>,
    visitors: HashMap<SessionId, Outlet<VisitorPush>>,
    /// The visitor's message rate, across all their sockets.
    visitor_limiter: DefaultDirectRateLimiter,
    /// Typing frames from the customer to operators, and from operators to the customer.
    typing_in: TypingGate,
    typing_out: TypingGate,
    /// Tags deleted while this actor runs: an add that raced the deletion is not shown (the
    /// database skipped it already).
    deleted_tags: HashSet<TagId>,
    /// Dropped with the actor, which is how subscribed sessions notice it is gone.
    alive: watch::Sender<()>,
    last_activity: Instant,
    /// A `PersistReads` is on its way.
    reads_scheduled: bool,
    /// The queue position the visitors' sockets were last told (a socket joining resets it).
    queue_told: Option<usize>,
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
            registry,
            state: None,
            visitors: HashMap::new(),
            visitor_limiter: RateLimiter::direct(quota_per_second(
                deps.config.visitor_messages_per_sec,
                deps.config.visitor_burst,
            )),
            typing_in: TypingGate::default(),
            typing_out: TypingGate::default(),
            deleted_tags: HashSet::new(),
            deps,
            alive: watch::channel(()).0,
            last_activity: Instant::now(),
            reads_scheduled: false,
            queue_told: None,
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
        use crate::automation::deadlines::{changes, Kind};
        let now = self.deps.clock.now();
        let deadlines = self
            .state
            .as_ref()
            .map(|s| {
                let mut wanted = s.wanted_deadlines(&plan.snap, &self.deps);
                // The first message's automation clears its own deadline; nothing else may.
                if let (Some(due), false) = (s.armed.get(&Kind::Automate), plan.first_automated) {
                    wanted.insert(Kind::Automate, *due);
                }
                changes(&s.armed, &wanted, now)
            })
            .unwrap_or_default();
        // A deadline that found nothing to do and nothing to move: no write.
        if plan.events.is_empty()
            && deadlines.is_empty()
            && self.state.as_ref().is_some_and(|s| plan.snap == s.snap)
        {
            return Box::pin(fut::ready(Ok(())));
        }
        let outbox = self
            .state
            .as_ref()
            .map(|s| s.telegram_calls(&self.deps.config, &self.deps.telegram_texts, &plan.events))
            .unwrap_or_default();
        let wake = (!outbox.is_empty()).then(|| self.deps.telegram_outbox.clone());
        let job = WriteJob {
            events: plan.events.clone(),
            snapshot: plan.snap.clone(),
            assignment: plan.assignment.clone(),
            audit: plan.audit.clone(),
            tag: plan.tag,
            outbox,
            deadlines: deadlines.clone(),
        };
        let writer = self.deps.writer.clone();
        Box::pin(
            fut::wrap_future::<_, Self>(async move { writer.commit(job).await }).map(
                move |result, act, _ctx| match result {
                    Ok(()) => {
                        if let Some(wake) = wake {
                            wake.notify_one();
                        }
                        // Idle time runs from the end of the write, not its start.
                        act.last_activity = Instant::now();
                        act.armed(&deadlines);
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

    /// The deadlines just stored; the scheduler hears of the earliest new one.
    fn armed(&mut self, changes: &[crate::automation::deadlines::Change]) {
        use crate::automation::deadlines::{apply, Change};
        if let Some(state) = self.state.as_mut() {
            apply(&mut state.armed, changes);
        }
        let earliest = changes
            .iter()
            .filter_map(|c| match c {
                Change::Set(_, due) => Some(*due),
                Change::Clear(_) => None,
            })
            .min();
        if let Some(due) = earliest {
            self.deps.automation.timers.arm(due);
        }
    }

    /// Every online supervisor hears of an escalation.
    fn tell_supervisors(&self, event: &EventRow) {
        let Some(state) = self.state.as_ref() else {
            return;
        };
        let data = event.data.as_ref();
        let trigger = data
            .and_then(|d| d.get("trigger"))
            .and_then(|t| t.as_str())
            .unwrap_or("manual");
        let frame = encode(&OperatorOut::Escalation {
            conversation_id: self.id,
            ticket: &state.ticket,
            alias: &state.alias,
            level: state.snap.level,
            priority: state.snap.priority,
            trigger,
            at: event.created_at,
        });
        self.deps
            .router
            .do_send(super::router::NotifySupervisors(frame));
    }

    fn apply(&mut self, plan: Plan) {
        let Some(state) = self.state.as_mut() else {
            return;
        };
        let before = state.summary();
        let answered_before = state.answered;
        if state.snap.assignee_id.is_some() && state.snap.assignee_id != plan.snap.assignee_id {
            state.previous_assignee = state.snap.assignee_id;
        }
        state.snap = plan.snap;
        state.dirty = false;
        if let Some(answered) = plan.answered {
            state.answered = answered;
        }
        match &plan.tag {
            Some(TagChange::Add(tag)) if self.deleted_tags.contains(tag) => {}
            Some(TagChange::Add(tag)) => state
                .tags
                .push((*tag, plan.tag_name.clone().unwrap_or_default())),
            Some(TagChange::Remove(tag)) => state.tags.retain(|(t, _)| t != tag),
            None => {}
        }
        state.tags.sort_by(|a, b| a.1.cmp(&b.1));
        // A retry is answered with the message's own seq (automation may have added events
        // after it).
        if let (Some(key), Some((ack, _))) = (plan.sent, plan.ack.as_ref()) {
            state.sent.insert(key, (ack.seq, ack.at));
        }
        if let Some((ack, origin)) = &plan.ack {
            send_ack(origin.as_ref(), ack);
        }
        let after = state.summary();
        let routing_changed = before.status != after.status
            || before.assignee != after.assignee
            || before.priority != after.priority
            || before.level != after.level
            || before.group_id != after.group_id
            || before.tags != after.tags
            || before.category != after.category
            || before.is_dormant() != after.is_dormant()
            || answered_before != state.answered;
        if routing_changed {
            if before.status != after.status {
                self.push_visitors(
                    encode(&VisitorOut::Status {
                        status: after.status,
                        reason: None,
                    }),
                    None,
                );
            }
            self.notify_router();
        }
        for event in &plan.events {
            self.publish(event);
            if system_action(event) == Some("escalated") {
                self.tell_supervisors(event);
            }
        }
    }

    /// Tells the router where this conversation stands now.
    fn notify_router(&self) {
        if let Some(state) = self.state.as_ref() {
            self.deps.router.do_send(ConversationChanged {
                summary: state.summary(),
                routing: Routing {
                    answered: state.answered,
                    assigned_at: state.snap.assigned_at,
                    preferred: state.previous_assignee,
                },
            });
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
        if visible_to_visitor(event) {
            let frame = visitor_event_frame(&self.deps.config, event);
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

    fn state(&self) -> AppResult<&State> {
        self.state.as_ref().ok_or(AppError::Unavailable)
    }

    /// Through each socket's outbox: a socket too far behind gets nothing more (it closes and
    /// resumes by seq); one that is gone is forgotten.
    fn push_visitors(&mut self, frame: bytestring::ByteString, seq: Option<i64>) {
        self.visitors.retain(|_, outlet| {
            outlet.push(VisitorPush::new(frame.clone(), seq));
            outlet.alive()
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

    fn state_summary(&self) -> AppResult<ConversationSummary> {
        self.state
            .as_ref()
            .map(State::summary)
            .ok_or(AppError::Unavailable)
    }
}

impl Actor for Conversation {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        let idle = self.deps.config.conversation_idle();
        let tick = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
        ctx.run_interval(tick, move |act, ctx| {
            if act.is_idle() {
                // Through the mailbox, behind whatever already waits there: a read mark or a
                // message queued just before the visitor left is handled, not dropped.
                ctx.address().do_send(StopIfIdle);
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
            act.visitors.retain(|_, outlet| outlet.alive());
            let cap = act.deps.config.sockets_per_widget_token.max(1);
            if act.visitors.len() >= cap && !act.visitors.contains_key(&msg.session) {
                return Box::pin(fut::ready(Err(AppError::conflict(
                    crate::protocol::TOO_MANY_SOCKETS,
                    format!("this conversation already has {cap} sockets open"),
                ))));
            }
            let from = msg.last_seq.unwrap_or(last_seq).clamp(0, last_seq);
            let Some(state) = act.state.as_ref() else {
                return Box::pin(fut::ready(Err(AppError::Unavailable)));
            };
            if !msg.rejoin {
                let welcome = encode(&VisitorOut::Welcome {
                    conversation_id: act.id,
                    ticket: &state.ticket,
                    status,
                    last_seq,
                    support_name: &act.deps.config.support_name,
                });
                msg.recipient.push_control(VisitorPush::new(welcome, None));
            }
            act.visitors.insert(msg.session, msg.recipient);
            act.queue_told = None;
            if status == ConversationStatus::Pending {
                act.deps.router.do_send(QueryPosition(act.id));
            }
            Box::pin(fut::ready(Ok(JoinReply {
                alive: act.alive.subscribe(),
                from,
                upto: last_seq,
            })))
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
            let plan = match act
                .state()
                .and_then(|s| s.plan_post(&act.deps, &msg, act.deps.clock.now()))
            {
                Ok(Ok(plan)) => plan,
                Ok(Err(original)) => {
                    send_ack(msg.origin.as_ref(), &original);
                    return Box::pin(fut::ready(Ok(original)));
                }
                Err(e) => return Box::pin(fut::ready(Err(e))),
            };
            // Per conversation, not per socket: more sockets do not buy a faster rate. A retry
            // of a stored message (answered above) costs nothing.
            if matches!(msg.by, By::Visitor(_)) && act.visitor_limiter.check().is_err() {
                return Box::pin(fut::ready(Err(AppError::rate_limited_soon())));
            }
            let ack = plan.ack.as_ref().map(|(ack, _)| ack.clone());
            Box::pin(
                act.commit(plan).map(move |result, _act, _ctx| {
                    result.and_then(|()| ack.ok_or(AppError::Internal))
                }),
            )
        }))
    }
}

impl Handler<Act> for Conversation {
    type Result = AtomicResponse<Self, AppResult<ConversationSummary>>;

    fn handle(&mut self, msg: Act, ctx: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.with_state(ctx, move |act, _ctx| {
            let now = act.deps.clock.now();
            match act
                .state()
                .and_then(|s| s.plan_action(&msg.0, now, &act.deps))
            {
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

    fn handle(&mut self, msg: Typing, ctx: &mut Context<Self>) {
        let Some(state) = self.state.as_ref() else {
            return;
        };
        // Nobody is shown a chat the customer has not written in yet, its typing included.
        let direction = match &msg.by {
            By::Visitor(contact) if *contact == state.contact && !state.is_dormant() => {
                Author::Visitor
            }
            By::Operator(op) if state.may_act(op) => Author::Operator,
            _ => return,
        };
        match self
            .typing_gate(direction)
            .offer(msg.active, Instant::now())
        {
            typing::Decision::Send => self.forward_typing(direction, msg.active),
            typing::Decision::Hold(after) => {
                ctx.notify_later(FlushTyping(direction), after);
            }
            typing::Decision::Drop => {}
        }
    }
}

/// A typing window ended: forward the state held during it, if it changed.
#[derive(Message)]
#[rtype(result = "()")]
struct FlushTyping(Author);

impl Handler<FlushTyping> for Conversation {
    type Result = ();

    fn handle(&mut self, msg: FlushTyping, _ctx: &mut Context<Self>) {
        if let Some(active) = self.typing_gate(msg.0).flush(Instant::now()) {
            self.forward_typing(msg.0, active);
        }
    }
}

impl Conversation {
    /// The customer's typing goes to operators through one gate, operators' to the customer
    /// through the other.
    fn typing_gate(&mut self, author: Author) -> &mut TypingGate {
        match author {
            Author::Visitor => &mut self.typing_in,
            _ => &mut self.typing_out,
        }
    }

    fn forward_typing(&mut self, author: Author, active: bool) {
        if author == Author::Operator {
            self.push_visitors(encode(&VisitorOut::Typing { author, active }), None);
        }
        self.publish_to_operators(encode(&OperatorOut::Typing {
            conversation_id: self.id,
            author,
            active,
        }));
    }
}

impl Handler<MarkRead> for Conversation {
    type Result = AtomicResponse<Self, AppResult<()>>;

    fn handle(&mut self, msg: MarkRead, ctx: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.with_state(ctx, move |act, ctx| {
            let result = act.mark_read(&msg);
            if act.state.as_ref().is_some_and(|s| s.dirty) && !act.reads_scheduled {
                act.reads_scheduled = true;
                ctx.notify_later(PersistReads, READ_MARK_DELAY);
            }
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
                    // A rating may be given, or changed, within the reopen window.
                    let window = chrono::Duration::hours(act.deps.config.reopen_window_hours);
                    let ended = s.snap.resolved_at.or(s.snap.closed_at);
                    if ended.is_none_or(|at| act.deps.clock.now() - at > window) {
                        return Err(AppError::conflict(
                            "rating_closed",
                            "the time to rate this conversation has passed",
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
                    crate::validate::opt_text("comment", msg.comment.as_deref())?;
                    Ok(())
                });
            if let Err(e) = check {
                return Box::pin(fut::ready(Err(e)));
            }
            let pool = act.deps.pool.clone();
            let id = act.id;
            let (score, comment) = (msg.score, msg.comment);
            let now = act.deps.clock.now();
            let write = async move {
                use crate::db::schema::conversations as c;
                let mut conn = pool.get().await?;
                diesel::update(c::table.find(id))
                    .set((
                        c::rating.eq(score),
                        c::rating_comment.eq(comment),
                        c::rated_at.eq(now),
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
    type Result = AtomicResponse<Self, AppResult<i64>>;

    fn handle(&mut self, msg: Replay, ctx: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.with_state(ctx, move |act, _ctx| {
            let result = match act.state.as_ref() {
                None => Err(AppError::Unavailable),
                Some(state) if !state.may_see(&msg.operator) => Err(AppError::Forbidden(
                    "you may not see this conversation".into(),
                )),
                Some(state) => Ok(state.snap.last_seq),
            };
            Box::pin(fut::ready(result))
        }))
    }
}

impl Handler<TagChanged> for Conversation {
    type Result = ();

    fn handle(&mut self, msg: TagChanged, _ctx: &mut Context<Self>) {
        if msg.name.is_none() {
            self.deleted_tags.insert(msg.tag);
        }
        let Some(state) = self.state.as_mut() else {
            return;
        };
        if !state.tags.iter().any(|(t, _)| *t == msg.tag) {
            return;
        }
        match msg.name {
            Some(name) => {
                for (t, n) in state.tags.iter_mut() {
                    if *t == msg.tag {
                        *n = name.clone();
                    }
                }
                state.tags.sort_by(|a, b| a.1.cmp(&b.1));
            }
            None => state.tags.retain(|(t, _)| *t != msg.tag),
        }
        self.notify_router();
    }
}

impl Handler<PurgeIfEmpty> for Conversation {
    type Result = AtomicResponse<Self, AppResult<bool>>;

    fn handle(&mut self, _msg: PurgeIfEmpty, ctx: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.with_state(ctx, |act, _ctx| {
            let unused = act
                .state
                .as_ref()
                .is_some_and(|s| s.is_dormant() && s.snap.last_seq == 0);
            if !unused || act.has_visitors() {
                return Box::pin(fut::ready(Ok(false)));
            }
            let (pool, id) = (act.deps.pool.clone(), act.id);
            let delete = async move {
                let mut conn = pool.get().await?;
                Ok::<_, AppError>(crate::db::conversations::delete_if_empty(&mut conn, id).await?)
            };
            Box::pin(fut::wrap_future::<_, Self>(delete).map(|result, act, ctx| {
                if matches!(result, Ok(true)) {
                    // Gone: whatever waits in the mailbox (a `hello` that raced the deletion)
                    // fails and is retried against a token that no longer exists.
                    act.state = None;
                    ctx.stop();
                }
                result
            }))
        }))
    }
}

impl Handler<QueuePosition> for Conversation {
    type Result = ();

    fn handle(&mut self, msg: QueuePosition, _ctx: &mut Context<Self>) {
        // The router may say a place twice (a batch of moves and this actor's start): the
        // sockets that heard it need not hear it again.
        if self.queue_told == Some(msg.position) {
            return;
        }
        self.queue_told = Some(msg.position);
        let frame = encode(&VisitorOut::Queue {
            position: msg.position,
            estimated_wait_secs: msg.estimated_wait_secs,
        });
        self.push_visitors(frame, None);
    }
}

impl Conversation {
    /// A snapshot-only write of what changed without an event (read marks), if anything did.
    fn unsaved_snapshot(&self) -> Option<WriteJob> {
        self.state.as_ref().filter(|s| s.dirty).map(|s| WriteJob {
            events: Vec::new(),
            snapshot: s.snap.clone(),
            assignment: None,
            audit: Vec::new(),
            tag: None,
            outbox: Vec::new(),
            deadlines: Vec::new(),
        })
    }
}

impl Handler<PersistReads> for Conversation {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _msg: PersistReads, _ctx: &mut Context<Self>) -> Self::Result {
        self.reads_scheduled = false;
        let job = self.unsaved_snapshot();
        let writer = self.deps.writer.clone();
        AtomicResponse::new(Box::pin(
            fut::wrap_future::<_, Self>(async move {
                match job {
                    Some(job) => writer.commit(job).await.is_ok(),
                    None => false,
                }
            })
            // Atomic: nothing changed the snapshot while it was being written. On failure it
            // stays dirty and goes out with the next write or at stop.
            .map(|stored, act, _ctx| {
                if let (true, Some(state)) = (stored, act.state.as_mut()) {
                    state.dirty = false;
                }
            }),
        ))
    }
}

/// The idle check found nothing to do for a while: stop, unless something came since.
#[derive(Message)]
#[rtype(result = "()")]
struct StopIfIdle;

impl Handler<StopIfIdle> for Conversation {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _msg: StopIfIdle, _ctx: &mut Context<Self>) -> Self::Result {
        if !self.is_idle() {
            return AtomicResponse::new(Box::pin(fut::ready(())));
        }
        self.flush_and_stop()
    }
}

impl Handler<Flush> for Conversation {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _msg: Flush, _ctx: &mut Context<Self>) -> Self::Result {
        self.flush_and_stop()
    }
}

impl Conversation {
    /// Whether a visitor socket is still open on this conversation (closed ones are forgotten).
    fn has_visitors(&mut self) -> bool {
        self.visitors.retain(|_, outlet| outlet.alive());
        !self.visitors.is_empty()
    }

    /// No visitor socket and nothing done for `conversation_idle_secs`: time to stop.
    fn is_idle(&mut self) -> bool {
        !self.has_visitors() && self.last_activity.elapsed() >= self.deps.config.conversation_idle()
    }

    fn flush_and_stop(&mut self) -> AtomicResponse<Self, ()> {
        let dirty = self.unsaved_snapshot();
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

impl Handler<DeadlineDue> for Conversation {
    type Result = AtomicResponse<Self, AppResult<()>>;

    fn handle(&mut self, msg: DeadlineDue, ctx: &mut Context<Self>) -> Self::Result {
        use crate::automation::deadlines::Kind;
        let Some(kind) = msg.kind else {
            let (pool, id) = (self.deps.pool.clone(), self.id);
            return AtomicResponse::new(Box::pin(fut::wrap_future(async move {
                let mut conn = pool.get().await?;
                crate::automation::deadlines::drop_unknown(&mut conn, id).await?;
                Ok(())
            })));
        };
        AtomicResponse::new(self.with_state(ctx, move |act, _ctx| {
            let now = act.deps.clock.now();
            if let Some(state) = act.state.as_mut() {
                if kind == Kind::Automate && !state.armed.contains_key(&kind) {
                    // Handled already.
                    return Box::pin(fut::ready(Ok(())));
                }
                // What the scheduler read is what is stored: the row is rewritten or cleared
                // below, whatever this actor thought it held.
                state.armed.insert(kind, msg.due_at);
            }
            if kind == Kind::Automate {
                let (pool, id) = (act.deps.pool.clone(), act.id);
                let first = async move {
                    let mut conn = pool.get().await?;
                    AppResult::Ok(crate::db::events::first_customer_text(&mut conn, id).await?)
                };
                return Box::pin(fut::wrap_future::<_, Self>(first).then(
                    move |text, act, _ctx| -> ResponseActFuture<Self, AppResult<()>> {
                        let plan = match (text, act.state.as_ref()) {
                            (Ok(text), Some(state)) => state.plan_first_message(
                                text.as_deref().unwrap_or(""),
                                now,
                                &act.deps,
                            ),
                            (Err(e), _) => return Box::pin(fut::ready(Err(e))),
                            (_, None) => return Box::pin(fut::ready(Err(AppError::Unavailable))),
                        };
                        act.commit(plan)
                    },
                ));
            }
            let plan = match act.state.as_ref() {
                Some(state) => state
                    .plan_deadline(kind, now, &act.deps)
                    .unwrap_or_else(|| Plan::new(state.snap.clone())),
                None => return Box::pin(fut::ready(Err(AppError::Unavailable))),
            };
            act.commit(plan)
        }))
    }
}
