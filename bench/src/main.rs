//! `bench`: a load tool for Switchboard. See `bench --help` and BENCHMARKS.md.

#![recursion_limit = "256"]

mod coord;
mod operators;
mod proto;
mod shard;
mod slow;
mod sys;
mod telegram;
mod workflow;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use crate::proto::{Mode, ShardConfig};

#[derive(Parser)]
#[command(
    name = "bench",
    about = "Load tool for Switchboard: idle sockets and server RSS, visitor→operator latency \
             at a fixed rate, and maximum durable (acked) message throughput",
    long_about = "Load tool for Switchboard.\n\n\
        `bench run` opens O operator sockets (supervisors: they receive every event) and V \
        visitor sockets (each its own widget session and conversation), holds them idle for \
        --idle-secs, then runs one load phase:\n\
        \n  --mode idle        only hold the sockets (server RSS per idle socket)\
        \n  --mode latency     send --rate msgs/s in total, spread round-robin over the visitors, \
        for --duration secs; each text carries its send time (Unix µs) and the first operator \
        that receives it records visitor→operator latency\
        \n  --mode throughput  every visitor keeps --window messages in flight (sends the next \
        when an ack arrives) for --duration secs; acked msgs/s is the durable throughput \
        (an ack is sent only after the commit). Raise the server's visitor rate limits first.\n\
        \nWith --server-pid, the server's VmRSS is read before any socket opens, after the \
        visitors connect and after the idle period: (after-before)/V is reported as KiB per \
        idle socket, plus the server's CPU time during the load.\n\
        \nVisitors are split over --processes child processes (`bench shard`, default: one per \
        9,000 visitors) because a process may hold only 20,000 open files here.\n\
        \nOutput: a human-readable summary on stdout, then one JSON line (also appended to \
        --json-out). Progress goes to stderr."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Open sockets, measure RSS, and run one load phase (idle, latency or throughput).
    Run(Box<RunArgs>),
    /// Assignment latency: a backlog of widget sessions, then operators connect (issue 3).
    Assign(workflow::AssignArgs),
    /// List, events and search latency over HTTP, closed-loop clients (issue 3).
    Api(workflow::ApiArgs),
    /// Clients that stop reading: server RSS while stalled operator sockets are fanned large
    /// messages, and how those sockets end (issue 8).
    Slow(slow::SlowArgs),
    /// Telegram webhook intake at a fixed rate: response times, stored and handled per second
    /// (issue 9).
    TelegramLoad(telegram::LoadArgs),
    /// A fake Bot API recording every call; `GET /stats` reports outbound throughput.
    TelegramFake(telegram::ServeArgs),
    /// The baseline for `telegram-load`: an empty actix-web handler.
    EmptyServer(telegram::ServeArgs),
    /// Wait until the server answers GET /health with 200 (for scripts).
    Wait {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
    },
    /// Internal: a visitor shard driven over stdin/stdout by `bench run`.
    #[command(hide = true)]
    Shard {
        /// The shard's configuration as JSON.
        #[arg(long)]
        config: String,
    },
}

#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A name for this run in the report.
    #[arg(long, default_value = "run")]
    pub label: String,
    #[arg(long, value_enum, default_value = "latency")]
    pub mode: Mode,
    /// Visitor sockets (each its own widget session and conversation).
    #[arg(long, short = 'V', default_value_t = 1000)]
    pub visitors: u32,
    /// Operator sockets; they log in round-robin with the --operator credentials.
    #[arg(long, short = 'O', default_value_t = 0)]
    pub operators: usize,
    /// Operator credentials EMAIL:PASSWORD (repeatable); use supervisors so every event reaches them.
    #[arg(long = "operator")]
    pub operator_credentials: Vec<String>,
    /// Connect the operators after the visitors (and the idle period) instead of before.
    #[arg(long)]
    pub operators_late: bool,
    /// PID of the server process, for VmRSS and CPU readings from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Seconds to hold the sockets idle after connecting (before the RSS reading and the load).
    #[arg(long, default_value_t = 0)]
    pub idle_secs: u64,
    /// Total messages per second over all visitors (latency mode).
    #[arg(long, short = 'R', default_value_t = 1000.0)]
    pub rate: f64,
    /// Seconds of sending (latency and throughput modes).
    #[arg(long, short = 'D', default_value_t = 30)]
    pub duration: u64,
    /// Messages in flight per visitor (throughput mode).
    #[arg(long, default_value_t = 1)]
    pub window: u32,
    /// After sending stops, wait at most this long for outstanding acks and deliveries.
    #[arg(long, default_value_t = 15)]
    pub drain_secs: u64,
    /// Visitor shard processes; default: one per --visitors-per-process.
    #[arg(long)]
    pub processes: Option<u32>,
    #[arg(long, default_value_t = 9000)]
    pub visitors_per_process: u32,
    /// Run a single shard in a child process too (instead of in-process).
    #[arg(long)]
    pub always_spawn: bool,
    /// Visitor connections being opened at once (per shard).
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Limit for one visitor's session + socket + welcome.
    #[arg(long, default_value_t = 30)]
    pub connect_timeout_secs: u64,
    /// Limit for the whole connect phase.
    #[arg(long, default_value_t = 900)]
    pub connect_phase_secs: u64,
    /// Length of each message text in bytes (padded).
    #[arg(long, default_value_t = 100)]
    pub text_bytes: usize,
    /// Append the JSON result line to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
}

async fn wait_healthy(url: &str, limit: Duration) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + limit;
    let health = format!("{}/health", url.trim_end_matches('/'));
    loop {
        match http.get(&health).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            _ if Instant::now() >= deadline => {
                return Err(format!("{health} did not answer 200 within {limit:?}"))
            }
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The servers run on actix's own runtime, not inside tokio's.
    let served = match &cli.command {
        Command::TelegramFake(a) => Some(telegram::fake(a.clone())),
        Command::EmptyServer(a) => Some(telegram::empty_server(a.clone())),
        _ => None,
    };
    if let Some(result) = served {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => coord::run(*args).await,
            Command::Assign(a) => workflow::assign(a).await,
            Command::Api(a) => workflow::api(a).await,
            Command::Slow(a) => slow::slow(a).await,
            Command::TelegramLoad(a) => telegram::load(a).await,
            Command::TelegramFake(_) | Command::EmptyServer(_) => Ok(()),
            Command::Wait { url, timeout_secs } => {
                wait_healthy(&url, Duration::from_secs(timeout_secs)).await
            }
            Command::Shard { config } => {
                let cfg: ShardConfig =
                    serde_json::from_str(&config).map_err(|e| format!("bad shard config: {e}"))?;
                shard::shard_main(cfg).await;
                Ok(())
            }
        }
    });
    // Leftover socket tasks must not delay the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}
