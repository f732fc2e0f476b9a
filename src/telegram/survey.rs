//! The satisfaction survey in Telegram: a resolved conversation's message carries buttons 1–5;
//! a press by the conversation's own customer rates it, and their next text message (within
//! a few minutes, unless they opened a ticket meanwhile) is the rating's comment rather than a
//! new message to support. Where the comment is awaited is stored, so a restart keeps it.

use chrono::Utc;
use teloxide::payloads::{AnswerCallbackQuerySetters, EditMessageTextSetters};
use teloxide::prelude::Requester;
use teloxide::types::{CallbackQueryId, ChatId, MessageId};
use teloxide::{ApiError, RequestError};

use super::outbox::{self, Button, Call};
use super::store::{self, Customer};
use super::texts::{Lang, Say};
use super::update::{CallbackQuery, Message};
use super::{Telegram, USER_SPACE};
use crate::actors::conversation::Rate;
use crate::actors::conversation::MAX_COMMENT_CHARS;
use crate::error::{AppError, AppResult};
use crate::ids::{ContactId, ConversationId};

/// The `callback_data` of a rating button: `rate:<conversation>:<score>`, 43 bytes.
pub const PREFIX: &str = "rate:";
/// How long after a press the customer's next text is taken as the rating's comment.
pub const COMMENT_WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// The five buttons under a resolved conversation's message; `chosen` is marked.
pub fn buttons(conversation: ConversationId, chosen: Option<i16>) -> Vec<Button> {
    (1..=5)
        .map(|score| {
            let label = if chosen == Some(score) {
                format!("✅ {score} ⭐")
            } else {
                format!("{score} ⭐")
            };
            (label, format!("{PREFIX}{}:{score}", conversation.0))
        })
        .collect()
}

/// The conversation and score a rating button names; None for anything else (a forged or
/// garbled press).
pub fn parse(data: &str) -> Option<(ConversationId, i16)> {
    let (id, score) = data.strip_prefix(PREFIX)?.split_once(':')?;
    let id = uuid::Uuid::parse_str(id).ok()?;
    let score: i16 = score.parse().ok()?;
    (1..=5)
        .contains(&score)
        .then_some((ConversationId(id), score))
}

/// A rating button was pressed. Every press is answered at once; a refused one with a short
/// alert, and nothing is stored. Never `Err`: a press is not kept to be replayed later (its
/// answer would come too late), the customer presses again.
pub(super) async fn pressed(tg: &Telegram, query: &CallbackQuery) -> AppResult<&'static str> {
    let lang = Lang::from_code(query.from.language_code.as_deref());
    let private = query.message.as_ref().is_none_or(|m| m.chat.is_private());
    let Some((conversation, score)) =
        parse(query.data.as_deref().unwrap_or_default()).filter(|_| private && !query.from.is_bot)
    else {
        answer(tg, &query.id, None).await;
        return Ok("ignored");
    };
    match rate(tg, query, conversation, score, lang).await {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            tracing::warn!(error = %e, "a rating could not be taken");
            let why = Say::TryAgain.rendered(tg.texts(), lang);
            answer(tg, &query.id, Some(&why)).await;
            Ok("refused")
        }
    }
}

