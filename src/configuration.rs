//! Every setting of the service, in one typed [`Settings`], from one mechanism: built-in
//! defaults, then an optional TOML file (`--config FILE`), then environment variables
//! `PHOTO_LEDGER__SECTION__KEY` (for example `PHOTO_LEDGER__STORE__DATABASE_URL`), then the
//! command line's few flags ([`Overrides`]). Unknown keys are refused with their name. Secrets
//! are [`SecretString`]s: they never print, not even in `Debug` of the whole configuration.

use std::path::{Path, PathBuf};

use photo_ledger_photo::models::RuntimeConfig;
use photo_ledger_photo::{Decoding, StandardiserConfig};
use photo_ledger_projections::person_key::PersonKeyer;
use photo_ledger_store::personal::MasterKeys;
use secrecy::{ExposeSecret, SecretString};

use crate::audit::AuditSettings;
use crate::eligibility::codes::CodeKeySettings;
use crate::guessing::Limit;

/// Everything the service and its subcommands are configured with.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub store: StoreSettings,
    pub codes: CodeKeySettings,
    pub audit: AuditSettings,
    pub api: ApiSettings,
    pub log: LogSettings,
    /// `serve --dev`: development routes, and a random token secret when none is configured.
    /// A flag only, never read from the file or the environment.
    pub dev: bool,
}

/// The settings document: one section per concern, as the file and the variables name them.
#[derive(Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Document {
    store: StoreSettings,
    codes: CodeKeySettings,
    audit: AuditSettings,
    auth: AuthSettings,
    wechat: WechatSettings,
    wechat_pay: crate::payments::wechat_pay::WechatPaySettings,
    photos: PhotoSettings,
    http: HttpSettings,
    console: ConsoleSettings,
    log: LogSettings,
}

/// Where the ledger lives.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Directory for the embedded database, the photo store and generated keys.
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://…); without it the embedded SQLite database in the data
    /// directory is used. A secret: the URL may carry a password.
    pub database_url: Option<SecretString>,
    /// Secret for the keyed hash of ID numbers in the photo history. Every instance sharing a
    /// database must use the same one; without it a random key is kept in the data directory.
    pub person_key: Option<SecretString>,
    /// Master key (64 hex digits) wrapping each person's data key, with which the personal
    /// fields of their events are sealed. Every instance sharing a database uses the same one;
    /// without it a key is generated once and kept in the data directory.
    pub master_key: Option<SecretString>,
    /// Master keys replaced by `master_key`, kept until `photo-ledger erase rewrap-keys` has
    /// rewrapped every data key under the new one.
    pub previous_master_keys: Vec<SecretString>,
    /// How often the retention policy looks for captures past their school's period.
    pub retention_every_secs: u64,
    /// Connections in the database pool.
    pub db_connections: u32,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            data_dir: "./data".into(),
            database_url: None,
            person_key: None,
            master_key: None,
            previous_master_keys: Vec::new(),
            retention_every_secs: 3600,
            db_connections: 16,
        }
    }
}

/// How the service logs.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// JSON lines, for production log collectors.
    pub json: bool,
    /// Which lines to keep, as `tracing`'s filter directives (`info,sqlx=warn`).
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            json: false,
            filter: "info,sqlx=warn".into(),
        }
    }
}

const PERSON_KEY_FILE: &str = "person-key.secret";
const MASTER_KEY_FILE: &str = "master-key.secret";
const INSTANCE_ID_FILE: &str = "instance-id";

impl HttpSettings {
    /// This instance's name: the configured one, else one kept in the data directory.
    pub fn instance_id(&self, data_dir: &Path) -> Result<String, SettingError> {
        match &self.instance_id {
            Some(id) => Ok(id.clone()),
            None => data_dir_secret(data_dir, INSTANCE_ID_FILE, || {
                uuid::Uuid::new_v4().to_string()
            }),
        }
    }
}

