//! The operators' side in Telegram: replies to the bot's posts in the support group answer the
//! customer (or, with `/note `, leave an internal note), the Take / Close / Escalate buttons
//! act on the conversation, and `/link CODE` ties a Telegram account to an operator. Only
//! linked operators can act; everything goes through the Conversation actor with the
//! operator's own permissions.

use teloxide::payloads::AnswerCallbackQuerySetters;
use teloxide::prelude::Requester;
use teloxide::types::CallbackQueryId;

use super::customer::{settle, SUPPORT_BUTTON};
use super::outbox::{self, Call, GROUP_LANE};
use super::store::{self, Customer};
use super::texts::{Lang, Say};
use super::update::{CallbackQuery, Message, User};
use super::{Telegram, USER_SPACE};
use crate::actors::conversation::{Act, Action, By, PostMessage};
use crate::auth::OperatorIdentity;
use crate::domain::EventKind;
use crate::error::{AppError, AppResult};
use crate::ids::ConversationId;

/// A message in the support group: a reply to one of our posts, or the group's migration.
pub(super) async fn message(tg: &Telegram, msg: &Message) -> AppResult<&'static str> {
    if let Some(to) = msg.migrate_to_chat_id {
        tg.group_migrated(msg.chat.id, to).await?;
        return Ok("migrated");
    }
    settle(reply(tg, msg).await)
}

async fn reply(tg: &Telegram, msg: &Message) -> AppResult<&'static str> {
    let Some(from) = msg.from.as_ref() else {
        return Ok("ignored");
    };
    // In a forum, anything written in a conversation's topic is for it; elsewhere, a reply to
    // one of its posts. (A topic's own first message, which every message in the topic
    // carries as `reply_to_message`, is not a reply.)
    let topic = msg
        .message_thread_id
        .filter(|_| tg.is_forum() && msg.is_topic_message);
    let replied = msg.replied_to();
    if topic.is_none() && replied.is_none() {
        return Ok("ignored");
    }
    let Some(operator) = linked(tg, from).await? else {
        // Not a linked operator: their replies are not answers.
        return Ok("ignored");
    };
    let conversation = {
        let mut conn = tg.pool().get().await?;
        let in_topic = match topic {
            Some(thread) => store::topic_conversation(&mut conn, msg.chat.id, thread).await?,
            None => None,
        };
        match (in_topic, replied) {
            (Some(conversation), _) => Some(conversation),
            (None, Some(replied)) => {
                store::post_conversation(&mut conn, msg.chat.id, replied.message_id).await?
            }
            (None, None) => None,
        }
    };
    let Some(conversation) = conversation else {
        return Ok("ignored");
    };
    let Some(text) = msg.text.as_deref().filter(|t| !t.trim().is_empty()) else {
        tell_group(
            tg,
            conversation,
            "Only text replies reach the customer from Telegram.",
        )
        .await?;
        return Ok("refused");
    };
    // A command is never sent to the customer: `/note …` (also `/Note@bot …`) is an internal
    // note, anything else is refused.
    let (kind, text) = match msg.command() {
        Some((name, note)) if name == "note" && !note.is_empty() => (EventKind::Note, note),
        Some(_) => {
            tell_group(
                tg,
                conversation,
                "Not sent: a reply starting with / is a command. Use /note TEXT for an internal note.",
            )
            .await?;
            return Ok("refused");
        }
        None => (EventKind::Message, text),
    };
    let posted = tg
        .registry
        .get_or_start(conversation)
        .send(PostMessage {
            by: By::Operator(operator),
            kind,
            client_id: format!("tg:group:{}", msg.message_id),
            text: text.to_owned(),
            data: None,
            origin: None,
        })
        .await
        .map_err(|_| AppError::Unavailable)?;
    match posted {
        Ok(_) => Ok(if kind == EventKind::Note {
            "note"
        } else {
            "reply"
        }),
        Err(AppError::Unavailable) => Err(AppError::Unavailable),
        Err(e) => {
            tell_group(tg, conversation, &format!("Not sent: {e}.")).await?;
            Ok("refused")
        }
    }
}

/// A short word to the support group about one conversation (a refused reply).
async fn tell_group(tg: &Telegram, conversation: ConversationId, text: &str) -> AppResult<()> {
    let call = Call::Text {
        text: text.to_owned(),
        buttons: Vec::new(),
        under_card: true,
    };
    tg.enqueue(vec![outbox::NewCall::new(
        GROUP_LANE.to_owned(),
        Some((conversation, None)),
        &call,
    )])
    .await
}

/// The operator a Telegram user is linked to, as they act now; None for anyone else.
async fn linked(tg: &Telegram, user: &User) -> AppResult<Option<OperatorIdentity>> {
    let hash = tg.key.lookup_hash(USER_SPACE, user.id);
    let mut conn = tg.pool().get().await?;
    let Some(id) = store::linked_operator(&mut conn, &hash).await? else {
        return Ok(None);
    };
    let row = crate::db::operators::find(&mut conn, id).await?;
    Ok(row
        .deleted_at
        .is_none()
        .then(|| OperatorIdentity::from(&row)))
}

