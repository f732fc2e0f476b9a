//! `bench run`: logs operators in and connects them, starts the visitor shards (in-process or
//! as child processes), reads the server's RSS, runs the load phase and reports.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout_at};

use crate::operators::{self, OpShared};
use crate::proto::{ConnectReport, LoadPlan, LoadReport, Mode, ShardCmd, ShardConfig, ShardEvent};
use crate::shard::run_shard;
use crate::sys::{cpu_secs, decode_histogram, hwm_kib, new_histogram, rss_kib, unix_micros};
use crate::RunArgs;

struct ShardHandle {
    cmds: mpsc::UnboundedSender<ShardCmd>,
    events: mpsc::UnboundedReceiver<ShardEvent>,
    child: Option<tokio::process::Child>,
    visitors: u32,
}

impl ShardHandle {
    fn local(cfg: ShardConfig) -> ShardHandle {
        let (cmds, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, events) = mpsc::unbounded_channel();
        let visitors = cfg.visitors;
        tokio::spawn(run_shard(cfg, cmd_rx, ev_tx));
        ShardHandle {
            cmds,
            events,
            child: None,
            visitors,
        }
    }

    fn spawn(cfg: ShardConfig) -> Result<ShardHandle, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let config = serde_json::to_string(&cfg).map_err(|e| e.to_string())?;
        let mut child = tokio::process::Command::new(exe)
            .arg("shard")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot spawn a shard process: {e}"))?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("shard process without pipes".into());
        };
        let (cmds, mut cmd_rx) = mpsc::unbounded_channel::<ShardCmd>();
        let (ev_tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(cmd) = cmd_rx.recv().await {
                let Ok(mut line) = serde_json::to_string(&cmd) else {
                    continue;
                };
                line.push('\n');
                if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
                    return;
                }
            }
        });
        let shard = cfg.shard;
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            loop {
                match lines.next_line().await {
                    Ok(Some(line)) => match serde_json::from_str::<ShardEvent>(&line) {
                        Ok(ev) => {
                            if ev_tx.send(ev).is_err() {
                                return;
                            }
                        }
                        Err(e) => eprintln!("bench: shard {shard} said {line:?}: {e}"),
                    },
                    Ok(None) | Err(_) => {
                        let _ = ev_tx.send(ShardEvent::Failed {
                            message: format!("shard process {shard} exited"),
                        });
                        return;
                    }
                }
            }
        });
        Ok(ShardHandle {
            cmds,
            events,
            child: Some(child),
            visitors: cfg.visitors,
        })
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }
}

fn ms(micros: u64) -> f64 {
    (micros as f64 / 1000.0 * 100.0).round() / 100.0
}

fn quantiles(h: &Histogram<u64>) -> serde_json::Value {
    if h.is_empty() {
        return json!({"count": 0});
    }
    json!({
        "count": h.len(),
        "p50_ms": ms(h.value_at_quantile(0.50)),
        "p90_ms": ms(h.value_at_quantile(0.90)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "p999_ms": ms(h.value_at_quantile(0.999)),
        "max_ms": ms(h.max()),
        "mean_ms": (h.mean() / 10.0).round() / 100.0,
    })
}

fn describe(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "no samples".into();
    }
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms (n={})",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max()),
        h.len()
    )
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

