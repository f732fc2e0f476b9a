//! Test harness: a fresh database per test, the real server started in-process on an
//! ephemeral port, and real HTTP and WebSocket clients talking to it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod fake_bot;
pub mod proxy;
pub mod telegram;

use std::time::Duration;

use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::Arc;
use switchboard::auth::{create_operator, OperatorInput};

use switchboard::actors::router::{Stats, Sweep};
use switchboard::clock::{SharedClock, SystemClock};
use switchboard::config::Config;
use switchboard::domain::Role;
use switchboard::server::{self, Running};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// How long a test waits for a frame it expects.
pub const WAIT: Duration = Duration::from_secs(10);

fn pg_base() -> String {
    std::env::var("TEST_PG_BASE").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database of its own for one test.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let name = format!("sbtest_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AsyncPgConnection::establish(&format!("{}/postgres", pg_base()))
            .await
            .expect("PostgreSQL must answer on 127.0.0.1:5432 (scripts/test.sh starts it)");
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap();
        let url = format!("{}/{name}", pg_base());
        TestDb { name, url }
    }

    pub async fn conn(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url).await.unwrap()
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    value: String,
}

pub struct TestServer {
    pub running: Option<Running>,
    pub base: String,
    pub ws_base: String,
    pub db: TestDb,
    pub http: reqwest::Client,
}

pub struct Operator {
    pub id: String,
    pub email: String,
    pub token: String,
}

#[derive(Clone)]
pub struct Widget {
    pub token: String,
    pub conversation_id: String,
    pub ticket: String,
}

/// A config for tests: ephemeral port, one worker, quick shutdown.
pub fn test_config(db_url: &str) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        workers: 1,
        shutdown_timeout_secs: 1,
        conversation_threads: 1,
        sessions_per_ip_per_min: 10_000,
        logins_per_ip_per_min: 10_000,
        unauthenticated_sockets_per_ip: 10_000,
        api_requests_per_sec: 10_000,
        api_burst: 10_000,
        db_timeout_secs: 2,
        // Auto-replies and rule escalations add events of their own: tests/automation.rs
        // turns them on.
        automation: false,
        ..Config::default()
    }
    .with_database_url(db_url)
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|c| c).await
    }

    pub async fn start_with(adjust: impl FnOnce(Config) -> Config) -> TestServer {
        let db = TestDb::create().await;
        let config = adjust(test_config(&db.url));
        Self::start_on(db, config).await
    }

    pub async fn start_on(db: TestDb, config: Config) -> TestServer {
        Self::start_on_with_clock(db, config, Arc::new(SystemClock)).await
    }

    /// A server whose router runs on `clock` (usually a `ManualClock` the test moves).
    pub async fn start_with_clock(
        adjust: impl FnOnce(Config) -> Config,
        clock: SharedClock,
    ) -> TestServer {
        let db = TestDb::create().await;
        let config = adjust(test_config(&db.url));
        Self::start_on_with_clock(db, config, clock).await
    }

    pub async fn start_on_with_clock(db: TestDb, config: Config, clock: SharedClock) -> TestServer {
        let _ = tracing_subscriber_init();
        let running = server::start_with_clock(config, clock)
            .await
            .expect("server starts");
        let base = format!("http://{}", running.addr);
        let ws_base = format!("ws://{}", running.addr);
        TestServer {
            running: Some(running),
            base,
            ws_base,
            db,
            http: reqwest::Client::new(),
        }
    }

    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn open_widget(&self, body: Value) -> Widget {
        let res = self
            .http
            .post(self.url("/api/v1/widget/sessions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "widget session: {:?}", res.text().await);
        let v: Value = res.json().await.unwrap();
        Widget {
            token: v["token"].as_str().unwrap().into(),
            conversation_id: v["conversation_id"].as_str().unwrap().into(),
            ticket: v["ticket"].as_str().unwrap().into(),
        }
    }

    /// Creates an operator (as `switchboard operator add` does) and logs them in over HTTP.
    pub async fn add_operator(&self, name: &str, role: Role, max_concurrent: i32) -> Operator {
        self.add_operator_tier(name, role, max_concurrent, 1).await
    }

    pub async fn add_operator_tier(
        &self,
        name: &str,
        role: Role,
        max_concurrent: i32,
        tier: i16,
    ) -> Operator {
        let email = format!("{}@example.test", name.to_lowercase().replace(' ', "."));
        let password = "correct horse battery";
        let mut conn = self.db.conn().await;
        let input = OperatorInput {
            email: &email,
            name,
            role,
            password,
            tier,
            max_concurrent,
        };
        let row = create_operator(&mut conn, &input).await.unwrap();
        let res = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        Operator {
            id: row.id.to_string(),
            email,
            token: v["token"].as_str().unwrap().into(),
        }
    }

    /// A visitor socket that has said hello and received `welcome`.
    pub async fn visitor(&self, widget: &Widget, last_seq: Option<i64>) -> (Client, Value) {
        let mut client = Client::connect(&format!("{}/ws/visitor", self.ws_base)).await;
        let mut hello = json!({"type": "hello", "token": widget.token});
        if let Some(seq) = last_seq {
            hello["last_seq"] = json!(seq);
        }
        client.send(hello).await;
        let welcome = client.recv_type("welcome").await;
        (client, welcome)
    }

    /// An operator socket that has said hello and received `welcome`.
    pub async fn operator_ws(&self, op: &Operator) -> (Client, Value) {
        let mut client = Client::connect(&format!("{}/ws/operator", self.ws_base)).await;
        client
            .send(json!({"type": "hello", "token": op.token}))
            .await;
        let welcome = client.recv_type("welcome").await;
        (client, welcome)
    }

    /// One authenticated JSON call; the status and the JSON body (null when there is none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, token, Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, path, token, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, token, None).await
    }

    /// Has the router check its timeouts now (after a test moved its clock).
    pub async fn sweep(&self) {
        let router = self.running.as_ref().expect("running").router.clone();
        router.send(Sweep).await.unwrap();
    }

    /// Waits until the router has `queued` conversations waiting and no assignment in flight:
    /// only then does "not assigned" mean the router decided so.
    pub async fn router_settled(&self, queued: usize) {
        let router = self.running.as_ref().expect("running").router.clone();
        self.eventually(&format!("the router settles with {queued} queued"), || {
            let router = router.clone();
            async move {
                let stats = router.send(Stats).await.unwrap();
                stats.queue_length == queued && stats.assigning == 0
            }
        })
        .await;
    }

    /// The assignee of a conversation, if any.
    pub async fn assignee(&self, conversation_id: &str) -> Option<String> {
        let a = self
            .text(&format!(
                "SELECT coalesce(assignee_id::text, '') AS value FROM conversations WHERE id = '{conversation_id}'"
            ))
            .await;
        (!a.is_empty()).then_some(a)
    }

    /// Waits until the conversation's assignee is `expected`.
    pub async fn wait_assignee(&self, conversation_id: &str, expected: Option<&str>) {
        let want = expected.map(str::to_owned);
        self.eventually(&format!("{conversation_id} assigned to {want:?}"), || {
            let want = want.clone();
            async move { self.assignee(conversation_id).await == want }
        })
        .await;
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        let mut conn = self.db.conn().await;
        let row: Count = diesel::sql_query(sql).get_result(&mut conn).await.unwrap();
        row.n
    }

    pub async fn text(&self, sql: &str) -> String {
        let mut conn = self.db.conn().await;
        let row: TextRow = diesel::sql_query(sql).get_result(&mut conn).await.unwrap();
        row.value
    }

    pub async fn execute(&self, sql: &str) {
        let mut conn = self.db.conn().await;
        diesel::sql_query(sql).execute(&mut conn).await.unwrap();
    }

    pub async fn event_count(&self, conversation_id: &str) -> i64 {
        self.scalar(&format!(
            "SELECT count(*) AS n FROM events WHERE conversation_id = '{conversation_id}'"
        ))
        .await
    }

    /// Polls `check` until it holds, for at most `WAIT`.
    pub async fn eventually<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::time::Instant::now() < deadline {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for: {what}");
    }

    /// A widget conversation opened with the customer's first message (seq 1), so it joins
    /// the queue and is routed at once: one opened without a message waits outside it.
    pub async fn open_chat(&self, text: &str) -> Widget {
        self.open_widget(json!({ "message": text })).await
    }
}