impl StoreSettings {
    pub fn embedded(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            ..Self::default()
        }
    }

    /// The database URL, when one is configured.
    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_ref().map(ExposeSecret::expose_secret)
    }

    /// The person keyer: the configured secret, else one kept in the data directory.
    pub fn person_keyer(&self) -> Result<PersonKeyer, SettingError> {
        if let Some(secret) = &self.person_key {
            return Ok(PersonKeyer::new(secret.expose_secret().as_bytes().to_vec()));
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

    /// The master keys: the configured one (else one kept in the data directory) and those it
    /// replaced.
    pub fn master_keys(&self) -> Result<MasterKeys, SettingError> {
        let parse = |key: &'static str, text: &str| -> Result<[u8; 32], SettingError> {
            hex::decode(text.trim())
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| SettingError::invalid(key, "a master key is 64 hex digits"))
        };
        let current = match &self.master_key {
            Some(secret) => parse("store.master_key", secret.expose_secret())?,
            None => parse(
                "store.master_key",
                &data_dir_secret(&self.data_dir, MASTER_KEY_FILE, || {
                    hex::encode(rand::random::<[u8; 32]>())
                })?,
            )?,
        };
        let previous = self
            .previous_master_keys
            .iter()
            .map(|secret| parse("store.previous_master_keys", secret.expose_secret()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MasterKeys::new(&current, &previous))
    }
}

/// The command line's flags that override the settings (each also has a key in the file).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Overrides {
    /// The settings file (TOML); `PHOTO_LEDGER__SECTION__KEY` variables override it, and these
    /// flags override both.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// `store.data_dir`: the embedded database, the photo store and generated keys.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// `store.database_url`: PostgreSQL (postgres://…) instead of the embedded database.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// `store.db_connections`: connections in the database pool.
    #[arg(long, global = true)]
    pub db_connections: Option<u32>,
    /// `store.person_key`. Prefer the file or the variable: a flag shows in the process list.
    #[arg(long, global = true, hide = true)]
    pub person_key: Option<String>,
    /// `codes.signing_key`. Prefer the file or the variable: a flag shows in the process list.
    #[arg(long, global = true, hide = true)]
    pub code_signing_key: Option<String>,
    /// `codes.public_key`: verifies collection codes (64 hex digits).
    #[arg(long, global = true)]
    pub code_public_key: Option<String>,
    /// `log.json`: log as JSON lines.
    #[arg(long, global = true)]
    pub log_json: bool,
}

impl Overrides {
    /// The settings: defaults, the file, the variables, then these flags.
    pub fn load(&self) -> Result<Settings, SettingError> {
        refuse_retired_variables(|name| std::env::var_os(name).is_some())?;
        let mut settings = Settings::load(self.config.as_deref())?;
        let store = &mut settings.store;
        if let Some(dir) = &self.data_dir {
            store.data_dir = dir.clone();
        }
        if let Some(url) = &self.database_url {
            store.database_url = Some(url.clone().into());
        }
        if let Some(connections) = self.db_connections {
            store.db_connections = connections;
        }
        if let Some(key) = &self.person_key {
            store.person_key = Some(key.clone().into());
        }
        if let Some(key) = &self.code_signing_key {
            settings.codes.signing_key = Some(key.clone().into());
        }
        if let Some(key) = &self.code_public_key {
            settings.codes.public_key = Some(key.clone());
        }
        settings.log.json |= self.log_json;
        Ok(settings)
    }
}

/// Variables earlier versions read, and what replaced each. One still set would otherwise be
/// ignored without a word (a `DATABASE_URL` left in place would quietly mean the embedded
/// database), so the service refuses to start and says what to set instead.
const RETIRED_VARIABLES: &[(&str, &str)] = &[
    ("DATABASE_URL", "PHOTO_LEDGER__STORE__DATABASE_URL"),
    ("PHOTO_LEDGER_DATA_DIR", "PHOTO_LEDGER__STORE__DATA_DIR"),
    ("PHOTO_LEDGER_PERSON_KEY", "PHOTO_LEDGER__STORE__PERSON_KEY"),
    (
        "PHOTO_LEDGER_DB_CONNECTIONS",
        "PHOTO_LEDGER__STORE__DB_CONNECTIONS",
    ),
    (
        "PHOTO_LEDGER_CODE_SIGNING_KEY",
        "PHOTO_LEDGER__CODES__SIGNING_KEY",
    ),
    (
        "PHOTO_LEDGER_CODE_PUBLIC_KEY",
        "PHOTO_LEDGER__CODES__PUBLIC_KEY",
    ),
    ("PHOTO_LEDGER_BIND", "PHOTO_LEDGER__HTTP__BIND"),
    ("PHOTO_LEDGER_CONFIG", "--config FILE"),
    ("PHOTO_LEDGER_LOG", "PHOTO_LEDGER__LOG__FILTER"),
    ("PHOTO_LEDGER_LOG_JSON", "PHOTO_LEDGER__LOG__JSON"),
    ("PHOTO_LEDGER_MODELS", "PHOTO_LEDGER__PHOTOS__MODELS_DIR"),
    (
        "PHOTO_LEDGER_MODEL_THREADS",
        "PHOTO_LEDGER__PHOTOS__MODEL_THREADS",
    ),
];

