//! The one Router: it knows which operators are online (their sockets, presence, capacity and
//! load) and which conversations wait, in order of priority then age. It assigns waiting
//! conversations to the least-loaded eligible operator, tells waiting visitors their place in
//! the queue, and forwards conversation events to the operator sockets allowed to see them.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytestring::ByteString;
use chrono::{DateTime, Utc};

use super::conversation::{Act, Action, QueuePosition};
use super::operator_session::OperatorPush;
use super::registry::ConversationRegistry;
use crate::auth::OperatorIdentity;
use crate::db::{conversations, DbPool};
use crate::domain::{ConversationStatus, Presence, Priority};
use crate::ids::{ConversationId, OperatorId, SessionId};
use crate::protocol::{encode, ConversationSummary, OperatorOut};

/// How long to wait before retrying start-up loading or a failed assignment.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// An operator socket said hello.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OperatorConnected {
    pub operator: OperatorIdentity,
    pub session: SessionId,
    pub recipient: Recipient<OperatorPush>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct OperatorDisconnected {
    pub operator: OperatorId,
    pub session: SessionId,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPresence {
    pub operator: OperatorId,
    pub presence: Presence,
}

/// A conversation's status, assignee, priority or level changed (or it was just opened).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConversationChanged(pub ConversationSummary);

/// A frame for the operators who may see `conversation` in its current state.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish {
    pub conversation: ConversationId,
    pub status: ConversationStatus,
    pub assignee: Option<OperatorId>,
    pub frame: ByteString,
    pub seq: Option<i64>,
}

/// A Conversation actor that just started asks where it stands in the queue.
#[derive(Message)]
#[rtype(result = "()")]
pub struct QueryPosition(pub ConversationId);

/// Liveness probe for `/health`.
#[derive(Message)]
#[rtype(result = "RouterStats")]
pub struct Stats;

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct RouterStats {
    pub loaded: bool,
    pub operators_online: usize,
    pub queue_length: usize,
}

/// Queue order: higher priority first, then older first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct QueueKey {
    priority: Reverse<Priority>,
    created_at: DateTime<Utc>,
    id: ConversationId,
}

#[derive(Debug, Clone)]
struct Tracked {
    status: ConversationStatus,
    assignee: Option<OperatorId>,
    priority: Priority,
    created_at: DateTime<Utc>,
    /// Assigned by this router but not yet confirmed by the conversation.
    tentative: bool,
}

impl From<&ConversationSummary> for Tracked {
    fn from(s: &ConversationSummary) -> Self {
        Tracked {
            status: s.status,
            assignee: s.assignee,
            priority: s.priority,
            created_at: s.created_at,
            tentative: false,
        }
    }
}

struct OnlineOperator {
    identity: OperatorIdentity,
    presence: Presence,
    sessions: HashMap<SessionId, Recipient<OperatorPush>>,
    last_assigned: Option<Instant>,
}

pub struct Router {
    registry: Option<Arc<ConversationRegistry>>,
    pool: DbPool,
    loaded: bool,
    operators: HashMap<OperatorId, OnlineOperator>,
    conversations: HashMap<ConversationId, Tracked>,
    /// Active conversations per assignee, online or not.
    load: HashMap<OperatorId, u32>,
    queue: BTreeSet<QueueKey>,
    /// The position each waiting conversation was last told.
    told: HashMap<ConversationId, usize>,
}

impl Router {
    pub fn new(pool: DbPool) -> Self {
        Router {
            registry: None,
            pool,
            loaded: false,
            operators: HashMap::new(),
            conversations: HashMap::new(),
            load: HashMap::new(),
            queue: BTreeSet::new(),
            told: HashMap::new(),
        }
    }

    /// The registry is created after the router (it needs the router's address).
    pub fn set_registry(&mut self, registry: Arc<ConversationRegistry>) {
        self.registry = Some(registry);
    }