async fn rate(
    tg: &Telegram,
    query: &CallbackQuery,
    conversation: ConversationId,
    score: i16,
    lang: Lang,
) -> AppResult<&'static str> {
    let hash = tg.key.lookup_hash(USER_SPACE, query.from.id);
    let (customer, rated) = {
        let mut conn = tg.pool().get().await?;
        let customer = store::customer_by_hash(&mut conn, &hash).await?;
        let rated = store::telegram_conversation(&mut conn, conversation).await?;
        (customer, rated)
    };
    // Only the customer whose conversation it is: their chat maps to its contact.
    let (customer, rated) = match (customer, rated) {
        (Some(customer), Some(rated)) if customer.contact == rated.contact => (customer, rated),
        _ => {
            let why = Say::RatingNotYours.rendered(tg.texts(), lang);
            answer(tg, &query.id, Some(&why)).await;
            return Ok("refused");
        }
    };
    if customer.blocked {
        let why = Say::Blocked.rendered(tg.texts(), lang);
        answer(tg, &query.id, Some(&why)).await;
        return Ok("blocked");
    }
    // A press costs replies, like a message.
    if tg.hourly.check_key(&customer.contact).is_err() {
        let why = Say::TooManyMessages.rendered(tg.texts(), lang);
        answer(tg, &query.id, Some(&why)).await;
        return Ok("limited");
    }
    let result = send_rate(tg, conversation, customer.contact, score, None).await;
    if let Err(e) = result {
        if matches!(e, AppError::Unavailable) {
            return Err(e);
        }
        let why = refusal(&e).rendered(tg.texts(), lang);
        answer(tg, &query.id, Some(&why)).await;
        return Ok("refused");
    }
    answer(tg, &query.id, None).await;
    if let Some(message) = &query.message {
        show_choice(tg, message, conversation, &rated, score).await;
    }
    if let Err(e) = ask_comment(tg, &customer, conversation, score, lang).await {
        // The rating stands; only the question about a comment is lost.
        tracing::warn!(error = %e, "a rating's comment was not asked for");
    }
    Ok("rated")
}

/// What the customer is told when the conversation refused their rating.
fn refusal(e: &AppError) -> Say<'static> {
    match e {
        AppError::Conflict {
            code: "not_resolved",
            ..
        } => Say::RatingNotResolved,
        AppError::Forbidden(_) => Say::RatingNotYours,
        _ => Say::RatingTooLate,
    }
}

async fn send_rate(
    tg: &Telegram,
    conversation: ConversationId,
    contact: ContactId,
    score: i16,
    comment: Option<String>,
) -> AppResult<()> {
    tg.registry
        .get_or_start(conversation)
        .send(Rate {
            contact,
            score,
            comment,
        })
        .await
        .map_err(|_| AppError::Unavailable)?
}

/// The resolved message shows the score given, its buttons (still there to change it) the
/// choice. Best effort: the rating is stored whatever happens to the message.
async fn show_choice(
    tg: &Telegram,
    message: &Message,
    conversation: ConversationId,
    rated: &store::Rated,
    score: i16,
) {
    let Ok(id) = i32::try_from(message.message_id) else {
        return;
    };
    let lang = Lang::from_code(Some(&rated.language));
    let text = format!(
        "{}\n\n{}",
        Say::Resolved {
            ticket: &rated.ticket
        }
        .rendered(tg.texts(), lang),
        Say::Rated { score }.rendered(tg.texts(), lang)
    );
    let text: String = text.chars().take(outbox::MAX_TEXT).collect();
    let edited = tg
        .bot
        .edit_message_text(ChatId(message.chat.id), MessageId(id), text)
        .reply_markup(super::gateway::keyboard(&buttons(
            conversation,
            Some(score),
        )))
        .await;
    match edited {
        Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => {}
        Err(e) => tracing::debug!(error = %e, "the rated message was not edited"),
    }
}

/// Remembers that the next text is the rating's comment, and asks for it (in order with
/// everything else the customer is sent).
async fn ask_comment(
    tg: &Telegram,
    customer: &Customer,
    conversation: ConversationId,
    score: i16,
    lang: Lang,
) -> AppResult<()> {
    use diesel_async::AsyncConnection;
    let call = Call::text(Say::CommentPrompt.rendered(tg.texts(), lang));
    let row = outbox::NewCall::new(outbox::contact_lane(customer.contact), None, &call);
    let contact = customer.contact;
    let mut conn = tg.pool().get().await?;
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        store::ask_comment(conn, contact, conversation, score).await?;
        outbox::insert(conn, std::slice::from_ref(&row)).await
    })
    .await?;
    tg.deps.telegram_outbox.notify_one();
    Ok(())
}

