//! The one `TelegramGateway` actor. It owns the bot (every outgoing Bot API call), the mapping
//! between Telegram chats and conversations, and two loops: one handles stored updates in
//! order per chat, the other sends the outbox in order per lane within Telegram's limits.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use futures_util::FutureExt;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use parking_lot::Mutex;
use teloxide::payloads::{CopyMessageSetters, SendMessageSetters};
use teloxide::payloads::{CopyMessagesSetters, EditMessageTextSetters};
use teloxide::prelude::Requester;
use teloxide::types::{
    ChatId, InlineKeyboardButton, InlineKeyboardMarkup, MessageId, ReplyParameters, ThreadId,
};
use teloxide::{ApiError, Bot, RequestError};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::identity::IdentityKey;
use super::outbox::{self, Button, Call, CallRow, GROUP_LANE};
use super::store;
use super::update::{self, Update};
use crate::actors::conversation::ConversationDeps;
use crate::actors::registry::ConversationRegistry;
use crate::actors::router::{ListenQueue, WaitingAt};
use crate::db::DbPool;
use crate::domain::Channel;
use crate::error::{AppError, AppResult};
use crate::ids::{ContactId, ConversationId};

/// Updates handled per round, and outbox lanes looked at per round.
const INBOX_BATCH: i64 = 200;
const LANES_PER_ROUND: i64 = 1000;
/// How often the loops look even without being woken, and purge old rows.
const IDLE_POLL: Duration = Duration::from_secs(5);
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// Retries of a call that failed for a reason that may pass (network, Telegram's 5xx).
const MAX_ATTEMPTS: i32 = 10;
/// Tries of an update while the database is away, before it is given up (kept sealed).
const MAX_UPDATE_ATTEMPTS: u32 = 30;
/// Tries (a second apart) to record that a call was made or an update handled: doing either
/// again would repeat it.
const MARK_ATTEMPTS: u32 = 30;
/// The least time between two looks at the outbox's lane heads (each look reads every
/// undelivered row's lane).
const HEADS_EVERY: Duration = Duration::from_millis(100);
/// How long the first item of an album waits for the others (they come within a second).
const ALBUM_WAIT: Duration = Duration::from_millis(1500);
/// `/link CODE` attempts one Telegram user may make per hour.
const LINK_ATTEMPTS_PER_HOUR: u32 = 5;
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What the webhook needs: where to store updates and whom to wake.
#[derive(Clone)]
pub struct Intake {
    pub key: IdentityKey,
    pub secret: Option<String>,
    pub ready: Arc<Notify>,
    /// The gateway's shared state, for what admins ask of Telegram.
    pub telegram: Arc<Telegram>,
}

/// Everything the gateway's loops share.
pub struct Telegram {
    pub(super) bot: Bot,
    pub(super) key: IdentityKey,
    pub(super) deps: ConversationDeps,
    pub(super) registry: Arc<ConversationRegistry>,
    inbox_ready: Arc<Notify>,
    /// The support group's id (it changes when the group becomes a supergroup).
    group: Mutex<Option<i64>>,
    /// The support group is a forum: each conversation gets a topic of its own.
    forum: std::sync::atomic::AtomicBool,
    /// Messages per hour, per Telegram customer.
    pub(super) hourly: DefaultKeyedRateLimiter<ContactId>,
    /// The place each waiting customer was last told, and when.
    queue_told: Mutex<HashMap<ConversationId, (Instant, usize)>>,
    /// Polite refusals sent, so a customer over a limit is told once, not on every message.
    pub(super) refusals: Mutex<HashMap<(ContactId, &'static str), Instant>>,
    /// `/link` attempts per hour, per Telegram user.
    pub(super) link_attempts: DefaultKeyedRateLimiter<ContactId>,
    global: DefaultDirectRateLimiter,
}

impl Telegram {
    pub fn new(
        token: &str,
        key: IdentityKey,
        registry: Arc<ConversationRegistry>,
        inbox_ready: Arc<Notify>,
    ) -> Result<Telegram, String> {
        let deps = registry.deps().clone();
        let config = &deps.config;
        let api = url::Url::parse(config.telegram_api_url.trim_end_matches('/'))
            .map_err(|e| format!("TELEGRAM_API_URL is not a URL: {e}"))?;
        let bot = Bot::new(token).set_api_url(api);
        let hourly = RateLimiter::keyed(
            Quota::per_hour(nonzero(config.telegram_messages_per_hour))
                .allow_burst(nonzero(config.telegram_messages_per_hour)),
        );
        // No burst: never more than the rate in any one second.
        let global = RateLimiter::direct(crate::config::quota_per_second(
            config.telegram_calls_per_sec,
            1,
        ));
        Ok(Telegram {
            bot,
            key,
            group: Mutex::new(config.telegram_support_chat_id),
            forum: std::sync::atomic::AtomicBool::new(false),
            deps,
            registry,
            inbox_ready,
            hourly,
            queue_told: Mutex::new(HashMap::new()),
            refusals: Mutex::new(HashMap::new()),
            link_attempts: RateLimiter::keyed(
                Quota::per_hour(nonzero(LINK_ATTEMPTS_PER_HOUR))
                    .allow_burst(nonzero(LINK_ATTEMPTS_PER_HOUR)),
            ),
            global,
        })
    }

    /// What the bot says, with the texts admins wrote.
    pub fn texts(&self) -> &crate::telegram::texts::Texts {
        &self.deps.telegram_texts
    }

