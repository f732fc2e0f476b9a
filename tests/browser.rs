//! The browser tests: the visitor widget and the operator panel in Debian's headless Chromium,
//! driven by playwright-core from `tests/browser/*.test.mjs` under `node --test`. Each file
//! starts the switchboard binary cargo built for these tests as a real process, on a fresh
//! database, and restarts it where a test needs that. `scripts/test.sh` installs Chromium,
//! Node.js and the npm packages when they are missing.

use std::path::Path;
use std::process::Command;

fn run(file: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run scripts/test.sh, or `npm ci` in tests/browser"
    );
    let chromium = std::env::var("SB_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is not installed at {chromium}: run scripts/test.sh, or `apt-get install chromium`"
    );
    let status = Command::new("node")
        .args(["--test", "--test-reporter=spec", file])
        .current_dir(&dir)
        .env("SWITCHBOARD_BIN", env!("CARGO_BIN_EXE_switchboard"))
        .env("SB_CHROMIUM", &chromium)
        .status()
        .expect("node runs (install Node.js 18 or newer)");
    assert!(status.success(), "{file} failed: see its report above");
}

#[test]
fn widget_in_chromium() {
    run("widget.test.mjs");
}

#[test]
fn operator_panel_in_chromium() {
    run("panel.test.mjs");
}

#[test]
fn panel_lists_in_chromium() {
    run("panel-lists.test.mjs");
}

#[test]
fn panel_resilience_in_chromium() {
    run("panel-resilience.test.mjs");
}

#[test]
fn panel_telegram_in_chromium() {
    run("panel-telegram.test.mjs");
}

#[test]
fn panel_otp_in_chromium() {
    run("panel-otp.test.mjs");
}

#[test]
fn panel_telegram_admin_in_chromium() {
    run("panel-telegram-admin.test.mjs");
}

#[test]
fn panel_automation_in_chromium() {
    run("panel-automation.test.mjs");
}

#[test]
fn dashboard_csat_in_chromium() {
    run("dashboard-csat.test.mjs");
}
