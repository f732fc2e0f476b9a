//! The `switchboard` command: `serve`, `migrate`, `operator add`, the Telegram webhook, and the
//! privacy operations (`purge`, `contacts export|erase`).

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use switchboard::auth::{create_operator, OperatorInput};
use switchboard::config::Config;
use switchboard::db::privacy;
use switchboard::domain::Role;
use switchboard::ids::ContactId;
use switchboard::telegram::webhook;
use switchboard::{db, server};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Live-chat customer-support server"
)]
struct Cli {
    /// A TOML file with settings; environment variables override it.
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the database if needed, migrate it, and serve HTTP and WebSocket.
    Serve {
        /// Take Telegram updates by long polling (development) instead of the webhook.
        #[arg(long)]
        telegram_polling: bool,
    },
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Manage operators.
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// The Telegram bot.
    Telegram {
        #[command(subcommand)]
        command: TelegramCommand,
    },
    /// Delete closed conversations older than `retention_days` now (the server does it hourly)
    /// and print how many went.
    Purge {
        /// Days a closed conversation is kept; default `retention_days` from the settings.
        #[arg(long)]
        days: Option<u32>,
    },
    /// A customer's data: export or erase it.
    Contacts {
        #[command(subcommand)]
        command: ContactsCommand,
    },
}

#[derive(Subcommand)]
enum ContactsCommand {
    /// Print everything stored about a contact as JSON (as `GET /api/v1/contacts/{id}/export`);
    /// never their Telegram id or username.
    Export {
        /// The contact's id (from the panel's contact view).
        id: ContactId,
    },
    /// Erase a contact's data (as `POST /api/v1/contacts/{id}/erase`), straight in the database.
    /// Prefer the HTTP endpoint while the server runs: this command does not go through the
    /// conversations' actors, so a running server's open sockets are not told, and the server
    /// may still show what it had loaded until its conversations reload.
    Erase {
        /// The contact's id.
        id: ContactId,
    },
}

#[derive(Subcommand)]
enum TelegramCommand {
    /// The bot's webhook at Telegram.
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Point Telegram at SWITCHBOARD_PUBLIC_URL/telegram/webhook with the secret token.
    Set,
    /// What Telegram knows of the webhook (URL, pending updates, last error).
    Info,
    /// Remove the webhook (for long polling).
    Delete,
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Add an operator; the password is read from standard input or prompted for.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "agent", value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value_t = 1)]
        tier: i16,
        #[arg(long, default_value_t = 5)]
        max_concurrent: i32,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
        .map_err(|e: switchboard::domain::UnknownVariant| e.to_string())
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only for a person at a terminal: in a file, a pipe or a journal they are
    // noise that breaks searching. NO_COLOR (no-color.org) turns them off there too.
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // Logs go to standard error; standard output is for what a command reports.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn read_password() -> std::io::Result<String> {
    if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ")
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// The database, created and migrated if needed (as `serve` does), through a small pool.
async fn open_pool(config: &Config) -> Result<db::DbPool, String> {
    let url = config.database_url();
    db::ensure_database(url).await.map_err(|e| e.to_string())?;
    db::run_migrations(url).await.map_err(|e| e.to_string())?;
    db::build_pool(url, 2, config.db_timeout()).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_tracing(&config.log_format);
    let system = actix_rt::System::new();
    let result: Result<(), String> = system.block_on(async move {
        match cli.command {
            Command::Serve { telegram_polling } => {
                let config = Config {
                    telegram_polling: telegram_polling || config.telegram_polling,
                    ..config
                };
                server::run(config).await.map_err(|e| e.to_string())
            }
            Command::Telegram {
                command: TelegramCommand::Webhook { command },
            } => {
                let action = match command {
                    WebhookCommand::Set => webhook::Action::Set,
                    WebhookCommand::Info => webhook::Action::Info,
                    WebhookCommand::Delete => webhook::Action::Delete,
                };
                let report = webhook::run(&config, action).await?;
                println!("{report}");
                Ok(())
            }
            Command::Purge { days } => {
                let days = days.unwrap_or(config.retention_days);
                if days == 0 {
                    return Err(
                        "retention is off (retention_days = 0): pass --days N to purge".into(),
                    );
                }
                let pool = open_pool(&config).await?;
                let purged = switchboard::retention::purge(&pool, chrono::Utc::now(), days)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("{purged} conversation(s) purged (closed more than {days} days ago)");
                Ok(())
            }
            Command::Contacts { command } => {
                let pool = open_pool(&config).await?;
                let mut conn = pool.get().await.map_err(|e| e.to_string())?;
                let now = chrono::Utc::now();
                match command {
                    ContactsCommand::Export { id } => {
                        let export = privacy::export(&mut conn, id, None, now)
                            .await
                            .map_err(|e| e.to_string())?
                            .ok_or_else(|| format!("contact {id} not found"))?;
                        let json =
                            serde_json::to_string_pretty(&export).map_err(|e| e.to_string())?;
                        println!("{json}");
                    }
                    ContactsCommand::Erase { id } => {
                        let (conversations, at) = privacy::erase_directly(&mut conn, id, now)
                            .await
                            .map_err(|e| e.to_string())?
                            .ok_or_else(|| format!("contact {id} not found"))?;
                        println!(
                            "contact {id} erased at {} ({conversations} conversation(s))",
                            at.to_rfc3339()
                        );
                    }
                }
                Ok(())
            }
            Command::Migrate => {
                let url = config.database_url();
                db::ensure_database(url).await.map_err(|e| e.to_string())?;
                let applied = db::run_migrations(url).await.map_err(|e| e.to_string())?;
                println!("{applied} migration(s) applied");
                Ok(())
            }
            Command::Operator {
                command:
                    OperatorCommand::Add {
                        email,
                        name,
                        role,
                        tier,
                        max_concurrent,
                    },
            } => {
                let url = config.database_url();
                db::ensure_database(url).await.map_err(|e| e.to_string())?;
                db::run_migrations(url).await.map_err(|e| e.to_string())?;
                let password = read_password().map_err(|e| format!("cannot read password: {e}"))?;
                let mut conn = AsyncPgConnection::establish(url)
                    .await
                    .map_err(|e| e.to_string())?;
                let input = OperatorInput {
                    email: &email,
                    name: &name,
                    role,
                    password: &password,
                    tier,
                    max_concurrent,
                };
                let row = create_operator(&mut conn, &input)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("operator {} added ({}, {})", row.id, row.email, row.role);
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