    /// Reads the admins' texts again (at start and after a change).
    pub async fn reload_texts(&self) -> AppResult<()> {
        let mut conn = self.pool().get().await?;
        let texts = store::custom_texts(&mut conn).await?;
        self.deps.telegram_texts.replace(texts);
        Ok(())
    }

    pub(super) fn pool(&self) -> &DbPool {
        &self.deps.pool
    }

    pub(super) fn config(&self) -> &crate::config::Config {
        &self.deps.config
    }

    pub fn bot(&self) -> &Bot {
        &self.bot
    }

    pub(super) fn group(&self) -> Option<i64> {
        *self.group.lock()
    }

    /// The support group's id now (after any migration).
    pub fn support_group(&self) -> Option<i64> {
        self.group()
    }

    pub(super) fn is_forum(&self) -> bool {
        self.forum.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Asks Telegram whether the support group is a forum (`getChat` → `is_forum`).
    pub(super) async fn learn_forum(&self) {
        let Some(group) = self.group() else {
            return;
        };
        match super::polling::raw_call(self, "getChat", serde_json::json!({"chat_id": group})).await
        {
            Ok(chat) => {
                let forum = chat
                    .get("is_forum")
                    .and_then(|f| f.as_bool())
                    .unwrap_or(false);
                self.forum
                    .store(forum, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(forum, "support group checked");
            }
            Err(e) => {
                tracing::warn!(error = %e, "support group not checked; posts go without topics")
            }
        }
    }

    /// Queues calls to be sent (what the bot says itself, outside any event).
    pub(super) async fn enqueue(&self, calls: Vec<outbox::NewCall>) -> AppResult<()> {
        let mut conn = self.pool().get().await?;
        outbox::insert(&mut conn, &calls).await?;
        self.deps.telegram_outbox.notify_one();
        Ok(())
    }

    /// Says `text` to a customer, in order with everything else they are sent.
    pub(super) async fn say(
        &self,
        contact: ContactId,
        text: String,
        buttons: Vec<Button>,
    ) -> AppResult<()> {
        let call = Call::Text {
            text,
            buttons,
            under_card: false,
        };
        self.enqueue(vec![outbox::NewCall::new(
            outbox::contact_lane(contact),
            None,
            &call,
        )])
        .await
    }

    /// The group id after a migration, if the configured group was migrated.
    async fn load_group(&self) -> AppResult<()> {
        let Some(configured) = self.config().telegram_support_chat_id else {
            return Ok(());
        };
        let mut conn = self.pool().get().await?;
        let migrated_from = store::fact(&mut conn, "support_chat_configured").await?;
        if migrated_from.as_deref() == Some(configured.to_string().as_str()) {
            if let Some(id) = store::fact(&mut conn, "support_chat_id").await? {
                if let Ok(id) = id.parse::<i64>() {
                    *self.group.lock() = Some(id);
                }
            }
        }
        Ok(())
    }

    /// The support group moved to `to` (it became a supergroup).
    pub(super) async fn group_migrated(&self, from: i64, to: i64) -> AppResult<()> {
        if self.group() != Some(from) {
            return Ok(());
        }
        let mut conn = self.pool().get().await?;
        let configured = self.config().telegram_support_chat_id.unwrap_or(from);
        store::move_group(&mut conn, from, to).await?;
        store::set_fact(
            &mut conn,
            "support_chat_configured",
            &configured.to_string(),
        )
        .await?;
        *self.group.lock() = Some(to);
        tracing::info!("the support group became a supergroup; following it");
        self.learn_forum().await;
        Ok(())
    }

    /// Whether a customer now at `position` is told so: only when they moved up, and at most
    /// once per `telegram_queue_notice_secs` (a newcomer queued ahead of them by priority, or
    /// a burst of moves, is not worth a message each).
    fn may_tell_queue(&self, conversation: ConversationId, position: usize) -> bool {
        let every = Duration::from_secs(self.config().telegram_queue_notice_secs);
        let mut told = self.queue_told.lock();
        let now = Instant::now();
        // Forget customers not told anything for a day (no longer waiting, mostly).
        told.retain(|_, (at, _)| now.duration_since(*at) < Duration::from_secs(86_400));
        match told.get(&conversation) {
            Some((_, last)) if position >= *last => false,
            Some((at, _)) if now.duration_since(*at) < every => false,
            _ => {
                told.insert(conversation, (now, position));
                true
            }
        }
    }

    /// The customer was just told `position` (with their new ticket).
    pub(super) fn queue_told_now(&self, conversation: ConversationId, position: usize) {
        self.queue_told
            .lock()
            .insert(conversation, (Instant::now(), position));
    }

    /// Once per `every` per customer and reason: true when this refusal should be said.
    pub(super) fn may_refuse(
        &self,
        contact: ContactId,
        why: &'static str,
        every: Duration,
    ) -> bool {
        let mut refusals = self.refusals.lock();
        let now = Instant::now();
        match refusals.get(&(contact, why)) {
            Some(at) if now.duration_since(*at) < every => false,
            _ => {
                refusals.insert((contact, why), now);
                true
            }
        }
    }
}

fn nonzero(n: u32) -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN)
}

pub struct TelegramGateway {
    tg: Arc<Telegram>,
}

impl TelegramGateway {
    pub fn new(tg: Arc<Telegram>) -> Self {
        TelegramGateway { tg }
    }
}

impl Actor for TelegramGateway {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.tg.deps.router.do_send(ListenQueue {
            channel: Channel::Telegram,
            listener: ctx.address().recipient(),
        });
        let tg = self.tg.clone();
        ctx.spawn(fut::wrap_future(async move {
            if let Err(e) = tg.load_group().await {
                tracing::warn!(error = %e, "support group id not read; using the configured one");
            }
            tg.learn_forum().await;
            if let Err(e) = tg.reload_texts().await {
                tracing::warn!(error = %e, "the admins' texts not read; the built-in ones are used");
            }
            let inbox = actix_rt::spawn(inbox_loop(tg.clone()));
            let delivery = actix_rt::spawn(delivery_loop(tg.clone()));
            let purge = actix_rt::spawn(purge_loop(tg));
            let _ = futures_util::future::join3(inbox, delivery, purge).await;
        }));
    }
}

