//! The one Router: it knows which operators are online (their sockets, presence, capacity, load,
//! groups and tier) and which conversations wait, in order of priority then age. It assigns
//! waiting conversations by each group's strategy, takes conversations back from operators who
//! went silent or did not answer, tells waiting visitors their place and expected wait, and
//! forwards conversation events to the operator sockets allowed to see them.
//!
//! Time comes from a `Clock`, and timeouts are checked by `Sweep`, so tests drive them.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytestring::ByteString;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::conversation::{Act, Action, PurgeIfEmpty, QueuePosition, Unassigned};
use super::operator_session::OperatorPush;
use super::outbox::Outlet;
use super::registry::ConversationRegistry;
use crate::auth::OperatorIdentity;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::{conversations, groups, DbPool};
use crate::domain::{Channel, ConversationStatus, Presence, Priority, RoutingStrategy};
use crate::error::{AppError, AppResult};
use crate::ids::{ConversationId, GroupId, OperatorId, SessionId};
use crate::protocol::{encode, ConversationSummary, OperatorOut, TOO_MANY_SOCKETS};
use crate::telemetry;

/// How long to wait before retrying start-up loading or a failed assignment.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// How often timeouts are checked against the clock.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Unused conversations deleted per sweep at most.
const PURGE_BATCH: usize = 200;
/// How long queue moves gather before waiting customers are told their new places.
const POSITIONS_DELAY: Duration = Duration::from_millis(50);
/// Assignments remembered to estimate how fast the queue moves.
const RECENT_ASSIGNMENTS: usize = 20;

/// An operator socket said hello. The Router keeps the operator's identity from here on (the
/// reply is a read handle on it) and closes the socket when its token is revoked.
#[derive(Message)]
#[rtype(result = "AppResult<watch::Receiver<OperatorIdentity>>")]
pub struct OperatorConnected {
    pub operator: OperatorIdentity,
    pub session: SessionId,
    pub token_hash: Vec<u8>,
    pub outlet: Outlet<OperatorPush>,
}

/// Tokens of an operator stopped working: their sockets close (4401).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Revoked {
    pub operator: OperatorId,
    pub tokens: RevokedTokens,
}

#[derive(Debug, Clone)]
pub enum RevokedTokens {
    /// Every token (revoke-sessions, an admin's password change).
    All,
    /// Every token but this one (one's own password change).
    AllBut(Vec<u8>),
    /// This one token (logout).
    Only(Vec<u8>),
}

impl RevokedTokens {
    fn covers(&self, token_hash: &[u8]) -> bool {
        match self {
            RevokedTokens::All => true,
            RevokedTokens::AllBut(keep) => keep.as_slice() != token_hash,
            RevokedTokens::Only(gone) => gone.as_slice() == token_hash,
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct OperatorDisconnected {
    pub operator: OperatorId,
    pub session: SessionId,
}

/// The operator chose a status (from the panel or the API).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPresence {
    pub operator: OperatorId,
    pub presence: Presence,
}

/// An operator's socket showed signs of life (the presence heartbeat).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Seen(pub OperatorId);

/// Routing facts about a conversation beyond its summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Routing {
    /// The assignee has answered since being assigned.
    pub answered: bool,
    pub assigned_at: Option<DateTime<Utc>>,
    /// Who had it before (sticky routing sends it back there when possible).
    pub preferred: Option<OperatorId>,
}

/// A conversation's status, assignee, priority, level, group or tags changed, or it was opened.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConversationChanged {
    pub summary: ConversationSummary,
    pub routing: Routing,
}

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

/// Where a waiting conversation stands now, if it waits.
#[derive(Message)]
#[rtype(result = "Option<usize>")]
pub struct PositionOf(pub ConversationId);

/// From the router to whoever speaks for customers outside a socket (the Telegram gateway):
/// a waiting conversation of theirs moved in the queue (`position` 0: it left the queue).
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct WaitingAt {
    pub conversation: ConversationId,
    pub position: usize,
}

/// Queue moves of conversations on `channel` go to `listener` too.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ListenQueue {
    pub channel: Channel,
    pub listener: Recipient<WaitingAt>,
}

/// A frame for every online supervisor and admin (an escalation).
#[derive(Message)]
#[rtype(result = "()")]
pub struct NotifySupervisors(pub ByteString);

/// Check presence and answer timeouts against the clock now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Sweep;

/// Operators, groups or memberships changed: re-read them.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReloadTeam;

/// An operator was deleted or changed (capacity, accepting, tier, role).
#[derive(Message)]
#[rtype(result = "()")]
pub struct OperatorUpdated {
    pub operator: OperatorIdentity,
    pub deleted: bool,
}

/// Each connected operator's presence and load, for the operator list.
#[derive(Message)]
#[rtype(result = "HashMap<OperatorId, (Presence, u32)>")]
pub struct Presences;

