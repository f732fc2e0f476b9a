//! Issue 3 measurements: assignment latency (`bench assign`: a widget session created → an
//! operator socket told the conversation is `active`) and list/search latency over HTTP
//! (`bench api`: closed-loop clients against the read endpoints).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::operators::{connect, login};
use crate::sys::new_histogram;

#[derive(Args, Clone, Debug)]
pub struct AssignArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Operator emails: a file with one per line.
    #[arg(long)]
    pub operators_file: String,
    /// The operators' common password.
    #[arg(long)]
    pub password: String,
    /// Conversations created before any operator connects.
    #[arg(long, default_value_t = 5000)]
    pub backlog: u32,
    /// Conversations created after the backlog drained, at --steady-rate per second.
    #[arg(long, default_value_t = 1000)]
    pub steady: u32,
    #[arg(long, default_value_t = 100.0)]
    pub steady_rate: f64,
    /// Widget sessions being created at once while building the backlog.
    #[arg(long, default_value_t = 32)]
    pub create_concurrency: usize,
    /// Longest wait for the backlog to drain, and for the steady phase's last assignment.
    #[arg(long, default_value_t = 300)]
    pub drain_secs: u64,
    #[arg(long)]
    pub json_out: Option<String>,
}

#[derive(Deserialize)]
struct Created {
    conversation_id: String,
}

#[derive(Deserialize)]
struct ConvFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    id: Option<&'a str>,
    #[serde(default, borrow)]
    status: Option<&'a str>,
}

/// When each conversation was created (its POST answered) and first seen `active`.
#[derive(Default)]
struct Times {
    created: HashMap<String, Instant>,
    active: HashMap<String, Instant>,
}

async fn create_session(http: &reqwest::Client, url: &str) -> Result<(String, Instant), String> {
    let resp = http
        .post(format!("{url}/api/v1/widget/sessions"))
        // A chat joins the queue once the customer has written: open it with a first message.
        .json(&serde_json::json!({"message": "Hello, I need help"}))
        .send()
        .await
        .map_err(|e| format!("session: {e}"))?;
    if resp.status().as_u16() != 201 {
        return Err(format!("session: HTTP {}", resp.status()));
    }
    let c: Created = resp.json().await.map_err(|e| format!("session: {e}"))?;
    Ok((c.conversation_id, Instant::now()))
}

