//! Opening a conversation: the one write that happens before its actor exists.

use actix::Addr;
use chrono::Utc;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::fanout::operator_event_frame;
use crate::actors::router::{ConversationChanged, Publish, Router, Routing};
use crate::db::conversations;
use crate::db::events::EventRow;
use crate::db::DbPool;
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
    pub first_message: Option<String>,
    pub token_ttl: chrono::Duration,
    /// The widget token of the customer's earlier conversation: a returning customer keeps
    /// their contact (and alias) and is routed back to their last operator where possible.
    pub returning_token: Option<String>,
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
    let group = match &request.group {
        Some(name) => crate::db::groups::find_by_name(&mut conn, name)
            .await?
            .ok_or_else(|| AppError::invalid("group", format!("there is no group '{name}'")))?,
        None => crate::db::groups::default_group(&mut conn).await?,
    };
    let returning = match &request.returning_token {
        Some(token) => {
            let hash = crate::auth::hash_token(token);
            let (_, contact) = sessions::widget_by_token(&mut conn, &hash, Utc::now())
                .await?
                .ok_or_else(|| AppError::invalid("contact_token", "unknown or expired token"))?;
            let alias = conversations::contact_alias(&mut conn, contact).await?;
            let preferred = conversations::last_assignee_of_contact(&mut conn, contact).await?;
            Some((contact, alias, preferred))
        }
        None => None,
    };
    let preferred = returning.as_ref().and_then(|(_, _, p)| *p);
    for _ in 0..TICKET_ATTEMPTS {
        let now = Utc::now();
        let ticket = ticket::new_ticket(now);
        let id = ConversationId::new();
        let (contact, alias, new_contact) = match &returning {
            Some((contact, alias, _)) => (*contact, alias.clone(), false),
            None => (ContactId::new(), ticket::alias_for(&ticket), true),
        };
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
