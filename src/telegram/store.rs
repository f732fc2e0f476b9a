//! The gateway's tables: the inbox of updates, customers' channel identities, the support
//! group's posts, operators' links and link codes, and a few stored facts.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bytea, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::{
    channel_identities as ci, contacts, conversations, operator_telegram_links as links,
    telegram_inbox as inbox, telegram_link_codes as codes, telegram_posts as posts,
    telegram_state as kv, telegram_surveys as surveys,
};
use crate::domain::{Channel, ConversationStatus};
use crate::ids::{ContactId, ConversationId, OperatorId};

pub const TELEGRAM: &str = "telegram";

/// Stores an update unless one with its id is remembered; false for a duplicate.
pub async fn store_update(
    conn: &mut AsyncPgConnection,
    update_id: Option<i64>,
    sealed: &[u8],
) -> QueryResult<bool> {
    let inserted = diesel::sql_query(
        "INSERT INTO telegram_inbox (update_id, payload) VALUES ($1, $2) \
         ON CONFLICT (update_id) DO NOTHING",
    )
    .bind::<Nullable<BigInt>, _>(update_id)
    .bind::<Bytea, _>(sealed)
    .execute(conn)
    .await?;
    Ok(inserted == 1)
}

/// Updates not yet handled, oldest first.
pub async fn pending_updates(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> QueryResult<Vec<(i64, Option<Vec<u8>>)>> {
    inbox::table
        .filter(inbox::processed_at.is_null())
        .order(inbox::id)
        .limit(limit)
        .select((inbox::id, inbox::payload))
        .load(conn)
        .await
}

/// Handled: the payload is erased unless it is kept to be looked at (`keep`: an update we
/// could not read); the row stays for the dedupe window.
pub async fn mark_handled(
    conn: &mut AsyncPgConnection,
    id: i64,
    outcome: &str,
    keep: bool,
) -> QueryResult<()> {
    let target = inbox::table.find(id);
    let now = Utc::now();
    if keep {
        diesel::update(target)
            .set((inbox::processed_at.eq(now), inbox::outcome.eq(outcome)))
            .execute(conn)
            .await?;
    } else {
        diesel::update(target)
            .set((
                inbox::processed_at.eq(now),
                inbox::outcome.eq(outcome),
                inbox::payload.eq(None::<Vec<u8>>),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Forgets handled updates older than the dedupe window, and delivered calls a week old.
pub async fn purge(conn: &mut AsyncPgConnection, dedupe: chrono::Duration) -> QueryResult<usize> {
    let cutoff = Utc::now() - dedupe;
    let updates = diesel::delete(
        inbox::table
            .filter(inbox::processed_at.is_not_null())
            .filter(inbox::received_at.lt(cutoff)),
    )
    .execute(conn)
    .await?;
    use crate::db::schema::telegram_outbox as o;
    let week = Utc::now() - chrono::Duration::days(7);
    let calls = diesel::delete(o::table.filter(o::delivered_at.lt(week).or(o::failed_at.lt(week))))
        .execute(conn)
        .await?;
    // A comment is asked for minutes after a rating; a day-old question is long over.
    let surveys = diesel::delete(
        surveys::table.filter(surveys::asked_at.lt(Utc::now() - chrono::Duration::days(1))),
    )
    .execute(conn)
    .await?;
    Ok(updates + calls + surveys)
}

/// A Telegram customer as the gateway knows them.
#[derive(Debug, Clone)]
pub struct Customer {
    pub contact: ContactId,
    pub language: String,
    pub blocked: bool,
    pub refused_at: Option<DateTime<Utc>>,
    /// Marked unreachable (they blocked the bot).
    pub unreachable: bool,
}

pub async fn customer_by_hash(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
) -> QueryResult<Option<Customer>> {
    let now = Utc::now();
    type Row = (
        ContactId,
        String,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    );
    let row: Option<Row> = ci::table
        .inner_join(contacts::table)
        .filter(ci::channel.eq(TELEGRAM))
        .filter(ci::lookup_hash.eq(hash))
        .select((
            contacts::id,
            contacts::language,
            contacts::blocked_at,
            contacts::blocked_until,
            ci::refused_at,
            ci::unreachable_at,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(
        |(contact, language, at, until, refused_at, unreachable_at)| Customer {
            contact,
            language,
            blocked: crate::db::contacts::blocked(at, until, now),
            refused_at,
            unreachable: unreachable_at.is_some(),
        },
    ))
}

/// A new contact for a Telegram user, with their chat id sealed; an existing one if the same
/// user was stored meanwhile.
pub async fn create_customer(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    sealed_chat: &[u8],
    language: &str,
) -> QueryResult<Customer> {
    use diesel_async::AsyncConnection;
    let contact = ContactId::new();
    let alias = crate::ticket::alias_for(&crate::ticket::new_ticket(Utc::now()));
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        diesel::insert_into(contacts::table)
            .values((
                contacts::id.eq(contact),
                contacts::alias.eq(&alias),
                contacts::language.eq(language),
            ))
            .execute(conn)
            .await?;
        diesel::insert_into(ci::table)
            .values((
                ci::id.eq(uuid::Uuid::now_v7()),
                ci::contact_id.eq(contact),
                ci::channel.eq(TELEGRAM),
                ci::external_id.eq(sealed_chat),
                ci::lookup_hash.eq(hash),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
    .await?;
    Ok(Customer {
        contact,
        language: language.to_owned(),
        blocked: false,
        refused_at: None,
        unreachable: false,
    })
}

/// The sealed chat id of a contact and whether they can be written to.
pub async fn chat_of(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
) -> QueryResult<Option<(Vec<u8>, bool)>> {
    let row: Option<(Vec<u8>, Option<DateTime<Utc>>)> = ci::table
        .filter(ci::contact_id.eq(contact))
        .filter(ci::channel.eq(TELEGRAM))
        .select((ci::external_id, ci::unreachable_at))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(sealed, unreachable)| (sealed, unreachable.is_none())))
}

/// Whether a contact can be written to on Telegram (None: not a Telegram contact). Reads
/// the flag only, never the sealed id.
pub async fn reachable(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
) -> QueryResult<Option<bool>> {
    let row: Option<Option<DateTime<Utc>>> = ci::table
        .filter(ci::contact_id.eq(contact))
        .filter(ci::channel.eq(TELEGRAM))
        .select(ci::unreachable_at)
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|unreachable| unreachable.is_none()))
}

/// Marks a customer (un)reachable; true when that changed.
pub async fn set_reachable(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
    reachable: bool,
) -> QueryResult<bool> {
    let target = ci::table
        .filter(ci::contact_id.eq(contact))
        .filter(ci::channel.eq(TELEGRAM));
    let changed = if reachable {
        diesel::update(target.filter(ci::unreachable_at.is_not_null()))
            .set(ci::unreachable_at.eq(None::<DateTime<Utc>>))
            .execute(conn)
            .await?
    } else {
        diesel::update(target.filter(ci::unreachable_at.is_null()))
            .set(ci::unreachable_at.eq(Utc::now()))
            .execute(conn)
            .await?
    };
    Ok(changed > 0)
}

pub async fn set_refused(conn: &mut AsyncPgConnection, contact: ContactId) -> QueryResult<()> {
    diesel::update(ci::table.filter(ci::contact_id.eq(contact)))
        .set(ci::refused_at.eq(Utc::now()))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn set_language(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
    language: &str,
) -> QueryResult<()> {
    diesel::update(contacts::table.find(contact))
        .set(contacts::language.eq(language))
        .execute(conn)
        .await
        .map(drop)
}

/// A contact's latest conversation on Telegram.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub id: ConversationId,
    pub ticket: String,
    pub status: ConversationStatus,
    pub resolved_at: Option<DateTime<Utc>>,
}

pub async fn latest_ticket(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
) -> QueryResult<Option<Ticket>> {
    let row: Option<(
        ConversationId,
        String,
        ConversationStatus,
        Option<DateTime<Utc>>,
    )> = conversations::table
        .filter(conversations::contact_id.eq(contact))
        .filter(conversations::channel.eq(Channel::Telegram))
        .order(conversations::created_at.desc())
        .select((
            conversations::id,
            conversations::ticket,
            conversations::status,
            conversations::resolved_at,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(id, ticket, status, resolved_at)| Ticket {
        id,
        ticket,
        status,
        resolved_at,
    }))
}

/// Conversations the contact opened in the last day.
pub async fn tickets_today(conn: &mut AsyncPgConnection, contact: ContactId) -> QueryResult<i64> {
    conversations::table
        .filter(conversations::contact_id.eq(contact))
        .filter(conversations::created_at.gt(Utc::now() - chrono::Duration::days(1)))
        .count()
        .get_result(conn)
        .await
}

pub async fn record_post(
    conn: &mut AsyncPgConnection,
    chat: i64,
    message_id: i64,
    conversation: ConversationId,
    seq: Option<i64>,
) -> QueryResult<()> {
    insert_post(conn, chat, message_id, conversation, seq, false).await
}

/// The conversation's card in the support group `chat`, if it has one there.
pub async fn card_of(
    conn: &mut AsyncPgConnection,
    chat: i64,
    conversation: ConversationId,
) -> QueryResult<Option<i64>> {
    posts::table
        .filter(posts::conversation_id.eq(conversation))
        .filter(posts::chat_id.eq(chat))
        .filter(posts::card.eq(true))
        .select(posts::message_id)
        .first(conn)
        .await
        .optional()
}

pub async fn record_card(
    conn: &mut AsyncPgConnection,
    chat: i64,
    message_id: i64,
    conversation: ConversationId,
) -> QueryResult<()> {
    // A card left in another chat (before a migration) is no longer the card.
    diesel::update(
        posts::table
            .filter(posts::conversation_id.eq(conversation))
            .filter(posts::card.eq(true)),
    )
    .set(posts::card.eq(false))
    .execute(conn)
    .await?;
    insert_post(conn, chat, message_id, conversation, None, true).await
}

/// The card is gone (deleted by hand): the next message makes a new one.
pub async fn forget_card(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
) -> QueryResult<()> {
    diesel::update(
        posts::table
            .filter(posts::conversation_id.eq(conversation))
            .filter(posts::card.eq(true)),
    )
    .set(posts::card.eq(false))
    .execute(conn)
    .await
    .map(drop)
}

/// What the conversation's card shows, now.
pub async fn card_facts(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
) -> QueryResult<Option<super::outbox::CardFacts>> {
    use crate::db::schema::operators;
    let row = conversations::table
        .find(conversation)
        .inner_join(contacts::table)
        .left_join(operators::table)
        .select((
            conversations::ticket,
            contacts::alias,
            conversations::status,
            conversations::level,
            conversations::priority,
            operators::name.nullable(),
        ))
        .first::<(
            String,
            String,
            ConversationStatus,
            i16,
            crate::domain::Priority,
            Option<String>,
        )>(conn)
        .await
        .optional()?;
    Ok(row.map(
        |(ticket, alias, status, level, priority, assignee)| super::outbox::CardFacts {
            ticket,
            alias,
            status,
            level,
            priority,
            assignee,
        },
    ))
}

/// Whether a later card update of the conversation waits in the outbox (this one can go).
pub async fn later_sync_waits(
    conn: &mut AsyncPgConnection,
    row_id: i64,
    conversation: ConversationId,
) -> QueryResult<bool> {
    use crate::db::schema::telegram_outbox as o;
    diesel::select(diesel::dsl::exists(
        o::table
            .filter(o::lane.eq(super::outbox::GROUP_LANE))
            .filter(o::conversation_id.eq(conversation))
            .filter(o::id.gt(row_id))
            .filter(o::delivered_at.is_null())
            .filter(o::failed_at.is_null())
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                "payload->>'op' = 'sync_card'",
            )),
    ))
    .get_result(conn)
    .await
}

async fn insert_post(
    conn: &mut AsyncPgConnection,
    chat: i64,
    message_id: i64,
    conversation: ConversationId,
    seq: Option<i64>,
    card: bool,
) -> QueryResult<()> {
    diesel::insert_into(posts::table)
        .values((
            posts::chat_id.eq(chat),
            posts::message_id.eq(message_id),
            posts::conversation_id.eq(conversation),
            posts::seq.eq(seq),
            posts::card.eq(card),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(drop)
}

pub async fn post_conversation(
    conn: &mut AsyncPgConnection,
    chat: i64,
    message_id: i64,
) -> QueryResult<Option<ConversationId>> {
    posts::table
        .filter(posts::chat_id.eq(chat))
        .filter(posts::message_id.eq(message_id))
        .select(posts::conversation_id)
        .first(conn)
        .await
        .optional()
}

/// The support group became a supergroup: its posts move with it.
pub async fn move_group(conn: &mut AsyncPgConnection, from: i64, to: i64) -> QueryResult<()> {
    diesel::update(posts::table.filter(posts::chat_id.eq(from)))
        .set(posts::chat_id.eq(to))
        .execute(conn)
        .await?;
    set_fact(conn, "support_chat_id", &to.to_string()).await
}

pub async fn fact(conn: &mut AsyncPgConnection, key: &str) -> QueryResult<Option<String>> {
    kv::table
        .find(key)
        .select(kv::value)
        .first(conn)
        .await
        .optional()
}

/// A fact and when it was last set.
pub async fn fact_with_time(
    conn: &mut AsyncPgConnection,
    key: &str,
) -> QueryResult<Option<(String, DateTime<Utc>)>> {
    kv::table
        .find(key)
        .select((kv::value, kv::updated_at))
        .first(conn)
        .await
        .optional()
}

pub async fn set_fact(conn: &mut AsyncPgConnection, key: &str, value: &str) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO telegram_state (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
    )
    .bind::<Text, _>(key)
    .bind::<Text, _>(value)
    .execute(conn)
    .await
    .map(drop)
}

pub async fn linked_operator(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
) -> QueryResult<Option<OperatorId>> {
    links::table
        .filter(links::lookup_hash.eq(hash))
        .select(links::operator_id)
        .first(conn)
        .await
        .optional()
}

pub async fn is_linked(conn: &mut AsyncPgConnection, operator: OperatorId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(links::table.find(operator)))
        .get_result(conn)
        .await
}

pub async fn unlink(conn: &mut AsyncPgConnection, operator: OperatorId) -> QueryResult<bool> {
    Ok(diesel::delete(links::table.find(operator))
        .execute(conn)
        .await?
        > 0)
}

pub async fn new_link_code(
    conn: &mut AsyncPgConnection,
    operator: OperatorId,
    code_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::delete(codes::table.filter(codes::operator_id.eq(operator)))
        .execute(conn)
        .await?;
    diesel::insert_into(codes::table)
        .values((
            codes::code_hash.eq(code_hash),
            codes::operator_id.eq(operator),
            codes::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Uses up a link code and links the Telegram account to its operator; the operator, or None
/// for an unknown or expired code.
pub async fn redeem_link_code(
    conn: &mut AsyncPgConnection,
    code_hash: &[u8],
    user_hash: &[u8],
    sealed_chat: &[u8],
) -> QueryResult<Option<OperatorId>> {
    use diesel_async::AsyncConnection;
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let operator: Option<OperatorId> = diesel::delete(
            codes::table
                .filter(codes::code_hash.eq(code_hash))
                .filter(codes::expires_at.gt(Utc::now())),
        )
        .returning(codes::operator_id)
        .get_result(conn)
        .await
        .optional()?;
        let Some(operator) = operator else {
            return Ok(None);
        };
        // One Telegram account links one operator: linking again moves it.
        diesel::delete(links::table.filter(links::lookup_hash.eq(user_hash)))
            .execute(conn)
            .await?;
        crate::db::audit::record(
            conn,
            &[crate::db::audit::AuditEntry::new(
                Some(operator),
                "operator.telegram_link",
                "operator",
                operator,
                serde_json::json!({}),
            )],
        )
        .await?;
        diesel::insert_into(links::table)
            .values((
                links::operator_id.eq(operator),
                links::lookup_hash.eq(user_hash),
                links::external_id.eq(sealed_chat),
            ))
            .on_conflict(links::operator_id)
            .do_update()
            .set((
                links::lookup_hash.eq(user_hash),
                links::external_id.eq(sealed_chat),
                links::linked_at.eq(Utc::now()),
            ))
            .execute(conn)
            .await?;
        Ok(Some(operator))
    })
    .await
}

pub async fn linked_operators(
    conn: &mut AsyncPgConnection,
) -> QueryResult<std::collections::HashSet<OperatorId>> {
    Ok(links::table
        .select(links::operator_id)
        .load::<OperatorId>(conn)
        .await?
        .into_iter()
        .collect())
}

/// The sealed private chat of an operator's linked Telegram account.
pub async fn operator_chat(
    conn: &mut AsyncPgConnection,
    operator: OperatorId,
) -> QueryResult<Option<Vec<u8>>> {
    Ok(links::table
        .find(operator)
        .select(links::external_id)
        .first::<Option<Vec<u8>>>(conn)
        .await
        .optional()?
        .flatten())
}

/// A conversation's forum topic in the support group `chat`: its thread and whether closed.
pub async fn topic_of(
    conn: &mut AsyncPgConnection,
    chat: i64,
    conversation: ConversationId,
) -> QueryResult<Option<(i64, bool)>> {
    use crate::db::schema::telegram_topics as t;
    t::table
        .filter(t::conversation_id.eq(conversation))
        .filter(t::chat_id.eq(chat))
        .select((t::thread_id, t::closed))
        .first(conn)
        .await
        .optional()
}

/// The conversation a forum topic belongs to.
pub async fn topic_conversation(
    conn: &mut AsyncPgConnection,
    chat: i64,
    thread: i64,
) -> QueryResult<Option<ConversationId>> {
    use crate::db::schema::telegram_topics as t;
    t::table
        .filter(t::chat_id.eq(chat))
        .filter(t::thread_id.eq(thread))
        .select(t::conversation_id)
        .first(conn)
        .await
        .optional()
}

pub async fn record_topic(
    conn: &mut AsyncPgConnection,
    chat: i64,
    thread: i64,
    conversation: ConversationId,
) -> QueryResult<()> {
    use crate::db::schema::telegram_topics as t;
    diesel::insert_into(t::table)
        .values((
            t::conversation_id.eq(conversation),
            t::chat_id.eq(chat),
            t::thread_id.eq(thread),
        ))
        .on_conflict(t::conversation_id)
        .do_update()
        .set((
            t::chat_id.eq(chat),
            t::thread_id.eq(thread),
            t::closed.eq(false),
        ))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn set_topic_closed(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
    closed: bool,
) -> QueryResult<()> {
    use crate::db::schema::telegram_topics as t;
    diesel::update(t::table.find(conversation))
        .set(t::closed.eq(closed))
        .execute(conn)
        .await
        .map(drop)
}

/// The topic was deleted by hand: it and the card in it are forgotten, and made again.
pub async fn forget_topic(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
) -> QueryResult<()> {
    use crate::db::schema::telegram_topics as t;
    diesel::delete(t::table.find(conversation))
        .execute(conn)
        .await?;
    forget_card(conn, conversation).await
}

/// The operators with a linked Telegram account, by name (deleted ones left out).
pub async fn linked_operator_names(
    conn: &mut AsyncPgConnection,
) -> QueryResult<Vec<(OperatorId, String)>> {
    use crate::db::schema::operators;
    links::table
        .inner_join(operators::table)
        .filter(operators::deleted_at.is_null())
        .order(operators::name)
        .select((operators::id, operators::name))
        .load(conn)
        .await
}

/// Every text admins wrote: (key, language, text).
pub async fn custom_texts(
    conn: &mut AsyncPgConnection,
) -> QueryResult<Vec<(String, String, String)>> {
    use crate::db::schema::telegram_texts as t;
    t::table
        .select((t::key, t::language, t::text))
        .load(conn)
        .await
}

pub async fn set_text(
    conn: &mut AsyncPgConnection,
    key: &str,
    language: &str,
    text: &str,
) -> QueryResult<()> {
    use crate::db::schema::telegram_texts as t;
    diesel::insert_into(t::table)
        .values((t::key.eq(key), t::language.eq(language), t::text.eq(text)))
        .on_conflict((t::key, t::language))
        .do_update()
        .set((t::text.eq(text), t::updated_at.eq(Utc::now())))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn delete_text(
    conn: &mut AsyncPgConnection,
    key: &str,
    language: &str,
) -> QueryResult<bool> {
    use crate::db::schema::telegram_texts as t;
    Ok(diesel::delete(t::table.find((key, language)))
        .execute(conn)
        .await?
        > 0)
}

/// What a rating button press needs to know about its conversation: whose it is, its ticket
/// and language.
#[derive(Debug, Clone)]
pub struct Rated {
    pub contact: ContactId,
    pub ticket: String,
    pub language: String,
}

/// The Telegram conversation `conversation` (None for any other or an unknown one).
pub async fn telegram_conversation(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
) -> QueryResult<Option<Rated>> {
    let row: Option<(ContactId, String, String)> = conversations::table
        .find(conversation)
        .filter(conversations::channel.eq(Channel::Telegram))
        .select((
            conversations::contact_id,
            conversations::ticket,
            conversations::language,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(contact, ticket, language)| Rated {
        contact,
        ticket,
        language,
    }))
}

/// The customer rated `conversation` with `score` and is asked for a comment (a later press
/// asks again, with its score).
pub async fn ask_comment(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
    conversation: ConversationId,
    score: i16,
) -> QueryResult<()> {
    let now = Utc::now();
    diesel::insert_into(surveys::table)
        .values((
            surveys::contact_id.eq(contact),
            surveys::conversation_id.eq(conversation),
            surveys::score.eq(score),
            surveys::asked_at.eq(now),
        ))
        .on_conflict(surveys::contact_id)
        .do_update()
        .set((
            surveys::conversation_id.eq(conversation),
            surveys::score.eq(score),
            surveys::asked_at.eq(now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// The comment a customer was asked for since `since`: the conversation and its score.
pub async fn comment_asked(
    conn: &mut AsyncPgConnection,
    contact: ContactId,
    since: DateTime<Utc>,
) -> QueryResult<Option<(ConversationId, i16)>> {
    surveys::table
        .find(contact)
        .filter(surveys::asked_at.ge(since))
        .select((surveys::conversation_id, surveys::score))
        .first(conn)
        .await
        .optional()
}

/// The customer is no longer asked for a comment (given, skipped, or moved on).
pub async fn end_survey(conn: &mut AsyncPgConnection, contact: ContactId) -> QueryResult<()> {
    diesel::delete(surveys::table.find(contact))
        .execute(conn)
        .await
        .map(drop)
}
