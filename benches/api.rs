//! The REST API under load: the release `photo-ledger serve --dev` on PostgreSQL, driven over
//! HTTP. Results go to BENCHMARKS.md.
//!
//!     cargo bench --bench api -- [--students 64] [--seconds 30] [--connections 256] [--read-seconds 10]
//!                                [--roster 5000] [--db-connections N]
//!
//! Setup, as an operator would do it: a database of its own, `photo-ledger migrate`, an admin
//! from `photo-ledger staff add`, then `serve --dev` with its default settings, and the school,
//! a paid batch (the collection fee before upload) and a roster of generated students added by
//! the admin through the API.
//!
//! 1. The student flow, `--students` at once for `--seconds`: sign in (`POST /auth/dev`), verify
//!    by student number, order the collection fee, pay it (`POST /dev/orders/{id}/pay`, a signed
//!    notification the service sends itself), upload the astronaut fixture (multipart, really
//!    standardised), submit, and read the capture back in review. Every POST carries an
//!    `Idempotency-Key`, as a mini-program that retries does. Completed flows per second and each
//!    route's latency percentiles over every request.
//! 2. Capture-status reads: wrk with `--connections` connections, each request a random one of
//!    the flows' captures with its owner's token (a Lua script), next to pgbench running the
//!    service's own query for the same captures (`SELECT owner, view FROM capture_status WHERE
//!    capture_id = …`, prepared, one script per capture picked at random) with as many clients,
//!    in the same run.
//!
//! With `--uploads`, instead: upload throughput and memory with a 12 MP phone JPEG
//! ([`support::phone_photo`]), decoding every pixel (`photos.decoding = "full_size"`, before)
//! and only what standardising needs (`"as_needed"`, now), each on a deployment of its own with
//! 4 standardisations at once (`photos.concurrent_standardisations = 4`, and a decoding budget
//! of 1 GiB so that four 12 MP photos fit in it): the same student flow with 16 students, then
//! with `--students`, `--seconds` each. Photos standardised per second per core (each flow
//! uploads one), the service's CPU time per flow, the upload's p50/p99, and the service's
//! resident memory before the uploads (models loaded) and at its peak during each run.
//!
//!     cargo bench --bench api -- --uploads [--students 64] [--seconds 30] [--roster 5000]
//!
//! `PHOTO_LEDGER_BIN=path` benchmarks that build of `photo-ledger` instead of the one cargo made.
//! pgbench at 256 clients needs PostgreSQL's `max_connections` of at least 300; the benchmark
//! checks it first and says what to run when it is lower.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use support::service::Deployment;
use support::students::{seed, student_flows, Photo, Reader, Samples, ADMIN, ADMIN_PASSWORD};
use support::{
    arg, load_average, percentile, pgbench, pgbench_tps, psql, reset_peak, resident_mib,
    BenchDatabase,
};

mod support;

/// pgbench takes at most 128 scripts: the reads cover this many captures at most.
const MAX_READ_CAPTURES: usize = 128;
/// What pgbench at 256 clients, the service's pool and psql need together, with room to spare.
const MIN_MAX_CONNECTIONS: u32 = 300;

/// Refuses to start when pgbench could not open its connections, and says what to change.
fn check_max_connections(admin: &str, clients: usize) {
    let max: u32 = psql(admin, "SHOW max_connections").parse().unwrap();
    let needed = MIN_MAX_CONNECTIONS.max(clients as u32 + 44);
    if max >= needed {
        return;
    }
    let port = admin
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or("5432")
        .to_string();
    // `pg_lsclusters` (Debian) names the cluster on that port.
    let cluster = Command::new("pg_lsclusters")
        .arg("-h")
        .output()
        .ok()
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() > 2 && f[2] == port).then(|| format!("{} {}", f[0], f[1]))
            })
        });
    let restart = match cluster {
        Some(cluster) => format!("pg_ctlcluster {cluster} restart"),
        None => "restart PostgreSQL (for example systemctl restart postgresql)".into(),
    };
    eprintln!(
        "PostgreSQL allows {max} connections; pgbench's {clients} clients next to the service need \
         at least {needed}. Raise it and restart the server, then run the benchmark again:\n\n    \
         psql {admin} -c \"ALTER SYSTEM SET max_connections = {}\"\n    {restart}\n",
        needed.max(400)
    );
    std::process::exit(2);
}