/// A button: Live Support (a customer, in their chat) or Take / Close / Escalate (an
/// operator, in the support group). Every query is answered, with an alert when refused.
pub(super) async fn callback(tg: &Telegram, query: &CallbackQuery) -> AppResult<&'static str> {
    let data = query.data.as_deref().unwrap_or_default();
    let chat = query.message.as_ref().map(|m| &m.chat);
    if data == SUPPORT_BUTTON && chat.is_none_or(|c| c.is_private()) {
        answer(tg, &query.id, Answer::Quiet).await;
        let chat = chat.map_or(query.from.id, |c| c.id);
        return super::customer::support_button(tg, &query.from, chat).await;
    }
    let in_group = chat.is_some_and(|c| Some(c.id) == tg.group());
    let parsed = data.split_once(':').and_then(|(action, id)| {
        let id = uuid::Uuid::parse_str(id).ok().map(ConversationId)?;
        Some((action, id))
    });
    let Some((action, conversation)) = parsed.filter(|_| in_group) else {
        answer(tg, &query.id, Answer::Quiet).await;
        return Ok("ignored");
    };
    let operator = match linked(tg, &query.from).await {
        Ok(Some(op)) => op,
        Ok(None) => {
            let why = "Link your Telegram account first: in the panel, open your profile menu and choose \"Link Telegram\".";
            answer(tg, &query.id, Answer::Alert(why)).await;
            return Ok("refused");
        }
        Err(e) => {
            // Told to press again: the press is not kept to be replayed later.
            tracing::warn!(error = %e, "a button press could not be checked");
            answer(
                tg,
                &query.id,
                Answer::Alert("Not available right now; try again."),
            )
            .await;
            return Ok("refused");
        }
    };
    let (act, done) = match action {
        "take" => (Action::Take(operator), "Taken"),
        "close" => (Action::Close(operator), "Closed"),
        "escalate" => (Action::Escalate(operator), "Escalated"),
        _ => {
            answer(tg, &query.id, Answer::Quiet).await;
            return Ok("ignored");
        }
    };
    let result = tg
        .registry
        .get_or_start(conversation)
        .send(Act(act))
        .await
        .map_err(|_| AppError::Unavailable)
        .and_then(|r| r);
    match result {
        Ok(_) => {
            answer(tg, &query.id, Answer::Note(done)).await;
            Ok("button")
        }
        Err(e) => {
            answer(tg, &query.id, Answer::Alert(&e.to_string())).await;
            // The press is answered either way; it is not tried again.
            Ok("refused")
        }
    }
}

/// How a button press is answered.
enum Answer<'a> {
    /// Nothing to say (the client stops its spinner).
    Quiet,
    /// A short note at the top of the chat.
    Note(&'a str),
    /// An alert the user must dismiss: why the press was refused.
    Alert(&'a str),
}

/// Answers a callback query (every one is answered, promptly).
async fn answer(tg: &Telegram, id: &str, how: Answer<'_>) {
    let mut request = tg.bot.answer_callback_query(CallbackQueryId(id.to_owned()));
    match how {
        Answer::Quiet => {}
        Answer::Note(text) => request = request.text(text),
        Answer::Alert(text) => request = request.text(text).show_alert(true),
    }
    if let Err(e) = request.await {
        tracing::debug!(error = %e, "callback query not answered");
    }
}

/// `/link CODE` in a private chat: the code from the panel ties this Telegram account to the
/// operator who made it.
pub(super) async fn link(
    tg: &Telegram,
    customer: &Customer,
    from: &User,
    code: &str,
    lang: Lang,
) -> AppResult<&'static str> {
    if tg.link_attempts.check_key(&customer.contact).is_err() {
        tg.say(
            customer.contact,
            Say::LinkFailed.rendered(tg.texts(), lang),
            Vec::new(),
        )
        .await?;
        return Ok("limited");
    }
    let code_hash = crate::auth::hash_token(&code.trim().to_ascii_uppercase());
    let user_hash = tg.key.lookup_hash(USER_SPACE, from.id);
    let operator = {
        let mut conn = tg.pool().get().await?;
        let sealed = tg.key.encrypt_id(from.id);
        store::redeem_link_code(&mut conn, &code_hash, &user_hash, &sealed).await?
    };
    let (say, outcome) = match operator {
        Some(op) => {
            tracing::info!(operator = %op, "telegram account linked");
            (Say::Linked, "linked")
        }
        None => (Say::LinkFailed, "link_failed"),
    };
    tg.say(customer.contact, say.rendered(tg.texts(), lang), Vec::new())
        .await?;
    Ok(outcome)
}