/// Liveness probe and figures for `/health` and `/metrics`.
#[derive(Message)]
#[rtype(result = "RouterStats")]
pub struct Stats;

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct RouterStats {
    pub loaded: bool,
    pub operators_online: usize,
    pub queue_length: usize,
    /// Assignments sent to conversations and not yet confirmed or refused.
    pub assigning: usize,
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
    level: i16,
    group: GroupId,
    channel: Channel,
    created_at: DateTime<Utc>,
    routing: Routing,
    /// Assigned by this router but not yet confirmed by the conversation.
    tentative: bool,
    /// Pending, but the customer has not written yet: not queued, not shown to operators,
    /// and deleted after `empty_conversation_ttl_secs`.
    dormant: bool,
}

impl Tracked {
    fn from_summary(s: &ConversationSummary, routing: Routing) -> Self {
        Tracked {
            status: s.status,
            assignee: s.assignee,
            priority: s.priority,
            level: s.level,
            group: s.group_id,
            channel: s.channel,
            created_at: s.created_at,
            routing,
            tentative: false,
            dormant: s.is_dormant(),
        }
    }

    fn key(&self, id: ConversationId) -> QueueKey {
        QueueKey {
            priority: Reverse(self.priority),
            created_at: self.created_at,
            id,
        }
    }

    /// Urgent and escalated conversations go to the most senior tier available.
    fn wants_senior(&self) -> bool {
        self.priority == Priority::Urgent || self.level > 0
    }
}

struct OperatorState {
    identity: OperatorIdentity,
    /// Read by the operator's sessions: the one current identity they act as.
    published: watch::Sender<OperatorIdentity>,
    presence: Presence,
    sessions: HashMap<SessionId, Connection>,
    last_seen: DateTime<Utc>,
    last_assigned: Option<DateTime<Utc>>,
}

impl OperatorState {
    /// The operator as the Router routes them (`identity`, read on every routing decision) and
    /// as their sessions act (`published`): always changed together, here.
    fn set_identity(&mut self, identity: OperatorIdentity) {
        self.identity = identity.clone();
        self.published.send_replace(identity);
    }
}

struct Connection {
    outlet: Outlet<OperatorPush>,
    token_hash: Vec<u8>,
}

#[derive(Debug, Clone)]
struct GroupInfo {
    strategy: RoutingStrategy,
    members: HashSet<OperatorId>,
    /// The operator round-robin picked last.
    last_pick: Option<OperatorId>,
}

pub struct Router {
    registry: Option<Arc<ConversationRegistry>>,
    pool: DbPool,
    clock: SharedClock,
    presence_timeout: chrono::Duration,
    reassign_after: Option<chrono::Duration>,
    max_sessions: usize,
    /// Operators deleted while the server runs: a socket whose `hello` was checked before the
    /// deletion must not register them again.
    deleted: HashSet<OperatorId>,
    empty_ttl: chrono::Duration,
    /// A deletion of unused conversations is under way.
    purging: bool,
    loaded: bool,
    /// Operators with a socket, or silent for less than the presence timeout.
    operators: HashMap<OperatorId, OperatorState>,
    groups: HashMap<GroupId, GroupInfo>,
    conversations: HashMap<ConversationId, Tracked>,
    /// Active conversations per assignee, online or not.
    load: HashMap<OperatorId, u32>,
    queue: BTreeSet<QueueKey>,
    /// The position each waiting conversation was last told.
    told: HashMap<ConversationId, usize>,
    /// The first place in the queue that changed since positions were last told: everyone
    /// from there on may have moved, nobody before it has.
    dirty_from: Option<QueueKey>,
    /// How long recently assigned conversations waited, in seconds.
    recent_waits: VecDeque<f64>,
    /// Told of queue moves on their channel, whether or not the conversation's actor runs.
    queue_listeners: Vec<(Channel, Recipient<WaitingAt>)>,
    /// Told which groups have someone online (offline auto-replies depend on it).
    automation: Option<Arc<crate::automation::Automation>>,
    /// A `tell_positions` is on its way.
    positions_scheduled: bool,
}

impl Router {
    pub fn new(pool: DbPool, config: &Config, clock: SharedClock) -> Self {
        Router {
            registry: None,
            pool,
            clock,
            presence_timeout: chrono::Duration::seconds(config.presence_timeout_secs as i64),
            reassign_after: (config.reassign_after_secs > 0)
                .then(|| chrono::Duration::seconds(config.reassign_after_secs as i64)),
            max_sessions: config.sockets_per_operator.max(1),
            deleted: HashSet::new(),
            empty_ttl: chrono::Duration::seconds(config.empty_conversation_ttl_secs.max(1) as i64),
            purging: false,
            loaded: false,
            operators: HashMap::new(),
            groups: HashMap::new(),
            conversations: HashMap::new(),
            load: HashMap::new(),
            queue: BTreeSet::new(),
            told: HashMap::new(),
            dirty_from: None,
            recent_waits: VecDeque::new(),
            queue_listeners: Vec::new(),
            automation: None,
            positions_scheduled: false,
        }
    }

