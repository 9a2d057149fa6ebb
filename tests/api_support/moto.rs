//! A real S3-compatible server on loopback for the photo store: moto's server (PyPI
//! `moto[server]`, the version `.ci/run` installs into `.moto/`). It is found as `MOTO_SERVER`,
//! then `.moto/bin/moto_server`, then `moto_server` on the PATH. Under CI (`CI=true`) a missing
//! moto fails the test; elsewhere the test says loudly that it did not run.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use photo_ledger::configuration::S3Settings;

pub struct MotoServer {
    child: Child,
    pub endpoint: String,
    pub bucket: String,
}

fn program() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return path.into();
    }
    let installed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".moto/bin/moto_server");
    if installed.exists() {
        return installed;
    }
    "moto_server".into()
}

impl MotoServer {
    /// moto on a free port with an empty `bucket`, or `None` when moto is not installed and this
    /// is not CI.
    pub async fn start(bucket: &str) -> Option<MotoServer> {
        let program = program();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let spawned = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "moto's S3 server is required under CI and {} cannot run: {e} (bash .ci/run installs it)",
                program.display()
            ),
            Err(e) => {
                // Straight to standard error: the test harness would hide eprintln!'s output.
                let _ = writeln!(
                    std::io::stderr(),
                    "NOT RUN: {}: this test needs moto's S3 server and {} cannot run ({e}); \
                     `bash .ci/run` installs it into .moto/",
                    std::thread::current().name().unwrap_or("a test"),
                    program.display()
                );
                return None;
            }
        };
        let server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: bucket.to_string(),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // An unsigned request: moto does not check signatures unless told to.
            let created = client
                .put(format!("{}/{bucket}", server.endpoint))
                .send()
                .await;
            match created {
                Ok(response) if response.status().is_success() => break,
                Ok(response) => panic!("moto refused to create the bucket: {}", response.status()),
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("moto did not start within 30 s: {e}"),
            }
        }
        Some(server)
    }

    /// The photo store settings for the bucket.
    pub fn settings(&self) -> S3Settings {
        S3Settings {
            bucket: self.bucket.clone(),
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".into(),
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            allow_http: true,
            virtual_hosted_style: false,
        }
    }

    /// The object under `key`, read from the bucket with the same credentials (moto keeps
    /// objects private).
    pub async fn object(&self, key: &str) -> Option<Vec<u8>> {
        use object_store::ObjectStore;
        let store = photo_ledger::photos::store::s3_bucket(&self.settings()).unwrap();
        match store.get(&object_store::path::Path::from(key)).await {
            Ok(object) => Some(object.bytes().await.unwrap().to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("cannot read {key} from moto: {e}"),
        }
    }

    /// Every key in the bucket.
    pub async fn keys(&self) -> Vec<String> {
        let listing = reqwest::get(format!("{}/{}?list-type=2", self.endpoint, self.bucket))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        listing
            .split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Key>"))
            .map(|(key, _)| key.to_string())
            .collect()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
