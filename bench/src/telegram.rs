//! Issue 9 measurements: the Telegram webhook's intake (`bench telegram-load`: updates from
//! many users at a fixed rate, the response-time distribution and how many were stored, then
//! how fast the server handled them), the same load against an empty actix-web handler
//! (`bench empty-server`, the baseline), and outbound throughput under Telegram's limits,
//! read off a fake Bot API (`bench telegram-fake`, which records every call).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::sys::{new_histogram, unix_micros};

#[derive(Args, Clone, Debug)]
pub struct LoadArgs {
    /// Base URL of the server (the webhook is `<url><path>`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    #[arg(long, default_value = "/telegram/webhook")]
    pub path: String,
    /// `X-Telegram-Bot-Api-Secret-Token`.
    #[arg(long, default_value = "bench-secret")]
    pub secret: String,
    /// Updates per second, open loop (sent on schedule whatever the answers do).
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// Distinct Telegram users the updates come from, round-robin.
    #[arg(long, default_value_t = 1000)]
    pub users: u64,
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// First update_id (runs against one database must not reuse ids).
    #[arg(long, default_value_t = 100_000_000)]
    pub first_update: i64,
    /// After sending, wait this long at most for the server to have handled every stored
    /// update (read from its /metrics); 0 skips it (the baseline has no /metrics).
    #[arg(long, default_value_t = 300)]
    pub handled_wait_secs: u64,
    #[arg(long, default_value = "run")]
    pub label: String,
}

fn update(i: u64, args: &LoadArgs) -> Value {
    let user = 5_000_000_000 + (i % args.users) as i64;
    let message_id = (i / args.users) as i64 + 1;
    json!({
        "update_id": args.first_update + i as i64,
        "message": {
            "message_id": message_id,
            "from": {"id": user, "is_bot": false, "first_name": "Bench", "language_code": "en"},
            "chat": {"id": user, "first_name": "Bench", "type": "private"},
            "date": unix_micros() / 1_000_000,
            "text": format!("bench message {i} from {user}"),
        }
    })
}

/// `switchboard_telegram_updates_total` from the server's /metrics.
async fn handled(http: &reqwest::Client, url: &str) -> Option<u64> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with("switchboard_telegram_updates_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
}

pub async fn load(args: LoadArgs) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .map_err(|e| e.to_string())?;
    let total = (args.rate * args.duration as f64) as u64;
    let target = format!("{}{}", args.url.trim_end_matches('/'), args.path);
    let before = if args.handled_wait_secs > 0 {
        handled(&http, &args.url).await.unwrap_or(0)
    } else {
        0
    };
    let hist = Arc::new(Mutex::new(new_histogram()));
    let statuses: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / args.rate);
        tokio::time::sleep_until(due.into()).await;
        let body = update(i, &args).to_string();
        let (http, target, secret) = (http.clone(), target.clone(), args.secret.clone());
        let (hist, statuses) = (hist.clone(), statuses.clone());
        tasks.push(tokio::spawn(async move {
            let result = http
                .post(&target)
                .header("content-type", "application/json")
                .header("X-Telegram-Bot-Api-Secret-Token", secret)
                .body(body)
                .send()
                .await;
            // From the scheduled time: a slow answer also delays nobody's clock.
            let micros = due.elapsed().as_micros() as u64;
            let key = match result {
                Ok(r) => r.status().as_u16().to_string(),
                Err(e) => format!("error: {}", crate::shard::reqwest_reason(&e)),
            };
            if let Ok(mut h) = hist.lock() {
                let _ = h.record(micros.max(1));
            }
            if let Ok(mut s) = statuses.lock() {
                *s.entry(key).or_default() += 1;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let sent_secs = start.elapsed().as_secs_f64();
    let hist: Histogram<u64> = hist
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|_| new_histogram());
    let statuses = statuses.lock().map(|s| s.clone()).unwrap_or_default();
    let ok = statuses.get("200").copied().unwrap_or(0);
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let mut handled_secs = None;
    if args.handled_wait_secs > 0 {
        let deadline = Instant::now() + Duration::from_secs(args.handled_wait_secs);
        loop {
            let now_handled = handled(&http, &args.url).await.unwrap_or(0);
            if now_handled.saturating_sub(before) >= ok {
                handled_secs = Some(start.elapsed().as_secs_f64());
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    println!(
        "{}: {} updates at {}/s from {} users over {:.1} s; answers {:?}",
        args.label, total, args.rate, args.users, sent_secs, statuses
    );
    println!(
        "  response time p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; stored {:.1}/s",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        hist.max() as f64 / 1000.0,
        ok as f64 / sent_secs
    );
    if let Some(secs) = handled_secs {
        println!(
            "  all {} handled {:.1} s after the first was sent: {:.1} updates/s handled",
            ok,
            secs,
            ok as f64 / secs
        );
    } else if args.handled_wait_secs > 0 {
        println!("  not all handled within {} s", args.handled_wait_secs);
    }
    println!(
        "{}",
        json!({
            "label": args.label, "updates": total, "rate": args.rate, "users": args.users,
            "statuses": statuses, "p50_ms": ms(0.5), "p90_ms": ms(0.9), "p99_ms": ms(0.99),
            "max_ms": hist.max() as f64 / 1000.0, "stored_per_sec": ok as f64 / sent_secs,
            "handled_secs": handled_secs,
        })
    );
    Ok(())
}

#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:18601")]
    pub listen: String,
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

/// The baseline: an actix-web handler that reads the body and answers `{}`.
pub fn empty_server(args: ServeArgs) -> Result<(), String> {
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| {
            App::new().default_service(web::to(|_body: web::Bytes| async {
                HttpResponse::Ok().json(json!({}))
            }))
        })
        .workers(args.workers)
        .bind(&args.listen)
        .map_err(|e| e.to_string())?
        .run()
        .await
        .map_err(|e| e.to_string())
    })
}

#[derive(Default)]
struct Calls {
    /// (method, chat, microseconds since the fake started)
    sends: Vec<(String, i64, u64)>,
    next_id: i64,
}

/// A fake Bot API that answers every call like Telegram and records sends; `GET /stats`
/// reports them: calls per method, overall sends per second, and the closest two sends to
/// one chat came.
pub fn fake(args: ServeArgs) -> Result<(), String> {
    let calls: Arc<Mutex<Calls>> = Arc::default();
    let started = Instant::now();
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            let calls = calls.clone();
            App::new()
                .app_data(web::Data::new((calls, started)))
                .route("/stats", web::get().to(stats))
                .route("/{bot}/{method}", web::post().to(call))
        })
        .workers(args.workers)
        .bind(&args.listen)
        .map_err(|e| e.to_string())?
        .run()
        .await
        .map_err(|e| e.to_string())
    })
}

