//! One actor per visitor socket: it authenticates the widget token in `hello`, binds the socket
//! to its conversation's actor, rate-limits what the visitor sends, and writes pushed frames to
//! the socket. If the conversation's actor goes away it rebinds and catches up from the last
//! seq it delivered, so nothing is missed.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode};
use bytestring::ByteString;
use chrono::Utc;
use tokio::sync::watch;

use super::conversation::{visible_to_visitor, visitor_event_frame};
use super::conversation::{
    By, Conversation, Join, JoinReply, Leave, MarkRead, Origin, PostMessage, Rate, Typing,
};
use super::outbox::{Counted, Outbox, Outlet};
use super::registry::ConversationRegistry;
use super::replay;
use super::socket::{self, AdmissionGuard, SocketState, TextSession};
use crate::auth::hash_token;
use crate::config::Config;
use crate::db::{sessions, DbPool};
use crate::domain::EventKind;
use crate::error::{AppError, AppResult};
use crate::ids::{ContactId, ConversationId, SessionId};
use crate::protocol::{decode, VisitorFrame};

const REBIND_RETRY: Duration = Duration::from_secs(1);

/// What every session needs; cloned into each.
#[derive(Clone)]
pub struct SessionDeps {
    pub pool: DbPool,
    pub registry: Arc<ConversationRegistry>,
    pub router: Addr<super::router::Router>,
    pub config: Arc<Config>,
    pub shutdown: watch::Receiver<bool>,
    pub operator_limits: Arc<super::operator_session::OperatorFrameLimits>,
}

/// A frame for this visitor, already serialized; `seq` is set for conversation events.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct VisitorPush {
    pub frame: ByteString,
    pub seq: Option<i64>,
    /// Counted by the socket's outbox (set by `Outlet::push`).
    pub live: bool,
}

impl VisitorPush {
    pub fn new(frame: ByteString, seq: Option<i64>) -> Self {
        VisitorPush {
            frame,
            seq,
            live: false,
        }
    }
}

impl Counted for VisitorPush {
    fn bytes(&self) -> Option<usize> {
        Some(self.frame.len())
    }

    fn mark_live(&mut self) {
        self.live = true;
    }
}

enum Phase {
    AwaitingHello,
    Greeting,
    Joined(Bound),
}

struct Bound {
    conversation: ConversationId,
    contact: ContactId,
    addr: Addr<Conversation>,
}

pub struct VisitorSession {
    id: SessionId,
    deps: SessionDeps,
    socket: SocketState,
    outbox: Arc<Outbox>,
    /// This socket's place among its address's unauthenticated sockets, until `hello` succeeds.
    admission: Option<AdmissionGuard>,
    failed_hellos: u32,
    phase: Phase,
    /// The highest event seq written to this socket.
    delivered: i64,
    /// While a replay runs: the live events that arrived meanwhile.
    held: Option<Vec<VisitorPush>>,
    /// Which replay is current (a rebind starts another).
    replay_generation: u64,
}

impl VisitorSession {
    pub fn new(deps: SessionDeps, admission: AdmissionGuard) -> Self {
        VisitorSession {
            id: SessionId::new(),
            socket: SocketState::new(deps.config.max_frame_bytes),
            outbox: Outbox::new(deps.config.outbox_limits()),
            admission: Some(admission),
            failed_hellos: 0,
            phase: Phase::AwaitingHello,
            delivered: 0,
            held: None,
            replay_generation: 0,
            deps,
        }
    }

    fn outlet(&self, ctx: &mut ws::WebsocketContext<Self>) -> Outlet<VisitorPush> {
        Outlet::new(ctx.address().recipient(), self.outbox.clone())
    }