fn refuse_retired_variables(is_set: impl Fn(&str) -> bool) -> Result<(), SettingError> {
    let set: Vec<String> = RETIRED_VARIABLES
        .iter()
        .filter(|(old, _)| is_set(old))
        .map(|(old, new)| format!("{old} (set {new} instead)"))
        .collect();
    if set.is_empty() {
        Ok(())
    } else {
        Err(SettingError::Retired(set.join(", ")))
    }
}

/// A setting the service cannot start with, named by its key, with what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    /// The file or the variables cannot be read into the settings (a mistyped or unknown key
    /// names itself in the cause).
    #[error("cannot read the settings {from}")]
    Unreadable {
        from: String,
        #[source]
        source: config::ConfigError,
    },
    #[error("these variables are no longer read: {0}; see docs/configuration.md")]
    Retired(String),
    #[error("{key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("{key}: {reason}")]
    Unusable {
        key: &'static str,
        reason: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot keep a generated secret in {}", path.display())]
    KeptSecret {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SettingError {
    pub fn invalid(key: &'static str, reason: impl Into<String>) -> Self {
        SettingError::Invalid {
            key,
            reason: reason.into(),
        }
    }

    pub fn unusable(
        key: &'static str,
        reason: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        SettingError::Unusable {
            key,
            reason,
            source: Box::new(source),
        }
    }
}

/// A secret kept in the data directory: read when there, else made by `generate` and written
/// (owner-only on Unix) so the embedded default works at once and keeps working across restarts.
pub fn data_dir_secret(
    data_dir: &Path,
    file: &str,
    generate: impl FnOnce() -> String,
) -> Result<String, SettingError> {
    use std::io::Write;
    let path = data_dir.join(file);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(text.trim().to_string());
    }
    let kept = |source| SettingError::KeptSecret {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(kept)?;
    let secret = generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&path)
        .and_then(|mut f| f.write_all(secret.as_bytes()))
        .map_err(kept)?;
    Ok(secret)
}

/// The HTTP service's sections of the settings.
#[derive(Clone, Debug, Default)]
pub struct ApiSettings {
    pub auth: AuthSettings,
    pub wechat: WechatSettings,
    pub wechat_pay: crate::payments::wechat_pay::WechatPaySettings,
    pub photos: PhotoSettings,
    pub http: HttpSettings,
    pub console: ConsoleSettings,
}

/// The staff console in the browser.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSettings {
    /// How long a submission may wait for its decision: the queue page shows groups waiting half
    /// of it in amber and all of it in red.
    pub review_sla_hours: u32,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        // 审核约两个工作日: what the collection services promise students.
        Self {
            review_sla_hours: 48,
        }
    }
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
    /// How much of a JPEG upload is decoded: `as_needed` (the default) decodes it reduced, to
    /// as many pixels as standardising needs; `full_size` decodes every pixel, slower, and is
    /// there to compare with.
    pub decoding: Decoding,
    /// Where photos are kept; `<data dir>/photos` when absent (and no `s3` bucket is given).
    pub store_dir: Option<PathBuf>,
    /// An S3-compatible bucket to keep photos in instead of a local directory.
    pub s3: Option<S3Settings>,
    /// Largest upload accepted, checked while it streams in.
    pub upload_limit_bytes: usize,
    /// Memory the pictures being decoded may hold between them, on every route that decodes
    /// one (uploads, previews, print sheets, collection-code pictures); more wait their turn.
    pub decode_budget_mib: u32,
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

impl PhotoSettings {
    /// The standardiser these settings ask for, its models and ONNX Runtime at `runtime`.
    pub fn standardiser(&self, runtime: RuntimeConfig) -> StandardiserConfig {
        StandardiserConfig {
            decoding: self.decoding,
            ..StandardiserConfig::new(runtime)
        }
    }
}

/// Where the models are unless `photos.models_dir` says otherwise, relative to the working
/// directory.
pub const DEFAULT_MODELS_DIR: &str = "models";