fn wrk_duration(text: &str) -> Duration {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().unwrap_or_else(|_| panic!("wrk: {text}"));
    Duration::from_secs_f64(match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        _ => panic!("wrk: {text}"),
    })
}

struct ReadRun {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    /// The share of the machine's CPU time that was busy during the run.
    machine_busy: f64,
}

/// The machine's CPU time so far, busy and in all, in clock ticks (`/proc/stat`).
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().unwrap())
        .collect();
    // user nice system idle iowait irq softirq steal
    let total: u64 = ticks.iter().sum();
    (total - ticks[3] - ticks[4], total)
}

/// The share of the machine busy while `run` runs, and what it returns.
fn busy_while<T>(run: impl FnOnce() -> T) -> (f64, T) {
    let before = machine_ticks();
    let result = run();
    let after = machine_ticks();
    let busy = (after.0 - before.0) as f64 / (after.1 - before.1).max(1) as f64;
    (busy, result)
}

/// The CPU time a process has used so far (`/proc/PID/stat`: user and system).
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name, from the state (field 3) on.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second: u64 = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100);
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
}

/// wrk on the readers' captures, each request a random capture with its owner's token.
fn wrk_reads(
    base: &str,
    readers: &[Reader],
    dir: &Path,
    connections: usize,
    seconds: u64,
) -> ReadRun {
    let entries: String = readers
        .iter()
        .map(|r| {
            format!(
                "  {{\"/api/v1/captures/{}\", \"Bearer {}\"}},\n",
                r.capture_id, r.token
            )
        })
        .collect();
    let script = dir.join("reads.lua");
    std::fs::write(
        &script,
        format!(
            r#"local captures = {{
{entries}}}
local requests = {{}}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end
function init(args)
  math.randomseed(7919 * thread_number)
  for i, c in ipairs(captures) do
    requests[i] = wrk.format("GET", c[1], {{["Authorization"] = c[2]}})
  end
end
function request()
  return requests[math.random(#requests)]
end
"#
        ),
    )
    .unwrap();
    let (machine_busy, out) = busy_while(|| {
        Command::new("wrk")
            .args([
                "-t2",
                "-c",
                &connections.to_string(),
                "-d",
                &format!("{seconds}s"),
                "--latency",
                "-s",
            ])
            .arg(&script)
            .arg(format!("{base}/api/v1/captures"))
            .output()
            .expect("wrk (Debian: apt-get install wrk)")
    });
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "wrk failed: {text}");
    assert!(
        !text.contains("Non-2xx"),
        "some reads were not answered 200:\n{text}"
    );
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {prefix} in wrk's output:\n{text}"))
            .to_string()
    };
    ReadRun {
        per_second: field("Requests/sec:").parse().unwrap(),
        p50: wrk_duration(&field("50%")),
        p99: wrk_duration(&field("99%")),
        machine_busy,
    }
}