    pub fn set_automation(&mut self, automation: Arc<crate::automation::Automation>) {
        self.automation = Some(automation);
    }

    /// The registry is created after the router (it needs the router's address).
    pub fn set_registry(&mut self, registry: Arc<ConversationRegistry>) {
        self.registry = Some(registry);
    }

    fn load_state(&mut self, ctx: &mut Context<Self>) {
        let pool = self.pool.clone();
        let load = async move {
            let mut conn = pool.get().await?;
            let open = conversations::open_for_routing(&mut conn).await?;
            let team = load_team(&mut conn).await?;
            Ok::<_, AppError>((open, team))
        };
        ctx.wait(
            fut::wrap_future::<_, Self>(load).map(|result, act, ctx| match result {
                Ok((rows, team)) => {
                    act.groups = team;
                    for row in &rows {
                        let summary = ConversationSummary::from(row);
                        let routing = Routing {
                            answered: row
                                .0
                                .first_response_at
                                .is_some_and(|f| row.0.assigned_at.is_none_or(|a| f >= a)),
                            assigned_at: row.0.assigned_at,
                            preferred: None,
                        };
                        act.track(summary.id, Tracked::from_summary(&summary, routing));
                    }
                    act.loaded = true;
                    tracing::info!(open = rows.len(), queued = act.queue.len(), "router loaded");
                    act.route(ctx);
                    act.tell_positions_soon(ctx);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "router could not load its state; retrying");
                    ctx.run_later(RETRY_DELAY, |act, ctx| act.load_state(ctx));
                }
            }),
        );
    }

    fn reload_team(&mut self, ctx: &mut Context<Self>) {
        let pool = self.pool.clone();
        let load = async move {
            let mut conn = pool.get().await?;
            load_team(&mut conn).await
        };
        ctx.spawn(
            fut::wrap_future::<_, Self>(load).map(|result, act, ctx| match result {
                Ok(team) => {
                    // Keep round-robin positions across reloads.
                    let mut team = team;
                    for (id, info) in team.iter_mut() {
                        info.last_pick = act.groups.get(id).and_then(|g| g.last_pick);
                    }
                    act.groups = team;
                    act.count_online();
                    act.route(ctx);
                    act.tell_positions_soon(ctx);
                }
                Err(e) => tracing::warn!(error = %e, "router could not reload the team"),
            }),
        );
    }

    /// Records a conversation's new state, keeping loads and the queue in step with it.
    fn track(&mut self, id: ConversationId, state: Tracked) {
        if let Some(old) = self.conversations.remove(&id) {
            match old.status {
                ConversationStatus::Pending => {
                    self.queue.remove(&old.key(id));
                    if self.told.remove(&id).is_some() {
                        self.tell_channel_listeners(old.channel, id, 0);
                    }
                    self.mark_dirty(old.key(id));
                }
                ConversationStatus::Active => {
                    if let Some(n) = old.assignee.and_then(|op| self.load.get_mut(&op)) {
                        *n = n.saturating_sub(1);
                    }
                }
                _ => {}
            }
        }
        match state.status {
            ConversationStatus::Pending if state.dormant => {}
            ConversationStatus::Pending => {
                self.queue.insert(state.key(id));
                self.mark_dirty(state.key(id));
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

    fn mark_dirty(&mut self, key: QueueKey) {
        self.dirty_from = Some(self.dirty_from.map_or(key, |k| k.min(key)));
    }

    /// Someone online and accepting has room for another conversation.
    fn has_capacity(&self) -> bool {
        self.operators.values().any(|o| self.has_room(o))
    }

    /// Online with a socket, accepting, and under their maximum of concurrent chats.
    fn has_room(&self, o: &OperatorState) -> bool {
        o.presence == Presence::Online
            && o.identity.accepting
            && !o.sessions.is_empty()
            && i64::from(self.load_of(o.identity.id)) < i64::from(o.identity.max_concurrent)
    }

    fn load_of(&self, op: OperatorId) -> u32 {
        self.load.get(&op).copied().unwrap_or(0)
    }

    /// Online, accepting, under capacity, and a member of the group.
    fn eligible(&self, group: GroupId) -> Vec<&OperatorState> {
        let Some(info) = self.groups.get(&group) else {
            return Vec::new();
        };
        self.operators
            .values()
            .filter(|o| self.has_room(o) && info.members.contains(&o.identity.id))
            .collect()
    }

    /// The operator the conversation's group would give it to now, if any.
    fn choose(&self, conversation: &Tracked, exclude: Option<OperatorId>) -> Option<OperatorId> {
        let info = self.groups.get(&conversation.group)?;
        let mut candidates: Vec<&OperatorState> = self
            .eligible(conversation.group)
            .into_iter()
            .filter(|o| Some(o.identity.id) != exclude)
            .collect();
        if conversation.wants_senior() {
            let top = candidates.iter().map(|o| o.identity.tier).max()?;
            candidates.retain(|o| o.identity.tier == top);
        }
        let least_loaded = |candidates: &[&OperatorState]| {
            candidates
                .iter()
                .min_by_key(|o| (self.load_of(o.identity.id), o.last_assigned, o.identity.id))
                .map(|o| o.identity.id)
        };
        match info.strategy {
            RoutingStrategy::LeastLoaded => least_loaded(&candidates),
            RoutingStrategy::Sticky => conversation
                .routing
                .preferred
                .filter(|p| candidates.iter().any(|o| o.identity.id == *p))
                .or_else(|| least_loaded(&candidates)),
            RoutingStrategy::RoundRobin => {
                let mut ids: Vec<OperatorId> = candidates.iter().map(|o| o.identity.id).collect();
                ids.sort();
                let next = info
                    .last_pick
                    .and_then(|last| ids.iter().find(|id| **id > last).copied());
                next.or_else(|| ids.first().copied())
            }
        }
    }

    /// Assigns waiting conversations, highest priority and oldest first, while anyone can
    /// take them; a conversation whose group has nobody free waits without blocking others.
    fn route(&mut self, ctx: &mut Context<Self>) {
        if self.registry.is_none() || self.queue.is_empty() || !self.has_capacity() {
            return;
        }
        let waiting: Vec<QueueKey> = self.queue.iter().copied().collect();
        for key in waiting {
            if !self.has_capacity() {
                break;
            }
            let Some(conversation) = self.conversations.get(&key.id).cloned() else {
                self.queue.remove(&key);
                continue;
            };
            let Some(op) = self.choose(&conversation, None) else {
                continue;
            };
            self.give(key.id, conversation, op, Action::AutoAssign, ctx);
        }
    }

    /// Tentatively gives a conversation to `op` and asks the conversation to confirm.
    fn give(
        &mut self,
        id: ConversationId,
        conversation: Tracked,
        op: OperatorId,
        action: impl FnOnce(OperatorIdentity) -> Action,
        ctx: &mut Context<Self>,
    ) {
        let Some(registry) = self.registry.clone() else {
            return;
        };
        let Some(operator) = self.operators.get_mut(&op) else {
            return;
        };
        let now = self.clock.now();
        operator.last_assigned = Some(now);
        let identity = operator.identity.clone();
        if let Some(info) = self.groups.get_mut(&conversation.group) {
            info.last_pick = Some(op);
        }
        self.track(
            id,
            Tracked {
                status: ConversationStatus::Active,
                assignee: Some(op),
                tentative: true,
                ..conversation.clone()
            },
        );
        let created_at = conversation.created_at;
        let previous = conversation;
        let action = action(identity);
        // Only a first assignment from the queue says how long customers wait.
        let from_queue = matches!(action, Action::AutoAssign(_))
            && previous.status == ConversationStatus::Pending;
        ctx.spawn(
            registry
                .get_or_start(id)
                .send(Act(action))
                .into_actor(self)
                .map(move |result, act, ctx| {
                    if matches!(result, Ok(Ok(_))) && from_queue {
                        let waited = (act.clock.now() - created_at).num_milliseconds().max(0)
                            as f64
                            / 1000.0;
                        metrics::histogram!(telemetry::ASSIGNMENT_LATENCY).record(waited);
                        act.recent_waits.push_back(waited);
                        if act.recent_waits.len() > RECENT_ASSIGNMENTS {
                            act.recent_waits.pop_front();
                        }
                    } else if !matches!(result, Ok(Ok(_))) {
                        act.revert_tentative(id, op, previous, ctx);
                    }
                }),
        );
    }

    /// A tentative assignment the conversation refused (or could not store) is undone;
    /// routing is retried a little later rather than in a tight loop.
    fn revert_tentative(
        &mut self,
        id: ConversationId,
        op: OperatorId,
        previous: Tracked,
        ctx: &mut Context<Self>,
    ) {
        let still_ours = self
            .conversations
            .get(&id)
            .is_some_and(|t| t.tentative && t.assignee == Some(op));
        if !still_ours {
            return;
        }
        self.track(id, previous);
        ctx.run_later(RETRY_DELAY, |act, ctx| {
            act.route(ctx);
            act.tell_positions_soon(ctx);
        });
    }

    /// Seconds until a conversation at `position` is likely taken: the average wait of the
    /// recently assigned ones, per place in the queue. Unknown until there is some history.
    fn estimated_wait(&self, position: usize) -> Option<u64> {
        if self.recent_waits.is_empty() {
            return None;
        }
        let average = self.recent_waits.iter().sum::<f64>() / self.recent_waits.len() as f64;
        Some((average * position as f64).ceil().max(1.0) as u64)
    }

    /// Tells every waiting conversation whose place changed since the last time: only the
    /// part of the queue from the first changed place on is looked at, and nothing at all when
    /// the queue did not change.
    /// Positions are told once a burst of queue changes is over (a thousand conversations
    /// leaving the front of a long queue cost one pass, not a thousand).
    fn tell_positions_soon(&mut self, ctx: &mut Context<Self>) {
        metrics::gauge!(telemetry::QUEUE_LENGTH).set(self.queue.len() as f64);
        if self.positions_scheduled || self.dirty_from.is_none() {
            return;
        }
        self.positions_scheduled = true;
        ctx.run_later(POSITIONS_DELAY, |act, _ctx| {
            act.positions_scheduled = false;
            act.tell_positions();
        });
    }

    fn tell_positions(&mut self) {
        metrics::gauge!(telemetry::QUEUE_LENGTH).set(self.queue.len() as f64);
        let Some(from) = self.dirty_from.take() else {
            return;
        };
        let Some(registry) = self.registry.clone() else {
            return;
        };
        let mut changed = Vec::new();
        for (index, key) in self.queue.iter().enumerate() {
            if *key < from {
                continue;
            }
            let position = index + 1;
            if self.told.get(&key.id) != Some(&position) {
                changed.push((key.id, position));
            }
        }
        for (id, position) in changed {
            // Listeners hear of moves; a conversation's first place is told by whoever
            // queued it (the Telegram gateway says it with the new ticket).
            if self.told.insert(id, position).is_some() {
                self.tell_listeners(id, position);
            }
            if let Some(addr) = registry.running(id) {
                addr.do_send(QueuePosition {
                    position,
                    estimated_wait_secs: self.estimated_wait(position),
                });
            }
        }
    }

    /// Operators silent past the presence timeout go offline; their conversations go back to
    /// the queue. Assignees who have not answered in time lose the conversation to someone
    /// else who can take it.
    fn sweep(&mut self, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        // An open socket is its own heartbeat (it closes itself when the client stops
        // answering pings), so only operators without one can go silent.
        let silent: Vec<OperatorId> = self
            .operators
            .values()
            .filter(|o| o.sessions.is_empty() && now - o.last_seen >= self.presence_timeout)
            .map(|o| o.identity.id)
            .collect();
        for op in silent {
            self.operators.remove(&op);
            tracing::info!(operator = %op, "operator went offline; redistributing");
            let theirs: Vec<ConversationId> = self
                .conversations
                .iter()
                .filter(|(_, t)| t.status == ConversationStatus::Active && t.assignee == Some(op))
                .map(|(id, _)| *id)
                .collect();
            for id in theirs {
                self.take_back(
                    id,
                    Action::Unassign {
                        reason: Unassigned::OperatorOffline,
                    },
                    ctx,
                );
            }
        }
        if let Some(limit) = self.reassign_after {
            let overdue: Vec<(ConversationId, Tracked)> = self
                .conversations
                .iter()
                .filter(|(_, t)| {
                    t.status == ConversationStatus::Active && !t.tentative && !t.routing.answered
                })
                .filter(|(_, t)| t.routing.assigned_at.is_some_and(|at| now - at >= limit))
                .map(|(id, t)| (*id, t.clone()))
                .collect();
            for (id, tracked) in overdue {
                if let Some(next) = self.choose(&tracked, tracked.assignee) {
                    let reassign = |to| Action::Reassign {
                        to,
                        reason: Unassigned::NoAnswer,
                    };
                    self.give(id, tracked, next, reassign, ctx);
                }
            }
        }
        self.purge_empty(now, ctx);
        self.route(ctx);
        self.tell_positions_soon(ctx);
    }

    /// Deletes conversations nobody wrote in for `empty_ttl` whose actor is not running (a
    /// visitor still connected keeps theirs). Each goes through its own actor, so a visitor's
    /// `hello` arriving meanwhile is either before the deletion (and keeps the conversation)
    /// or after it (and finds the token gone).
    fn purge_empty(&mut self, now: DateTime<Utc>, ctx: &mut Context<Self>) {
        let Some(registry) = self.registry.clone() else {
            return;
        };
        if self.purging {
            return;
        }
        let expired: Vec<ConversationId> = self
            .conversations
            .iter()
            .filter(|(_, t)| t.dormant && now - t.created_at >= self.empty_ttl)
            .map(|(id, _)| *id)
            .filter(|id| registry.running(*id).is_none())
            .take(PURGE_BATCH)
            .collect();
        if expired.is_empty() {
            return;
        }
        self.purging = true;
        let purges = expired.into_iter().map(move |id| {
            let addr = registry.get_or_start(id);
            async move { (id, addr.send(PurgeIfEmpty).await) }
        });
        let all = futures_util::future::join_all(purges);
        ctx.spawn(fut::wrap_future::<_, Self>(all).map(|results, act, _ctx| {
            act.purging = false;
            let mut deleted = 0;
            for (id, result) in results {
                match result {
                    Ok(Ok(true)) => {
                        deleted += 1;
                        act.conversations.remove(&id);
                    }
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "an unused conversation was not deleted")
                    }
                    Err(e) => tracing::warn!(error = %e, "an unused conversation was not deleted"),
                }
            }
            if deleted > 0 {
                tracing::info!(count = deleted, "unused conversations deleted");
            }
        }));
    }

    fn take_back(&mut self, id: ConversationId, action: Action, ctx: &mut Context<Self>) {
        let Some(registry) = self.registry.clone() else {
            return;
        };
        ctx.spawn(
            registry
                .get_or_start(id)
                .send(Act(action))
                .into_actor(self)
                .map(|result, _act, _ctx| {
                    if !matches!(result, Ok(Ok(_))) {
                        tracing::warn!(
                            "a conversation could not be taken back; the next sweep retries"
                        );
                    }
                }),
        );
    }

    fn forward(&mut self, visible: impl Fn(&OperatorState) -> bool, push: OperatorPush) {
        for op in self.operators.values_mut() {
            if visible(op) {
                deliver(&mut op.sessions, &push);
            }
        }
    }

    fn set_presence(&mut self, operator: OperatorId, presence: Presence) {
        if let Some(op) = self.operators.get_mut(&operator) {
            op.presence = presence;
            let frame = encode(&OperatorOut::Presence { status: presence });
            deliver(&mut op.sessions, &OperatorPush::frame(frame, None));
        }
        self.count_online();
    }

    /// The `switchboard_operators_online` gauge: operators with a socket and not offline.
    fn count_online(&self) {
        metrics::gauge!(telemetry::OPERATORS_ONLINE).set(self.online() as f64);
        if let Some(automation) = &self.automation {
            // Online or busy with a socket: at work, so no auto-reply answers for the team.
            let at_work: HashSet<OperatorId> = self
                .operators
                .values()
                .filter(|o| {
                    !o.sessions.is_empty()
                        && matches!(o.presence, Presence::Online | Presence::Busy)
                })
                .map(|o| o.identity.id)
                .collect();
            let groups: HashSet<GroupId> = self
                .groups
                .iter()
                .filter(|(_, g)| g.members.iter().any(|m| at_work.contains(m)))
                .map(|(id, _)| *id)
                .collect();
            automation.set_online_groups(&groups, self.clock.now());
        }
    }

    fn online(&self) -> usize {
        self.operators
            .values()
            .filter(|o| !o.sessions.is_empty() && o.presence != Presence::Offline)
            .count()
    }

    /// Closes the sockets of `operator` whose tokens `tokens` covers.
    fn close_sessions(
        &mut self,
        operator: OperatorId,
        tokens: &RevokedTokens,
        reason: &'static str,
    ) {
        if let Some(op) = self.operators.get_mut(&operator) {
            op.sessions.retain(|_, conn| {
                if tokens.covers(&conn.token_hash) {
                    conn.outlet.push_control(OperatorPush::Revoked { reason });
                    false
                } else {
                    true
                }
            });
        }
        self.count_online();
    }
}

