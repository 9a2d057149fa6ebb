//! A deployment of the release `photo-ledger` for a benchmark: the binary copied next to its
//! data, migrated, with staff accounts, serving on a port of its own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::students::Api;
use super::BenchDatabase;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// ONNX Runtime's library: `ORT_DYLIB_PATH`, else the one `tools/onnxruntime/fetch.sh` put in
/// `.onnxruntime/`.
pub fn onnxruntime() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".onnxruntime/libonnxruntime.so"))
}

/// Settings for the service beyond its defaults, as `PHOTO_LEDGER__…` environment variables.
pub type Settings<'a> = &'a [(&'a str, String)];

/// The `photo-ledger` binary under test, copied next to the data: the build directory's copy
/// may be rebuilt while the benchmark runs.
pub const BINARY: &str = "photo-ledger";

/// `photo-ledger` (the copy in `data_dir`) on the benchmark's database.
pub fn photo_ledger(url: &str, data_dir: &Path) -> Command {
    let mut command = Command::new(data_dir.join(BINARY));
    command
        .env("PHOTO_LEDGER__STORE__DATABASE_URL", url)
        .env("PHOTO_LEDGER__STORE__DATA_DIR", data_dir);
    command
}

pub fn run_cli(mut command: Command, stdin: &str) {
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
pub struct Service {
    pub child: Child,
    pub base: String,
    /// Where the service's output goes (its request log included).
    pub log: PathBuf,
}

impl Service {
    /// `db_connections`: the service's pool size, its default when `None`.
    pub fn spawn(
        url: &str,
        data_dir: &Path,
        db_connections: Option<u64>,
        settings: Settings,
    ) -> Self {
        let onnxruntime = onnxruntime();
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
        serve.envs(settings.iter().map(|(name, value)| (name, value)));
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

    pub async fn wait_ready(&mut self, http: &reqwest::Client) {
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

/// A staff account the deployment starts with: username, role, password.
pub type StaffAccount<'a> = (&'a str, &'a str, &'a str);

/// The service built by cargo (or `PHOTO_LEDGER_BIN`, another build) copied into `dir`,
/// migrated on `url`, with `staff`, serving and ready.
pub async fn deploy(
    url: &str,
    dir: &Path,
    db_connections: Option<u64>,
    settings: Settings<'_>,
    staff: &[StaffAccount<'_>],
    http: &reqwest::Client,
) -> Service {
    let built = std::env::var_os("PHOTO_LEDGER_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_photo-ledger")),
        PathBuf::from,
    );
    std::fs::copy(&built, dir.join(BINARY)).unwrap();
    let mut migrate = photo_ledger(url, dir);
    migrate.arg("migrate");
    run_cli(migrate, "");
    for (username, role, password) in staff {
        let mut add = photo_ledger(url, dir);
        add.args(["staff", "add", username, "--role", role, "--password-stdin"]);
        run_cli(add, &format!("{password}\n"));
    }
    let mut service = Service::spawn(url, dir, db_connections, settings);
    service.wait_ready(http).await;
    service
}

/// One benchmark's deployment: a database of its own, a data directory, the service serving on
/// both, and a client for its API. Dropping it stops the service, then drops the database.
pub struct Deployment {
    pub service: Service,
    pub api: Api,
    pub dir: tempfile::TempDir,
    pub database: BenchDatabase,
}

impl Deployment {
    /// A new database named from `prefix`, and [`deploy`] on it.
    pub async fn start(
        prefix: &str,
        db_connections: Option<u64>,
        staff: &[StaffAccount<'_>],
    ) -> Self {
        Self::start_with(prefix, db_connections, &[], staff).await
    }

    /// [`Deployment::start`], the service with `settings`.
    pub async fn start_with(
        prefix: &str,
        db_connections: Option<u64>,
        settings: Settings<'_>,
        staff: &[StaffAccount<'_>],
    ) -> Self {
        let database = BenchDatabase::create(prefix);
        let dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .unwrap();
        let service = deploy(
            &database.url,
            dir.path(),
            db_connections,
            settings,
            staff,
            &http,
        )
        .await;
        let api = Api {
            http,
            base: service.base.clone(),
        };
        Self {
            service,
            api,
            dir,
            database,
        }
    }
}
