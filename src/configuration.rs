//! Typed settings shared by every subcommand that touches the ledger.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use photo_ledger_projections::person_key::PersonKeyer;

/// Where the ledger lives.
#[derive(Args, Clone, Debug)]
pub struct StoreSettings {
    /// Directory for the embedded database and the photo store.
    #[arg(long, env = "PHOTO_LEDGER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://…); without it the embedded SQLite database in the data
    /// directory is used.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Secret for the keyed hash of ID numbers in the photo history. Every instance sharing a
    /// database must use the same one; without it a random key is kept in the data directory.
    #[arg(long, env = "PHOTO_LEDGER_PERSON_KEY", hide_env_values = true)]
    pub person_key: Option<String>,
    /// Connections in the database pool.
    #[arg(long, env = "PHOTO_LEDGER_DB_CONNECTIONS", default_value_t = 16)]
    pub db_connections: u32,
}

const PERSON_KEY_FILE: &str = "person-key.secret";

impl StoreSettings {
    pub fn embedded(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            database_url: None,
            person_key: None,
            db_connections: 16,
        }
    }

    /// The person keyer: the configured secret, else one kept in the data directory.
    pub fn person_keyer(&self) -> anyhow::Result<PersonKeyer> {
        if let Some(secret) = &self.person_key {
            return Ok(PersonKeyer::new(secret.as_bytes().to_vec()));
        }
        let secret = data_dir_secret(&self.data_dir, PERSON_KEY_FILE, || {
            format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            )
        })?;
        Ok(PersonKeyer::new(secret.into_bytes()))
    }
}

/// A secret kept in the data directory: read when there, else made by `generate` and written
/// (owner-only on Unix) so the embedded default works at once and keeps working across restarts.
pub fn data_dir_secret(
    data_dir: &Path,
    file: &str,
    generate: impl FnOnce() -> String,
) -> anyhow::Result<String> {
    use std::io::Write;
    let path = data_dir.join(file);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(text.trim().to_string());
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let secret = generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&path)
        .and_then(|mut f| f.write_all(secret.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(secret)
}

/// The HTTP service's settings: built-in defaults, then an optional TOML file (`serve --config`),
/// then environment variables `PHOTO_LEDGER__SECTION__KEY` (for example
/// `PHOTO_LEDGER__AUTH__TOKEN_SECRET`). Secrets are wrapped so they never print.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    pub auth: AuthSettings,
    pub wechat: WechatSettings,
    pub wechat_pay: crate::payments::wechat_pay::WechatPaySettings,
    pub photos: PhotoSettings,
    pub http: HttpSettings,
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhotoSettings {
    /// ONNX Runtime 1.31 shared library (`bash tools/onnxruntime/fetch.sh`); without it the photo
    /// routes answer 503 `photo.unavailable`.
    pub onnxruntime: Option<PathBuf>,
    /// Folder with the .onnx models, MANIFEST.sha256 and models.json.
    pub models_dir: PathBuf,
    /// Threads one model run may use.
    pub model_threads: usize,
    /// Standardisations running at once; more uploads wait their turn.
    pub concurrent_standardisations: usize,
    /// Where photos are kept; `<data dir>/photos` when absent (and no `s3` bucket is given).
    pub store_dir: Option<PathBuf>,
    /// An S3-compatible bucket to keep photos in instead of a local directory.
    pub s3: Option<S3Settings>,
    /// Largest upload accepted, checked while it streams in.
    pub upload_limit_bytes: usize,
}

/// An S3-compatible bucket (AWS S3, MinIO, Ceph, Tencent COS, Aliyun OSS, …) for the photos.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    pub bucket: String,
    /// The service's base URL (`https://cos.ap-shanghai.myqcloud.com`,
    /// `http://127.0.0.1:9000`); AWS's own for the region when absent.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default = "S3Settings::default_region")]
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: secrecy::SecretString,
    /// Plain HTTP to the endpoint: only for a store on the same machine or network.
    #[serde(default)]
    pub allow_http: bool,
    /// `https://<bucket>.<endpoint host>/<key>` instead of `https://<endpoint host>/<bucket>/<key>`
    /// (Tencent COS and Aliyun OSS take only this style).
    #[serde(default)]
    pub virtual_hosted_style: bool,
}

impl S3Settings {
    fn default_region() -> String {
        "us-east-1".into()
    }
}

impl Default for PhotoSettings {
    fn default() -> Self {
        Self {
            onnxruntime: None,
            models_dir: "models".into(),
            model_threads: 1,
            concurrent_standardisations: std::thread::available_parallelism()
                .map_or(2, |n| n.get()),
            store_dir: None,
            s3: None,
            upload_limit_bytes: 20 * 1024 * 1024,
        }
    }
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Key that signs access tokens (HMAC-SHA256), at least 32 bytes. Every instance behind one
    /// address must share it. Required unless `serve --dev`, which uses a random one per process.
    pub token_secret: Option<secrecy::SecretString>,
    /// How long a student's token lasts.
    pub student_token_ttl_secs: u64,
    /// How long a staff member's token lasts.
    pub staff_token_ttl_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            token_secret: None,
            student_token_ttl_secs: 2 * 3600,
            staff_token_ttl_secs: 8 * 3600,
        }
    }
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WechatSettings {
    /// The mini-program's AppID.
    pub app_id: String,
    /// The mini-program's AppSecret, for jscode2session.
    pub app_secret: Option<secrecy::SecretString>,
    /// Base URL of WeChat's API (`/sns/jscode2session` is appended).
    pub api_base_url: String,
    /// How long to wait for WeChat.
    pub timeout_ms: u64,
}

