//! The durable outbox of Bot API calls. Rows are written in the same transaction as the events
//! they deliver (by the event writer) or by the gateway for what the bot says itself, and sent
//! in order per lane: one lane per customer chat, one for the support group. No chat id is
//! stored here; the gateway finds it from the lane when it sends.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::texts::{Lang, Say};
use crate::config::Config;
use crate::db::events::EventRow;
use crate::db::schema::telegram_outbox;
use crate::domain::{Author, Channel, EventKind};
use crate::ids::{ContactId, ConversationId};

/// Telegram's limits on one message's text and on a caption.
pub const MAX_TEXT: usize = 4096;
pub const MAX_CAPTION: usize = 1024;
pub const GROUP_LANE: &str = "group";

/// The lane of a customer's chat.
pub fn contact_lane(contact: ContactId) -> String {
    format!("contact:{}", contact.0)
}

/// The lane of an operator's private chat with the bot (sign-in codes).
pub fn operator_lane(operator: crate::ids::OperatorId) -> String {
    format!("operator:{}", operator.0)
}

pub fn lane_operator(lane: &str) -> Option<crate::ids::OperatorId> {
    lane.strip_prefix("operator:")
        .and_then(|id| Uuid::parse_str(id).ok())
        .map(crate::ids::OperatorId)
}

pub fn lane_contact(lane: &str) -> Option<ContactId> {
    lane.strip_prefix("contact:")
        .and_then(|id| Uuid::parse_str(id).ok())
        .map(ContactId)
}

/// An inline button: its label and `callback_data` (ours, at most 64 bytes).
pub type Button = (String, String);

/// One Bot API call to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Call {
    /// `sendMessage` to the lane's chat.
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<Button>,
    },
    /// `copyMessage` of a customer's message (from their chat) into the lane's chat.
    Copy {
        from: ContactId,
        message_id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<Button>,
    },
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = telegram_outbox)]
pub struct NewCall {
    pub lane: String,
    pub conversation_id: Option<ConversationId>,
    pub seq: Option<i64>,
    pub payload: serde_json::Value,
}

impl NewCall {
    pub fn new(lane: String, about: Option<(ConversationId, Option<i64>)>, call: &Call) -> NewCall {
        NewCall {
            lane,
            conversation_id: about.map(|(c, _)| c),
            seq: about.and_then(|(_, s)| s),
            payload: serde_json::to_value(call).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Debug, Clone, QueryableByName)]
#[diesel(table_name = telegram_outbox, check_for_backend(diesel::pg::Pg))]
pub struct CallRow {
    pub id: i64,
    pub lane: String,
    pub conversation_id: Option<ConversationId>,
    pub seq: Option<i64>,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
}

/// What a conversation's new events mean for Telegram; built by the Conversation actor and
/// committed with the events.
pub struct Conversation<'a> {
    pub id: ConversationId,
    pub channel: Channel,
    pub contact: ContactId,
    pub ticket: &'a str,
    pub alias: &'a str,
    pub language: &'a str,
}

pub fn calls_for(config: &Config, conv: &Conversation<'_>, events: &[EventRow]) -> Vec<NewCall> {
    if config.telegram_token().is_none() {
        return Vec::new();
    }
    let relay = config.telegram_support_chat_id.is_some() && config.relays(conv.channel);
    let lang = Lang::from_code(Some(conv.language));
    let mut calls = Vec::new();
    for event in events {
        let about = Some((conv.id, Some(event.seq)));
        if conv.channel == Channel::Telegram {
            if let Some(text) = to_customer(config, conv, lang, event) {
                for part in split(&text, MAX_TEXT) {
                    let call = Call::Text {
                        text: part,
                        buttons: Vec::new(),
                    };
                    calls.push(NewCall::new(contact_lane(conv.contact), about, &call));
                }
            }
        }
        if relay && event.author == Author::Visitor && event.kind == EventKind::Message {
            calls.extend(
                group_post(conv, event)
                    .iter()
                    .map(|call| NewCall::new(GROUP_LANE.to_owned(), about, call)),
            );
        }
    }
    calls
}