    fn hello(
        &mut self,
        token: String,
        last_seq: Option<i64>,
        named: Option<ConversationId>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        self.phase = Phase::Greeting;
        let pool = self.deps.pool.clone();
        let registry = self.deps.registry.clone();
        let recipient = self.outlet(ctx);
        let session = self.id;
        let greet = async move {
            let (conversation, contact) = {
                let mut conn = pool.get().await?;
                sessions::widget_by_token(&mut conn, &hash_token(&token), Utc::now())
                    .await?
                    .ok_or_else(|| AppError::Unauthorized("invalid or expired token".into()))?
            };
            if named.is_some_and(|n| n != conversation) {
                return Err(AppError::Forbidden(
                    "the token belongs to another conversation".into(),
                ));
            }
            let addr = registry.get_or_start(conversation);
            let reply = addr
                .send(Join {
                    session,
                    contact,
                    recipient,
                    last_seq,
                    rejoin: false,
                })
                .await??;
            AppResult::Ok((
                Bound {
                    conversation,
                    contact,
                    addr,
                },
                reply,
            ))
        };
        ctx.wait(
            fut::wrap_future::<_, Self>(greet).map(|result, act, ctx| match result {
                Ok((bound, reply)) => {
                    act.phase = Phase::Joined(bound);
                    act.admission = None;
                    act.joined(reply, ctx);
                }
                Err(e) => {
                    act.phase = Phase::AwaitingHello;
                    socket::hello_failed::<Self>(ctx, &mut act.failed_hellos, &e);
                }
            }),
        );
    }

    fn joined(&mut self, reply: JoinReply, ctx: &mut ws::WebsocketContext<Self>) {
        self.delivered = reply.from;
        // A rebind during a replay starts a new one: the old one stops at its next page, and
        // what it held waits for the new one.
        self.replay_generation += 1;
        if reply.from < reply.upto {
            self.held.get_or_insert_with(Vec::new);
            self.replay_page(self.replay_generation, reply.from, reply.upto, ctx);
        } else {
            self.finish_replay(ctx);
        }
        let mut alive = reply.alive;
        let gone = async move {
            // Nothing is ever sent on this channel: it only closes when the actor is dropped.
            let _ = alive.changed().await;
        };
        ctx.spawn(fut::wrap_future::<_, Self>(gone).map(|(), act, ctx| act.rebind(ctx)));
    }

    /// Writes the next page of the replay; the one after is read once this one is written.
    fn replay_page(
        &mut self,
        generation: u64,
        after: i64,
        upto: i64,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let Phase::Joined(bound) = &self.phase else {
            return;
        };
        let read = replay::page(self.deps.pool.clone(), bound.conversation, after);
        ctx.spawn(
            fut::wrap_future::<_, Self>(read).map(move |result, act, ctx| match result {
                _ if generation != act.replay_generation => {}
                Ok(page) => {
                    let config = act.deps.config.clone();
                    for event in page.iter().filter(|e| e.seq <= upto) {
                        if event.seq > act.delivered {
                            act.delivered = event.seq;
                            if visible_to_visitor(event) {
                                ctx.text(visitor_event_frame(&config, event));
                            }
                        }
                    }
                    match replay::next_after(&page, upto) {
                        Some(next) => act.replay_page(generation, next, upto, ctx),
                        None => act.finish_replay(ctx),
                    }
                }
                Err(e) => {
                    // The client resumes from what it got: it reconnects with its last seq.
                    socket::send_error::<Self>(ctx, &e, None);
                    socket::close::<Self>(
                        ctx,
                        CloseCode::Error,
                        "history unavailable; reconnect and resume",
                    );
                }
            }),
        );
    }

    /// The replay is complete: the live events held meanwhile go out (and leave the outbox).
    fn finish_replay(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        for push in self.held.take().unwrap_or_default() {
            self.write(push, ctx);
        }
    }

    fn write(&mut self, push: VisitorPush, ctx: &mut ws::WebsocketContext<Self>) {
        if push.live {
            self.outbox.drained(push.frame.len());
        }
        if let Some(seq) = push.seq {
            if seq <= self.delivered {
                return;
            }
            self.delivered = seq;
        }
        ctx.text(push.frame);
    }

