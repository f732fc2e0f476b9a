//! Deleting a conversation and erasing a contact's data, through the conversation's own actor:
//! handlers are atomic, so no message, action or read mark can be written in between, and
//! everyone connected is told.

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::{Action, Conversation};
use crate::actors::visitor_session::VisitorPush;
use crate::auth::OperatorIdentity;
use crate::db::privacy;
use crate::domain::ConversationStatus;
use crate::error::{AppError, AppResult};
use crate::protocol::{encode, VisitorOut};

/// The `reason` of the `status` frame a visitor gets when an admin deleted the conversation.
pub const DELETED: &str = "deleted";

/// An admin deletes the conversation (`privacy::delete_conversation`): open visitor sockets get
/// a `status` frame (`closed`, reason `deleted`), operators a `conversation` frame showing it
/// closed, and the actor stops; from then on the conversation is not found.
#[derive(Message, Clone)]
#[rtype(result = "AppResult<()>")]
pub struct DeleteConversation {
    pub by: OperatorIdentity,
}

/// Part of erasing a contact: the conversation is closed (as by `by`) if it is not, then what
/// it holds of the customer is erased (`privacy::erase_conversation`). Idempotent.
#[derive(Message, Clone)]
#[rtype(result = "AppResult<()>")]
pub struct EraseConversation {
    pub by: OperatorIdentity,
}

impl Conversation {
    /// The request that deletes a conversation, for `ask`ing its actor.
    pub fn delete_request(by: OperatorIdentity) -> DeleteConversation {
        DeleteConversation { by }
    }

    /// The request that erases a conversation's customer data, for `ask`ing its actor.
    pub fn erase_request(by: OperatorIdentity) -> EraseConversation {
        EraseConversation { by }
    }
}

impl Handler<DeleteConversation> for Conversation {
    type Result = AtomicResponse<Self, AppResult<()>>;

    fn handle(&mut self, msg: DeleteConversation, ctx: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.with_state(ctx, move |act, _ctx| {
            let (pool, id, now) = (act.deps.pool.clone(), act.id, act.deps.clock.now());
            let by = msg.by.id;
            let delete = async move {
                let mut conn = pool.get().await?;
                Ok::<_, AppError>(privacy::delete_conversation(&mut conn, id, by, now).await?)
            };
            Box::pin(fut::wrap_future::<_, Self>(delete).map(
                move |result, act, ctx| match result {
                    Ok(true) => {
                        act.deleted(now, ctx);
                        Ok(())
                    }
                    // Deleted meanwhile by another node: this actor's state is stale.
                    Ok(false) => {
                        act.state = None;
                        ctx.stop();
                        Err(AppError::not_found("conversation"))
                    }
                    Err(e) => {
                        act.state = None;
                        Err(e)
                    }
                },
            ))
        }))
    }
}

impl Conversation {
    /// The conversation is gone: visitors are told and forgotten, operators see it closed, the
    /// router stops counting it, and the actor stops (a later request finds nothing).
    fn deleted(&mut self, now: DateTime<Utc>, ctx: &mut Context<Self>) {
        let frame = encode(&VisitorOut::Status {
            status: ConversationStatus::Closed,
            reason: Some(DELETED),
        });
        // A control push: even a socket that is behind gets it.
        for outlet in self.visitors.values() {
            outlet.push_control(VisitorPush::new(frame.clone(), None));
        }
        self.visitors.clear();
        if let Some(state) = self.state.as_mut() {
            state.snap.status = ConversationStatus::Closed;
            state.snap.closed_at.get_or_insert(now);
            state.tags.clear();
        }
        self.notify_router();
        self.state = None;
        ctx.stop();
    }
}

impl Handler<EraseConversation> for Conversation {
    type Result = AtomicResponse<Self, AppResult<()>>;

    fn handle(&mut self, msg: EraseConversation, ctx: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.with_state(ctx, move |act, _ctx| {
            let close = match act.state() {
                Ok(s) if s.snap.status == ConversationStatus::Closed => Ok(None),
                Ok(s) => s.plan_action(&Action::Close(msg.by), act.deps.clock.now(), &act.deps),
                Err(e) => Err(e),
            };
            // Closed the usual way first: a system event, the audit entry, the customer and
            // operators told, the router updated.
            let closed: ResponseActFuture<Self, AppResult<()>> = match close {
                Ok(Some(plan)) => act.commit(plan),
                Ok(None) => Box::pin(fut::ready(Ok(()))),
                Err(e) => return Box::pin(fut::ready(Err(e))),
            };
            let (pool, id) = (act.deps.pool.clone(), act.id);
            Box::pin(closed.then(move |result, _act, _ctx| {
                let erase = async move {
                    result?;
                    let mut conn = pool.get().await?;
                    privacy::erase_conversation(&mut conn, id).await?;
                    AppResult::Ok(())
                };
                fut::wrap_future::<_, Self>(erase).map(|result, act, _ctx| {
                    // Read again when next needed: the texts and idempotency keys are gone.
                    act.state = None;
                    result
                })
            }))
        }))
    }
}
