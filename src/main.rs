//! The `switchboard` command: `serve`, `migrate`, and `operator add`.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use switchboard::auth::{create_operator, OperatorInput};
use switchboard::config::Config;
use switchboard::domain::Role;
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
