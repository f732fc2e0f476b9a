//! Starting and stopping the whole server: database and migrations, the writer, the router and
//! the conversation arbiters, then the HTTP server; and a graceful stop that tells sockets to
//! reconnect and persists every conversation's snapshot.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr, Arbiter, AsyncContext};
use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{middleware, web, App, HttpServer};
use tokio::sync::watch;

use crate::actors::conversation::{ConversationDeps, Flush};
use crate::actors::registry::ConversationRegistry;
use crate::actors::router::Router;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::db::{self, event_writer::EventWriter, DbPool};
use crate::http::client_ip::TrustedProxies;
use crate::http::{self, AppState};
use crate::telegram::{IdentityKey, Intake, Telegram, TelegramGateway};
use crate::telemetry;
use secrecy::ExposeSecret;

/// How long sockets get to close after being told to reconnect.
const SOCKET_CLOSE_GRACE: Duration = Duration::from_millis(200);
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How often rate limiters forget clients that went quiet.
const LIMIT_PRUNE_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid setting: {0}")]
    Setting(String),
    #[error(transparent)]
    Database(#[from] db::SetupError),
    #[error("the router did not start")]
    Router,
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub pool: DbPool,
    pub registry: Arc<ConversationRegistry>,
    pub router: Addr<Router>,
    pub automation: Arc<crate::automation::Automation>,
    /// Fires due deadlines; tests call `fire_due` after moving a manual clock.
    pub scheduler: Arc<crate::automation::scheduler::Scheduler>,
    handle: ServerHandle,
    shutdown: watch::Sender<bool>,
    arbiters: Vec<Arbiter>,
}

/// Prepares the database and starts everything; must run inside an actix System.
pub async fn start(config: Config) -> Result<Running, StartError> {
    start_with_clock(config, Arc::new(SystemClock)).await
}