/// Pushes a frame to every socket through its outbox (one too far behind gets nothing more: it
/// closes and resumes by seq), forgetting the ones that are gone.
fn deliver(sessions: &mut HashMap<SessionId, Connection>, push: &OperatorPush) {
    sessions.retain(|_, conn| {
        conn.outlet.push(push.clone());
        conn.outlet.alive()
    });
}

/// Groups with their strategy and members.
async fn load_team(
    conn: &mut diesel_async::AsyncPgConnection,
) -> Result<HashMap<GroupId, GroupInfo>, AppError> {
    let mut team: HashMap<GroupId, GroupInfo> = groups::list_live(conn)
        .await?
        .into_iter()
        .map(|g| {
            (
                g.id,
                GroupInfo {
                    strategy: g.strategy,
                    members: HashSet::new(),
                    last_pick: None,
                },
            )
        })
        .collect();
    for (group, operator) in groups::all_memberships(conn).await? {
        if let Some(info) = team.get_mut(&group) {
            info.members.insert(operator);
        }
    }
    Ok(team)
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.load_state(ctx);
        ctx.run_interval(SWEEP_INTERVAL, |act, ctx| act.sweep(ctx));
    }
}

impl Handler<OperatorConnected> for Router {
    type Result = AppResult<watch::Receiver<OperatorIdentity>>;