/// What the customer is sent for an event: operators' messages under the team's name (or a
/// first name), and the end of the conversation; never notes, nor their own messages.
fn to_customer(
    config: &Config,
    conv: &Conversation<'_>,
    lang: Lang,
    e: &EventRow,
) -> Option<String> {
    match (e.kind, e.author) {
        (EventKind::Message, Author::Operator) => Some(format!(
            "{}: {}",
            crate::actors::conversation::visitor_facing_name(config, e),
            e.body
        )),
        (EventKind::System, _) => match crate::actors::conversation::system_action(e) {
            Some("resolved") => Some(
                Say::Resolved {
                    ticket: conv.ticket,
                }
                .text(lang),
            ),
            Some("closed") => Some(
                Say::Closed {
                    ticket: conv.ticket,
                }
                .text(lang),
            ),
            _ => None,
        },
        _ => None,
    }
}

/// The buttons under each post in the support group; the data carries only our ids.
pub fn post_buttons(conversation: ConversationId) -> Vec<Button> {
    ["take", "close", "escalate"]
        .into_iter()
        .map(|action| {
            let label = match action {
                "take" => "Take",
                "close" => "Close",
                _ => "Escalate",
            };
            (label.to_owned(), format!("{action}:{}", conversation.0))
        })
        .collect()
}

/// A customer message as the support group sees it: the ticket, the alias, the text (or the
/// media, copied so nothing shows who sent it) and the buttons.
fn group_post(conv: &Conversation<'_>, e: &EventRow) -> Vec<Call> {
    let header = format!("{} · {}", conv.ticket, conv.alias);
    let buttons = post_buttons(conv.id);
    let media = e.data.as_ref().and_then(|d| {
        let kind = d.get("media")?.as_str()?;
        let message_id = d.get("telegram_message_id")?.as_i64()?;
        Some((kind.to_owned(), message_id))
    });
    match media {
        Some((_, message_id)) if conv.channel == Channel::Telegram => {
            let caption = e.data.as_ref().and_then(|d| d.get("caption")?.as_str());
            let full = match caption {
                Some(c) if !c.is_empty() => format!("{header}\n{c}"),
                _ => header.clone(),
            };
            if full.chars().count() <= MAX_CAPTION {
                return vec![Call::Copy {
                    from: conv.contact,
                    message_id,
                    caption: Some(full),
                    buttons,
                }];
            }
            // Too long for a caption: the media with the ticket, then the caption as text.
            let mut calls = vec![Call::Copy {
                from: conv.contact,
                message_id,
                caption: Some(header.clone()),
                buttons: Vec::new(),
            }];
            calls.extend(text_calls(&header, caption.unwrap_or_default(), buttons));
            calls
        }
        _ => text_calls(&header, &e.body, buttons),
    }
}

/// `header` and `body` in as many messages as Telegram's text limit needs; the buttons go on
/// the last one.
fn text_calls(header: &str, body: &str, buttons: Vec<Button>) -> Vec<Call> {
    let parts = split(&format!("{header}\n{body}"), MAX_TEXT);
    let last = parts.len().saturating_sub(1);
    parts
        .into_iter()
        .enumerate()
        .map(|(i, text)| Call::Text {
            text,
            buttons: if i == last {
                buttons.clone()
            } else {
                Vec::new()
            },
        })
        .collect()
}

/// `text` in pieces of at most `max` characters, cut at a line break or space where one is
/// near the end of a piece.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max {
        return vec![text.to_owned()];
    }
    let mut parts = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let mut end = (start + max).min(chars.len());
        if end < chars.len() {
            let window = &chars[start..end];
            if let Some(cut) = window.iter().rposition(|c| *c == '\n' || *c == ' ') {
                if cut > max / 2 {
                    end = start + cut + 1;
                }
            }
        }
        parts.push(chars[start..end].iter().collect::<String>());
        start = end;
    }
    parts
}

pub async fn insert(conn: &mut AsyncPgConnection, calls: &[NewCall]) -> QueryResult<()> {
    if calls.is_empty() {
        return Ok(());
    }
    diesel::insert_into(telegram_outbox::table)
        .values(calls)
        .execute(conn)
        .await
        .map(drop)
}

/// The first undelivered call of every lane (whatever its retry time: a lane waits for its
/// head, which keeps its order), oldest first, so that no lane waits behind newer ones.
pub async fn heads(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<CallRow>> {
    diesel::sql_query(
        "SELECT id, lane, conversation_id, seq, payload, attempts, next_attempt_at FROM ( \
           SELECT DISTINCT ON (lane) id, lane, conversation_id, seq, payload, attempts, \
                  next_attempt_at \
           FROM telegram_outbox WHERE delivered_at IS NULL AND failed_at IS NULL \
           ORDER BY lane, id) AS heads \
         ORDER BY id LIMIT $1",
    )
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)
    .await
}

