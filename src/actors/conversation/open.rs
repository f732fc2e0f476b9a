//! Opening a conversation: the one write that happens before its actor exists.

use chrono::Utc;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::fanout::operator_event_frame;
use super::ConversationDeps;
use crate::actors::router::{ConversationChanged, Publish, Routing};
use crate::db::conversations;
use crate::db::events::EventRow;
use crate::domain::{Author, Channel, ConversationStatus, EventKind};
use crate::error::{AppError, AppResult};
use crate::ids::{ContactId, ConversationId};
use crate::protocol::ConversationSummary;

/// What a new conversation starts with.
pub struct OpenRequest {
    /// A group by name; the default group when absent.
    pub group: Option<String>,
    pub channel: Channel,
    pub language: String,
    pub metadata: serde_json::Value,
    pub first: Option<First>,
    pub customer: Customer,
}

/// Who opens the conversation.
pub enum Customer {
    /// A widget visitor, new or returning with the widget token of an earlier conversation (a
    /// returning customer keeps their contact and alias and is routed back to their last
    /// operator where possible). They get a widget token valid for `token_ttl`.
    Widget {
        returning_token: Option<String>,
        token_ttl: chrono::Duration,
    },
    /// A known contact of another channel (Telegram): no widget token.
    Contact(ContactId),
}

/// The conversation's first event (seq 1).
pub enum First {
    /// The customer's first message.
    Message {
        text: String,
        client_id: Option<String>,
        data: Option<serde_json::Value>,
    },
    /// The customer asked for support without writing yet (Telegram's button): the
    /// conversation is queued at once.
    Requested { text: String },
}

pub struct Opened {
    /// The widget token, for widget visitors.
    pub token: Option<String>,
    pub summary: ConversationSummary,
}

