//! Telegram test kit: a server with the channel on, pointed at a fake Bot API, and Update
//! shapes written from the Bot API documentation (as Telegram sends them, with names and
//! usernames that must never reach an operator).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicI64, Ordering};

use base64::Engine;
use secrecy::SecretString;
use serde_json::{json, Value};
use switchboard::clock::{SharedClock, SystemClock};
use switchboard::config::Config;

use super::fake_bot::FakeBot;
use super::{test_config, Operator, TestDb, TestServer};

pub const TOKEN: &str = "7001234567:AAH-fake_token_for_tests";
pub const SECRET: &str = "hook-Secret_42";
pub const GROUP: i64 = -1001234567890;

static UPDATE_IDS: AtomicI64 = AtomicI64::new(500_000_000);
static MESSAGE_IDS: AtomicI64 = AtomicI64::new(10);

pub fn next_update_id() -> i64 {
    UPDATE_IDS.fetch_add(1, Ordering::Relaxed)
}

pub fn next_message_id() -> i64 {
    MESSAGE_IDS.fetch_add(1, Ordering::Relaxed)
}

pub struct Tg {
    pub server: TestServer,
    pub bot: FakeBot,
    pub key: String,
}

/// The test config with the Telegram channel on, a fast pace, and `bot` as the Bot API.
pub fn telegram_config(config: Config, bot: &FakeBot, key: &str) -> Config {
    Config {
        telegram_bot_token: Some(SecretString::from(TOKEN.to_owned())),
        telegram_webhook_secret: Some(SecretString::from(SECRET.to_owned())),
        telegram_support_chat_id: Some(GROUP),
        telegram_api_url: bot.url.clone(),
        identity_key: Some(SecretString::from(key.to_owned())),
        telegram_chat_interval_ms: 20,
        telegram_group_interval_ms: 20,
        telegram_calls_per_sec: 1000,
        ..config
    }
}

