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
//! `PHOTO_LEDGER_BIN=path` benchmarks that build of `photo-ledger` instead of the one cargo made.
//! pgbench at 256 clients needs PostgreSQL's `max_connections` of at least 300; the benchmark
//! checks it first and says what to run when it is lower.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use photo_ledger_domain::id_number::resident_check_digit;
use reqwest::multipart::{Form, Part};
use reqwest::RequestBuilder;
use serde_json::{json, Value};
use support::{arg, load_average, percentile, pgbench, pgbench_tps, psql, BenchDatabase};

mod support;

const SCHOOL: &str = "江南大学";
const CATEGORY: &str = "普通高等教育";
const FEE_FEN: u64 = 2500;
const ADMIN: &str = "bench-admin";
const ADMIN_PASSWORD: &str = "a benchmark admin password";
/// pgbench takes at most 128 scripts: the reads cover this many captures at most.
const MAX_READ_CAPTURES: usize = 128;
/// What pgbench at 256 clients, the service's pool and psql need together, with room to spare.
const MIN_MAX_CONNECTIONS: u32 = 300;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

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

/// The `photo-ledger` binary under test, copied next to the data: the build directory's copy
/// may be rebuilt while the benchmark runs.
const BINARY: &str = "photo-ledger";

/// `photo-ledger` (the copy in `data_dir`) on the benchmark's database.
fn photo_ledger(url: &str, data_dir: &Path) -> Command {
    let mut command = Command::new(data_dir.join(BINARY));
    command
        .env("PHOTO_LEDGER__STORE__DATABASE_URL", url)
        .env("PHOTO_LEDGER__STORE__DATA_DIR", data_dir);
    command
}

fn run_cli(mut command: Command, stdin: &str) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("photo-ledger runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "{command:?} failed");
}

