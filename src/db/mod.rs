//! PostgreSQL access: the connection pool, creating the database, embedded migrations, and one
//! module of queries per table. Nothing here knows about actors or HTTP.

pub mod audit;
pub mod contacts;
pub mod content;
pub mod conversations;
pub mod event_writer;
pub mod events;
pub mod groups;
pub mod operators;
pub mod privacy;
pub mod schema;
pub mod sessions;

use std::time::Duration;

use deadpool::Runtime;
use diesel::prelude::*;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use url::Url;

pub type DbPool = Pool<AsyncPgConnection>;
pub type DbConn = Object<AsyncPgConnection>;
pub type PoolError = diesel_async::pooled_connection::deadpool::PoolError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// How long establishing one connection may take before the server answers `unavailable`.
const CONNECT_TIMEOUT_SECS: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("invalid database url: {0}")]
    Url(String),
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("cannot build the pool: {0}")]
    Pool(String),
}

/// The URL with a connect timeout, so that an unreachable server fails fast instead of hanging.
fn with_connect_timeout(url: &str) -> Result<String, SetupError> {
    let mut parsed = Url::parse(url).map_err(|e| SetupError::Url(e.to_string()))?;
    if !parsed.query_pairs().any(|(k, _)| k == "connect_timeout") {
        parsed
            .query_pairs_mut()
            .append_pair("connect_timeout", &CONNECT_TIMEOUT_SECS.to_string());
    }
    Ok(parsed.into())
}

pub fn build_pool(url: &str, size: usize, timeout: Duration) -> Result<DbPool, SetupError> {
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new(with_connect_timeout(url)?);
    Pool::builder(manager)
        .max_size(size.max(1))
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| SetupError::Pool(e.to_string()))
}

/// Creates the database named in `url` if it does not exist, connecting to `postgres` to do so.
pub async fn ensure_database(url: &str) -> Result<(), SetupError> {
    let parsed = Url::parse(url).map_err(|e| SetupError::Url(e.to_string()))?;
    let name = parsed.path().trim_start_matches('/').to_owned();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(SetupError::Url(format!(
            "unsupported database name '{name}'"
        )));
    }
    let mut admin_url = parsed.clone();
    admin_url.set_path("/postgres");
    let mut conn = AsyncPgConnection::establish(&with_connect_timeout(admin_url.as_str())?).await?;

    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let found: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(&name)
            .get_result(&mut conn)
            .await?;
    if !found.exists {
        // The name was checked above to hold only identifier characters.
        match diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Another process created it in between.
            Err(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("already exists") => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Runs the embedded migrations. diesel's harness is synchronous, so it runs on a plain thread
/// with its own runtime (diesel-async's async harness panics on actix's single-threaded one).
pub async fn run_migrations(url: &str) -> Result<usize, SetupError> {
    // No connect_timeout here: the wrapper's private runtime has no timer to enforce it.
    let url = url.to_owned();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let result = (|| {
            let mut conn =
                <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)?;
            conn.run_pending_migrations(MIGRATIONS)
                .map(|applied| applied.len())
                .map_err(|e| SetupError::Migration(e.to_string()))
        })();
        let _ = tx.send(result);
    });
    rx.await
        .map_err(|_| SetupError::Migration("migration thread died".into()))?
}

/// `SELECT 1` within `timeout`: is the database answering?
pub async fn ping(pool: &DbPool, timeout: Duration) -> bool {
    let probe = async {
        let mut conn = pool.get().await.ok()?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await.ok()
    };
    matches!(tokio::time::timeout(timeout, probe).await, Ok(Some(_)))
}