impl Default for WechatSettings {
    fn default() -> Self {
        Self {
            app_id: String::new(),
            app_secret: None,
            api_base_url: "https://api.weixin.qq.com".into(),
            timeout_ms: 5_000,
        }
    }
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Largest JSON body most routes accept.
    pub json_limit_bytes: usize,
    /// Largest body of `POST /captures`, which may carry a picture of the collection code.
    pub verify_limit_bytes: usize,
    /// Largest roster file `POST /admin/rosters` accepts.
    pub roster_limit_bytes: usize,
    /// How long a stored first response answers retries with the same `Idempotency-Key`.
    pub idempotency_ttl_hours: u32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            json_limit_bytes: 64 * 1024,
            verify_limit_bytes: 4 * 1024 * 1024,
            roster_limit_bytes: 16 * 1024 * 1024,
            idempotency_ttl_hours: 24,
        }
    }
}

/// The prefix of environment variables that override the settings file.
pub const API_ENV_PREFIX: &str = "PHOTO_LEDGER";

impl ApiSettings {
    /// Defaults, then `file` if given, then `PHOTO_LEDGER__…` environment variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder();
        if let Some(file) = file {
            builder = builder.add_source(
                config::File::from(file)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        builder
            .add_source(
                config::Environment::with_prefix(API_ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__"),
            )
            .build()
            .and_then(config::Config::try_deserialize)
            .with_context(|| match file {
                Some(file) => format!("cannot read the settings in {}", file.display()),
                None => "cannot read the settings from PHOTO_LEDGER__… variables".to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn the_settings_file_overrides_the_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("photo-ledger.toml");
        std::fs::write(
            &file,
            "[auth]\ntoken_secret = \"0123456789abcdef0123456789abcdef\"\nstudent_token_ttl_secs = 600\n\n[wechat]\napp_id = \"wx123\"\n",
        )
        .unwrap();
        let settings = ApiSettings::load(Some(&file)).unwrap();
        assert_eq!(settings.auth.student_token_ttl_secs, 600);
        assert_eq!(settings.auth.staff_token_ttl_secs, 8 * 3600);
        assert_eq!(
            settings.auth.token_secret.unwrap().expose_secret(),
            "0123456789abcdef0123456789abcdef"
        );
        assert_eq!(settings.wechat.app_id, "wx123");
        assert_eq!(settings.wechat.api_base_url, "https://api.weixin.qq.com");
        assert_eq!(settings.http.json_limit_bytes, 64 * 1024);

        std::fs::write(&file, "[auth]\ntoken_secert = \"typo\"\n").unwrap();
        let typo = ApiSettings::load(Some(&file)).unwrap_err();
        assert!(
            format!("{typo:#}").contains("unknown field `token_secert`"),
            "the error names the mistyped key: {typo:#}"
        );
        assert!(ApiSettings::load(Some(&dir.path().join("missing.toml"))).is_err());
    }

    #[test]
    fn an_s3_bucket_is_configured_in_the_settings_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("photo-ledger.toml");
        std::fs::write(
            &file,
            "[photos.s3]\nbucket = \"photos\"\nendpoint = \"http://127.0.0.1:9000\"\naccess_key_id = \"AKIDEXAMPLE\"\nsecret_access_key = \"wJalrXUtnFEMI/K7MDENG\"\nallow_http = true\n",
        )
        .unwrap();
        let s3 = ApiSettings::load(Some(&file)).unwrap().photos.s3.unwrap();
        assert_eq!(s3.bucket, "photos");
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s3.region, "us-east-1");
        assert_eq!(s3.access_key_id, "AKIDEXAMPLE");
        assert_eq!(
            s3.secret_access_key.expose_secret(),
            "wJalrXUtnFEMI/K7MDENG"
        );
        assert!(s3.allow_http && !s3.virtual_hosted_style);
        assert!(!format!("{s3:?}").contains("wJalrXUtnFEMI"));

        std::fs::write(&file, "[photos.s3]\nbucket = \"photos\"\n").unwrap();
        let missing = ApiSettings::load(Some(&file)).unwrap_err();
        assert!(
            format!("{missing:#}").contains("access_key_id"),
            "{missing:#}"
        );
    }

    #[test]
    fn secrets_never_print() {
        let settings = AuthSettings {
            token_secret: Some("0123456789abcdef0123456789abcdef".into()),
            ..AuthSettings::default()
        };
        assert!(!format!("{settings:?}").contains("0123456789abcdef"));
    }
}