    fn load_open_conversations(&mut self, ctx: &mut Context<Self>) {
        let pool = self.pool.clone();
        let load = async move {
            let mut conn = pool.get().await?;
            Ok::<_, crate::error::AppError>(conversations::open_for_routing(&mut conn).await?)
        };
        ctx.wait(
            fut::wrap_future::<_, Self>(load).map(|result, act, ctx| match result {
                Ok(rows) => {
                    for row in &rows {
                        let summary = ConversationSummary::from(row);
                        act.track(summary.id, Tracked::from(&summary));
                    }
                    act.loaded = true;
                    tracing::info!(open = rows.len(), queued = act.queue.len(), "router loaded");
                    act.route(ctx);
                    act.tell_positions(true);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "router could not load conversations; retrying");
                    ctx.run_later(RETRY_DELAY, |act, ctx| act.load_open_conversations(ctx));
                }
            }),
        );
    }

    /// Records a conversation's new state, keeping loads and the queue in step with it.
    fn track(&mut self, id: ConversationId, state: Tracked) {
        if let Some(old) = self.conversations.remove(&id) {
            self.untrack_effects(id, &old);
        }
        match state.status {
            ConversationStatus::Pending => {
                self.queue.insert(QueueKey {
                    priority: Reverse(state.priority),
                    created_at: state.created_at,
                    id,
                });
            }
            ConversationStatus::Active => {
                if let Some(op) = state.assignee {
                    *self.load.entry(op).or_default() += 1;
                }
            }
            ConversationStatus::Resolved => {}
            // Closed conversations are final: nothing to route or forward any more.
            ConversationStatus::Closed => return,
        }
        self.conversations.insert(id, state);
    }

    fn untrack_effects(&mut self, id: ConversationId, old: &Tracked) {
        match old.status {
            ConversationStatus::Pending => {
                self.queue.remove(&QueueKey {
                    priority: Reverse(old.priority),
                    created_at: old.created_at,
                    id,
                });
            }
            ConversationStatus::Active => {
                if let Some(op) = old.assignee {
                    if let Some(n) = self.load.get_mut(&op) {
                        *n = n.saturating_sub(1);
                    }
                }
            }
            _ => {}
        }
    }

    fn load_of(&self, op: OperatorId) -> u32 {
        self.load.get(&op).copied().unwrap_or(0)
    }

    /// Online, accepting, under capacity; the least loaded, then the one idle longest.
    fn pick_operator(&self) -> Option<OperatorId> {
        self.operators
            .values()
            .filter(|o| o.presence == Presence::Online && o.identity.accepting)
            .filter(|o| {
                i64::from(self.load_of(o.identity.id)) < i64::from(o.identity.max_concurrent)
            })
            .min_by_key(|o| (self.load_of(o.identity.id), o.last_assigned, o.identity.id))
            .map(|o| o.identity.id)
    }

    /// Assigns from the head of the queue while someone can take it.
    fn route(&mut self, ctx: &mut Context<Self>) {
        let Some(registry) = self.registry.clone() else {
            return;
        };
        while let Some(head) = self.queue.first().copied() {
            let Some(op_id) = self.pick_operator() else {
                break;
            };
            let Some(operator) = self.operators.get_mut(&op_id) else {
                break;
            };
            operator.last_assigned = Some(Instant::now());
            let identity = operator.identity.clone();
            let Some(waiting) = self.conversations.get(&head.id).cloned() else {
                self.queue.remove(&head);
                continue;
            };
            self.track(
                head.id,
                Tracked {
                    status: ConversationStatus::Active,
                    assignee: Some(op_id),
                    tentative: true,
                    ..waiting
                },
            );
            let addr = registry.get_or_start(head.id);
            let id = head.id;
            ctx.spawn(
                addr.send(Act(Action::AutoAssign(identity)))
                    .into_actor(self)
                    .map(move |result, act, ctx| {
                        if !matches!(result, Ok(Ok(_))) {
                            act.revert_tentative(id, op_id, ctx);
                        }
                    }),
            );
        }
    }

    /// A tentative assignment the conversation refused (or could not store) goes back to the
    /// queue; routing is retried a little later rather than in a tight loop.
    fn revert_tentative(&mut self, id: ConversationId, op: OperatorId, ctx: &mut Context<Self>) {
        let Some(t) = self.conversations.get(&id) else {
            return;
        };
        if !(t.tentative && t.assignee == Some(op)) {
            return;
        }
        let waiting = Tracked {
            status: ConversationStatus::Pending,
            assignee: None,
            tentative: false,
            ..t.clone()
        };
        self.track(id, waiting);
        ctx.run_later(RETRY_DELAY, |act, ctx| {
            act.route(ctx);
            act.tell_positions(true);
        });
    }

    /// Tells every waiting conversation whose place changed; `full` rescans the whole queue,
    /// otherwise only the newest arrival (at the tail) is told.
    fn tell_positions(&mut self, full: bool) {
        let Some(registry) = self.registry.clone() else {
            return;
        };
        self.told.retain(|id, _| {
            self.conversations
                .get(id)
                .is_some_and(|t| t.status == ConversationStatus::Pending)
        });
        let tell = |id: ConversationId, position: usize, told: &mut HashMap<_, _>| {
            if told.get(&id) != Some(&position) {
                told.insert(id, position);
                if let Some(addr) = registry.running(id) {
                    addr.do_send(QueuePosition(position));
                }
            }
        };
        if full {
            for (index, key) in self.queue.iter().enumerate() {
                tell(key.id, index + 1, &mut self.told);
            }
        } else if let Some(last) = self.queue.last() {
            tell(last.id, self.queue.len(), &mut self.told);
        }
    }

    fn may_see(
        op: &OnlineOperator,
        status: ConversationStatus,
        assignee: Option<OperatorId>,
    ) -> bool {
        op.identity.may_see(status, assignee)
    }

    fn forward(&mut self, visible: impl Fn(&OnlineOperator) -> bool, push: OperatorPush) {
        for op in self.operators.values_mut() {
            if visible(op) {
                op.sessions.retain(|_, r| r.try_send(push.clone()).is_ok());
            }
        }
    }
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.load_open_conversations(ctx);
    }
}