/// pgbench running the service's query on the same captures, one prepared script per capture.
fn pgbench_reads(
    url: &str,
    readers: &[Reader],
    dir: &Path,
    clients: usize,
    seconds: u64,
) -> ReadRun {
    let scripts: Vec<PathBuf> = readers
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let script = dir.join(format!("read-{i}.sql"));
            std::fs::write(
                &script,
                format!(
                    "SELECT owner, view FROM capture_status WHERE capture_id = '{}';\n",
                    r.capture_id
                ),
            )
            .unwrap();
            script
        })
        .collect();
    let logs = dir.join("pgbench-log");
    std::fs::create_dir_all(&logs).unwrap();
    let prefix = logs.join("reads");
    let scripts: Vec<&Path> = scripts.iter().map(PathBuf::as_path).collect();
    let (machine_busy, output) = busy_while(|| {
        pgbench(
            url,
            clients,
            seconds,
            &scripts,
            &[
                "-M",
                "prepared",
                "-l",
                "--log-prefix",
                prefix.to_str().unwrap(),
            ],
        )
    });
    // Each transaction's log line: client, transaction, latency (µs), script, epoch, µs.
    let mut latencies: Vec<Duration> = std::fs::read_dir(&logs)
        .unwrap()
        .flat_map(|file| {
            std::fs::read_to_string(file.unwrap().path())
                .unwrap()
                .lines()
                .filter_map(|l| l.split_whitespace().nth(2)?.parse().ok())
                .map(Duration::from_micros)
                .collect::<Vec<_>>()
        })
        .collect();
    latencies.sort();
    assert!(!latencies.is_empty(), "pgbench logged nothing: {output}");
    ReadRun {
        per_second: pgbench_tps(&output),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        machine_busy,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// p50 and p99 of the uploads among `samples`.
fn upload_latency(samples: &Samples) -> (Duration, Duration) {
    let mut latencies = samples["POST /captures/{id}/photos"].clone();
    latencies.sort();
    (percentile(&latencies, 0.5), percentile(&latencies, 0.99))
}

/// Standardisations the upload runs let happen at once.
const UPLOADS_IN_FLIGHT: usize = 4;
/// Students uploading at once for the throughput.
const THROUGHPUT_STUDENTS: usize = 16;

/// One deployment's upload runs: 16 students, then `students`, `seconds` each.
async fn upload_runs(
    decoding: &str,
    photo: &Arc<Photo>,
    students: usize,
    seconds: u64,
    roster: usize,
) -> String {
    let settings = [
        ("PHOTO_LEDGER__PHOTOS__DECODING", decoding.to_string()),
        (
            "PHOTO_LEDGER__PHOTOS__CONCURRENT_STANDARDISATIONS",
            UPLOADS_IN_FLIGHT.to_string(),
        ),
        (
            "PHOTO_LEDGER__PHOTOS__DECODE_BUDGET_MIB",
            "1024".to_string(),
        ),
    ];
    let deployment = Deployment::start_with(
        "photo_ledger_bench_uploads",
        None,
        &settings,
        &[(ADMIN, "admin", ADMIN_PASSWORD)],
    )
    .await;
    let (api, pid) = (&deployment.api, deployment.service.child.id());
    let numbers = seed(api, roster).await;
    let (idle, _) = resident_mib(pid);
    reset_peak(pid);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let cpu = process_cpu(pid);
    let half = numbers.len() / 2;
    let (flows, elapsed, at_16) = student_flows(
        api,
        Arc::new(numbers[..half].to_vec()),
        THROUGHPUT_STUDENTS,
        seconds,
        photo.clone(),
    )
    .await;
    let cpu = process_cpu(pid) - cpu;
    let (_, peak_at_16) = resident_mib(pid);
    reset_peak(pid);
    assert!(flows.len() < half, "the roster ran out: raise --roster");
    let per_second = flows.len() as f64 / elapsed.as_secs_f64();
    let (many, _, at_many) = student_flows(
        api,
        Arc::new(numbers[half..].to_vec()),
        students,
        seconds,
        photo.clone(),
    )
    .await;
    let (_, peak_at_many) = resident_mib(pid);
    assert!(
        many.len() < numbers.len() - half,
        "the roster ran out: raise --roster"
    );
    let ((p50_16, p99_16), (p50_many, p99_many)) =
        (upload_latency(&at_16), upload_latency(&at_many));
    format!(
        "| `{decoding}` | {:.2} ({per_second:.2} in all, {} flows) | {:.0} ms | {} / {} | {} / {} | \
         {:.0} MiB | {:.0} MiB | {:.0} MiB |",
        per_second / cores as f64,
        flows.len(),
        cpu.as_secs_f64() * 1000.0 / flows.len() as f64,
        ms(p50_16),
        ms(p99_16),
        ms(p50_many),
        ms(p99_many),
        idle,
        peak_at_16,
        peak_at_many,
    )
}

/// `--uploads`: throughput, latency and memory of uploads of a 12 MP phone photo, decoding every
/// pixel and decoding only what is needed.
async fn uploads(students: usize, seconds: u64, roster: usize) {
    let load_before = load_average();
    let photo = Photo::phone(3000, 4000);
    let mut rows = Vec::new();
    for decoding in ["full_size", "as_needed"] {
        rows.push(upload_runs(decoding, &photo, students, seconds, roster).await);
    }
    println!(
        "## Uploads of a 12 MP phone JPEG ({} KB; PostgreSQL, release `serve --dev`, \
         {UPLOADS_IN_FLIGHT} standardisations at once, {seconds} s per run)\n",
        photo.bytes.len() / 1024
    );
    println!("Load average before: {load_before}.\n");
    println!(
        "| `photos.decoding` | photos/s per core at {THROUGHPUT_STUDENTS} students | service CPU \
         per flow | upload p50 / p99 at {THROUGHPUT_STUDENTS} | upload p50 / p99 at {students} | \
         resident before | peak resident at {THROUGHPUT_STUDENTS} | at {students} |\n\
         |---|---|---|---|---|---|---|---|"
    );
    for row in rows {
        println!("{row}");
    }
    println!("\nLoad average after: {}.", load_average());
}

#[tokio::main]
async fn main() {
    let students = arg("--students", 64) as usize;
    let seconds = arg("--seconds", 30);
    let connections = arg("--connections", 256) as usize;
    let read_seconds = arg("--read-seconds", 10);
    let roster = arg("--roster", 5000) as usize;
    if std::env::args().any(|a| a == "--uploads") {
        return uploads(students, seconds, roster).await;
    }
    let db_connections = std::env::args()
        .any(|a| a == "--db-connections")
        .then(|| arg("--db-connections", 16));
    check_max_connections(&BenchDatabase::admin_url(), connections);
    let load_before = load_average();

    let Deployment {
        service,
        api,
        dir,
        database,
    } = Deployment::start(
        "photo_ledger_bench_api",
        db_connections,
        &[(ADMIN, "admin", ADMIN_PASSWORD)],
    )
    .await;
    let numbers = Arc::new(seed(&api, roster).await);

    let (readers, elapsed, samples) =
        student_flows(&api, numbers.clone(), students, seconds, Photo::astronaut()).await;
    assert!(
        readers.len() < numbers.len(),
        "the roster ran out: raise --roster"
    );
    let flows = readers.len();
    println!(
        "## API (PostgreSQL, release `serve --dev`, pool of {} connections)\n",
        db_connections.map_or_else(|| "the default".into(), |n| n.to_string())
    );
    println!("Load average before: {load_before}.\n");
    println!(
        "### Student flow, {students} concurrent students, {seconds} s\n\n{flows} flows in {:.1} s: \
         **{:.1} completed flows/s**\n",
        elapsed.as_secs_f64(),
        flows as f64 / elapsed.as_secs_f64()
    );
    println!("| route | requests | p50 | p99 | max |\n|---|---|---|---|---|");
    let order = [
        "POST /auth/dev",
        "POST /me/consent",
        "POST /captures",
        "POST /captures/{id}/orders",
        "POST /dev/orders/{id}/pay",
        "POST /captures/{id}/photos",
        "POST /captures/{id}/submit",
        "GET /captures/{id}",
    ];
    for route in order {
        let mut latencies = samples.get(route).cloned().unwrap_or_default();
        latencies.sort();
        if latencies.is_empty() {
            continue;
        }
        println!(
            "| `{route}` | {} | {} | {} | {} |",
            latencies.len(),
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
            ms(latencies[latencies.len() - 1])
        );
    }

    let readers = &readers[..flows.min(MAX_READ_CAPTURES)];
    assert!(!readers.is_empty(), "no flow finished: nothing to read");
    let service_cpu = process_cpu(service.child.id());
    let ours = wrk_reads(
        &service.base,
        readers,
        dir.path(),
        connections,
        read_seconds,
    );
    let service_cpu = process_cpu(service.child.id()) - service_cpu;
    let theirs = pgbench_reads(
        &database.url,
        readers,
        dir.path(),
        connections,
        read_seconds,
    );
    println!(
        "\n### Capture-status reads, {connections} connections, {read_seconds} s each, {} captures\n",
        readers.len()
    );
    println!("| client | what | req/s | p50 | p99 |\n|---|---|---|---|---|");
    println!(
        "| wrk | `GET /api/v1/captures/{{id}}` | {:.0} | {} | {} |",
        ours.per_second,
        ms(ours.p50),
        ms(ours.p99)
    );
    println!(
        "| pgbench | `SELECT owner, view FROM capture_status WHERE capture_id = …` | {:.0} | {} | {} |",
        theirs.per_second,
        ms(theirs.p50),
        ms(theirs.p99)
    );
    println!(
        "\nThe machine was {:.0} % busy during the wrk run and {:.0} % during pgbench's; the \
         service used {:.0} µs of CPU per read.",
        ours.machine_busy * 100.0,
        theirs.machine_busy * 100.0,
        service_cpu.as_secs_f64() * 1e6 / (ours.per_second * read_seconds as f64)
    );
    let ratio = ours.per_second / theirs.per_second;
    println!(
        "\nRatio {ratio:.2} (target ≥ 0.5: {}); p99 {} (target ≤ 20 ms: {}).",
        if ratio >= 0.5 { "met" } else { "not met" },
        ms(ours.p99),
        if ours.p99 <= Duration::from_millis(20) {
            "met"
        } else {
            "not met"
        }
    );
    println!("\nLoad average after: {}.", load_average());
    drop(service);
    drop(database);
}