pub fn random_key() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Tg {
    pub async fn start() -> Tg {
        Self::start_with(|c| c).await
    }

    /// With a support group that is a forum (`getChat` says `is_forum`).
    pub async fn start_forum() -> Tg {
        let bot = FakeBot::start(TOKEN).await;
        bot.set_forum(true);
        Self::start_on_bot(bot, |c| c).await
    }

    pub async fn start_with(adjust: impl FnOnce(Config) -> Config) -> Tg {
        let bot = FakeBot::start(TOKEN).await;
        Self::start_on_bot(bot, adjust).await
    }

    async fn start_on_bot(bot: FakeBot, adjust: impl FnOnce(Config) -> Config) -> Tg {
        Self::start_on_bot_with_clock(bot, adjust, std::sync::Arc::new(SystemClock)).await
    }

    /// With time driven by `clock` (usually a `ManualClock` the test moves).
    pub async fn start_with_clock(adjust: impl FnOnce(Config) -> Config, clock: SharedClock) -> Tg {
        let bot = FakeBot::start(TOKEN).await;
        Self::start_on_bot_with_clock(bot, adjust, clock).await
    }

    async fn start_on_bot_with_clock(
        bot: FakeBot,
        adjust: impl FnOnce(Config) -> Config,
        clock: SharedClock,
    ) -> Tg {
        let db = TestDb::create().await;
        let key = random_key();
        let config = adjust(telegram_config(test_config(&db.url), &bot, &key));
        let server = TestServer::start_on_with_clock(db, config, clock).await;
        Tg { server, bot, key }
    }

    /// Posts `update` to the webhook with the right secret; the status.
    pub async fn send(&self, update: &Value) -> u16 {
        self.send_with_secret(update, Some(SECRET)).await
    }

    pub async fn send_with_secret(&self, update: &Value, secret: Option<&str>) -> u16 {
        let mut req = self
            .server
            .http
            .post(self.server.url("/telegram/webhook"))
            .header("content-type", "application/json")
            .body(update.to_string());
        if let Some(secret) = secret {
            req = req.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        req.send().await.unwrap().status().as_u16()
    }

    /// Waits until every stored update is handled.
    pub async fn settled(&self) {
        self.server
            .eventually("every telegram update handled", || async {
                self.server
                    .scalar("SELECT count(*) AS n FROM telegram_inbox WHERE processed_at IS NULL")
                    .await
                    == 0
            })
            .await;
    }

    /// The conversation of a Telegram customer's latest ticket.
    pub async fn conversation_of_latest(&self) -> String {
        self.server
            .text("SELECT id::text AS value FROM conversations WHERE channel = 'telegram' ORDER BY created_at DESC LIMIT 1")
            .await
    }

    /// A customer's message opens their ticket; the conversation id, once the group saw the
    /// message and the customer was told the ticket number.
    pub async fn customer_writes(&self, user: &TgUser, text: &str) -> String {
        assert_eq!(self.send(&user.text(text)).await, 200);
        self.bot.wait_sent(GROUP, text).await;
        self.bot.wait_sent(user.id, "Support ticket SUPP-").await;
        self.conversation_of_latest().await
    }

    /// `op` takes the conversation (from the panel's API).
    pub async fn take(&self, op: &Operator, conversation: &str) {
        let (code, body) = self
            .server
            .post(
                &format!("/api/v1/conversations/{conversation}/take"),
                &op.token,
                json!({}),
            )
            .await;
        assert_eq!(code, 200, "{body}");
    }

    /// An operator's message to the customer, acknowledged once committed.
    pub async fn operator_says(
        &self,
        op: &Operator,
        conversation: &str,
        client_id: &str,
        text: &str,
    ) {
        let (code, body) = self
            .server
            .post(
                &format!("/api/v1/conversations/{conversation}/messages"),
                &op.token,
                json!({"client_id": client_id, "text": text}),
            )
            .await;
        assert_eq!(code, 201, "{body}");
    }

    /// The message id the fake gave the bot's (latest) post about `conversation` in the group.
    pub async fn post_of(&self, conversation: &str) -> i64 {
        let sql = format!(
            "SELECT count(*) AS n FROM telegram_posts WHERE conversation_id = '{conversation}'"
        );
        self.server
            .eventually("the post is recorded", || async {
                self.server.scalar(&sql).await > 0
            })
            .await;
        self.server
            .scalar(&format!(
                "SELECT max(message_id) AS n FROM telegram_posts WHERE conversation_id = '{conversation}'"
            ))
            .await
    }

    /// Links `op` to the Telegram account `account` (`/link CODE` in a private chat).
    pub async fn link(&self, op: &Operator, account: &TgUser) {
        let (code, link) = self
            .server
            .post("/api/v1/operators/me/telegram-link", &op.token, json!({}))
            .await;
        assert_eq!(code, 201, "{link}");
        let code_text = link["code"].as_str().unwrap().to_owned();
        assert_eq!(
            self.send(&account.text(&format!("/link {code_text}")))
                .await,
            200
        );
        self.bot.wait_sent(account.id, "is now linked").await;
    }

    /// Waits until every queued call is delivered (or given up), and stays so for a moment:
    /// what the bot says on its own (a queue notice) must not take a failure a test scripted.
    pub async fn outbox_quiet(&self) {
        let pending = "SELECT count(*) AS n FROM telegram_outbox WHERE delivered_at IS NULL AND failed_at IS NULL";
        for _ in 0..2 {
            self.server
                .eventually("the outbox is empty", || async {
                    self.server.scalar(pending).await == 0
                })
                .await;
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        assert_eq!(
            self.server.scalar(pending).await,
            0,
            "the outbox stays empty"
        );
    }

    pub async fn stop(mut self) {
        self.server.stop().await;
        self.bot.stop().await;
    }
}

/// A Telegram user with everything that identifies them.
#[derive(Clone)]
pub struct TgUser {
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    pub username: String,
    pub lang: String,
}

impl TgUser {
    pub fn new(id: i64, lang: &str) -> TgUser {
        TgUser {
            id,
            first_name: format!("Ivan{id}"),
            last_name: format!("Petrovsky{id}"),
            username: format!("ivan_p_{id}"),
            lang: lang.to_owned(),
        }
    }

    pub fn user_json(&self) -> Value {
        json!({
            "id": self.id,
            "is_bot": false,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "username": self.username,
            "language_code": self.lang,
        })
    }

    pub fn chat_json(&self) -> Value {
        json!({
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "username": self.username,
            "type": "private",
        })
    }

    /// A message in the private chat with `fields` merged in (text, photo, ...).
    pub fn message_with(&self, message_id: i64, fields: Value) -> Value {
        let mut m = json!({
            "message_id": message_id,
            "from": self.user_json(),
            "chat": self.chat_json(),
            "date": 1764590000,
        });
        if let (Some(m), Some(f)) = (m.as_object_mut(), fields.as_object()) {
            for (k, v) in f {
                m.insert(k.clone(), v.clone());
            }
        }
        m
    }

    pub fn text(&self, text: &str) -> Value {
        self.text_with_id(next_message_id(), text)
    }

    pub fn text_with_id(&self, message_id: i64, text: &str) -> Value {
        let mut fields = json!({"text": text});
        if text.starts_with('/') {
            let len = text
                .split_whitespace()
                .next()
                .unwrap_or(text)
                .encode_utf16()
                .count();
            fields["entities"] = json!([{"offset": 0, "length": len, "type": "bot_command"}]);
        }
        json!({"update_id": next_update_id(), "message": self.message_with(message_id, fields)})
    }

    pub fn photo(&self, caption: &str) -> (i64, Value) {
        let id = next_message_id();
        let fields = json!({
            "photo": [
                {"file_id": "AgACAgIAAxkBAAIBP2abc", "file_unique_id": "AQADx1", "file_size": 1234, "width": 90, "height": 67},
                {"file_id": "AgACAgIAAxkBAAIBP2xyz", "file_unique_id": "AQADx2", "file_size": 45678, "width": 800, "height": 600}
            ],
            "caption": caption,
        });
        (
            id,
            json!({"update_id": next_update_id(), "message": self.message_with(id, fields)}),
        )
    }

    pub fn document(&self) -> (i64, Value) {
        let id = next_message_id();
        let fields = json!({"document": {
            "file_name": "invoice.pdf", "mime_type": "application/pdf",
            "file_id": "BQACAgIAAxkBAAIBQGdoc", "file_unique_id": "AgADdoc", "file_size": 52000
        }});
        (
            id,
            json!({"update_id": next_update_id(), "message": self.message_with(id, fields)}),
        )
    }

    pub fn voice(&self) -> (i64, Value) {
        let id = next_message_id();
        let fields = json!({"voice": {
            "duration": 3, "mime_type": "audio/ogg", "file_id": "AwACAgIAAxkBAAIBQXvoice",
            "file_unique_id": "AgADvoice", "file_size": 8000
        }});
        (
            id,
            json!({"update_id": next_update_id(), "message": self.message_with(id, fields)}),
        )
    }

    pub fn sticker(&self) -> (i64, Value) {
        let id = next_message_id();
        let fields = json!({"sticker": {
            "width": 512, "height": 512, "emoji": "👍", "set_name": "HotCherry", "is_animated": false,
            "is_video": false, "type": "regular", "file_id": "CAACAgIAAxkBAAIBQnstick",
            "file_unique_id": "AgADstick", "file_size": 20000
        }});
        (
            id,
            json!({"update_id": next_update_id(), "message": self.message_with(id, fields)}),
        )
    }

    pub fn edited(&self, message_id: i64, text: &str) -> Value {
        let mut m = self.message_with(message_id, json!({"text": text}));
        m["edit_date"] = json!(1764590100);
        json!({"update_id": next_update_id(), "edited_message": m})
    }

    /// A press of an inline button under `message_id` in `chat` (the user's own chat if None).
    pub fn press(&self, data: &str, chat: Option<Value>, message_id: i64) -> Value {
        let chat = chat.unwrap_or_else(|| self.chat_json());
        json!({
            "update_id": next_update_id(),
            "callback_query": {
                "id": format!("{}", 4_000_000_000_000_000_000u64 + next_message_id() as u64),
                "from": self.user_json(),
                "message": {
                    "message_id": message_id,
                    "from": {"id": 42, "is_bot": true, "first_name": "SupportBot", "username": "support_bot"},
                    "chat": chat,
                    "date": 1764590000,
                    "text": "…"
                },
                "chat_instance": "-3305123451234567890",
                "data": data,
            }
        })
    }

    /// The user blocked the bot (`my_chat_member`, new status `kicked`).
    pub fn kicked(&self) -> Value {
        json!({
            "update_id": next_update_id(),
            "my_chat_member": {
                "chat": self.chat_json(),
                "from": self.user_json(),
                "date": 1764590200,
                "old_chat_member": {"user": {"id": 42, "is_bot": true, "first_name": "SupportBot", "username": "support_bot"}, "status": "member"},
                "new_chat_member": {"user": {"id": 42, "is_bot": true, "first_name": "SupportBot", "username": "support_bot"}, "status": "kicked", "until_date": 0}
            }
        })
    }

    /// A message in the support group replying to the bot's post `reply_to`.
    pub fn group_reply(&self, reply_to: i64, text: &str) -> Value {
        let group = group_chat();
        json!({
            "update_id": next_update_id(),
            "message": {
                "message_id": next_message_id(),
                "from": self.user_json(),
                "chat": group,
                "date": 1764590300,
                "text": text,
                "reply_to_message": {
                    "message_id": reply_to,
                    "from": {"id": 42, "is_bot": true, "first_name": "SupportBot", "username": "support_bot"},
                    "chat": group_chat(),
                    "date": 1764590000,
                    "text": "SUPP-… · User-…"
                }
            }
        })
    }
}

pub fn group_chat() -> Value {
    json!({"id": GROUP, "title": "Support team", "type": "supergroup"})
}