/// `photo-ledger serve --dev` as a child process, stopped (SIGTERM) when dropped.
struct Service {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Service {
    /// `db_connections`: the service's pool size, its default when `None`.
    fn spawn(url: &str, data_dir: &Path, db_connections: Option<u64>) -> Self {
        let onnxruntime = std::env::var_os("ORT_DYLIB_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join(".onnxruntime/libonnxruntime.so"));
        assert!(
            onnxruntime.exists(),
            "ONNX Runtime is needed for uploads: run `bash tools/onnxruntime/fetch.sh` or set ORT_DYLIB_PATH"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let log = data_dir.join("serve.log");
        let output = std::fs::File::create(&log).unwrap();
        let mut serve = photo_ledger(url, data_dir);
        if let Some(connections) = db_connections {
            serve.env(
                "PHOTO_LEDGER__STORE__DB_CONNECTIONS",
                connections.to_string(),
            );
        }
        let child = serve
            .args(["serve", "--dev", "--bind", &format!("127.0.0.1:{port}")])
            .env("PHOTO_LEDGER__PHOTOS__ONNXRUNTIME", &onnxruntime)
            .env("PHOTO_LEDGER__PHOTOS__MODELS_DIR", root().join("models"))
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .expect("photo-ledger serve starts");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "serve exited ({status}): {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            let ready = http.get(format!("{}/readyz", self.base)).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("serve was not ready within 2 minutes");
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Latencies by route.
type Samples = HashMap<&'static str, Vec<Duration>>;

/// The service's API as one student or the admin calls it.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn post(&self, path: &str, token: Option<&str>) -> RequestBuilder {
        let request = self
            .http
            .post(format!("{}/api/v1{path}", self.base))
            .header("idempotency-key", uuid::Uuid::new_v4().to_string());
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends the request, records its latency (until the whole body is read) under `route` and
    /// insists on the `expect`ed status; returns the JSON body.
    async fn send(
        &self,
        samples: &mut Samples,
        route: &'static str,
        request: RequestBuilder,
        expect: u16,
    ) -> Value {
        let started = Instant::now();
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{route}: {e}"));
        let status = response.status();
        let body = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{route}: {e}"));
        samples.entry(route).or_default().push(started.elapsed());
        assert_eq!(
            status.as_u16(),
            expect,
            "{route}: {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    }
}

/// A roster student the benchmark made up: the number and a valid resident ID number.
fn roster_csv(students: usize) -> (String, Vec<String>) {
    let mut csv = String::from(
        "student_number,name,id_type,id_number,education_type,level,major,graduation_year\n",
    );
    let mut numbers = Vec::with_capacity(students);
    let born = chrono::NaiveDate::from_ymd_opt(2004, 1, 1).unwrap();
    for i in 0..students {
        let number = format!("B{i:09}");
        let birthday = born + chrono::Duration::days((i / 1000) as i64);
        let first17 = format!("320203{}{:03}", birthday.format("%Y%m%d"), i % 1000);
        let id_number = format!("{first17}{}", resident_check_digit(&first17).unwrap());
        csv.push_str(&format!(
            "{number},考生{i},居民身份证,{id_number},{CATEGORY},本科,食品科学与工程,2026\n"
        ));
        numbers.push(number);
    }
    (csv, numbers)
}

/// The admin adds the school, a paid batch and the roster through the API.
async fn seed(api: &Api, students: usize) -> Vec<String> {
    let mut samples = Samples::new();
    let signed_in = api
        .send(
            &mut samples,
            "staff sign-in",
            api.post("/auth/staff", None)
                .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD})),
            200,
        )
        .await;
    let admin = signed_in["token"].as_str().unwrap().to_string();
    api.send(
        &mut samples,
        "add school",
        api.post("/admin/schools", Some(&admin))
            .json(&json!({"name": SCHOOL, "categories": [CATEGORY]})),
        201,
    )
    .await;
    api.send(
        &mut samples,
        "add batch",
        api.post("/admin/batches", Some(&admin)).json(&json!({
            "school": SCHOOL,
            "education_type": CATEGORY,
            "price_fen": FEE_FEN,
            "pay_before_upload": true,
        })),
        201,
    )
    .await;
    let (csv, numbers) = roster_csv(students);
    let imported = api
        .send(
            &mut samples,
            "import roster",
            api.post("/admin/rosters", Some(&admin))
                .query(&[("school", SCHOOL), ("file_name", "graduates.csv")])
                .header("content-type", "text/csv")
                .body(csv),
            200,
        )
        .await;
    assert_eq!(
        imported["inserted"].as_u64(),
        Some(students as u64),
        "{imported}"
    );
    numbers
}

/// A capture the flow left in review, with its owner's token.
struct Reader {
    capture_id: String,
    token: String,
}

/// One student's whole flow, from sign-in to the capture in review.
async fn flow(api: &Api, photo: &[u8], number: &str, samples: &mut Samples) -> Reader {
    let openid = format!("bench-openid-{number}");
    let signed_in = api
        .send(
            samples,
            "POST /auth/dev",
            api.post("/auth/dev", None).json(&json!({"openid": openid})),
            200,
        )
        .await;
    let token = signed_in["token"].as_str().unwrap().to_string();
    let opened = api
        .send(
            samples,
            "POST /captures",
            api.post("/captures", Some(&token))
                .json(&json!({"school": SCHOOL, "student_number": number})),
            201,
        )
        .await;
    let capture = opened["capture_id"].as_str().unwrap().to_string();
    let order = api
        .send(
            samples,
            "POST /captures/{id}/orders",
            api.post(&format!("/captures/{capture}/orders"), Some(&token))
                .json(&json!({"purpose": "collection"})),
            201,
        )
        .await;
    assert_eq!(order["amount_fen"], FEE_FEN, "{order}");
    let order_id = order["order_id"].as_str().unwrap();
    api.send(
        samples,
        "POST /dev/orders/{id}/pay",
        api.post(&format!("/dev/orders/{order_id}/pay"), Some(&token)),
        200,
    )
    .await;
    let form = Form::new().text("source", "camera").part(
        "photo",
        Part::bytes(photo.to_vec())
            .file_name("photo.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let uploaded = api
        .send(
            samples,
            "POST /captures/{id}/photos",
            api.post(&format!("/captures/{capture}/photos"), Some(&token))
                .multipart(form),
            201,
        )
        .await;
    assert_eq!(uploaded["verdict"], "accepted", "{uploaded}");
    let standard = uploaded["standard_photo_id"].as_str().unwrap();
    api.send(
        samples,
        "POST /captures/{id}/submit",
        api.post(&format!("/captures/{capture}/submit"), Some(&token))
            .json(&json!({"standard_photo_id": standard})),
        200,
    )
    .await;
    let view = api
        .send(
            samples,
            "GET /captures/{id}",
            api.http
                .get(format!("{}/api/v1/captures/{capture}", api.base))
                .bearer_auth(&token),
            200,
        )
        .await;
    assert_eq!(view["status"], "in_review", "{view}");
    Reader {
        capture_id: capture,
        token,
    }
}

/// `students` at once, each running flows with the next roster student until `seconds` pass.
/// Returns the finished flows, how long until the last one finished, and the latencies.
async fn student_flows(
    api: &Api,
    numbers: Arc<Vec<String>>,
    students: usize,
    seconds: u64,
) -> (Vec<Reader>, Duration, Samples) {
    let photo = Arc::new(std::fs::read(root().join("fixtures/astronaut.png")).unwrap());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..students)
        .map(|_| {
            let (api, photo, numbers, next) =
                (api.clone(), photo.clone(), numbers.clone(), next.clone());
            tokio::spawn(async move {
                let (mut readers, mut samples) = (Vec::new(), Samples::new());
                while Instant::now() < until {
                    let Some(number) = numbers.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    readers.push(flow(&api, &photo, number, &mut samples).await);
                }
                (readers, samples)
            })
        })
        .collect();
    let (mut readers, mut samples) = (Vec::new(), Samples::new());
    for task in tasks {
        let (r, s) = task.await.expect("a student's flow failed");
        readers.extend(r);
        for (route, mut latencies) in s {
            samples.entry(route).or_default().append(&mut latencies);
        }
    }
    let elapsed = started.elapsed();
    assert!(
        next.load(Ordering::Relaxed) <= numbers.len(),
        "the roster ran out: raise --roster"
    );
    (readers, elapsed, samples)
}

/// A duration as wrk prints it: `812.00us`, `12.34ms`, `1.02s`.
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

#[tokio::main]
async fn main() {
    let students = arg("--students", 64) as usize;
    let seconds = arg("--seconds", 30);
    let connections = arg("--connections", 256) as usize;
    let read_seconds = arg("--read-seconds", 10);
    let roster = arg("--roster", 5000) as usize;
    let db_connections = std::env::args()
        .any(|a| a == "--db-connections")
        .then(|| arg("--db-connections", 16));
    check_max_connections(&BenchDatabase::admin_url(), connections);
    let load_before = load_average();

    let database = BenchDatabase::create("photo_ledger_bench_api");
    let dir = tempfile::tempdir().unwrap();
    // PHOTO_LEDGER_BIN benchmarks another build of the service.
    let built = std::env::var_os("PHOTO_LEDGER_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_photo-ledger")),
        PathBuf::from,
    );
    std::fs::copy(&built, dir.path().join(BINARY)).unwrap();
    let mut migrate = photo_ledger(&database.url, dir.path());
    migrate.arg("migrate");
    run_cli(migrate, "");
    let mut staff = photo_ledger(&database.url, dir.path());
    staff.args(["staff", "add", ADMIN, "--role", "admin", "--password-stdin"]);
    run_cli(staff, &format!("{ADMIN_PASSWORD}\n"));

    let mut service = Service::spawn(&database.url, dir.path(), db_connections);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    service.wait_ready(&http).await;
    let api = Api {
        http,
        base: service.base.clone(),
    };
    let numbers = Arc::new(seed(&api, roster).await);

    let (readers, elapsed, samples) = student_flows(&api, numbers, students, seconds).await;
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