    fn handle(&mut self, msg: OperatorConnected, ctx: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        let id = msg.operator.id;
        if self.deleted.contains(&id) {
            return Err(AppError::Unauthorized("invalid or expired token".into()));
        }
        let known = self.groups.values().any(|g| g.members.contains(&id));
        let entry = self.operators.entry(id).or_insert_with(|| OperatorState {
            identity: msg.operator.clone(),
            published: watch::channel(msg.operator.clone()).0,
            presence: Presence::Online,
            sessions: HashMap::new(),
            last_seen: now,
            last_assigned: None,
        });
        entry.sessions.retain(|_, conn| conn.outlet.alive());
        if entry.sessions.len() >= self.max_sessions {
            return Err(AppError::conflict(
                TOO_MANY_SOCKETS,
                format!(
                    "this operator already has {} sockets open",
                    self.max_sessions
                ),
            ));
        }
        // The token was just checked against the database: what it says is current.
        entry.set_identity(msg.operator);
        entry.last_seen = now;
        entry.sessions.insert(
            msg.session,
            Connection {
                outlet: msg.outlet,
                token_hash: msg.token_hash,
            },
        );
        let identity = entry.published.subscribe();
        self.count_online();
        if known {
            self.route(ctx);
            self.tell_positions_soon(ctx);
        } else {
            // An operator added since start-up (e.g. from the CLI): learn their groups first.
            self.reload_team(ctx);
        }
        Ok(identity)
    }
}