    /// The conversation's actor stopped or died: bind to its successor and catch up.
    fn rebind(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let Phase::Joined(bound) = &self.phase else {
            return;
        };
        let addr = self.deps.registry.get_or_start(bound.conversation);
        let join = Join {
            session: self.id,
            contact: bound.contact,
            recipient: Outlet::new(ctx.address().recipient(), self.outbox.clone()),
            last_seq: Some(self.delivered),
            rejoin: true,
        };
        let target = addr.clone();
        ctx.spawn(
            addr.send(join)
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(Ok(reply)) => {
                        if let Phase::Joined(bound) = &mut act.phase {
                            bound.addr = target;
                        }
                        act.joined(reply, ctx);
                    }
                    // Deleted (by an admin, or purged): there is nothing to come back to.
                    Ok(Err(AppError::NotFound(_))) => socket::close::<Self>(
                        ctx,
                        CloseCode::Normal,
                        "the conversation no longer exists",
                    ),
                    _ => {
                        ctx.run_later(REBIND_RETRY, |act, ctx| act.rebind(ctx));
                    }
                }),
        );
    }

    fn on_frame(&mut self, frame: VisitorFrame, ctx: &mut ws::WebsocketContext<Self>) {
        let bound = match (&self.phase, frame) {
            (
                Phase::AwaitingHello,
                VisitorFrame::Hello {
                    token,
                    last_seq,
                    conversation_id,
                },
            ) => {
                return self.hello(token, last_seq, conversation_id, ctx);
            }
            (Phase::Joined(_) | Phase::Greeting, VisitorFrame::Hello { .. }) => {
                return socket::send_error::<Self>(
                    ctx,
                    &AppError::InvalidFrame("hello was already received".into()),
                    None,
                );
            }
            (Phase::Joined(bound), frame) => (bound, frame),
            (_, _) => {
                return socket::send_error::<Self>(
                    ctx,
                    &AppError::Unauthorized("send hello with a valid token first".into()),
                    None,
                );
            }
        };
        let (bound, frame) = bound;
        let by = By::Visitor(bound.contact);
        let addr = bound.addr.clone();
        match frame {
            VisitorFrame::Hello { .. } => {}
            VisitorFrame::Message {
                client_id,
                text,
                conversation_id,
            } => {
                if conversation_id.is_some_and(|c| c != bound.conversation) {
                    let err = AppError::Forbidden("not your conversation".into());
                    return socket::send_error::<Self>(ctx, &err, Some(&client_id));
                }
                let post = PostMessage {
                    by,
                    kind: EventKind::Message,
                    client_id: client_id.clone(),
                    text,
                    data: None,
                    origin: Some(Origin::Visitor(self.outlet(ctx))),
                };
                ctx.spawn(
                    addr.send(post)
                        .into_actor(self)
                        .map(move |result, _act, ctx| {
                            if let Some(err) = socket::failure(result) {
                                socket::send_error::<Self>(ctx, &err, Some(&client_id));
                            }
                        }),
                );
            }
            VisitorFrame::Typing { active } => addr.do_send(Typing { by, active }),
            VisitorFrame::Read { seq } => {
                ctx.spawn(addr.send(MarkRead { by, seq }).into_actor(self).map(
                    |result, _act, ctx| {
                        if let Some(err) = socket::failure(result) {
                            socket::send_error::<Self>(ctx, &err, None);
                        }
                    },
                ));
            }
            VisitorFrame::Rate { score, comment } => {
                let rate = Rate {
                    contact: bound.contact,
                    score,
                    comment,
                };
                ctx.spawn(addr.send(rate).into_actor(self).map(|result, _act, ctx| {
                    if let Some(err) = socket::failure(result) {
                        socket::send_error::<Self>(ctx, &err, None);
                    }
                }));
            }
        }
    }
}

impl Actor for VisitorSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        socket::start::<Self>(ctx, self.deps.shutdown.clone());
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        socket::stopped::<Self>();
        if let Phase::Joined(bound) = &self.phase {
            bound.addr.do_send(Leave { session: self.id });
        }
    }
}

impl TextSession for VisitorSession {
    const KIND: &'static str = "visitor";

    fn socket(&mut self) -> &mut SocketState {
        &mut self.socket
    }

    fn too_slow(&self) -> bool {
        self.outbox.is_shut()
    }

    fn greeted(&self) -> bool {
        matches!(self.phase, Phase::Joined(_))
    }

    fn on_text(&mut self, text: &str, ctx: &mut Self::Context) {
        match decode::<VisitorFrame>(text) {
            Ok(frame) => self.on_frame(frame, ctx),
            Err(e) => socket::send_error::<Self>(ctx, &e, None),
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for VisitorSession {
    fn handle(&mut self, item: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        socket::incoming(self, item, ctx);
    }
}

impl Handler<VisitorPush> for VisitorSession {
    type Result = ();

    fn handle(&mut self, msg: VisitorPush, ctx: &mut Self::Context) {
        if self.outbox.is_shut() {
            return socket::close_too_slow::<Self>(ctx);
        }
        // Events wait for the replay to get past them; other frames (acks, typing) do not.
        match (&mut self.held, msg.seq) {
            (Some(held), Some(_)) => held.push(msg),
            _ => self.write(msg, ctx),
        }
    }
}