/// A waiting Telegram customer moved in the queue: they are told, at most once a minute.
impl Handler<WaitingAt> for TelegramGateway {
    type Result = ();

    fn handle(&mut self, msg: WaitingAt, ctx: &mut Context<Self>) {
        if msg.position == 0 {
            // Out of the queue: whatever it is told next starts afresh.
            self.tg.queue_told.lock().remove(&msg.conversation);
            return;
        }
        if !self.tg.may_tell_queue(msg.conversation, msg.position) {
            return;
        }
        let tg = self.tg.clone();
        ctx.spawn(fut::wrap_future(async move {
            if let Err(e) =
                super::customer::tell_position(&tg, msg.conversation, msg.position).await
            {
                tracing::debug!(error = %e, "queue position not told");
            }
        }));
    }
}

/// Handles stored updates: a round takes the oldest ones, each chat's in order (chats side by
/// side), and marks each handled. An update that failed for a passing reason (the database)
/// stops its chat for this round and is tried again.
async fn inbox_loop(tg: Arc<Telegram>) {
    // Failed tries per update, while the database is away.
    let attempts: Arc<Mutex<HashMap<i64, u32>>> = Arc::default();
    loop {
        let rows = match tg.pool().get().await {
            Ok(mut conn) => store::pending_updates(&mut conn, INBOX_BATCH)
                .await
                .map_err(AppError::from),
            Err(e) => Err(AppError::from(e)),
        };
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "telegram inbox not read");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if rows.is_empty() {
            let _ = tokio::time::timeout(IDLE_POLL, tg.inbox_ready.notified()).await;
            continue;
        }
        let mut chats: Vec<Vec<(i64, Option<Update>)>> = Vec::new();
        let mut index: HashMap<Option<i64>, usize> = HashMap::new();
        for (id, payload) in rows {
            let parsed = payload
                .as_deref()
                .and_then(|sealed| tg.key.decrypt(sealed))
                .and_then(|plain| serde_json::from_slice::<Update>(&plain).ok());
            // Unreadable updates have no chat; each is handled alone.
            let chat = parsed.as_ref().and_then(update::chat_of);
            let slot = match chat {
                Some(_) => *index.entry(chat).or_insert_with(|| {
                    chats.push(Vec::new());
                    chats.len() - 1
                }),
                None => {
                    chats.push(Vec::new());
                    chats.len() - 1
                }
            };
            chats[slot].push((id, parsed));
        }
        let rounds = chats.into_iter().map(|items| {
            let (tg, attempts) = (tg.clone(), attempts.clone());
            async move {
                for (id, parsed) in items {
                    let outcome = match &parsed {
                        Some(update) => super::handle(&tg, update).await,
                        None => Ok("unreadable"),
                    };
                    let outcome = match outcome {
                        Ok(outcome) => outcome,
                        // The database is away: this chat waits (its order kept), a while.
                        Err(AppError::Unavailable)
                            if tries(&attempts, id) < MAX_UPDATE_ATTEMPTS =>
                        {
                            tracing::warn!("telegram update not handled yet; will retry");
                            return false;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "telegram update given up");
                            "failed"
                        }
                    };
                    attempts.lock().remove(&id);
                    if matches!(outcome, "unreadable" | "ignored" | "failed") {
                        tracing::debug!(outcome, "telegram update");
                    }
                    // What we could not act on is kept (sealed) until the purge, to be looked at.
                    let keep = matches!(outcome, "unreadable" | "ignored" | "failed");
                    if !mark_handled(&tg, id, outcome, keep).await {
                        return false;
                    }
                }
                true
            }
        });
        let all_done = futures_util::future::join_all(rounds).await;
        if all_done.iter().any(|done| !done) {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Counts one more failed try of an update; how many so far.
fn tries(attempts: &Mutex<HashMap<i64, u32>>, id: i64) -> u32 {
    let mut attempts = attempts.lock();
    let n = attempts.entry(id).or_default();
    *n += 1;
    *n
}

/// Marks an update handled, trying for a while: handling it again would repeat what the bot
/// said. False when the database stays away (the update is then handled again later).
async fn mark_handled(tg: &Telegram, id: i64, outcome: &str, keep: bool) -> bool {
    for _ in 0..MARK_ATTEMPTS {
        if let Ok(mut conn) = tg.pool().get().await {
            if store::mark_handled(&mut conn, id, outcome, keep)
                .await
                .is_ok()
            {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tracing::warn!("a handled telegram update could not be marked; it will be handled again");
    false
}

/// Sends the outbox: the head of each lane whose time has come, one call in flight per lane,
/// within the per-chat, per-group and overall rates.
async fn delivery_loop(tg: Arc<Telegram>) {
    let mut busy: HashSet<String> = HashSet::new();
    let mut ready_at: HashMap<String, Instant> = HashMap::new();
    let mut inflight: JoinSet<(String, Instant)> = JoinSet::new();
    let mut last_look = Instant::now() - HEADS_EVERY;
    loop {
        tokio::time::sleep_until((last_look + HEADS_EVERY).into()).await;
        last_look = Instant::now();
        let heads = match tg.pool().get().await {
            Ok(mut conn) => outbox::heads(&mut conn, LANES_PER_ROUND)
                .await
                .map_err(AppError::from),
            Err(e) => Err(AppError::from(e)),
        };
        let now = Instant::now();
        let mut wake = now + IDLE_POLL;
        match heads {
            Ok(heads) => {
                ready_at.retain(|_, at| *at > now);
                for row in heads {
                    if busy.contains(&row.lane) {
                        continue;
                    }
                    let due = instant_of(row.next_attempt_at, now);
                    let ready = ready_at.get(&row.lane).copied().unwrap_or(now).max(due);
                    if ready > now {
                        wake = wake.min(ready);
                        continue;
                    }
                    if let Err(not_until) = tg.global.check() {
                        // Back exactly when the overall pace allows the next call.
                        let wait = not_until.wait_time_from(governor::clock::Clock::now(
                            &governor::clock::DefaultClock::default(),
                        ));
                        wake = wake.min(now + wait);
                        break;
                    }
                    busy.insert(row.lane.clone());
                    let tg = tg.clone();
                    inflight.spawn(async move {
                        let lane = row.lane.clone();
                        // A panic in one call must not leave its lane busy for good.
                        std::panic::AssertUnwindSafe(deliver(&tg, row))
                            .catch_unwind()
                            .await
                            .unwrap_or_else(|_| {
                                tracing::error!("a telegram call panicked");
                                (lane, Instant::now() + Duration::from_secs(1))
                            })
                    });
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "telegram outbox not read");
                wake = now + Duration::from_secs(1);
            }
        }
        tokio::select! {
            Some(done) = inflight.join_next(), if !inflight.is_empty() => {
                if let Ok((lane, next)) = done {
                    busy.remove(&lane);
                    ready_at.insert(lane, next);
                }
            }
            _ = tg.deps.telegram_outbox.notified() => {}
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
    }
}

async fn purge_loop(tg: Arc<Telegram>) {
    let mut tick = tokio::time::interval(PURGE_EVERY);
    loop {
        tick.tick().await;
        // Limiters forget the customers that went quiet.
        tg.hourly.retain_recent();
        tg.link_attempts.retain_recent();
        tg.hourly.shrink_to_fit();
        let now = Instant::now();
        tg.refusals
            .lock()
            .retain(|_, at| now.duration_since(*at) < Duration::from_secs(86_400));
        let hours = tg.config().telegram_dedupe_hours.max(1);
        if let Ok(mut conn) = tg.pool().get().await {
            if let Err(e) = super::login::purge(&mut conn, Utc::now()).await {
                tracing::warn!(error = %e, "old sign-in failures not purged");
            }
            match store::purge(&mut conn, chrono::Duration::hours(hours)).await {
                Ok(n) if n > 0 => tracing::debug!(rows = n, "telegram rows purged"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "telegram rows not purged"),
            }
        }
    }
}

/// The instant `at` falls on, reckoned from `now` (the past is `now`).
fn instant_of(at: chrono::DateTime<Utc>, now: Instant) -> Instant {
    match (at - Utc::now()).to_std() {
        Ok(ahead) => now + ahead,
        Err(_) => now,
    }
}

/// How the Bot API answered a call.
#[derive(Debug, Clone)]
enum Outcome {
    /// Sent; the message id, when there is one to remember.
    Sent(Option<i64>),
    /// Wait this long, then the same call again (429).
    RetryAfter(Duration),
    /// The group moved: the same call again, to the new id.
    Migrated(i64),
    /// The customer blocked the bot or is gone: nothing more is sent to them.
    Unreachable(String),
    /// Refused for good: the lane moves on.
    Refused(String),
    /// May pass: again after a backoff.
    Transient(String),
    /// The conversation's forum topic was deleted by hand: made again, and the call repeated.
    TopicGone,
}

impl Outcome {
    fn name(&self) -> &'static str {
        match self {
            Outcome::Sent(_) => "sent",
            Outcome::RetryAfter(_) => "retry_after",
            Outcome::Migrated(_) => "migrated",
            Outcome::Unreachable(_) => "unreachable",
            Outcome::Refused(_) => "refused",
            Outcome::Transient(_) => "transient",
            Outcome::TopicGone => "topic_gone",
        }
    }
}

/// Sends one row and records what happened; the lane and when it may send next.
async fn deliver(tg: &Telegram, row: CallRow) -> (String, Instant) {
    let lane = row.lane.clone();
    let interval = if lane == GROUP_LANE {
        Duration::from_millis(tg.config().telegram_group_interval_ms)
    } else {
        Duration::from_millis(tg.config().telegram_chat_interval_ms)
    };
    tracing::debug!(lane = %row.lane, id = row.id, "telegram call");
    let outcome = match send(tg, &row).await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::warn!(error = %e, "telegram call not prepared");
            return (lane, Instant::now() + Duration::from_secs(1));
        }
    };
    tracing::debug!(id = row.id, outcome = outcome.name(), "telegram call made");
    let mut recorded = record(tg, &row, outcome.clone()).await;
    // Made but not written down: written down until it is, never made again.
    let mut tries = 1;
    while recorded.is_err() && matches!(outcome, Outcome::Sent(_)) && tries < MARK_ATTEMPTS {
        tokio::time::sleep(Duration::from_secs(1)).await;
        recorded = record(tg, &row, outcome.clone()).await;
        tries += 1;
    }
    let next = match recorded {
        Ok(Some(wait)) => Instant::now() + wait,
        Ok(None) => Instant::now() + interval,
        Err(e) => {
            tracing::warn!(error = %e, "telegram delivery not recorded");
            Instant::now() + Duration::from_secs(1)
        }
    };
    (lane, next)
}

/// Makes the call. `Err` only when our side could not prepare it (the database).
async fn send(tg: &Telegram, row: &CallRow) -> AppResult<Outcome> {
    let call: Call = match serde_json::from_value(row.payload.clone()) {
        Ok(call) => call,
        Err(_) => return Ok(Outcome::Refused("unreadable call".into())),
    };
    let chat = if row.lane == GROUP_LANE {
        match tg.group() {
            Some(id) => id,
            None => return Ok(Outcome::Refused("no support group configured".into())),
        }
    } else if let Some(operator) = outbox::lane_operator(&row.lane) {
        let sealed = {
            let mut conn = tg.pool().get().await?;
            store::operator_chat(&mut conn, operator).await?
        };
        match sealed.and_then(|s| tg.key.decrypt_id(&s)) {
            Some(chat) => chat,
            None => {
                return Ok(Outcome::Refused(
                    "the operator's Telegram is not linked".into(),
                ))
            }
        }
    } else {
        let Some(contact) = outbox::lane_contact(&row.lane) else {
            return Ok(Outcome::Refused("unknown lane".into()));
        };
        match customer_chat(tg, contact).await? {
            Some(chat) => chat,
            None => {
                return Ok(Outcome::Unreachable(
                    "the customer cannot be written to".into(),
                ))
            }
        }
    };
    // In the support group, a conversation's posts go into its topic (in a forum) and reply
    // to its card; both are made first when missing.
    let placed = matches!(
        &call,
        Call::Text {
            under_card: true,
            ..
        } | Call::Copy {
            under_card: true,
            ..
        } | Call::SyncCard
    );
    let (thread, card) = match (placed, row.lane == GROUP_LANE, row.conversation_id) {
        (true, true, Some(conversation)) => {
            let thread = if tg.is_forum() {
                match ensure_topic(tg, chat, conversation).await? {
                    Ok(thread) => thread,
                    Err(outcome) => return Ok(outcome),
                }
            } else {
                None
            };
            let card = if matches!(call, Call::SyncCard) {
                None
            } else {
                match ensure_card(tg, chat, thread, conversation).await? {
                    Ok(card) => card,
                    Err(outcome) => return Ok(outcome),
                }
            };
            (thread, card)
        }
        _ => (None, None),
    };
    let reply_to = card
        .and_then(|id| i32::try_from(id).ok())
        .map(|id| ReplyParameters {
            allow_sending_without_reply: Some(true),
            ..ReplyParameters::new(MessageId(id))
        });
    let result = match call {
        Call::SyncCard => {
            let Some(conversation) = row.conversation_id else {
                return Ok(Outcome::Refused(
                    "a card update without its conversation".into(),
                ));
            };
            return sync_card(tg, chat, row.id, conversation, thread).await;
        }
        Call::Text { text, buttons, .. } => {
            let mut request = tg.bot.send_message(ChatId(chat), text);
            if let Some(thread) = thread {
                request = request.message_thread_id(ThreadId(MessageId(thread)));
            }
            if !buttons.is_empty() {
                request = request.reply_markup(keyboard(&buttons));
            }
            if let Some(reply) = reply_to {
                request = request.reply_parameters(reply);
            }
            request.await.map(|m| Some(i64::from(m.id.0)))
        }
        Call::Copy {
            from,
            album: Some(album),
            ..
        } if row.lane == GROUP_LANE => {
            return send_album(tg, chat, row, from, &album, reply_to, thread).await;
        }
        Call::Copy {
            from,
            message_id,
            caption,
            buttons,
            ..
        } => {
            let Some(from_chat) = customer_chat_any(tg, from).await? else {
                return Ok(Outcome::Refused("the source chat is unknown".into()));
            };
            let Ok(message_id) = i32::try_from(message_id) else {
                return Ok(Outcome::Refused("message id out of range".into()));
            };
            let mut request =
                tg.bot
                    .copy_message(ChatId(chat), ChatId(from_chat), MessageId(message_id));
            if let Some(caption) = caption {
                request = request.caption(caption);
            }
            if let Some(thread) = thread {
                request = request.message_thread_id(ThreadId(MessageId(thread)));
            }
            if !buttons.is_empty() {
                request = request.reply_markup(keyboard(&buttons));
            }
            if let Some(reply) = reply_to {
                request = request.reply_parameters(reply);
            }
            request.await.map(|m| Some(i64::from(m.0)))
        }
    };
    Ok(classify(result))
}

/// An album into the group as one album (`copyMessages`): its items arrive one update each
/// with no end marker, so the first waits a moment for the others; then every item waiting
/// is sent in one call and marked, and a line under the card says whose it is.
async fn send_album(
    tg: &Telegram,
    chat: i64,
    row: &CallRow,
    from: ContactId,
    album: &str,
    under: Option<ReplyParameters>,
    thread: Option<i32>,
) -> AppResult<Outcome> {
    let Some(conversation) = row.conversation_id else {
        return Ok(Outcome::Refused("an album without its conversation".into()));
    };
    let age = (Utc::now() - row.created_at).to_std().unwrap_or_default();
    if age < ALBUM_WAIT {
        tokio::time::sleep(ALBUM_WAIT - age).await;
    }
    let items = {
        let mut conn = tg.pool().get().await?;
        outbox::album_items(&mut conn, conversation, album).await?
    };
    let Some(from_chat) = customer_chat_any(tg, from).await? else {
        return Ok(Outcome::Refused("the source chat is unknown".into()));
    };
    let mut ids: Vec<MessageId> = items
        .iter()
        .filter_map(|(_, m)| i32::try_from(*m).ok().map(MessageId))
        .collect();
    ids.sort_by_key(|m| m.0);
    if ids.is_empty() {
        return Ok(Outcome::Sent(None));
    }
    let mut request = tg.bot.copy_messages(ChatId(chat), ChatId(from_chat), ids);
    if let Some(thread) = thread {
        request = request.message_thread_id(ThreadId(MessageId(thread)));
    }
    let copied = match request.await {
        Ok(copied) => copied,
        Err(e) => return Ok(classify(Err(e))),
    };
    let rows: Vec<i64> = items.iter().map(|(id, _)| *id).collect();
    let posts: Vec<(i64, i64, ConversationId)> = copied
        .iter()
        .map(|m| (chat, i64::from(m.0), conversation))
        .collect();
    written(|| async {
        let mut conn = tg.pool().get().await?;
        Ok(outbox::delivered_together(&mut conn, &rows, &posts).await?)
    })
    .await?;
    if let Ok(Some(facts)) = async {
        let mut conn = tg.pool().get().await?;
        Ok::<_, AppError>(store::card_facts(&mut conn, conversation).await?)
    }
    .await
    {
        let line = format!(
            "↑ {} · {}: an album of {}",
            facts.ticket,
            facts.alias,
            posts.len()
        );
        let mut request = tg.bot.send_message(ChatId(chat), line);
        if let Some(reply) = under {
            request = request.reply_parameters(reply);
        }
        if let Some(thread) = thread {
            request = request.message_thread_id(ThreadId(MessageId(thread)));
        }
        if let Err(e) = request.await {
            tracing::debug!(error = %e, "album line not posted");
        }
    }
    crate::telemetry::telegram_sent();
    Ok(Outcome::Sent(None))
}

/// Writes down what a call made (a topic, a card, an album's posts), trying for a while: a
/// retry of the whole call would make it twice.
async fn written<F, Fut>(mut write: F) -> AppResult<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = AppResult<()>>,
{
    let mut tries = 0;
    loop {
        match write().await {
            Ok(()) => return Ok(()),
            Err(e) if tries + 1 >= MARK_ATTEMPTS => return Err(e),
            Err(_) => {
                tries += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// The conversation's forum topic: the one it has, or a new one named after the ticket and
/// the alias. The group lane sends one call at a time, so two messages arriving together make
/// one topic.
async fn ensure_topic(
    tg: &Telegram,
    chat: i64,
    conversation: ConversationId,
) -> AppResult<Result<Option<i32>, Outcome>> {
    let (existing, facts) = {
        let mut conn = tg.pool().get().await?;
        let existing = store::topic_of(&mut conn, chat, conversation).await?;
        let facts = match existing {
            Some(_) => None,
            None => store::card_facts(&mut conn, conversation).await?,
        };
        (existing, facts)
    };
    if let Some((thread, _)) = existing {
        return Ok(Ok(i32::try_from(thread).ok()));
    }
    let Some(facts) = facts else {
        return Ok(Ok(None));
    };
    let name: String = format!("{} · {}", facts.ticket, facts.alias)
        .chars()
        .take(128)
        .collect();
    match tg.bot.create_forum_topic(ChatId(chat), name).await {
        Ok(topic) => {
            let thread = topic.thread_id.0 .0;
            written(|| async {
                let mut conn = tg.pool().get().await?;
                store::record_topic(&mut conn, chat, i64::from(thread), conversation).await?;
                // A new topic: any card the conversation had belongs to the old place.
                Ok(store::forget_card(&mut conn, conversation).await?)
            })
            .await?;
            Ok(Ok(Some(thread)))
        }
        Err(e) => match classify(Err(e)) {
            // Not allowed to make topics (the bot lacks "Manage topics"): the post goes to
            // the group's general thread rather than nowhere.
            Outcome::Refused(why) => {
                tracing::warn!(error = %why, "no topic could be made; posting without one");
                Ok(Ok(None))
            }
            other => Ok(Err(other)),
        },
    }
}

/// The topic is closed while the conversation is resolved or closed, and open otherwise.
async fn follow_topic(
    tg: &Telegram,
    chat: i64,
    thread: i32,
    conversation: ConversationId,
    facts: &outbox::CardFacts,
) -> AppResult<Result<(), Outcome>> {
    let closed = {
        let mut conn = tg.pool().get().await?;
        store::topic_of(&mut conn, chat, conversation)
            .await?
            .is_some_and(|(_, closed)| closed)
    };
    let should_close = matches!(
        facts.status,
        crate::domain::ConversationStatus::Resolved | crate::domain::ConversationStatus::Closed
    );
    if closed == should_close {
        return Ok(Ok(()));
    }
    let thread_id = ThreadId(MessageId(thread));
    let result = if should_close {
        tg.bot.close_forum_topic(ChatId(chat), thread_id).await
    } else {
        tg.bot.reopen_forum_topic(ChatId(chat), thread_id).await
    };
    match result {
        Ok(_) => {}
        // Already so: nothing to change.
        Err(RequestError::Api(ApiError::Unknown(text))) if text.contains("TOPIC_NOT_MODIFIED") => {}
        Err(e) => return Ok(Err(classify(Err(e)))),
    }
    let mut conn = tg.pool().get().await?;
    store::set_topic_closed(&mut conn, conversation, should_close).await?;
    Ok(Ok(()))
}

/// The conversation's card in the group `chat`: the one it has, or a new one showing its
/// state now. `Err` carries how Telegram refused to make it (the row is then retried as a
/// whole, or given up).
async fn ensure_card(
    tg: &Telegram,
    chat: i64,
    thread: Option<i32>,
    conversation: ConversationId,
) -> AppResult<Result<Option<i64>, Outcome>> {
    let (existing, facts) = {
        let mut conn = tg.pool().get().await?;
        let existing = store::card_of(&mut conn, chat, conversation).await?;
        let facts = match existing {
            Some(_) => None,
            None => store::card_facts(&mut conn, conversation).await?,
        };
        (existing, facts)
    };
    if let Some(card) = existing {
        return Ok(Ok(Some(card)));
    }
    let Some(facts) = facts else {
        return Ok(Ok(None));
    };
    let mut request = tg
        .bot
        .send_message(ChatId(chat), outbox::card_text(&facts))
        .reply_markup(keyboard(&outbox::card_buttons(conversation, &facts)));
    if let Some(thread) = thread {
        request = request.message_thread_id(ThreadId(MessageId(thread)));
    }
    let sent = request.await.map(|m| Some(i64::from(m.id.0)));
    match classify(sent) {
        Outcome::Sent(Some(card)) => {
            written(|| async {
                let mut conn = tg.pool().get().await?;
                Ok(store::record_card(&mut conn, chat, card, conversation).await?)
            })
            .await?;
            Ok(Ok(Some(card)))
        }
        Outcome::Sent(None) => Ok(Ok(None)),
        refused => Ok(Err(refused)),
    }
}

/// Shows the conversation's state now on its card (if it has one; the first post makes it).
/// A later update of the same card waiting in the outbox makes this one unnecessary.
async fn sync_card(
    tg: &Telegram,
    chat: i64,
    row_id: i64,
    conversation: ConversationId,
    thread: Option<i32>,
) -> AppResult<Outcome> {
    let (card, facts) = {
        let mut conn = tg.pool().get().await?;
        if store::later_sync_waits(&mut conn, row_id, conversation).await? {
            return Ok(Outcome::Sent(None));
        }
        let card = store::card_of(&mut conn, chat, conversation).await?;
        let facts = store::card_facts(&mut conn, conversation).await?;
        (card, facts)
    };
    if let (Some(thread), Some(facts)) = (thread, facts.as_ref()) {
        if let Err(outcome) = follow_topic(tg, chat, thread, conversation, facts).await? {
            return Ok(outcome);
        }
    }
    let (Some(card), Some(facts)) = (card.and_then(|c| i32::try_from(c).ok()), facts) else {
        return Ok(Outcome::Sent(None));
    };
    let edited = tg
        .bot
        .edit_message_text(ChatId(chat), MessageId(card), outbox::card_text(&facts))
        .reply_markup(keyboard(&outbox::card_buttons(conversation, &facts)))
        .await;
    Ok(match edited {
        Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => Outcome::Sent(None),
        Err(RequestError::Api(ApiError::MessageToEditNotFound | ApiError::MessageIdInvalid)) => {
            // Deleted by hand: the next post makes a new card.
            let mut conn = tg.pool().get().await?;
            store::forget_card(&mut conn, conversation).await?;
            Outcome::Sent(None)
        }
        Err(e) => classify(Err(e)),
    })
}

/// One row of buttons; none at all (which removes a card's keyboard) when there are none.
pub(super) fn keyboard(buttons: &[Button]) -> InlineKeyboardMarkup {
    let row: Vec<InlineKeyboardButton> = buttons
        .iter()
        .map(|(label, data)| InlineKeyboardButton::callback(label.clone(), data.clone()))
        .collect();
    InlineKeyboardMarkup::new(if row.is_empty() {
        Vec::new()
    } else {
        vec![row]
    })
}

fn classify(result: Result<Option<i64>, RequestError>) -> Outcome {
    match result {
        Ok(id) => Outcome::Sent(id),
        Err(RequestError::RetryAfter(secs)) => Outcome::RetryAfter(secs.duration()),
        Err(RequestError::MigrateToChatId(to)) => Outcome::Migrated(to.0),
        Err(RequestError::Api(e)) => match e {
            ApiError::BotBlocked
            | ApiError::UserDeactivated
            | ApiError::CantInitiateConversation
            | ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
            | ApiError::ChatNotFound => Outcome::Unreachable(e.to_string()),
            ApiError::Unknown(text) => {
                let lower = text.to_ascii_lowercase();
                if lower.contains("message thread not found") || lower.contains("topic_deleted") {
                    Outcome::TopicGone
                } else if lower.starts_with("bad request") || lower.starts_with("forbidden") {
                    Outcome::Refused(text)
                } else {
                    Outcome::Transient(text)
                }
            }
            other => Outcome::Refused(other.to_string()),
        },
        // Telegram answered, but teloxide could not read the answer: sent, if Telegram said ok
        // (never repeated, and never logged: the raw answer names the customer).
        Err(RequestError::InvalidJson { raw, .. }) => {
            if raw.contains("\"ok\":true") {
                Outcome::Sent(None)
            } else {
                Outcome::Transient("an answer from Telegram that could not be read".into())
            }
        }
        Err(e) => Outcome::Transient(e.to_string()),
    }
}

/// Writes down what happened; `Some(wait)` when the lane must wait longer than its usual pace.
async fn record(tg: &Telegram, row: &CallRow, outcome: Outcome) -> AppResult<Option<Duration>> {
    let mut conn = tg.pool().get().await?;
    match outcome {
        Outcome::Sent(message_id) => {
            let post = match (
                row.lane == GROUP_LANE,
                message_id,
                row.conversation_id,
                tg.group(),
            ) {
                (true, Some(message_id), Some(conversation), Some(group)) => {
                    Some((group, message_id, conversation, row.seq))
                }
                _ => None,
            };
            outbox::delivered(&mut conn, row.id, post).await?;
            crate::telemetry::telegram_sent();
            Ok(None)
        }
        Outcome::RetryAfter(wait) => {
            let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            outbox::retry_at(&mut conn, row.id, at, "429 flood control").await?;
            tracing::info!(seconds = wait.as_secs(), "telegram asked us to wait");
            Ok(Some(wait))
        }
        Outcome::Migrated(to) => {
            if row.lane == GROUP_LANE {
                if let Some(from) = tg.group() {
                    drop(conn);
                    tg.group_migrated(from, to).await?;
                }
            }
            Ok(Some(Duration::ZERO))
        }
        Outcome::Unreachable(why) => {
            if let Some(contact) = outbox::lane_contact(&row.lane) {
                let changed = store::set_reachable(&mut conn, contact, false).await?;
                outbox::fail_lane(&mut conn, &row.lane, &why).await?;
                drop(conn);
                if changed {
                    super::customer::unreachable(tg, contact).await;
                }
            } else {
                outbox::failed(&mut conn, row.id, &why).await?;
                tracing::warn!(error = %why, lane = %lane_kind(&row.lane), "the bot cannot write to this chat");
            }
            Ok(None)
        }
        Outcome::TopicGone => {
            if let Some(conversation) = row.conversation_id {
                store::forget_topic(&mut conn, conversation).await?;
            }
            if row.attempts + 1 >= MAX_ATTEMPTS {
                outbox::failed(&mut conn, row.id, "its topic keeps disappearing").await?;
                return Ok(None);
            }
            tracing::info!("a conversation's topic was deleted; making it again");
            outbox::retry_at(&mut conn, row.id, Utc::now(), "topic deleted").await?;
            Ok(Some(Duration::ZERO))
        }
        Outcome::Refused(why) => {
            tracing::warn!(error = %why, "telegram refused a call; skipped");
            outbox::failed(&mut conn, row.id, &why).await?;
            Ok(None)
        }
        Outcome::Transient(why) => {
            if row.attempts + 1 >= MAX_ATTEMPTS {
                tracing::warn!(error = %why, "telegram call failed too often; given up");
                outbox::failed(&mut conn, row.id, &why).await?;
                return Ok(None);
            }
            let wait = backoff(row.attempts);
            let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            outbox::retry_at(&mut conn, row.id, at, &why).await?;
            tracing::info!(error = %why, attempt = row.attempts + 1, "telegram call failed; will retry");
            Ok(Some(wait))
        }
    }
}

/// What kind of chat a lane is, for logs (never which one).
fn lane_kind(lane: &str) -> &'static str {
    if lane == GROUP_LANE {
        "support group"
    } else if lane.starts_with("operator:") {
        "operator"
    } else {
        "customer"
    }
}

fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(0, 16) as u32;
    Duration::from_millis(500u64.saturating_mul(1u64 << exp)).min(MAX_BACKOFF)
}

/// A customer's chat id, if they can be written to.
async fn customer_chat(tg: &Telegram, contact: ContactId) -> AppResult<Option<i64>> {
    let mut conn = tg.pool().get().await?;
    Ok(match store::chat_of(&mut conn, contact).await? {
        Some((sealed, true)) => tg.key.decrypt_id(&sealed),
        _ => None,
    })
}

/// A customer's chat id whether or not the bot may write to them (to copy from it).
async fn customer_chat_any(tg: &Telegram, contact: ContactId) -> AppResult<Option<i64>> {
    let mut conn = tg.pool().get().await?;
    Ok(store::chat_of(&mut conn, contact)
        .await?
        .and_then(|(sealed, _)| tg.key.decrypt_id(&sealed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert!(backoff(20) <= MAX_BACKOFF);
    }
}