impl Handler<OperatorDisconnected> for Router {
    type Result = ();

    fn handle(&mut self, msg: OperatorDisconnected, _ctx: &mut Context<Self>) {
        let now = self.clock.now();
        if let Some(op) = self.operators.get_mut(&msg.operator) {
            op.sessions.remove(&msg.session);
            // The presence timeout runs from here: a reconnect within it changes nothing.
            op.last_seen = now;
        }
        self.count_online();
    }
}

impl Handler<Revoked> for Router {
    type Result = ();

    fn handle(&mut self, msg: Revoked, _ctx: &mut Context<Self>) {
        self.close_sessions(msg.operator, &msg.tokens, "signed out");
    }
}

impl Handler<Seen> for Router {
    type Result = ();

    fn handle(&mut self, msg: Seen, _ctx: &mut Context<Self>) {
        let now = self.clock.now();
        if let Some(op) = self.operators.get_mut(&msg.0) {
            op.last_seen = now;
        }
    }
}

impl Handler<SetPresence> for Router {
    type Result = ();

    fn handle(&mut self, msg: SetPresence, ctx: &mut Context<Self>) {
        self.set_presence(msg.operator, msg.presence);
        self.route(ctx);
        self.tell_positions_soon(ctx);
    }
}

impl Handler<OperatorUpdated> for Router {
    type Result = ();