/// A customer's message while a comment is awaited: a text is the comment, `/skip` ends the
/// wait; `None` when the message is handled as usual (there is no survey, the window passed,
/// another command, media, or a ticket is open again).
pub(super) async fn comment(
    tg: &Telegram,
    customer: &Customer,
    lang: Lang,
    msg: &Message,
) -> AppResult<Option<&'static str>> {
    let contact = customer.contact;
    let asked = {
        let mut conn = tg.pool().get().await?;
        store::comment_asked(&mut conn, contact, Utc::now() - COMMENT_WINDOW).await?
    };
    let Some((conversation, score)) = asked else {
        return Ok(None);
    };
    let command = msg.command();
    match command.as_ref().map(|(name, _)| name.as_str()) {
        Some("skip") => {
            end(tg, contact).await?;
            tg.say(
                contact,
                Say::CommentSkipped.rendered(tg.texts(), lang),
                Vec::new(),
            )
            .await?;
            return Ok(Some("comment_skipped"));
        }
        // Other commands as usual; the comment is still awaited.
        Some(_) => return Ok(None),
        None => {}
    }
    let text = msg
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty() && msg.media().is_none());
    let open = {
        let mut conn = tg.pool().get().await?;
        store::latest_ticket(&mut conn, contact)
            .await?
            .is_some_and(|t| t.status.is_open())
    };
    let Some(text) = text.filter(|_| !open) else {
        // Media, or talking to support again: not a comment, and none is awaited any more.
        end(tg, contact).await?;
        return Ok(None);
    };
    // Cut to what the conversation keeps, without the one character it refuses.
    let comment: String = text
        .chars()
        .filter(|c| *c != '\0')
        .take(MAX_COMMENT_CHARS)
        .collect();
    let result = send_rate(tg, conversation, contact, score, Some(comment)).await;
    if matches!(result, Err(AppError::Unavailable)) {
        // Tried again with the update, the comment still awaited.
        return Err(AppError::Unavailable);
    }
    end(tg, contact).await?;
    let (say, outcome) = match &result {
        Ok(()) => (Say::CommentThanks, "comment"),
        Err(e) => {
            tracing::debug!(error = %e, "a rating's comment refused");
            (refusal(e), "refused")
        }
    };
    tg.say(contact, say.rendered(tg.texts(), lang), Vec::new())
        .await?;
    Ok(Some(outcome))
}

async fn end(tg: &Telegram, contact: ContactId) -> AppResult<()> {
    let mut conn = tg.pool().get().await?;
    Ok(store::end_survey(&mut conn, contact).await?)
}

/// Answers a press: quietly, or with a short alert saying why it was refused.
async fn answer(tg: &Telegram, id: &str, refused: Option<&str>) {
    let mut request = tg.bot.answer_callback_query(CallbackQueryId(id.to_owned()));
    if let Some(text) = refused {
        // Telegram shows at most 200 characters.
        let text: String = text.chars().take(200).collect();
        request = request.text(text).show_alert(true);
    }
    if let Err(e) = request.await {
        tracing::debug!(error = %e, "callback query not answered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rating_buttons_fit_telegrams_limit_and_read_back() {
        let id = ConversationId::new();
        let buttons = buttons(id, Some(4));
        assert_eq!(buttons.len(), 5);
        for (i, (label, data)) in buttons.iter().enumerate() {
            assert!(data.len() <= 64, "{data}");
            let score = i16::try_from(i + 1).unwrap();
            assert_eq!(parse(data), Some((id, score)));
            assert_eq!(label.starts_with('✅'), score == 4, "{label}");
        }
    }

    #[test]
    fn forged_rating_data_is_not_read() {
        let id = ConversationId::new().0;
        for data in [
            format!("rate:{id}:0"),
            format!("rate:{id}:6"),
            format!("rate:{id}:9"),
            format!("rate:{id}:-1"),
            format!("rate:{id}:4:extra"),
            format!("rate:{id}"),
            "rate:not-a-uuid:4".to_owned(),
            "rate::4".to_owned(),
            format!("take:{id}"),
            String::new(),
        ] {
            assert_eq!(parse(&data), None, "{data}");
        }
    }
}