fn tracing_subscriber_init() -> Result<(), ()> {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
    Ok(())
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub closed: Option<(u16, String)>,
    /// The connection ended (closed, reset or failed), as opposed to nothing arriving in time.
    pub ended: bool,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("socket connects");
        Client {
            ws,
            closed: None,
            ended: false,
        }
    }

    /// A socket over a TCP stream the test set up itself (e.g. with a tiny receive buffer).
    pub async fn over(stream: TcpStream, url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
            .await
            .expect("socket upgrades");
        Client {
            ws,
            closed: None,
            ended: false,
        }
    }

    /// Connects with an Origin header; returns the HTTP status if the upgrade was refused.
    pub async fn connect_with_origin(url: &str, origin: &str) -> Result<Client, u16> {
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Client {
                ws,
                closed: None,
                ended: false,
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
            Err(e) => panic!("unexpected connect error: {e}"),
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    pub async fn send_raw(&mut self, msg: Message) {
        self.ws.send(msg).await.unwrap();
    }

    /// The next JSON frame, or None once the socket closed (the close is kept in `closed`).
    pub async fn next(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = match tokio::time::timeout(left, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => {
                    self.ended = true;
                    return None;
                }
                Ok(Some(Ok(msg))) => msg,
            };
            match msg {
                Message::Text(t) => return Some(serde_json::from_str(&t).unwrap()),
                Message::Close(frame) => {
                    self.ended = true;
                    self.closed = Some(frame.map_or((1005, String::new()), |f| {
                        (f.code.into(), f.reason.to_string())
                    }));
                    return None;
                }
                _ => continue,
            }
        }
    }

    pub async fn recv(&mut self) -> Value {
        self.next(WAIT).await.expect("a frame")
    }

    /// Skips frames until one of type `ty` arrives.
    pub async fn recv_type(&mut self, ty: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(v) if v["type"] == ty => return v,
                Some(_) => continue,
                None => panic!("no '{ty}' frame arrived (closed: {:?})", self.closed),
            }
        }
    }

    /// Frames of type `ty` seen until `quiet` passes without any frame at all.
    pub async fn drain_type(&mut self, ty: &str, quiet: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(v) = self.next(quiet).await {
            if v["type"] == ty {
                out.push(v);
            }
        }
        out
    }

    /// Waits for the server to close the socket; returns the close code.
    pub async fn closed_with(&mut self) -> u16 {
        while self.next(2 * WAIT).await.is_some() {}
        self.closed
            .as_ref()
            .map(|(c, _)| *c)
            .expect("the server closed the socket")
    }

    /// Closes with a full handshake: everything sent before is processed by the server.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        while self.next(WAIT).await.is_some() {}
    }
}