fn add_series(into: &mut Vec<u64>, from: &[u64]) {
    if into.len() < from.len() {
        into.resize(from.len(), 0);
    }
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

fn median(values: &[u64]) -> u64 {
    if values.is_empty() {
        return 0;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    v[v.len() / 2]
}

fn parse_credentials(list: &[String]) -> Result<Vec<(String, String)>, String> {
    list.iter()
        .map(|c| {
            c.split_once(':')
                .map(|(e, p)| (e.to_owned(), p.to_owned()))
                .ok_or_else(|| format!("--operator {c:?}: expected EMAIL:PASSWORD"))
        })
        .collect()
}

pub async fn run(args: RunArgs) -> Result<(), String> {
    let tag: String = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let pid = args.server_pid;
    let client_cpu_start = cpu_secs(std::process::id());
    eprintln!(
        "bench[{}]: mode {:?}, {} visitors, {} operators, tag {tag}",
        args.label, args.mode, args.visitors, args.operators
    );
    let rss_before = pid.and_then(rss_kib);
    if pid.is_some() && rss_before.is_none() {
        return Err(format!("cannot read /proc/{}/status", pid.unwrap_or(0)));
    }

    // Operators first (unless --operators-late), so that they are online when the
    // conversations open.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let credentials = parse_credentials(&args.operator_credentials)?;
    if args.operators > 0 && credentials.is_empty() {
        return Err("--operators needs at least one --operator EMAIL:PASSWORD".into());
    }
    let mut tokens = Vec::new();
    if args.operators > 0 {
        for (email, password) in &credentials {
            tokens.push(operators::login(&http, &args.url, email, password).await?);
        }
    }
    let ops = Arc::new(OpShared::new(&tag, args.operators));
    let mut op_tasks = Vec::new();
    let mut welcome_listed = Vec::new();
    if !args.operators_late {
        for i in 0..args.operators {
            let (ws, listed) = operators::connect(&args.url, &tokens[i % tokens.len()]).await?;
            welcome_listed.push(listed);
            op_tasks.push(operators::spawn(i, ws, ops.clone()));
        }
    }
    let mut rss_after_operators = pid.and_then(rss_kib);

    // Visitor shards.
    let processes = args
        .processes
        .unwrap_or_else(|| args.visitors.div_ceil(args.visitors_per_process.max(1)))
        .clamp(1, 255);
    let mut shards = Vec::new();
    for k in 0..processes {
        let share = args.visitors / processes + u32::from(k < args.visitors % processes);
        let cfg = ShardConfig {
            url: args.url.clone(),
            shard: k,
            visitors: share,
            connect_concurrency: args.connect_concurrency,
            connect_timeout_secs: args.connect_timeout_secs,
            text_bytes: args.text_bytes,
            run_tag: tag.clone(),
        };
        shards.push(if processes == 1 && !args.always_spawn {
            ShardHandle::local(cfg)
        } else {
            ShardHandle::spawn(cfg)?
        });
    }
    let connect_started = Instant::now();
    let deadline = connect_started + Duration::from_secs(args.connect_phase_secs);
    let mut connect = ConnectReport::default();
    for (k, shard) in shards.iter_mut().enumerate() {
        match timeout_at(deadline.into(), shard.events.recv()).await {
            Ok(Some(ShardEvent::Connected(r))) => {
                eprintln!(
                    "bench[{}]: shard {k}: {} connected, {} failed in {:.1} s",
                    args.label,
                    r.connected,
                    r.failed,
                    r.elapsed_ms as f64 / 1000.0
                );
                connect.connected += r.connected;
                connect.failed += r.failed;
                add_counts(&mut connect.failures, &r.failures);
            }
            Ok(Some(ShardEvent::Failed { message })) => return Err(message),
            Ok(Some(other)) => return Err(format!("unexpected shard event {other:?}")),
            Ok(None) => return Err(format!("shard {k} ended before connecting")),
            Err(_) => return Err("connect phase timed out".into()),
        }
    }
    let connect_secs = connect_started.elapsed().as_secs_f64();
    connect.elapsed_ms = (connect_secs * 1000.0) as u64;
    let rss_connected = pid.and_then(rss_kib);
    if args.idle_secs > 0 {
        eprintln!(
            "bench[{}]: holding {} sockets idle for {} s",
            args.label, connect.connected, args.idle_secs
        );
        sleep(Duration::from_secs(args.idle_secs)).await;
    }
    let rss_idle = pid.and_then(rss_kib);
    let per_socket = match (rss_before, rss_idle) {
        (Some(b), Some(a)) if connect.connected > 0 => {
            Some((a as f64 - b as f64) / connect.connected as f64)
        }
        _ => None,
    };
    if args.operators_late {
        for i in 0..args.operators {
            let (ws, listed) = operators::connect(&args.url, &tokens[i % tokens.len()]).await?;
            welcome_listed.push(listed);
            op_tasks.push(operators::spawn(i, ws, ops.clone()));
        }
        rss_after_operators = pid.and_then(rss_kib);
        // Let the routing that their arrival triggers settle before the load.
        sleep(Duration::from_secs(2)).await;
    }

    // Load.
    let mut load = LoadReport::default();
    let mut ack_hist = new_histogram();
    let mut server_cpu = None;
    let mut load_secs = 0.0;
    if args.mode != Mode::Idle && connect.connected > 0 {
        let start = unix_micros() + 1_000_000;
        let cpu0 = pid.and_then(cpu_secs);
        let t0 = Instant::now();
        for shard in &shards {
            let plan = LoadPlan {
                mode: args.mode,
                rate: args.rate * f64::from(shard.visitors) / f64::from(args.visitors.max(1)),
                start_unix_micros: start,
                duration_ms: args.duration * 1000,
                window: args.window,
                drain_ms: args.drain_secs * 1000,
            };
            shard
                .cmds
                .send(ShardCmd::Load(plan))
                .map_err(|_| "a shard went away".to_owned())?;
        }
        eprintln!(
            "bench[{}]: load phase: {:?} for {} s",
            args.label, args.mode, args.duration
        );
        let deadline = Instant::now() + Duration::from_secs(args.duration + args.drain_secs + 120);
        for (k, shard) in shards.iter_mut().enumerate() {
            match timeout_at(deadline.into(), shard.events.recv()).await {
                Ok(Some(ShardEvent::Result(r))) => {
                    load.sent += r.sent;
                    load.acked += r.acked;
                    load.acked_in_window += r.acked_in_window;
                    load.missing_acks += r.missing_acks;
                    load.error_frames += r.error_frames;
                    load.socket_failures += r.socket_failures;
                    load.echoes += r.echoes;
                    add_counts(&mut load.errors, &r.errors);
                    add_series(&mut load.acks_per_sec, &r.acks_per_sec);
                    add_series(&mut load.sent_per_sec, &r.sent_per_sec);
                    if let Some(h) = decode_histogram(&r.ack_histogram) {
                        let _ = ack_hist.add(h);
                    }
                }
                Ok(Some(ShardEvent::Failed { message })) => {
                    eprintln!("bench[{}]: shard {k} failed: {message}", args.label);
                    *load.errors.entry("shard_failed".into()).or_default() += 1;
                }
                Ok(Some(other)) => return Err(format!("unexpected shard event {other:?}")),
                Ok(None) | Err(_) => {
                    eprintln!("bench[{}]: shard {k} gave no result", args.label);
                    *load.errors.entry("shard_no_result".into()).or_default() += 1;
                }
            }
        }
        // Let the operators catch up with what was acked, bounded by the drain time.
        if args.operators > 0 {
            let until = Instant::now() + Duration::from_secs(args.drain_secs);
            while Instant::now() < until
                && ops
                    .delivered
                    .iter()
                    .any(|d| d.load(Ordering::Relaxed) < load.acked)
            {
                sleep(Duration::from_millis(50)).await;
            }
        }
        load_secs = t0.elapsed().as_secs_f64();
        server_cpu = match (cpu0, pid.and_then(cpu_secs)) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
    }
    let mut client_cpu = match (client_cpu_start, cpu_secs(std::process::id())) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    for shard in &shards {
        client_cpu += shard.pid().and_then(cpu_secs).unwrap_or(0.0);
    }
    let rss_end = pid.and_then(rss_kib);
    let rss_hwm = pid.and_then(hwm_kib);

    // Operator side.
    let delivered: Vec<u64> = ops
        .delivered
        .iter()
        .map(|d| d.load(Ordering::Relaxed))
        .collect();
    let missing_per_op: Vec<u64> = delivered
        .iter()
        .map(|d| load.acked.saturating_sub(*d))
        .collect();
    let missing_deliveries: u64 = missing_per_op.iter().sum();
    let unique = ops.unique_delivered();
    let latency = ops.latency();
    let op_error_frames = ops.error_frames.load(Ordering::Relaxed);
    let op_socket_failures = ops.socket_failures.load(Ordering::Relaxed);
    let mut errors = load.errors.clone();
    add_counts(&mut errors, &ops.errors());
    add_counts(&mut errors, &connect.failures);
    let errors_total = connect.failed
        + load.error_frames
        + op_error_frames
        + load.socket_failures
        + op_socket_failures
        + load.missing_acks
        + if args.operators > 0 {
            missing_deliveries
        } else {
            0
        };
    let acked_per_sec = if args.mode == Mode::Idle || args.duration == 0 {
        0.0
    } else {
        load.acked_in_window as f64 / args.duration as f64
    };
    // Whole seconds inside the window, without the first (ramp-up).
    let steady: Vec<u64> = load
        .acks_per_sec
        .iter()
        .copied()
        .skip(1)
        .take(args.duration.saturating_sub(1) as usize)
        .collect();

    let report = json!({
        "bench": "switchboard",
        "label": args.label,
        "mode": args.mode,
        "run_tag": tag,
        "url": args.url,
        "visitors_requested": args.visitors,
        "visitors_connected": connect.connected,
        "connect_failed": connect.failed,
        "connect_secs": (connect_secs * 10.0).round() / 10.0,
        "processes": processes,
        "operators": args.operators,
        "operators_late": args.operators_late,
        "operator_welcome_conversations": welcome_listed,
        "server_pid": pid,
        "rss_before_kib": rss_before,
        "rss_after_operators_kib": rss_after_operators,
        "rss_connected_kib": rss_connected,
        "rss_idle_kib": rss_idle,
        "rss_end_kib": rss_end,
        "rss_hwm_kib": rss_hwm,
        "idle_secs": args.idle_secs,
        "rss_per_idle_socket_kib": per_socket.map(|v| (v * 100.0).round() / 100.0),
        "rate_target": if args.mode == Mode::Latency { Some(args.rate) } else { None },
        "window": if args.mode == Mode::Throughput { Some(args.window) } else { None },
        "duration_secs": args.duration,
        "text_bytes": args.text_bytes,
        "sent": load.sent,
        "acked": load.acked,
        "acked_in_window": load.acked_in_window,
        "acked_per_sec": (acked_per_sec * 10.0).round() / 10.0,
        "acked_per_sec_median_second": median(&steady),
        "missing_acks": load.missing_acks,
        "echoes": load.echoes,
        "ack_latency": quantiles(&ack_hist),
        "delivery_latency": quantiles(&latency),
        "delivered_unique": unique,
        "delivered_per_operator": delivered,
        "missing_deliveries_per_operator": missing_per_op,
        "error_frames": load.error_frames + op_error_frames,
        "socket_failures": load.socket_failures + op_socket_failures,
        "errors": errors,
        "errors_total": errors_total,
        "operator_frames": ops.frames.load(Ordering::Relaxed),
        "operator_conversation_frames": ops.conversation_frames.load(Ordering::Relaxed),
        "load_secs": (load_secs * 10.0).round() / 10.0,
        "server_cpu_secs": server_cpu.map(|c| (c * 10.0).round() / 10.0),
        "client_cpu_secs": (client_cpu * 10.0).round() / 10.0,
        "acks_per_sec": load.acks_per_sec,
        "sent_per_sec": load.sent_per_sec,
    });

    // Human-readable summary.
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "== bench {} — mode {:?}, tag {tag} ==",
        args.label, args.mode
    ));
    line(format!(
        "visitors: {} of {} connected ({} failed) in {:.1} s over {} process(es); operators: {}",
        connect.connected, args.visitors, connect.failed, connect_secs, processes, args.operators
    ));
    if pid.is_some() {
        line(format!(
            "server RSS: before {}, after operators {}, after visitors {}, after {} s idle {}, end {}, peak {}",
            mib(rss_before),
            mib(rss_after_operators),
            mib(rss_connected),
            args.idle_secs,
            mib(rss_idle),
            mib(rss_end),
            mib(rss_hwm)
        ));
        if let Some(k) = per_socket {
            line(format!(
                "server RSS per idle visitor socket: {k:.2} KiB ((idle - before) / {})",
                connect.connected
            ));
        }
    }
    if args.mode != Mode::Idle {
        match args.mode {
            Mode::Latency => line(format!(
                "load: {} msgs/s target for {} s; sent {}, acked {} ({} within the window)",
                args.rate, args.duration, load.sent, load.acked, load.acked_in_window
            )),
            _ => line(format!(
                "load: window {} per visitor for {} s; sent {}, acked {} ({} within the window)",
                args.window, args.duration, load.sent, load.acked, load.acked_in_window
            )),
        }
        line(format!(
            "durable acked msgs/s: {acked_per_sec:.1} (median whole second {})",
            median(&steady)
        ));
        line(format!("visitor→ack latency: {}", describe(&ack_hist)));
        if args.operators > 0 {
            line(format!(
                "visitor→operator latency (first operator): {}",
                describe(&latency)
            ));
            line(format!(
                "deliveries: {unique} distinct messages reached an operator; per operator {delivered:?} of {} acked",
                load.acked
            ));
        }
        if let Some(c) = server_cpu {
            line(format!(
                "server CPU: {c:.1} s in {load_secs:.1} s ({:.0}% of one core); load tool CPU {client_cpu:.1} s",
                100.0 * c / load_secs.max(0.001)
            ));
        }
    }
    line(format!(
        "errors: total {errors_total} (connect failures {}, error frames {}, socket failures {}, missing acks {}, missing deliveries {}) {errors:?}",
        connect.failed,
        load.error_frames + op_error_frames,
        load.socket_failures + op_socket_failures,
        load.missing_acks,
        missing_deliveries
    ));
    print!("{out}");
    let json_line = report.to_string();
    println!("{json_line}");
    if let Some(path) = &args.json_out {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        writeln!(file, "{json_line}").map_err(|e| format!("{}: {e}", path.display()))?;
    }

    // Stop: shards close their sockets and exit; operators are dropped.
    for shard in &shards {
        let _ = shard.cmds.send(ShardCmd::Quit);
    }
    for shard in &mut shards {
        if let Some(child) = shard.child.as_mut() {
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }
    for task in op_tasks {
        task.abort();
    }
    Ok(())
}