impl Default for PhotoSettings {
    fn default() -> Self {
        Self {
            onnxruntime: None,
            models_dir: DEFAULT_MODELS_DIR.into(),
            model_threads: 1,
            concurrent_standardisations: std::thread::available_parallelism()
                .map_or(2, |n| n.get()),
            decoding: Decoding::default(),
            store_dir: None,
            s3: None,
            upload_limit_bytes: 20 * 1024 * 1024,
            decode_budget_mib: 512,
        }
    }
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Key that signs access tokens (HMAC-SHA256), at least 32 bytes. Every instance behind one
    /// address must share it. Without it `serve --dev` uses a random one per process, and otherwise
    /// one is generated once and kept in the data directory.
    pub token_secret: Option<secrecy::SecretString>,
    /// How long a student's token lasts.
    pub student_token_ttl_secs: u64,
    /// How long a staff member's token lasts.
    pub staff_token_ttl_secs: u64,
    /// How many wrong staff passwords lock an account, or a client address, and for how long.
    pub staff_sign_in: SignInLimits,
    /// Take a staff sign-in's client address from `Forwarded`/`X-Forwarded-For` instead of the
    /// connection: only behind a proxy that sets them, or anyone could pick their address.
    pub trust_forwarded_for: bool,
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignInLimits {
    /// Wrong passwords for one username within the window that lock it.
    pub per_account: u32,
    /// Wrong passwords from one client address within the window that lock it.
    pub per_address: u32,
    pub window_secs: u64,
    /// How long a lock lasts unless an admin lifts it.
    pub lock_secs: u64,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self {
            per_account: 10,
            per_address: 50,
            window_secs: 15 * 60,
            lock_secs: 15 * 60,
        }
    }
}

impl SignInLimits {
    pub fn per_account(&self) -> Limit {
        self.limit(self.per_account)
    }

    pub fn per_address(&self) -> Limit {
        self.limit(self.per_address)
    }

    fn limit(&self, max_wrong: u32) -> Limit {
        // A year at most: longer is a mistake, and would overflow the times it is added to.
        let secs = |s: u64| chrono::Duration::seconds(s.min(366 * 86_400) as i64);
        Limit {
            max_wrong,
            window: secs(self.window_secs),
            lock_for: secs(self.lock_secs),
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            token_secret: None,
            student_token_ttl_secs: 2 * 3600,
            staff_token_ttl_secs: 8 * 3600,
            staff_sign_in: SignInLimits::default(),
            trust_forwarded_for: false,
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
    /// The address `serve` listens on.
    pub bind: String,
    /// This instance's name on the idempotency keys it holds while their requests run; when it
    /// starts, it drops the unfinished claims an earlier run under the same name left. Without
    /// it a name is generated once and kept in the data directory. Instances that share a data
    /// directory need a name each.
    pub instance_id: Option<String>,
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
            bind: "127.0.0.1:8080".into(),
            instance_id: None,
            json_limit_bytes: 64 * 1024,
            verify_limit_bytes: 4 * 1024 * 1024,
            roster_limit_bytes: 16 * 1024 * 1024,
            idempotency_ttl_hours: 24,
        }
    }
}

/// The prefix of environment variables that override the settings file.
pub const ENV_PREFIX: &str = "PHOTO_LEDGER";

impl Settings {
    /// The defaults, on this store.
    pub fn new(store: StoreSettings) -> Self {
        Self {
            store,
            ..Self::default()
        }
    }

    /// Defaults, then `file` if given, then `PHOTO_LEDGER__…` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingError> {
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
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__"),
            )
            .build()
            .and_then(config::Config::try_deserialize::<Document>)
            .map(Document::into_settings)
            .map_err(|source| SettingError::Unreadable {
                from: match file {
                    Some(file) => format!("in {}", file.display()),
                    None => "from the PHOTO_LEDGER__… variables".to_string(),
                },
                source,
            })
    }
}