impl Handler<OperatorConnected> for Router {
    type Result = ();

    fn handle(&mut self, msg: OperatorConnected, ctx: &mut Context<Self>) {
        let entry = self
            .operators
            .entry(msg.operator.id)
            .or_insert_with(|| OnlineOperator {
                identity: msg.operator.clone(),
                presence: Presence::Online,
                sessions: HashMap::new(),
                last_assigned: None,
            });
        entry.identity = msg.operator;
        entry.sessions.insert(msg.session, msg.recipient);
        self.route(ctx);
        self.tell_positions(true);
    }
}

impl Handler<OperatorDisconnected> for Router {
    type Result = ();

    fn handle(&mut self, msg: OperatorDisconnected, _ctx: &mut Context<Self>) {
        if let Some(op) = self.operators.get_mut(&msg.operator) {
            op.sessions.remove(&msg.session);
            if op.sessions.is_empty() {
                self.operators.remove(&msg.operator);
            }
        }
    }
}

impl Handler<SetPresence> for Router {
    type Result = ();

    fn handle(&mut self, msg: SetPresence, ctx: &mut Context<Self>) {
        if let Some(op) = self.operators.get_mut(&msg.operator) {
            op.presence = msg.presence;
            let frame = encode(&OperatorOut::Presence {
                status: msg.presence,
            });
            op.sessions.retain(|_, r| {
                r.try_send(OperatorPush::Frame {
                    frame: frame.clone(),
                    event: None,
                })
                .is_ok()
            });
        }
        self.route(ctx);
        self.tell_positions(true);
    }
}

impl Handler<ConversationChanged> for Router {
    type Result = ();

    fn handle(&mut self, msg: ConversationChanged, ctx: &mut Context<Self>) {
        let summary = msg.0;
        let id = summary.id;
        let before = self.conversations.get(&summary.id).cloned();
        let new_arrival = before.is_none() && summary.status == ConversationStatus::Pending;
        let frame = encode(&OperatorOut::Conversation(&summary));
        let (status, assignee) = (summary.status, summary.assignee);
        let (old_status, old_assignee) = before
            .as_ref()
            .map_or((status, assignee), |b| (b.status, b.assignee));
        self.track(summary.id, Tracked::from(&summary));
        // Whoever could see it before or can see it now hears about the change.
        self.forward(
            |op| Self::may_see(op, status, assignee) || Self::may_see(op, old_status, old_assignee),
            OperatorPush::Frame { frame, event: None },
        );
        self.route(ctx);
        // A newcomer at the tail moves nobody else; anything else may shift everyone.
        let tail_only = new_arrival && self.queue.last().map(|k| k.id) == Some(id);
        self.tell_positions(!tail_only);
    }
}

impl Handler<Publish> for Router {
    type Result = ();

    fn handle(&mut self, msg: Publish, _ctx: &mut Context<Self>) {
        let push = match msg.seq {
            Some(seq) => OperatorPush::Frame {
                frame: msg.frame,
                event: Some((msg.conversation, seq)),
            },
            None => OperatorPush::Frame {
                frame: msg.frame,
                event: None,
            },
        };
        self.forward(|op| Self::may_see(op, msg.status, msg.assignee), push);
    }
}

impl Handler<QueryPosition> for Router {
    type Result = ();

    fn handle(&mut self, msg: QueryPosition, _ctx: &mut Context<Self>) {
        let Some(registry) = self.registry.clone() else {
            return;
        };
        if let Some(index) = self.queue.iter().position(|k| k.id == msg.0) {
            let position = index + 1;
            self.told.insert(msg.0, position);
            if let Some(addr) = registry.running(msg.0) {
                addr.do_send(QueuePosition(position));
            }
        }
    }
}

impl Handler<Stats> for Router {
    type Result = MessageResult<Stats>;

    fn handle(&mut self, _msg: Stats, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(RouterStats {
            loaded: self.loaded,
            operators_online: self
                .operators
                .values()
                .filter(|o| o.presence != Presence::Offline)
                .count(),
            queue_length: self.queue.len(),
        })
    }
}
