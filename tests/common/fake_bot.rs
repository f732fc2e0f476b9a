//! A fake Telegram Bot API server for tests: it records every call (method names matched
//! case-insensitively: teloxide sends `SendMessage`), answers like Telegram does, and can be
//! told to fail the next calls with a 429 `retry_after`, a 403 "bot was blocked by the user",
//! a 400 `migrate_to_chat_id` or a 500.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use parking_lot::Mutex;
use serde_json::{json, Value};

/// One call the server under test made.
#[derive(Debug, Clone)]
pub struct BotCall {
    /// Lowercased: `sendmessage`, `copymessage`, ...
    pub method: String,
    pub body: Value,
    pub at: Instant,
    /// The path held the token the server was configured with.
    pub token_ok: bool,
}

impl BotCall {
    pub fn chat(&self) -> Option<i64> {
        self.body.get("chat_id").and_then(Value::as_i64)
    }

    pub fn text(&self) -> String {
        self.body
            .get("text")
            .or_else(|| self.body.get("caption"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// The `callback_data` of every inline button.
    pub fn buttons(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(rows) = self
            .body
            .pointer("/reply_markup/inline_keyboard")
            .and_then(Value::as_array)
        {
            for row in rows {
                for b in row.as_array().into_iter().flatten() {
                    if let Some(d) = b.get("callback_data").and_then(Value::as_str) {
                        out.push(d.to_owned());
                    }
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone)]
pub enum Failure {
    RetryAfter(u32),
    Blocked,
    Migrate(i64),
    ServerError,
    /// `ok: true` with a result no client can read (Telegram did the call).
    Garbled,
}

struct Scripted {
    method: String,
    chat: Option<i64>,
    failure: Failure,
}

#[derive(Default)]
struct State {
    calls: Vec<BotCall>,
    next_id: i64,
    scripted: VecDeque<Scripted>,
    blocked: HashSet<i64>,
    down: bool,
    updates: VecDeque<Value>,
    forum: bool,
    deleted_topics: HashSet<i64>,
}

pub struct FakeBot {
    pub url: String,
    pub token: String,
    state: Arc<Mutex<State>>,
    handle: ServerHandle,
}

impl FakeBot {
    pub async fn start(token: &str) -> FakeBot {
        let state = Arc::new(Mutex::new(State {
            next_id: 1000,
            ..State::default()
        }));
        let shared = state.clone();
        let expected = token.to_owned();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new((shared.clone(), expected.clone())))
                .app_data(web::PayloadConfig::default().limit(16 * 1024 * 1024))
                .route("/{bot}/{method}", web::post().to(handle))
                .route("/{bot}/{method}", web::get().to(handle))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        FakeBot {
            url: format!("http://{addr}"),
            token: token.to_owned(),
            state,
            handle,
        }
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }

    pub fn calls(&self) -> Vec<BotCall> {
        self.state.lock().calls.clone()
    }

    /// Calls of `method` (any case).
    pub fn calls_of(&self, method: &str) -> Vec<BotCall> {
        let m = method.to_ascii_lowercase();
        self.calls().into_iter().filter(|c| c.method == m).collect()
    }

    /// Messages and copies sent to `chat`.
    pub fn sent_to(&self, chat: i64) -> Vec<BotCall> {
        self.calls()
            .into_iter()
            .filter(|c| {
                matches!(
                    c.method.as_str(),
                    "sendmessage" | "copymessage" | "forwardmessage"
                ) && c.chat() == Some(chat)
            })
            .collect()
    }

    /// The next call of `method` (to `chat`, if given) fails with `failure`, once.
    pub fn fail_next(&self, method: &str, chat: Option<i64>, failure: Failure) {
        self.state.lock().scripted.push_back(Scripted {
            method: method.to_ascii_lowercase(),
            chat,
            failure,
        });
    }

    /// Every send to `chat` answers 403 "bot was blocked by the user".
    pub fn block(&self, chat: i64) {
        self.state.lock().blocked.insert(chat);
    }

    /// `getChat` says the support group is a forum.
    pub fn set_forum(&self, forum: bool) {
        self.state.lock().forum = forum;
    }

    /// Someone deleted this topic by hand: sends into it fail with "message thread not found".
    pub fn delete_topic(&self, thread: i64) {
        self.state.lock().deleted_topics.insert(thread);
    }

    /// Every call answers 500 until `up` (Telegram having a bad day).
    pub fn set_down(&self, down: bool) {
        self.state.lock().down = down;
    }

    /// An update for the next `getUpdates`.
    pub fn queue_update(&self, update: Value) {
        self.state.lock().updates.push_back(update);
    }

    /// Waits until `check` holds over the calls so far.
    pub async fn wait_for(&self, what: &str, check: impl Fn(&[BotCall]) -> bool) -> Vec<BotCall> {
        let deadline = Instant::now() + super::WAIT;
        loop {
            let calls = self.calls();
            if check(&calls) {
                return calls;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for the bot to be called: {what}\ncalls: {calls:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for a message or copy to `chat` whose text contains `needle`.
    pub async fn wait_sent(&self, chat: i64, needle: &str) -> BotCall {
        let calls = self
            .wait_for(
                &format!("a message to {chat} containing {needle:?}"),
                |calls| {
                    calls.iter().any(|c| {
                        matches!(c.method.as_str(), "sendmessage" | "copymessage")
                            && c.chat() == Some(chat)
                            && c.text().contains(needle)
                    })
                },
            )
            .await;
        calls
            .into_iter()
            .find(|c| c.chat() == Some(chat) && c.text().contains(needle))
            .unwrap()
    }
}

fn fail(status: u16, description: &str, parameters: Option<Value>) -> HttpResponse {
    let mut body = json!({"ok": false, "error_code": status, "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(body)
}

async fn handle(
    req: HttpRequest,
    data: web::Data<(Arc<Mutex<State>>, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (state, token) = data.get_ref();
    let bot = req.match_info().get("bot").unwrap_or_default().to_owned();
    let method = req
        .match_info()
        .get("method")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = if content_type.starts_with("multipart/form-data") {
        multipart_fields(&content_type, &body)
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let (response, empty_poll) = answer(state, token, &bot, &method, body);
    if empty_poll {
        // A short long poll.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    response
}

/// Records the call and makes Telegram's answer; true for a poll with nothing to return.
fn answer(
    state: &Mutex<State>,
    token: &str,
    bot: &str,
    method: &str,
    body: Value,
) -> (HttpResponse, bool) {
    let method = method.to_owned();
    let chat = body.get("chat_id").and_then(Value::as_i64);
    let mut s = state.lock();
    s.calls.push(BotCall {
        method: method.clone(),
        body: body.clone(),
        at: Instant::now(),
        token_ok: bot == format!("bot{token}"),
    });
    if s.down {
        return (fail(500, "Internal Server Error", None), false);
    }
    let sends = matches!(
        method.as_str(),
        "sendmessage" | "copymessage" | "forwardmessage"
    );
    if let Some(pos) = s
        .scripted
        .iter()
        .position(|f| f.method == method && (f.chat.is_none() || f.chat == chat))
    {
        let scripted = s.scripted.remove(pos).unwrap();
        let refusal = match scripted.failure {
            Failure::RetryAfter(secs) => fail(
                429,
                &format!("Too Many Requests: retry after {secs}"),
                Some(json!({"retry_after": secs})),
            ),
            Failure::Blocked => fail(403, "Forbidden: bot was blocked by the user", None),
            Failure::Migrate(to) => fail(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                Some(json!({"migrate_to_chat_id": to})),
            ),
            Failure::ServerError => fail(500, "Internal Server Error", None),
            Failure::Garbled => HttpResponse::Ok().json(json!({
                "ok": true,
                "result": {"message_id": "not a number", "chat": {"id": chat, "first_name": "Ivan"}}
            })),
        };
        return (refusal, false);
    }
    let thread = body.get("message_thread_id").and_then(Value::as_i64);
    if thread.is_some_and(|t| s.deleted_topics.contains(&t)) {
        return (
            fail(400, "Bad Request: message thread not found", None),
            false,
        );
    }
    if sends && chat.is_some_and(|c| s.blocked.contains(&c)) {
        return (
            fail(403, "Forbidden: bot was blocked by the user", None),
            false,
        );
    }
    s.next_id += 1;
    let id = s.next_id;
    let result = match method.as_str() {
        "sendmessage" | "forwardmessage" | "editmessagetext" => {
            let chat_id = chat.unwrap_or_default();
            let chat = if chat_id < 0 {
                json!({"id": chat_id, "type": "supergroup", "title": "Support"})
            } else {
                json!({"id": chat_id, "type": "private", "first_name": "Customer"})
            };
            json!({
                "message_id": id,
                "date": chrono::Utc::now().timestamp(),
                "chat": chat,
                "from": {"id": 42, "is_bot": true, "first_name": "SupportBot", "username": "support_bot"},
                "text": body.get("text").cloned().unwrap_or(json!("")),
            })
        }
        "copymessage" => json!({"message_id": id}),
        "getchat" => json!({
            "id": chat.unwrap_or_default(), "type": "supergroup", "title": "Support team",
            "is_forum": s.forum, "accent_color_id": 0, "max_reaction_count": 11
        }),
        "createforumtopic" => json!({
            "message_thread_id": id,
            "name": body.get("name").cloned().unwrap_or(json!("")),
            "icon_color": 7322096
        }),
        "copymessages" => {
            let n = body
                .get("message_ids")
                .and_then(Value::as_array)
                .map_or(0, Vec::len) as i64;
            s.next_id += n;
            Value::Array((0..n).map(|i| json!({"message_id": id + i})).collect())
        }
        "getme" => {
            json!({"id": 42, "is_bot": true, "first_name": "SupportBot", "username": "support_bot"})
        }
        "getwebhookinfo" => json!({
            "url": "https://support.example/telegram/webhook",
            "has_custom_certificate": false,
            "pending_update_count": 3,
            "last_error_date": 1764000000,
            "last_error_message": "Connection refused",
        }),
        "getupdates" => {
            let offset = body.get("offset").and_then(Value::as_i64).unwrap_or(0);
            let id_of = |u: &Value| u.get("update_id").and_then(Value::as_i64).unwrap_or(0);
            s.updates.retain(|u| id_of(u) >= offset);
            Value::Array(s.updates.iter().cloned().collect())
        }
        _ => json!(true),
    };
    let empty_poll = method == "getupdates" && result.as_array().is_some_and(|a| a.is_empty());
    (
        HttpResponse::Ok().json(json!({"ok": true, "result": result})),
        empty_poll,
    )
}

/// The text fields of a multipart body (teloxide sends `setWebhook` so), as a JSON object; a
/// field holding JSON (`allowed_updates`) is parsed.
fn multipart_fields(content_type: &str, body: &[u8]) -> Value {
    let Some(boundary) = content_type.split("boundary=").nth(1) else {
        return Value::Null;
    };
    let boundary = format!("--{}", boundary.trim_matches('"'));
    let text = String::from_utf8_lossy(body);
    let mut fields = serde_json::Map::new();
    for part in text.split(boundary.as_str()) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let Some(name) = head
            .split("name=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        let value = value.trim_end_matches("\r\n").to_owned();
        let parsed = serde_json::from_str::<Value>(&value)
            .ok()
            .filter(|v| v.is_array() || v.is_object() || v.is_number() || v.is_boolean())
            .unwrap_or(Value::String(value));
        fields.insert(name.to_owned(), parsed);
    }
    Value::Object(fields)
}