impl Document {
    fn into_settings(self) -> Settings {
        Settings {
            store: self.store,
            codes: self.codes,
            audit: self.audit,
            api: ApiSettings {
                auth: self.auth,
                wechat: self.wechat,
                wechat_pay: self.wechat_pay,
                photos: self.photos,
                http: self.http,
                console: self.console,
            },
            log: self.log,
            dev: false,
        }
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
        let settings = Settings::load(Some(&file)).unwrap().api;
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
        let typo = Settings::load(Some(&file)).unwrap_err();
        let said = crate::telemetry::ErrorChain(&typo).to_string();
        assert!(
            said.contains("unknown field `token_secert`"),
            "the error names the mistyped key: {said}"
        );
        assert!(Settings::load(Some(&dir.path().join("missing.toml"))).is_err());
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
        let s3 = Settings::load(Some(&file)).unwrap().api.photos.s3.unwrap();
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
        let missing = Settings::load(Some(&file)).unwrap_err();
        let said = crate::telemetry::ErrorChain(&missing).to_string();
        assert!(said.contains("access_key_id"), "{said}");
    }

    #[test]
    fn how_much_of_a_jpeg_is_decoded_is_a_setting_that_names_its_choices() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("photo-ledger.toml");
        assert_eq!(
            Settings::load(None).unwrap().api.photos.decoding,
            Decoding::AsNeeded
        );
        std::fs::write(&file, "[photos]\ndecoding = \"full_size\"\n").unwrap();
        let settings = Settings::load(Some(&file)).unwrap().api;
        assert_eq!(settings.photos.decoding, Decoding::FullSize);

        std::fs::write(&file, "[photos]\ndecoding = \"half\"\n").unwrap();
        let wrong = Settings::load(Some(&file)).unwrap_err();
        let said = crate::telemetry::ErrorChain(&wrong).to_string();
        assert!(
            said.contains("as_needed") && said.contains("full_size"),
            "the error names the choices: {said}"
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

    #[test]
    fn no_secret_of_the_whole_configuration_prints_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("photo-ledger.toml");
        let secrets = [
            (
                "store",
                "database_url",
                "postgres://ledger:pg-secret-1@db/ledger",
            ),
            ("store", "person_key", "person-secret-2"),
            ("codes", "signing_key", "code-secret-3"),
            ("codes", "encryption_key", "codekey-secret-9"),
            ("audit", "signing_key", "audit-secret-10"),
            (
                "auth",
                "token_secret",
                "token-secret-4-of-at-least-32-bytes",
            ),
            ("wechat", "app_secret", "wechat-secret-5"),
            ("wechat_pay", "api_v3_key", "apiv3-secret-6"),
            ("wechat_pay", "merchant_private_key_pem", "pem-secret-7"),
        ];
        let mut text = String::new();
        for section in ["store", "codes", "audit", "auth", "wechat", "wechat_pay"] {
            text.push_str(&format!("[{section}]\n"));
            for (_, key, value) in secrets.iter().filter(|(s, ..)| *s == section) {
                text.push_str(&format!("{key} = \"{value}\"\n"));
            }
        }
        text.push_str("[photos.s3]\nbucket = \"b\"\naccess_key_id = \"AKID\"\nsecret_access_key = \"s3-secret-8\"\n");
        std::fs::write(&file, text).unwrap();
        let settings = Settings::load(Some(&file)).unwrap();
        assert_eq!(
            settings.store.database_url(),
            Some("postgres://ledger:pg-secret-1@db/ledger")
        );
        let printed = format!("{settings:?} {settings:#?}");
        for secret in secrets
            .iter()
            .map(|(_, _, value)| *value)
            .chain(["s3-secret-8"])
        {
            let fragment = secret.split('-').next().unwrap().to_string() + "-secret";
            assert!(!printed.contains(secret), "{secret} printed in {printed}");
            assert!(!printed.contains(&fragment), "{fragment} printed");
        }
    }

    #[test]
    fn flags_override_the_variables_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("photo-ledger.toml");
        std::fs::write(
            &file,
            "[store]\ndata_dir = \"/from/file\"\ndb_connections = 3\n",
        )
        .unwrap();
        let overrides = Overrides {
            config: Some(file.clone()),
            data_dir: Some("/from/flag".into()),
            ..Overrides::default()
        };
        let settings = overrides.load().unwrap();
        assert_eq!(settings.store.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(settings.store.db_connections, 3);
        assert!(settings.store.database_url().is_none());
    }

    #[test]
    fn a_retired_variable_still_set_is_refused_with_its_replacement() {
        let error = refuse_retired_variables(|name| name == "DATABASE_URL").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("DATABASE_URL"), "{message}");
        assert!(
            message.contains("PHOTO_LEDGER__STORE__DATABASE_URL"),
            "{message}"
        );
        assert!(refuse_retired_variables(|_| false).is_ok());
    }
}