/// Delivered; with the support-group post it made (chat, message, conversation, seq), so
/// that replies to it find their conversation. Both or neither.
pub async fn delivered(
    conn: &mut AsyncPgConnection,
    id: i64,
    post: Option<(i64, i64, ConversationId, Option<i64>)>,
) -> QueryResult<()> {
    use diesel_async::AsyncConnection;
    use telegram_outbox::dsl as o;
    conn.transaction(async |conn| {
        diesel::update(o::telegram_outbox.find(id))
            .set((
                o::delivered_at.eq(Utc::now()),
                o::attempts.eq(o::attempts + 1),
            ))
            .execute(conn)
            .await?;
        if let Some((chat, message_id, conversation, seq)) = post {
            super::store::record_post(conn, chat, message_id, conversation, seq).await?;
        }
        Ok(())
    })
    .await
}

/// Given up for good (the chat is gone, the call is refused): the lane moves on.
pub async fn failed(conn: &mut AsyncPgConnection, id: i64, error: &str) -> QueryResult<()> {
    use telegram_outbox::dsl as o;
    diesel::update(o::telegram_outbox.find(id))
        .set((
            o::failed_at.eq(Utc::now()),
            o::error.eq(error),
            o::attempts.eq(o::attempts + 1),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Every undelivered call of a lane given up (a customer who blocked the bot).
pub async fn fail_lane(
    conn: &mut AsyncPgConnection,
    lane: &str,
    error: &str,
) -> QueryResult<usize> {
    use telegram_outbox::dsl as o;
    diesel::update(
        o::telegram_outbox
            .filter(o::lane.eq(lane))
            .filter(o::delivered_at.is_null())
            .filter(o::failed_at.is_null()),
    )
    .set((o::failed_at.eq(Utc::now()), o::error.eq(error)))
    .execute(conn)
    .await
}

pub async fn retry_at(
    conn: &mut AsyncPgConnection,
    id: i64,
    at: DateTime<Utc>,
    error: &str,
) -> QueryResult<()> {
    use telegram_outbox::dsl as o;
    diesel::update(o::telegram_outbox.find(id))
        .set((
            o::next_attempt_at.eq(at),
            o::error.eq(error),
            o::attempts.eq(o::attempts + 1),
        ))
        .execute(conn)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_split_within_the_limit_without_losing_anything() {
        let text = "word ".repeat(2000);
        let parts = split(&text, MAX_TEXT);
        assert!(parts.len() >= 3);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_TEXT));
        assert_eq!(parts.concat(), text);
        let dense = "я".repeat(5000);
        let parts = split(&dense, MAX_TEXT);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts.concat(), dense);
    }

    fn media_event(caption: &str) -> EventRow {
        EventRow {
            conversation_id: ConversationId::new(),
            seq: 3,
            kind: EventKind::Message,
            author: Author::Visitor,
            author_id: None,
            author_name: "User-ABC".into(),
            body: format!("[photo] {caption}"),
            data: Some(serde_json::json!({
                "media": "photo", "telegram_message_id": 77, "caption": caption
            })),
            client_id: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn a_caption_over_the_limit_follows_the_media_as_text() {
        let conv = Conversation {
            id: ConversationId::new(),
            channel: Channel::Telegram,
            contact: ContactId::new(),
            ticket: "SUPP-20261202-ABCDEF",
            alias: "User-ABCDEF",
            language: "en",
        };
        let short = group_post(&conv, &media_event("a screenshot"));
        assert_eq!(short.len(), 1);
        assert!(
            matches!(&short[0], Call::Copy { caption: Some(c), buttons, .. }
            if c.ends_with("a screenshot") && buttons.len() == 3)
        );
        let long_caption = "x".repeat(MAX_CAPTION + 10);
        let long = group_post(&conv, &media_event(&long_caption));
        assert_eq!(long.len(), 2, "{long:?}");
        assert!(
            matches!(&long[0], Call::Copy { caption: Some(c), .. } if c.chars().count() <= MAX_CAPTION)
        );
        assert!(
            matches!(&long[1], Call::Text { text, buttons } if text.contains(&long_caption) && buttons.len() == 3)
        );
    }

    #[test]
    fn post_buttons_fit_telegrams_callback_limit() {
        for (_, data) in post_buttons(ConversationId::new()) {
            assert!(data.len() <= 64, "{data}");
        }
    }
}