    fn handle(&mut self, msg: OperatorUpdated, ctx: &mut Context<Self>) {
        let id = msg.operator.id;
        if !msg.deleted {
            // Restored (or changed): it may sign in again.
            self.deleted.remove(&id);
        }
        if msg.deleted {
            self.deleted.insert(id);
            self.close_sessions(id, &RevokedTokens::All, "operator deleted");
            self.operators.remove(&id);
            self.count_online();
            let theirs: Vec<ConversationId> = self
                .conversations
                .iter()
                .filter(|(_, t)| t.status == ConversationStatus::Active && t.assignee == Some(id))
                .map(|(cid, _)| *cid)
                .collect();
            for cid in theirs {
                self.take_back(
                    cid,
                    Action::Unassign {
                        reason: Unassigned::OperatorOffline,
                    },
                    ctx,
                );
            }
        } else if let Some(op) = self.operators.get_mut(&id) {
            let seen_before = op.identity.view();
            op.set_identity(msg.operator);
            let seen_now = op.identity.view();
            if seen_now != seen_before {
                let frame = encode(&OperatorOut::Operator {
                    operator: &seen_now,
                });
                deliver(&mut op.sessions, &OperatorPush::frame(frame, None));
            }
        }
        self.route(ctx);
        self.tell_positions_soon(ctx);
    }
}

impl Handler<ReloadTeam> for Router {
    type Result = ();

    fn handle(&mut self, _msg: ReloadTeam, ctx: &mut Context<Self>) {
        self.reload_team(ctx);
    }
}

impl Handler<ConversationChanged> for Router {
    type Result = ();

    fn handle(&mut self, msg: ConversationChanged, ctx: &mut Context<Self>) {
        let summary = msg.summary;
        let id = summary.id;
        let before = self.conversations.get(&id).cloned();
        let frame = encode(&OperatorOut::Conversation(&summary));
        let (status, assignee) = (summary.status, summary.assignee);
        // A tentative assignment is the router's own guess: whoever saw the conversation in
        // the queue before it must hear that it left.
        let (old_status, old_assignee) = match &before {
            Some(b) if b.tentative => (ConversationStatus::Pending, None),
            Some(b) => (b.status, b.assignee),
            None => (status, assignee),
        };
        let mut tracked = Tracked::from_summary(&summary, msg.routing);
        if tracked.routing.preferred.is_none() {
            tracked.routing.preferred = before.as_ref().and_then(|b| b.routing.preferred);
        }
        let dormant = tracked.dormant;
        let escalated = before.as_ref().is_some_and(|b| b.level < tracked.level);
        let senior = escalated
            .then(|| self.more_senior(&tracked))
            .flatten()
            .map(|to| (to.id, tracked.clone()));
        self.track(id, tracked);
        if let Some((to, tracked)) = senior {
            // Through `give`, so the senior's load counts it at once.
            let reassign = |to| Action::Reassign {
                to,
                reason: Unassigned::Escalated,
            };
            self.give(id, tracked, to, reassign, ctx);
        }
        // Whoever could see it before or can see it now hears about the change; nobody hears
        // of a chat the customer has not written in yet.
        if !dormant {
            self.forward(
                |op| {
                    op.identity.may_see(status, assignee)
                        || op.identity.may_see(old_status, old_assignee)
                },
                OperatorPush::frame(frame, None),
            );
        }
        if !self.groups.contains_key(&summary.group_id) {
            self.reload_team(ctx);
        }
        self.route(ctx);
        self.tell_positions_soon(ctx);
    }
}

