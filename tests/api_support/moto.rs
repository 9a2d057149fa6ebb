//! A real S3-compatible server on loopback for the photo store: moto's server (PyPI
//! `moto[server]`, the version `.ci/run` installs into `.moto/`), found as `MOTO_SERVER`, then
//! `.moto/bin/moto_server`, then `moto_server` on the PATH (see [`super::tools`]).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use photo_ledger::configuration::S3Settings;

use super::tools;

pub struct MotoServer {
    child: Child,
    pub endpoint: String,
    pub bucket: String,
}

impl MotoServer {
    /// moto on a free port with an empty `bucket`, or `None` when moto is not installed and this
    /// is not CI.
    pub async fn start(bucket: &str) -> Option<MotoServer> {
        let program = tools::program("MOTO_SERVER", ".moto", "moto_server");
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
            Err(e) => {
                tools::cannot_run("moto's S3 server", &program, &e, ".moto");
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