/// As `start`, with the router's clock given (tests drive time with a manual clock).
pub async fn start_with_clock(config: Config, clock: SharedClock) -> Result<Running, StartError> {
    let config = Arc::new(config);
    let trusted_proxies = TrustedProxies::parse(&config.trusted_proxies)
        .and_then(|p| p.reading(&config.forwarded_header))
        .map_err(StartError::Setting)?;
    let telegram = telegram_settings(&config)?;
    telemetry::handle();
    let url = config.database_url().to_owned();
    db::ensure_database(&url).await?;
    let applied = db::run_migrations(&url).await?;
    if applied > 0 {
        tracing::info!(applied, "migrations applied");
    }
    let pool = db::build_pool(&url, config.db_pool_size, config.db_timeout())?;
    let automation = {
        let mut conn = pool
            .get()
            .await
            .map_err(|e| db::SetupError::Pool(e.to_string()))?;
        crate::automation::Automation::load(&mut conn)
            .await
            .map_err(db::SetupError::Query)?
    };
    // The writer and the router each get a thread of their own, so that routing work (which
    // grows with the queue) never holds up a commit, and neither competes with sockets.
    let writer_thread = Arbiter::new();
    let writer = EventWriter::start(
        &writer_thread.handle(),
        pool.clone(),
        config.writer_concurrency,
        config.writer_max_batch,
    );
    let mut arbiters: Vec<Arbiter> = (0..config.conversation_threads.max(1))
        .map(|_| Arbiter::new())
        .collect();
    let handles = arbiters.iter().map(Arbiter::handle).collect();
    let router_thread = Arbiter::new();
    let (registry_tx, registry_rx) = tokio::sync::oneshot::channel();
    let (router_pool, router_config, state_clock) = (pool.clone(), config.clone(), clock.clone());
    let telegram_outbox = Arc::new(tokio::sync::Notify::new());
    let outbox_signal = telegram_outbox.clone();
    let deps_texts: Arc<crate::telegram::texts::Texts> = Arc::default();
    let (deps_clock, deps_automation) = (clock.clone(), automation.clone());
    // The registry needs the router's address and the router needs the registry: both are
    // made on the router's thread, and the registry is handed back here.
    let router = Router::start_in_arbiter(&router_thread.handle(), move |ctx| {
        let deps = ConversationDeps {
            pool: router_pool.clone(),
            writer,
            router: ctx.address(),
            config: router_config.clone(),
            telegram_outbox: outbox_signal,
            telegram_texts: deps_texts,
            clock: deps_clock,
            automation: deps_automation.clone(),
        };
        let registry = ConversationRegistry::new(deps, handles);
        let mut router = Router::new(router_pool, &router_config, clock);
        router.set_registry(registry.clone());
        router.set_automation(deps_automation);
        let _ = registry_tx.send(registry);
        router
    });
    let registry = registry_rx.await.map_err(|_| StartError::Router)?;
    let scheduler = crate::automation::scheduler::Scheduler::new(
        pool.clone(),
        registry.clone(),
        state_clock.clone(),
        automation.clone(),
    );
    // Its own thread: deadlines falling due in a burst are not held up by routing work.
    let scheduler_thread = Arbiter::new();
    scheduler_thread.spawn(scheduler.clone().run());
    arbiters.push(scheduler_thread);
    arbiters.push(router_thread);
    arbiters.push(writer_thread);

    let intake = start_telegram(&config, telegram, &registry, &mut arbiters)?;

    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut app_state = AppState::new(
        config.clone(),
        pool.clone(),
        router.clone(),
        registry.clone(),
        shutdown_rx,
        trusted_proxies,
        state_clock,
    );
    app_state.telegram = intake;
    app_state.automation = automation.clone();
    app_state.scheduler = Some(scheduler.clone());
    let state = web::Data::new(app_state);
    actix_rt::spawn(prune_limits(state.clone()));
    crate::retention::spawn(pool.clone(), state.clock.clone(), config.clone());
    let max_body = config.max_body_bytes;
    let stall = config.socket_stall();
    let widget_origins = Arc::new(config.allowed_origins());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(http::assets::widget_cors(widget_origins.clone()))
            // actix answers a routed path with the wrong method with an empty 405: give it the
            // API's error body.
            .wrap(middleware::ErrorHandlers::new().handler(
                StatusCode::METHOD_NOT_ALLOWED,
                http::method_not_allowed_body,
            ))
            .wrap(middleware::DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
            // No client addresses in the log: operators must not learn who a visitor is.
            .wrap(middleware::Logger::new("%r %s %b %Dms").log_target("switchboard::http"))
            .configure(|cfg| http::configure(cfg, max_body))
    })
    // Small frames (typing, acks, events) go out at once: with Nagle's algorithm a frame that
    // follows another unacknowledged one waits for the client's delayed ACK (up to 40 ms).
    .on_connect(move |conn, _ext| {
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
            // A socket session runs only while its client reads; one that stops reading for
            // good is cut here, by the kernel, once sent data stays unacknowledged this long.
            if let Err(e) = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(stall)) {
                tracing::debug!(error = %e, "TCP_USER_TIMEOUT not set");
            }
        }
    })
    .workers(config.workers.max(1))
    .shutdown_timeout(config.shutdown_timeout_secs)
    .disable_signals()
    .bind(config.listen)
    .map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let addr = server.addrs().first().copied().unwrap_or(config.listen);
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    tracing::info!(%addr, "switchboard listening");
    Ok(Running {
        addr,
        pool,
        registry,
        router,
        automation,
        scheduler,
        handle,
        shutdown,
        arbiters,
    })
}

/// The Telegram channel's settings, checked before anything starts: a token needs an identity
/// key, and a webhook secret must be one Telegram accepts.
struct TelegramSettings {
    token: String,
    key: IdentityKey,
    secret: Option<String>,
}

