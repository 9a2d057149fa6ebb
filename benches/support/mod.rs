//! What the benchmarks share: command-line options, a throwaway PostgreSQL database, psql,
//! pgbench and percentiles; a deployment of the service ([`service`]), students who take their
//! captures to review through it ([`students`]) and the phone photo they upload
//! ([`phone_photo`]).
#![allow(dead_code)]

pub mod phone_photo;
pub mod service;
pub mod students;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The value after `name` on the command line, else `default`.
pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs one SQL statement (or psql meta-command) and returns its unaligned output.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A database of its own on the benchmark server, dropped when this is.
pub struct BenchDatabase {
    pub admin: String,
    pub name: String,
    pub url: String,
}

impl BenchDatabase {
    /// The server is `PHOTO_LEDGER_TEST_DATABASE_URL`, as for the tests.
    pub fn admin_url() -> String {
        std::env::var("PHOTO_LEDGER_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    pub fn create(prefix: &str) -> Self {
        let admin = Self::admin_url();
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        Self { admin, name, url }
    }
}

/// Set to keep each benchmark's database afterwards, to look into or profile against.
const KEEP_DATABASE: &str = "PHOTO_LEDGER_BENCH_KEEP_DATABASE";

/// Whether the benchmark's database is kept (and with it the data directory holding the keys
/// its sealed fields need).
pub fn keeping_database() -> bool {
    std::env::var_os(KEEP_DATABASE).is_some()
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        if keeping_database() {
            eprintln!("{KEEP_DATABASE} is set: kept {}", self.url);
            return;
        }
        psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// One pgbench run: `clients` at a time on two threads (one when a single client) for
/// `seconds`, each transaction one of `scripts` at random. Returns pgbench's standard output.
pub fn pgbench(
    url: &str,
    clients: usize,
    seconds: u64,
    scripts: &[&Path],
    extra: &[&str],
) -> String {
    let mut command = Command::new("pgbench");
    command.args([
        "-n",
        "-c",
        &clients.to_string(),
        "-j",
        &clients.min(2).to_string(),
        "-T",
        &seconds.to_string(),
    ]);
    command.args(extra);
    for script in scripts {
        command.arg("-f").arg(script);
    }
    let out = command.arg(url).output().expect("pgbench");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The transactions per second pgbench reported.
pub fn pgbench_tps(output: &str) -> f64 {
    output
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench's output: {output}"))
}

/// The `p` quantile (0–1) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The 1, 5 and 15 minute load averages, as `uptime` shows them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The process's resident memory now and at its peak (`VmRSS`, `VmHWM`), in MiB.
pub fn resident_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap()
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Sets a process's peak resident memory (`VmHWM`) back to what it holds now.
pub fn reset_peak(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
}