type Shared = web::Data<(Arc<Mutex<Calls>>, Instant)>;

async fn call(req: HttpRequest, data: Shared, body: web::Bytes) -> HttpResponse {
    let method = req
        .match_info()
        .get("method")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let chat = body.get("chat_id").and_then(Value::as_i64).unwrap_or(0);
    let at = data.1.elapsed().as_micros() as u64;
    let id = match data.0.lock() {
        Ok(mut c) => {
            c.sends.push((method.clone(), chat, at));
            c.next_id += 1;
            c.next_id
        }
        Err(_) => 0,
    };
    let result = match method.as_str() {
        "sendmessage" => json!({
            "message_id": id, "date": unix_micros() / 1_000_000,
            "chat": {"id": chat, "type": if chat < 0 { "supergroup" } else { "private" }, "title": "Support", "first_name": "C"},
            "text": body.get("text").cloned().unwrap_or(json!("")),
        }),
        "copymessage" => json!({"message_id": id}),
        _ => json!(true),
    };
    HttpResponse::Ok().json(json!({"ok": true, "result": result}))
}

async fn stats(data: Shared) -> HttpResponse {
    let Ok(c) = data.0.lock() else {
        return HttpResponse::InternalServerError().finish();
    };
    let mut methods: HashMap<&str, u64> = HashMap::new();
    let mut per_second: HashMap<u64, u64> = HashMap::new();
    let mut last_to_chat: HashMap<i64, u64> = HashMap::new();
    let mut closest_ms: Option<f64> = None;
    let sends: Vec<&(String, i64, u64)> = c
        .sends
        .iter()
        .filter(|(m, _, _)| m == "sendmessage" || m == "copymessage")
        .collect();
    for (method, _, _) in &c.sends {
        *methods.entry(method.as_str()).or_default() += 1;
    }
    for (_, chat, at) in &sends {
        *per_second.entry(at / 1_000_000).or_default() += 1;
        if let Some(prev) = last_to_chat.insert(*chat, *at) {
            let gap = (at - prev) as f64 / 1000.0;
            closest_ms = Some(closest_ms.map_or(gap, |c: f64| c.min(gap)));
        }
    }
    let (first, last) = (
        sends.first().map(|s| s.2).unwrap_or(0),
        sends.last().map(|s| s.2).unwrap_or(0),
    );
    let span = (last.saturating_sub(first)) as f64 / 1e6;
    let peak = per_second.values().copied().max().unwrap_or(0);
    HttpResponse::Ok().json(json!({
        "methods": methods,
        "sends": sends.len(),
        "span_secs": span,
        "sends_per_sec": if span > 0.0 { (sends.len().saturating_sub(1)) as f64 / span } else { 0.0 },
        "peak_sends_in_one_second": peak,
        "closest_sends_to_one_chat_ms": closest_ms,
        "chats": last_to_chat.len(),
    }))
}