fn telegram_settings(config: &Config) -> Result<Option<TelegramSettings>, StartError> {
    let Some(token) = config.telegram_token() else {
        return Ok(None);
    };
    let key = config
        .identity_key
        .as_ref()
        .map(|k| k.expose_secret().to_owned())
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| {
            StartError::Setting(
                concat!(
                    "TELEGRAM_BOT_TOKEN is set but SWITCHBOARD_IDENTITY_KEY is not: it encrypts ",
                    "customers' Telegram ids; set it to standard base64 of 32 random bytes ",
                    "(`openssl rand -base64 32`) and keep it safe"
                )
                .into(),
            )
        })?;
    let key = IdentityKey::from_base64(&key).map_err(|e| StartError::Setting(e.to_string()))?;
    let secret = config
        .telegram_webhook_secret
        .as_ref()
        .map(|s| s.expose_secret().to_owned());
    if let Some(secret) = &secret {
        crate::telegram::validate_secret(secret).map_err(StartError::Setting)?;
    }
    Ok(Some(TelegramSettings {
        token: token.to_owned(),
        key,
        secret,
    }))
}

/// The Telegram channel, when configured: the gateway on a thread of its own (and long
/// polling, if asked for).
fn start_telegram(
    config: &Arc<Config>,
    settings: Option<TelegramSettings>,
    registry: &Arc<ConversationRegistry>,
    arbiters: &mut Vec<Arbiter>,
) -> Result<Option<Intake>, StartError> {
    let Some(TelegramSettings { token, key, secret }) = settings else {
        tracing::info!("Telegram channel off (no TELEGRAM_BOT_TOKEN)");
        return Ok(None);
    };
    if secret.is_none() && !config.telegram_polling {
        tracing::warn!("no TELEGRAM_WEBHOOK_SECRET: the webhook refuses every call");
    }
    let inbox_ready = Arc::new(tokio::sync::Notify::new());
    let tg = Telegram::new(&token, key.clone(), registry.clone(), inbox_ready.clone())
        .map_err(StartError::Setting)?;
    let tg = Arc::new(tg);
    let thread = Arbiter::new();
    let gateway_tg = tg.clone();
    TelegramGateway::start_in_arbiter(&thread.handle(), move |_| TelegramGateway::new(gateway_tg));
    if config.telegram_polling {
        thread.spawn(crate::telegram::polling::run(
            tg.clone(),
            inbox_ready.clone(),
        ));
    }
    arbiters.push(thread);
    tracing::info!(polling = config.telegram_polling, "Telegram channel on");
    Ok(Some(Intake {
        key,
        secret,
        ready: inbox_ready,
        telegram: tg,
    }))
}

/// Every minute until shutdown, rate limiters forget the clients that went quiet.
async fn prune_limits(state: web::Data<AppState>) {
    let mut shutdown = state.shutdown.clone();
    let mut tick = tokio::time::interval(LIMIT_PRUNE_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => state.prune_limits(),
            _ = shutdown.changed() => return,
        }
    }
}

impl Running {
    /// Stop accepting, tell every socket to reconnect, persist every conversation, stop.
    pub async fn stop(self) {
        tracing::info!("shutting down");
        let _ = self.shutdown.send(true);
        let stop_accepting = self.handle.pause();
        stop_accepting.await;
        tokio::time::sleep(SOCKET_CLOSE_GRACE).await;
        let flushes = self
            .registry
            .all_running()
            .into_iter()
            .map(|addr| async move {
                let _ = tokio::time::timeout(FLUSH_TIMEOUT, addr.send(Flush)).await;
            });
        futures_util::future::join_all(flushes).await;
        self.handle.stop(true).await;
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
        tracing::info!("stopped");
    }
}

/// Runs until SIGINT or SIGTERM, then stops gracefully.
pub async fn run(config: Config) -> Result<(), StartError> {
    let running = start(config).await?;
    wait_for_signal().await;
    running.stop().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