impl Router {
    /// For an active conversation just escalated: an eligible operator of a higher tier than
    /// its assignee, if one is free.
    fn more_senior(&self, conversation: &Tracked) -> Option<OperatorIdentity> {
        if conversation.status != ConversationStatus::Active {
            return None;
        }
        let assignee = conversation.assignee?;
        let tier = self
            .operators
            .get(&assignee)
            .map(|o| o.identity.tier)
            .unwrap_or(0);
        let next = self.choose(conversation, Some(assignee))?;
        let op = self.operators.get(&next)?;
        (op.identity.tier > tier).then(|| op.identity.clone())
    }
}

impl Handler<NotifySupervisors> for Router {
    type Result = ();

    fn handle(&mut self, msg: NotifySupervisors, _ctx: &mut Context<Self>) {
        let push = OperatorPush::frame(msg.0, None);
        self.forward(|op| op.identity.role.sees_all(), push);
    }
}

impl Handler<Publish> for Router {
    type Result = ();

    fn handle(&mut self, msg: Publish, _ctx: &mut Context<Self>) {
        let push = OperatorPush::frame(msg.frame, msg.seq.map(|seq| (msg.conversation, seq)));
        self.forward(|op| op.identity.may_see(msg.status, msg.assignee), push);
    }
}

impl Router {
    fn tell_listeners(&self, conversation: ConversationId, position: usize) {
        if let Some(channel) = self.conversations.get(&conversation).map(|t| t.channel) {
            self.tell_channel_listeners(channel, conversation, position);
        }
    }

    /// `position` 0: the conversation left the queue (or is being re-queued).
    fn tell_channel_listeners(
        &self,
        channel: Channel,
        conversation: ConversationId,
        position: usize,
    ) {
        for (_, listener) in self.queue_listeners.iter().filter(|(c, _)| *c == channel) {
            listener.do_send(WaitingAt {
                conversation,
                position,
            });
        }
    }

    fn position_of(&self, conversation: ConversationId) -> Option<usize> {
        self.told.get(&conversation).copied().or_else(|| {
            self.queue
                .iter()
                .position(|k| k.id == conversation)
                .map(|index| index + 1)
        })
    }
}

impl Handler<ListenQueue> for Router {
    type Result = ();

    fn handle(&mut self, msg: ListenQueue, _ctx: &mut Context<Self>) {
        self.queue_listeners.push((msg.channel, msg.listener));
    }
}

impl Handler<PositionOf> for Router {
    type Result = Option<usize>;

    fn handle(&mut self, msg: PositionOf, _ctx: &mut Context<Self>) -> Option<usize> {
        // Positions are told in batches; a conversation just queued may not be told yet.
        self.tell_positions();
        let position = self.position_of(msg.0)?;
        self.told.insert(msg.0, position);
        Some(position)
    }
}

impl Handler<QueryPosition> for Router {
    type Result = ();

    fn handle(&mut self, msg: QueryPosition, _ctx: &mut Context<Self>) {
        let Some(registry) = self.registry.clone() else {
            return;
        };
        // Usually remembered; counting through the queue only when it is not.
        let position = self.position_of(msg.0);
        if let Some(position) = position {
            self.told.insert(msg.0, position);
            if let Some(addr) = registry.running(msg.0) {
                addr.do_send(QueuePosition {
                    position,
                    estimated_wait_secs: self.estimated_wait(position),
                });
            }
        }
    }
}

impl Handler<Sweep> for Router {
    type Result = ();

    fn handle(&mut self, _msg: Sweep, ctx: &mut Context<Self>) {
        self.sweep(ctx);
    }
}

impl Handler<Stats> for Router {
    type Result = MessageResult<Stats>;

    fn handle(&mut self, _msg: Stats, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(RouterStats {
            loaded: self.loaded,
            operators_online: self.online(),
            assigning: self.conversations.values().filter(|t| t.tentative).count(),
            queue_length: self.queue.len(),
        })
    }
}

impl Handler<Presences> for Router {
    type Result = MessageResult<Presences>;

    fn handle(&mut self, _msg: Presences, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.operators
                .values()
                .filter(|o| !o.sessions.is_empty())
                .map(|o| (o.identity.id, (o.presence, self.load_of(o.identity.id))))
                .collect(),
        )
    }
}