fn pct(h: &Histogram<u64>) -> serde_json::Value {
    let ms = |v: u64| v as f64 / 1000.0;
    serde_json::json!({
        "count": h.len(),
        "p50_ms": ms(h.value_at_quantile(0.50)),
        "p90_ms": ms(h.value_at_quantile(0.90)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "max_ms": ms(h.max()),
    })
}

fn latency_of(times: &Times, ids: &[String]) -> (Histogram<u64>, u64) {
    let mut h = new_histogram();
    let mut missing = 0;
    for id in ids {
        match (times.created.get(id), times.active.get(id)) {
            (Some(c), Some(a)) => {
                let us = a.saturating_duration_since(*c).as_micros() as u64;
                h.saturating_record(us.max(1));
            }
            _ => missing += 1,
        }
    }
    (h, missing)
}

async fn wait_all(times: &Mutex<Times>, ids: &[String], limit: Duration) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        {
            let t = times.lock().unwrap_or_else(|e| e.into_inner());
            if ids.iter().all(|id| t.active.contains_key(id)) {
                return ids.iter().filter_map(|id| t.active.get(id).copied()).max();
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn assign(args: AssignArgs) -> Result<(), String> {
    let url = args.url.trim_end_matches('/').to_owned();
    let emails: Vec<String> = std::fs::read_to_string(&args.operators_file)
        .map_err(|e| format!("{}: {e}", args.operators_file))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let times = Arc::new(Mutex::new(Times::default()));

    // 1. The backlog, with nobody online.
    eprintln!("assign: creating {} conversations", args.backlog);
    let started = Instant::now();
    let sem = Arc::new(Semaphore::new(args.create_concurrency.max(1)));
    let mut tasks = Vec::new();
    for _ in 0..args.backlog {
        let permit = sem
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let (http, url, times) = (http.clone(), url.clone(), times.clone());
        tasks.push(tokio::spawn(async move {
            let r = create_session(&http, &url).await;
            drop(permit);
            r.map(|(id, at)| {
                times
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .created
                    .insert(id.clone(), at);
                id
            })
        }));
    }
    let mut backlog_ids = Vec::new();
    let mut create_errors = 0u64;
    for t in tasks {
        match t.await {
            Ok(Ok(id)) => backlog_ids.push(id),
            Ok(Err(e)) => {
                create_errors += 1;
                if create_errors <= 3 {
                    eprintln!("assign: {e}");
                }
            }
            Err(_) => create_errors += 1,
        }
    }
    let backlog_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "assign: backlog of {} created in {backlog_secs:.1}s ({create_errors} errors)",
        backlog_ids.len()
    );

    // 2. Log every operator in (before connecting anyone, so the connects are close together).
    let login_started = Instant::now();
    let sem = Arc::new(Semaphore::new(4));
    let mut logins = Vec::new();
    for email in &emails {
        let permit = sem
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let (http, url, email, pw) = (
            http.clone(),
            url.clone(),
            email.clone(),
            args.password.clone(),
        );
        logins.push(tokio::spawn(async move {
            let r = login(&http, &url, &email, &pw).await;
            drop(permit);
            r
        }));
    }
    let mut tokens = Vec::new();
    for l in logins {
        tokens.push(l.await.map_err(|e| e.to_string())??);
    }
    eprintln!(
        "assign: {} logins in {:.1}s",
        tokens.len(),
        login_started.elapsed().as_secs_f64()
    );

    // 3. Connect the operators; the router drains the backlog as they come online.
    let frames = Arc::new(AtomicU64::new(0));
    let socket_failures = Arc::new(AtomicU64::new(0));
    let connect_started = Instant::now();
    let mut connects = Vec::new();
    for token in tokens {
        let url = url.clone();
        connects.push(tokio::spawn(async move { connect(&url, &token).await }));
    }
    let mut readers = Vec::new();
    let mut connect_errors = 0u64;
    for c in connects {
        match c.await {
            Ok(Ok((mut ws, _))) => {
                let (times, frames, failures) =
                    (times.clone(), frames.clone(), socket_failures.clone());
                readers.push(tokio::spawn(async move {
                    loop {
                        match ws.next().await {
                            Some(Ok(Message::Text(t))) => {
                                let now = Instant::now();
                                frames.fetch_add(1, Ordering::Relaxed);
                                let Ok(f) = serde_json::from_str::<ConvFrame>(t.as_str()) else {
                                    continue;
                                };
                                if f.kind == "conversation" && f.status == Some("active") {
                                    if let Some(id) = f.id {
                                        times
                                            .lock()
                                            .unwrap_or_else(|e| e.into_inner())
                                            .active
                                            .entry(id.to_owned())
                                            .or_insert(now);
                                    }
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => {
                                failures.fetch_add(1, Ordering::Relaxed);
                                return;
                            }
                        }
                    }
                }));
            }
            Ok(Err(e)) => {
                connect_errors += 1;
                if connect_errors <= 3 {
                    eprintln!("assign: {e}");
                }
            }
            Err(_) => connect_errors += 1,
        }
    }
    let connected_secs = connect_started.elapsed().as_secs_f64();
    eprintln!(
        "assign: {} operator sockets up in {connected_secs:.1}s ({connect_errors} failed)",
        readers.len()
    );
    let drained = wait_all(&times, &backlog_ids, Duration::from_secs(args.drain_secs)).await;
    let drain_secs = drained.map(|d| d.saturating_duration_since(connect_started).as_secs_f64());
    eprintln!("assign: backlog drained after {drain_secs:?}s (from the first connect)");

    // 4. Steady state: new conversations at a fixed rate with capacity to spare.
    let mut steady_ids = Vec::new();
    if args.steady > 0 {
        let gap = Duration::from_secs_f64(1.0 / args.steady_rate.max(0.001));
        let start = tokio::time::Instant::now();
        let mut tasks = Vec::new();
        for i in 0..args.steady {
            tokio::time::sleep_until(start + gap * i).await;
            let (http, url, times) = (http.clone(), url.clone(), times.clone());
            tasks.push(tokio::spawn(async move {
                let (id, at) = create_session(&http, &url).await?;
                times
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .created
                    .insert(id.clone(), at);
                Ok::<_, String>(id)
            }));
        }
        for t in tasks {
            match t.await {
                Ok(Ok(id)) => steady_ids.push(id),
                _ => create_errors += 1,
            }
        }
        let _ = wait_all(&times, &steady_ids, Duration::from_secs(args.drain_secs)).await;
    }

    let (backlog_h, backlog_missing, steady_h, steady_missing) = {
        let t = times.lock().unwrap_or_else(|e| e.into_inner());
        let (bh, bm) = latency_of(&t, &backlog_ids);
        let (sh, sm) = latency_of(&t, &steady_ids);
        (bh, bm, sh, sm)
    };
    for r in &readers {
        r.abort();
    }
    let result = serde_json::json!({
        "label": "assign",
        "operators": emails.len(),
        "operators_connected": readers.len(),
        "backlog": backlog_ids.len(),
        "backlog_create_secs": backlog_secs,
        "operators_connect_secs": connected_secs,
        "backlog_drain_secs": drain_secs,
        "backlog_latency": pct(&backlog_h),
        "backlog_not_assigned": backlog_missing,
        "steady": steady_ids.len(),
        "steady_rate": args.steady_rate,
        "steady_latency": pct(&steady_h),
        "steady_not_assigned": steady_missing,
        "create_errors": create_errors,
        "operator_frames": frames.load(Ordering::Relaxed),
        "operator_socket_failures": socket_failures.load(Ordering::Relaxed),
    });
    print_result(&result, args.json_out.as_deref())
}

fn print_result(result: &serde_json::Value, json_out: Option<&str>) -> Result<(), String> {
    let line = result.to_string();
    println!(
        "{}",
        serde_json::to_string_pretty(result).unwrap_or_default()
    );
    println!("{line}");
    if let Some(path) = json_out {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{path}: {e}"))?;
        writeln!(f, "{line}").map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

#[derive(Args, Clone, Debug)]
pub struct ApiArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Supervisor credentials EMAIL:PASSWORD.
    #[arg(long)]
    pub supervisor: String,
    /// Agent credentials EMAIL:PASSWORD.
    #[arg(long)]
    pub agent: String,
    /// Clients sending requests back to back, per scenario.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// A word found in few events.
    #[arg(long)]
    pub rare: String,
    /// A word found in many events.
    #[arg(long)]
    pub common: String,
    /// Cursor pages to follow in the deep-list scenario.
    #[arg(long, default_value_t = 20)]
    pub deep_pages: usize,
    /// The events scenario reads conversations with this status (the first 1,000 listed).
    #[arg(long, default_value = "closed")]
    pub events_status: String,
    /// Run only scenarios whose name contains this.
    #[arg(long)]
    pub only: Option<String>,
    #[arg(long)]
    pub json_out: Option<String>,
}

#[derive(Deserialize)]
struct Page {
    items: Vec<serde_json::Value>,
    next: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Me {
    id: String,
}

fn creds(s: &str) -> Result<(String, String), String> {
    s.split_once(':')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .ok_or_else(|| format!("expected EMAIL:PASSWORD, got {s}"))
}

async fn get_page(http: &reqwest::Client, url: &str, token: &str) -> Result<Page, String> {
    let resp = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("GET {url}: HTTP {status}"));
    }
    resp.json().await.map_err(|e| format!("GET {url}: {e}"))
}

fn next_str(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What one request of a scenario fetches: a fixed URL, one of many, or a cursor walk.
#[derive(Clone)]
enum Target {
    Urls(Arc<Vec<String>>),
    /// Base list URL: follow `next` this many times, timing each page.
    Walk(String, usize),
}

struct Outcome {
    hist: Histogram<u64>,
    requests: u64,
    errors: u64,
    items: u64,
    secs: f64,
}

async fn drive(
    http: &reqwest::Client,
    token: &str,
    target: Target,
    concurrency: usize,
    duration: Duration,
) -> Outcome {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..concurrency {
        let (http, token, target) = (http.clone(), token.to_owned(), target.clone());
        clients.push(tokio::spawn(async move {
            let mut h = new_histogram();
            let (mut requests, mut errors, mut items) = (0u64, 0u64, 0u64);
            let mut i = c;
            while Instant::now() < deadline {
                match &target {
                    Target::Urls(urls) => {
                        let url = &urls[i % urls.len()];
                        i += concurrency;
                        let t = Instant::now();
                        let r = get_page(&http, url, &token).await;
                        h.saturating_record(t.elapsed().as_micros() as u64);
                        requests += 1;
                        match r {
                            Ok(p) => items += p.items.len() as u64,
                            Err(e) => {
                                errors += 1;
                                if errors <= 2 {
                                    eprintln!("api: {e}");
                                }
                            }
                        }
                    }
                    Target::Walk(base, pages) => {
                        let mut url = base.clone();
                        for _ in 0..=*pages {
                            let t = Instant::now();
                            let r = get_page(&http, &url, &token).await;
                            h.saturating_record(t.elapsed().as_micros() as u64);
                            requests += 1;
                            match r {
                                Ok(p) => {
                                    items += p.items.len() as u64;
                                    let Some(n) = p.next else { break };
                                    let sep = if base.contains('?') { '&' } else { '?' };
                                    url = format!("{base}{sep}cursor={}", next_str(&n));
                                }
                                Err(e) => {
                                    errors += 1;
                                    if errors <= 2 {
                                        eprintln!("api: {e}");
                                    }
                                    break;
                                }
                            }
                        }
                    }
                }
            }
            (h, requests, errors, items)
        }));
    }
    let mut out = Outcome {
        hist: new_histogram(),
        requests: 0,
        errors: 0,
        items: 0,
        secs: 0.0,
    };
    for c in clients {
        if let Ok((h, r, e, i)) = c.await {
            let _ = out.hist.add(&h);
            out.requests += r;
            out.errors += e;
            out.items += i;
        }
    }
    out.secs = started.elapsed().as_secs_f64();
    out
}

pub async fn api(args: ApiArgs) -> Result<(), String> {
    let url = args.url.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| e.to_string())?;
    let (se, sp) = creds(&args.supervisor)?;
    let (ae, ap) = creds(&args.agent)?;
    let sup = login(&http, &url, &se, &sp).await?;
    let agent = login(&http, &url, &ae, &ap).await?;
    let me: Me = http
        .get(format!("{url}/api/v1/auth/me"))
        .bearer_auth(&agent)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| format!("auth/me: {e}"))?;

    // Conversation ids for the events scenario: the first 10 pages of --events-status.
    let mut ids = Vec::new();
    let status = &args.events_status;
    let mut page_url = format!("{url}/api/v1/conversations?status={status}&limit=100");
    for _ in 0..10 {
        let p = get_page(&http, &page_url, &sup).await?;
        ids.extend(
            p.items
                .iter()
                .filter_map(|c| c.get("id")?.as_str().map(str::to_owned)),
        );
        match p.next {
            Some(n) => {
                page_url = format!(
                    "{url}/api/v1/conversations?limit=100&cursor={}",
                    next_str(&n)
                )
            }
            None => break,
        }
    }
    let event_urls: Vec<String> = ids
        .iter()
        .map(|id| format!("{url}/api/v1/conversations/{id}/events"))
        .collect();
    if event_urls.is_empty() {
        return Err("no conversations listed".into());
    }
    let one = |u: String| Target::Urls(Arc::new(vec![u]));
    let q = |w: &str| format!("{url}/api/v1/search?q={w}");
    let scenarios: Vec<(&str, &str, Target)> = vec![
        (
            "list_supervisor",
            &sup,
            one(format!("{url}/api/v1/conversations")),
        ),
        (
            "list_agent_active_mine",
            &agent,
            one(format!(
                "{url}/api/v1/conversations?status=active&assignee={}",
                me.id
            )),
        ),
        (
            "list_agent_default",
            &agent,
            one(format!("{url}/api/v1/conversations")),
        ),
        (
            "list_deep_cursor",
            &sup,
            Target::Walk(format!("{url}/api/v1/conversations"), args.deep_pages),
        ),
        (
            "events_newest_page",
            &sup,
            Target::Urls(Arc::new(event_urls)),
        ),
        ("search_rare_supervisor", &sup, one(q(&args.rare))),
        ("search_rare_agent", &agent, one(q(&args.rare))),
        ("search_common_supervisor", &sup, one(q(&args.common))),
        ("search_common_agent", &agent, one(q(&args.common))),
    ];
    let mut all = serde_json::Map::new();
    for (name, token, target) in scenarios {
        if let Some(only) = &args.only {
            if !name.contains(only.as_str()) {
                continue;
            }
        }
        eprintln!(
            "api: {name}: {} clients, {}s",
            args.concurrency, args.duration
        );
        let o = drive(
            &http,
            token,
            target,
            args.concurrency,
            Duration::from_secs(args.duration),
        )
        .await;
        let mut v = pct(&o.hist);
        if let Some(m) = v.as_object_mut() {
            m.insert("requests".into(), o.requests.into());
            m.insert("errors".into(), o.errors.into());
            m.insert(
                "req_per_sec".into(),
                ((o.requests as f64 / o.secs * 10.0).round() / 10.0).into(),
            );
            m.insert(
                "items_per_req".into(),
                ((o.items as f64 / o.requests.max(1) as f64 * 10.0).round() / 10.0).into(),
            );
        }
        eprintln!("api: {name}: {v}");
        all.insert(name.to_owned(), v);
    }
    let result = serde_json::json!({
        "label": "api",
        "concurrency": args.concurrency,
        "duration_secs": args.duration,
        "agent_id": me.id,
        "scenarios": all,
    });
    print_result(&result, args.json_out.as_deref())
}