/// Opens a conversation: its contact, the conversation itself, the widget token and the
/// optional first message (seq 1), in one transaction. No actor exists for it yet, so nothing
/// else can be writing its events; the router is told once it is committed.
pub async fn open(deps: &ConversationDeps, request: OpenRequest) -> AppResult<Opened> {
    use crate::automation::deadlines;
    use crate::db::conversations::{NewContact, NewConversation};
    use crate::db::sessions::{self, NewWidgetSession};
    use crate::domain::Priority;
    use crate::ticket;
    use diesel_async::AsyncConnection;

    const TICKET_ATTEMPTS: usize = 5;
    let (pool, router) = (&deps.pool, &deps.router);
    let mut conn = pool.get().await?;
    let group = match &request.group {
        Some(name) => crate::db::groups::find_by_name(&mut conn, name)
            .await?
            .ok_or_else(|| AppError::invalid("group", format!("there is no group '{name}'")))?,
        None => crate::db::groups::default_group(&mut conn).await?,
    };
    let returning = match &request.customer {
        Customer::Contact(contact) => {
            let alias = conversations::contact_alias(&mut conn, *contact).await?;
            let preferred = conversations::last_assignee_of_contact(&mut conn, *contact).await?;
            Some((*contact, alias, preferred))
        }
        Customer::Widget {
            returning_token: Some(token),
            ..
        } => {
            let hash = crate::auth::hash_token(token);
            let (_, contact) = sessions::widget_by_token(&mut conn, &hash, Utc::now())
                .await?
                .ok_or_else(|| AppError::invalid("contact_token", "unknown or expired token"))?;
            if crate::db::contacts::block_of(&mut conn, contact)
                .await?
                .is_some_and(|b| b.is_active(Utc::now()))
            {
                return Err(AppError::Blocked);
            }
            let alias = conversations::contact_alias(&mut conn, contact).await?;
            let preferred = conversations::last_assignee_of_contact(&mut conn, contact).await?;
            Some((contact, alias, preferred))
        }
        Customer::Widget { .. } => None,
    };
    let preferred = returning.as_ref().and_then(|(_, _, p)| *p);
    for _ in 0..TICKET_ATTEMPTS {
        let now = deps.clock.now();
        let ticket = ticket::new_ticket(now);
        let id = ConversationId::new();
        let (contact, alias, new_contact) = match &returning {
            Some((contact, alias, _)) => (*contact, alias.clone(), false),
            None => (ContactId::new(), ticket::alias_for(&ticket), true),
        };
        let widget = match &request.customer {
            Customer::Widget { token_ttl, .. } => {
                let (token, hash) = crate::auth::new_token();
                Some((token, hash, now + *token_ttl))
            }
            Customer::Contact(_) => None,
        };
        let first = request.first.as_ref().map(|first| {
            let (kind, author, author_id, author_name, body, data, client_id) = match first {
                First::Message {
                    text,
                    client_id,
                    data,
                } => (
                    EventKind::Message,
                    Author::Visitor,
                    Some(contact.0),
                    alias.clone(),
                    text.clone(),
                    data.clone(),
                    client_id.clone(),
                ),
                First::Requested { text } => (
                    EventKind::System,
                    Author::System,
                    None,
                    super::SYSTEM_NAME.to_owned(),
                    text.clone(),
                    Some(serde_json::json!({"action": "requested"})),
                    None,
                ),
            };
            EventRow {
                conversation_id: id,
                seq: 1,
                kind,
                author,
                author_id,
                author_name,
                body,
                data,
                client_id,
                created_at: now,
            }
        });
        let from_customer = first.as_ref().is_some_and(|e| e.author == Author::Visitor);
        // Its deadlines (auto-close, the first-response SLA), and, for a customer's first
        // message, `Automate`: its actor runs the message's automation (an auto-reply, an
        // escalation) soon and exactly once.
        let armed: Vec<(ConversationId, deadlines::Change)> = {
            let memo = crate::automation::Memo {
                customer_wrote_at: from_customer.then_some(now),
                ..Default::default()
            };
            let snap = crate::db::conversations::Snapshot {
                id,
                group_id: group.id,
                status: ConversationStatus::Pending,
                priority: Priority::Medium,
                level: 0,
                assignee_id: None,
                assigned_at: None,
                first_response_at: None,
                resolved_at: None,
                closed_at: None,
                last_seq: i64::from(request.first.is_some()),
                last_message_at: request.first.as_ref().map(|_| now),
                unanswered: i32::from(from_customer),
                visitor_read_seq: 0,
                operator_read_seq: 0,
                updated_at: now,
                category: None,
                automation: memo,
            };
            let mut wanted = super::automate::wanted_deadlines(&snap, now, deps);
            if from_customer && deps.config.automation {
                wanted.insert(deadlines::Kind::Automate, now);
            }
            deadlines::changes(&deadlines::Armed::new(), &wanted, now)
                .into_iter()
                .map(|c| (id, c))
                .collect()
        };
        let calls = match &first {
            Some(event) => {
                let conv = crate::telegram::outbox::Conversation {
                    id,
                    channel: request.channel,
                    contact,
                    ticket: &ticket,
                    alias: &alias,
                    language: &request.language,
                };
                crate::telegram::outbox::calls_for(
                    &deps.config,
                    &deps.telegram_texts,
                    &conv,
                    std::slice::from_ref(event),
                )
            }
            None => Vec::new(),
        };
        let inserted = conn
            .transaction::<(), diesel::result::Error, _>(async |conn| {
                if new_contact {
                    conversations::insert_contact(
                        conn,
                        &NewContact {
                            id: contact,
                            alias: &alias,
                            language: &request.language,
                        },
                    )
                    .await?;
                }
                conversations::insert(
                    conn,
                    &NewConversation {
                        id,
                        group_id: group.id,
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
                        unanswered: i32::from(from_customer),
                        automation: if from_customer {
                            serde_json::json!({"customer_wrote_at": now})
                        } else {
                            serde_json::json!({})
                        },
                    },
                )
                .await?;
                if let Some((_, token_hash, expires_at)) = &widget {
                    sessions::insert_widget_session(
                        conn,
                        &NewWidgetSession {
                            id: Uuid::now_v7(),
                            contact_id: contact,
                            conversation_id: id,
                            token_hash,
                            expires_at: *expires_at,
                        },
                    )
                    .await?;
                }
                if let Some(event) = &first {
                    diesel::insert_into(crate::db::schema::events::table)
                        .values(event)
                        .execute(conn)
                        .await?;
                }
                crate::telegram::outbox::insert(conn, &calls).await?;
                if first.is_some() {
                    deadlines::write(conn, &armed).await?;
                }
                Ok(())
            })
            .await;
        match inserted {
            Ok(()) => {
                if !calls.is_empty() {
                    deps.telegram_outbox.notify_one();
                }
                let earliest = armed
                    .iter()
                    .filter_map(|(_, c)| match c {
                        deadlines::Change::Set(_, due) => Some(*due),
                        deadlines::Change::Clear(_) => None,
                    })
                    .min();
                if let (true, Some(due)) = (first.is_some(), earliest) {
                    deps.automation.timers.arm(due);
                }
                let (row, alias) = conversations::find(&mut conn, id).await?;
                let summary = ConversationSummary::from(&(row, alias));
                router.do_send(ConversationChanged {
                    summary: summary.clone(),
                    routing: Routing {
                        preferred,
                        ..Routing::default()
                    },
                });
                if let Some(event) = &first {
                    router.do_send(Publish {
                        conversation: id,
                        status: summary.status,
                        assignee: None,
                        frame: operator_event_frame(event),
                        seq: Some(event.seq),
                    });
                }
                return Ok(Opened {
                    token: widget.map(|(token, _, _)| token),
                    summary,
                });
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
