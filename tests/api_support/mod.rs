//! The API under test: the real service on port 0 over a fresh database, a school with a paid
//! batch and its roster, staff accounts, and a fake WeChat on loopback.
#![allow(dead_code)]

pub mod chromium;
pub mod console;
pub mod in_chromium;
pub mod moto;
pub mod tools;
pub mod wechat_pay;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use chrono::{NaiveDate, Utc};
use ed25519_dalek::SigningKey;
use photo_ledger::accounts::staff;
use photo_ledger::configuration::Settings;
use photo_ledger::eligibility::batches::Batch;
use photo_ledger::eligibility::codes::{CodePayload, CodeSigner};
use photo_ledger::ledger::{CommandRequest, Ledger};
use photo_ledger::payments::wechat_pay::{PlatformKey, WechatPaySettings};
use photo_ledger::startup::{open_store, Application};
use photo_ledger_domain::commands::{RecordStandardisation, UploadPhoto};
use photo_ledger_domain::events::StoredPhoto;
use photo_ledger_domain::metadata::{Actor, EventMetadata, Role};
use photo_ledger_domain::values::{Background, PhotoId, PhotoSource};
use photo_ledger_domain::CaptureCommand;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub use crate::support::school::*;
use crate::support::{Backend, TestStore};
pub use moto::MotoServer;
pub use wechat_pay::{
    encrypted_notification, platform_signature, transaction_id, FakeWechatPay, PAY_DOWN_OPENID,
    PAY_HELD_OPENID,
};

pub const SIGNING_SEED: [u8; 32] = [7; 32];
pub const STAFF_PASSWORD: &str = "correct horse battery";
pub const MCHID: &str = "1900000001";
pub const API_V3_KEY: &str = "an APIv3 key of exactly 32 bytes";
pub const MERCHANT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
pub const NOTIFY_URL: &str = "https://photo.example.cn/api/v1/payments/wechat/notify";
pub const PLATFORM_SERIAL: &str = "PUB_KEY_ID_0114232134912410000000000001";

/// A roster student: student number, ID number (last four), name.
pub struct Student {
    pub number: &'static str,
    pub id_number: &'static str,
    pub name: &'static str,
}

pub const WU: Student = Student {
    number: "2022010001",
    id_number: "320203200408151226",
    name: "吴晓兰",
};
pub const OUYANG: Student = Student {
    number: "2022010002",
    id_number: "110105200402290020",
    name: "欧阳娜娜",
};

pub const CHEN: Student = Student {
    number: "2022010003",
    id_number: "A123456(7)",
    name: "陈嘉欣",
};

pub const LI: Student = Student {
    number: "2022010004",
    id_number: "E12345678",
    name: "Li Wei",
};

impl Student {
    pub fn last4(&self) -> &'static str {
        &self.id_number[self.id_number.len() - 4..]
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub ledger: Arc<Ledger>,
    pub wechat_pay: FakeWechatPay,
    pub signer: CodeSigner,
    pub school_id: String,
    pub batch: Batch,
    server: actix_web::dev::ServerHandle,
    running: tokio::task::JoinHandle<anyhow::Result<()>>,
    _store: TestStore,
}

/// A fake WeChat `jscode2session`: `good-<openid>` signs in as `<openid>`, `used` is a used
/// code, `outage` a WeChat outage, anything else an invalid code (as WeChat answers it).
async fn jscode2session(
    query: web::Query<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    let ok = query.get("appid").map(String::as_str) == Some("wx-test-app")
        && query.get("secret").map(String::as_str) == Some("wx-test-secret")
        && query.get("grant_type").map(String::as_str) == Some("authorization_code");
    let code = query.get("js_code").cloned().unwrap_or_default();
    match code.strip_prefix("good-") {
        Some(openid) if ok => {
            HttpResponse::Ok().json(json!({"openid": openid, "session_key": "sk"}))
        }
        _ if code == "used" => {
            HttpResponse::Ok().json(json!({"errcode": 40163, "errmsg": "code been used"}))
        }
        _ if code == "outage" => {
            HttpResponse::Ok().json(json!({"errcode": -1, "errmsg": "system error"}))
        }
        _ => HttpResponse::Ok().json(json!({"errcode": 40029, "errmsg": "invalid code"})),
    }
}

/// A fake WeChat (`jscode2session` and WeChat Pay) on loopback: its address, and WeChat Pay's
/// controls.
fn fake_wechat() -> (String, FakeWechatPay) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let pay = FakeWechatPay::default();
    let configure = pay.clone();
    let server = HttpServer::new(move || {
        App::new()
            .route("/sns/jscode2session", web::get().to(jscode2session))
            .configure(|cfg| configure.configure(cfg))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    let base = format!("http://127.0.0.1:{port}");
    pay.listens_at(&base);
    (base, pay)
}

/// The token secret of the test service (and of any `photo-ledger serve` a test starts on the
/// same store, so the tokens it issued verify there too).
pub const TOKEN_SECRET: &str = "a test token secret of at least 32 bytes";

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let store = TestStore::new(backend).await;
        let db = open_store(&store.settings).await.expect("store opens");
        let now = Utc::now();
        let (school, batch) =
            seed_school(&db, NaiveDate::from_ymd_opt(2099, 12, 31).unwrap(), now).await;
        for (name, role) in [
            ("reviewer", Role::Reviewer),
            ("courier", Role::Courier),
            ("admin", Role::Admin),
        ] {
            staff::add(&db, name, role, STAFF_PASSWORD.into(), now)
                .await
                .unwrap();
        }
        db.close().await;

        let mut settings = Settings::new(store.settings.clone());
        settings.dev = true;
        settings.codes.signing_key = Some(hex::encode(SIGNING_SEED).into());
        settings.api.auth.token_secret = Some(TOKEN_SECRET.into());
        settings.api.wechat.app_id = "wx-test-app".into();
        settings.api.wechat.app_secret = Some("wx-test-secret".into());
        let (wechat, wechat_pay) = fake_wechat();
        settings.api.wechat.api_base_url = wechat;
        settings.api.wechat_pay = WechatPaySettings {
            mchid: MCHID.into(),
            api_v3_key: Some(API_V3_KEY.into()),
            platform_keys: vec![PlatformKey {
                serial: PLATFORM_SERIAL.into(),
                public_key_pem: fixture("wechat-pay/platform-public.pem"),
            }],
            merchant_private_key_pem: Some(fixture("wechat-pay/merchant-key.pem").into()),
            merchant_serial: MERCHANT_SERIAL.into(),
            notify_url: NOTIFY_URL.into(),
            api_base_url: settings.api.wechat.api_base_url.clone(),
            ..WechatPaySettings::default()
        };
        adjust(&mut settings);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let app = Application::build(&settings, listener)
            .await
            .expect("service starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        wechat_pay.deliver_to(format!("{address}/api/v1/payments/wechat/notify"));
        let ledger = app.ledger();
        let server = app.handle();
        let running = tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            client: reqwest::Client::new(),
            ledger,
            wechat_pay,
            signer: CodeSigner::new(SigningKey::from_bytes(&SIGNING_SEED)),
            school_id: school.school_id,
            batch,
            server,
            running,
            _store: store,
        }
    }

    /// Stops the in-process service and its projector, leaving the store to other processes;
    /// answers the store, opened again.
    pub async fn stop(self) -> (photo_ledger_store::Db, TestStore) {
        self.server.stop(true).await;
        self.running
            .await
            .expect("the service task ends")
            .expect("the service stops cleanly");
        let db = open_store(&self._store.settings)
            .await
            .expect("store opens");
        (db, self._store)
    }

    /// The service's data directory.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self._store.data_dir()
    }

    /// Where the service keeps its data: the SQLite file's directory or the PostgreSQL URL.
    pub fn store_settings(&self) -> &photo_ledger::configuration::StoreSettings {
        &self._store.settings
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends a request and returns its status and JSON body (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the service answers");
        read(response).await
    }

    /// The Prometheus text at `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    /// Photos standardised so far, whatever their verdict: the count of
    /// `photo_ledger_photo_standardisation_seconds` summed over its series.
    pub async fn standardisations(&self) -> u64 {
        let name = "photo_ledger_photo_standardisation_seconds_count";
        self.metrics()
            .await
            .lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['{', ' ']))
            })
            .map(|line| {
                let count = line.rsplit(' ').next().unwrap_or_default();
                count
                    .parse::<u64>()
                    .unwrap_or_else(|_| panic!("a count: {line}"))
            })
            .sum()
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// `POST /captures/{capture}/orders` with `body`.
    pub async fn order(&self, token: &str, capture: &str, body: Value) -> (StatusCode, Value) {
        self.post(&format!("/api/v1/captures/{capture}/orders"), token, body)
            .await
    }

    /// A POST with an `Idempotency-Key`, as a client that retries sends it; `send()` it.
    pub fn keyed_post(&self, path: &str, token: &str, key: &str) -> reqwest::RequestBuilder {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .header("idempotency-key", key)
    }

    /// A student's token, through the development sign-in.
    /// A student's token, signed in and consented to the privacy policy, as the mini-program's
    /// first screen has them do.
    pub async fn student(&self, openid: &str) -> String {
        let token = self.student_without_consent(openid).await;
        self.consent(&token).await;
        token
    }

    /// The student reads the current privacy policy and consents to it, face images included.
    pub async fn consent(&self, token: &str) {
        let (status, policy) = self
            .call(Method::GET, "/api/v1/policies/privacy", None, None)
            .await;
        assert_eq!(status, 200, "{policy}");
        let (status, body) = self
            .post(
                "/api/v1/me/consent",
                token,
                json!({"version": policy["version"], "sha256": policy["sha256"], "face_images": true}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// A student's token, signed in only.
    pub async fn student_without_consent(&self, openid: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/dev",
                None,
                Some(json!({ "openid": openid })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// A staff member's token: `reviewer`, `courier` or `admin`.
    pub async fn staff(&self, username: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/staff",
                None,
                Some(json!({ "username": username, "password": STAFF_PASSWORD })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// The collection code the school hands this student.
    pub fn collection_code(&self, student: &Student) -> String {
        self.signer
            .issue(&CodePayload {
                school_id: self.school_id.parse().unwrap(),
                education_type: FULL_TIME.into(),
                student_number: student.number.into(),
            })
            .unwrap()
    }

    /// Opens the student's capture by student number; returns its id.
    pub async fn open_capture(&self, token: &str, student: &Student) -> String {
        let (status, body) = self
            .post(
                "/api/v1/captures",
                token,
                json!({ "school": SCHOOL, "student_number": student.number }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["capture_id"].as_str().unwrap().to_string()
    }

    async fn system(&self, capture_id: &str, command: CaptureCommand) {
        let outcome = self
            .ledger
            .execute(CommandRequest {
                capture_id: capture_id.into(),
                command,
                metadata: EventMetadata {
                    actor: Actor::system("test"),
                    request_id: uuid::Uuid::new_v4().to_string(),
                    command_id: uuid::Uuid::new_v4().to_string(),
                    recorded_at: Utc::now(),
                },
            })
            .await
            .expect("the command is accepted");
        self.ledger
            .wait_for_projections(&outcome, photo_ledger::captures::VIEWS)
            .await
            .unwrap();
    }

    /// Pays an order as WeChat Pay does: a correctly signed notification, answered 204.
    pub async fn pay(&self, order_id: &str, amount_fen: u64) {
        let answer = self.notify(&Notice::paid(order_id, amount_fen)).await;
        assert_eq!(answer.0, 204, "{}", answer.1);
    }

    /// Sends WeChat Pay's notification for `notice`, signed with the sandbox platform key.
    pub async fn notify(&self, notice: &Notice) -> (StatusCode, Value) {
        let transaction = json!({
            "mchid": notice.mchid,
            "appid": "wx-test-app",
            "out_trade_no": notice.order_id.replace('-', ""),
            "transaction_id": notice.transaction_id,
            "trade_type": "JSAPI",
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "success_time": "2026-06-01T10:00:00+08:00",
            "payer": {"openid": "openid-a"},
            "amount": {"total": notice.amount_fen, "payer_total": notice.amount_fen, "currency": "CNY", "payer_currency": "CNY"},
        });
        let body = encrypted_notification(
            "TRANSACTION.SUCCESS",
            "支付成功",
            "transaction",
            &transaction,
        );
        self.send_notification(notice, body).await
    }

    /// Sends a notification body as WeChat Pay would, signed with the sandbox platform key and
    /// spoiled as `notice` says.
    pub async fn send_notification(&self, notice: &Notice, body: Vec<u8>) -> (StatusCode, Value) {
        let mut headers = platform_signature(&body, notice.clock_offset);
        if notice.probe {
            headers[0].1 = format!("WECHATPAY/SIGNTEST/{}", headers[0].1);
        }
        headers[3].1 = notice.serial.clone();
        let mut body = body;
        if notice.tamper {
            let at = body.len() / 2;
            body[at] ^= 1;
        }
        let mut request = self
            .client
            .post(self.url("/api/v1/payments/wechat/notify"))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        read(response).await
    }

    /// Records an uploaded photo and its standardised result, as the photo pipeline does;
    /// returns the standardised photo's id.
    pub async fn standard_photo(&self, capture_id: &str) -> String {
        let stored = |id: PhotoId| StoredPhoto {
            photo_id: id,
            sha256: "ab".repeat(32),
            bytes: 30_000,
            width: 480,
            height: 640,
            format: "jpeg".into(),
        };
        let (upload, standard) = (PhotoId::new(), PhotoId::new());
        self.system(
            capture_id,
            CaptureCommand::UploadPhoto(UploadPhoto {
                photo: stored(upload),
                source: PhotoSource::Camera,
                at: Utc::now(),
            }),
        )
        .await;
        self.system(
            capture_id,
            CaptureCommand::RecordStandardisation(RecordStandardisation {
                source_photo_id: upload,
                result: stored(standard),
                background: Background::Blue,
                spec_name: "chsi".into(),
                spec_version: "1".into(),
                checks: vec![],
                perceptual_hash: None,
                at: Utc::now(),
            }),
        )
        .await;
        standard.to_string()
    }
}

/// A payment notification to send, and how to spoil it.
#[derive(Clone, Debug)]
pub struct Notice {
    pub order_id: String,
    pub amount_fen: u64,
    pub transaction_id: String,
    pub mchid: String,
    pub serial: String,
    pub clock_offset: chrono::Duration,
    pub probe: bool,
    pub tamper: bool,
}

impl Notice {
    pub fn paid(order_id: &str, amount_fen: u64) -> Self {
        Notice {
            order_id: order_id.to_string(),
            amount_fen,
            transaction_id: transaction_id(&order_id.replace('-', "")),
            mchid: MCHID.into(),
            serial: PLATFORM_SERIAL.into(),
            clock_offset: chrono::Duration::zero(),
            probe: false,
            tamper: false,
        }
    }
}

pub fn fixture(path: &str) -> String {
    let path = format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{status}: the body is not JSON: {:?}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    (status, body)
}

/// An error answer in the one shape: the code, a message, a request id.
#[track_caller]
pub fn assert_error(answer: &(StatusCode, Value), status: u16, code: &str) {
    let (got, body) = answer;
    assert_eq!(got.as_u16(), status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["request_id"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// A multipart/form-data body with the photo and its source.
pub fn photo_form(photo: &[u8], source: &str) -> (String, Vec<u8>) {
    photo_form_with(photo, source, "photo-ledger-test-boundary", "photo.png")
}

/// The same form built with another boundary and file name, as a client building it again does.
pub fn photo_form_with(
    photo: &[u8],
    source: &str,
    boundary: &str,
    file_name: &str,
) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"source\"\r\n\r\n{source}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"{file_name}\"\r\n\
             Content-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(photo);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The astronaut fixture: one face, as a phone might take it.
pub fn astronaut() -> Vec<u8> {
    std::fs::read(format!(
        "{}/fixtures/astronaut.png",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Settings with the photo models loaded (ONNX Runtime from `ORT_DYLIB_PATH` or
/// `.onnxruntime/`; without it the service does not start and the test fails).
pub fn with_photos(settings: &mut Settings) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    settings.api.photos.onnxruntime = Some(
        std::env::var_os("ORT_DYLIB_PATH")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| root.join(".onnxruntime/libonnxruntime.so")),
    );
    settings.api.photos.models_dir = root.join("models");
    // Several tests run at once on a small machine: one standardisation at a time per service.
    settings.api.photos.concurrent_standardisations = 1;
}

impl TestApp {
    /// Uploads the astronaut and returns the standard photo made of it (accepted).
    pub async fn standard_photo_of(&self, capture: &str, token: &str) -> String {
        let (status, uploaded) = self.upload(capture, token, astronaut(), "camera").await;
        assert_eq!(status, 201, "{uploaded}");
        assert_eq!(uploaded["verdict"], "accepted", "{uploaded}");
        uploaded["standard_photo_id"].as_str().unwrap().to_string()
    }

    /// Uploads a photo to the capture as the mini-program does.
    pub async fn upload(
        &self,
        capture: &str,
        token: &str,
        photo: Vec<u8>,
        source: &str,
    ) -> (StatusCode, Value) {
        upload_to(&self.client, &self.url(""), capture, token, &photo, source).await
    }
}

/// Uploads a photo to the capture on the service at `base` as the mini-program does, waiting
/// as long as standardising the largest photo may take.
async fn upload_to(
    client: &reqwest::Client,
    base: &str,
    capture: &str,
    token: &str,
    photo: &[u8],
    source: &str,
) -> (StatusCode, Value) {
    let (content_type, body) = photo_form(photo, source);
    let response = client
        .post(format!("{base}/api/v1/captures/{capture}/photos"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .timeout(std::time::Duration::from_secs(300))
        .send()
        .await
        .unwrap();
    read(response).await
}

/// A second school with a free 自学考试 batch (blue or grey), whose roster holds one student:
/// [`EXAM_STUDENT`], with WU's ID number (the same person, another education record).
pub const EXAM_SCHOOL: &str = "太湖学院";
pub const EXAM_TYPE: &str = "自学考试";
pub const EXAM_STUDENT: &str = "2023900001";

impl TestApp {
    /// Adds [`EXAM_SCHOOL`], its free batch and its roster, as an admin would.
    pub async fn free_exam_school(&self) {
        let roster = format!(
            "{EXAM_STUDENT},{},居民身份证,{},{EXAM_TYPE}\n",
            WU.name, WU.id_number
        );
        self.free_school(EXAM_SCHOOL, EXAM_TYPE, &["blue", "grey"], &roster)
            .await;
    }

    /// A school collecting for one category in a free batch offering `backgrounds`, and its
    /// roster (`rows`: lines of 学号,姓名,证件类型,证件号码,学历类别), set up over the API as an
    /// admin would.
    pub async fn free_school(
        &self,
        school: &str,
        category: &str,
        backgrounds: &[&str],
        rows: &str,
    ) {
        let batch = json!({"price_fen": 0, "backgrounds": backgrounds});
        self.school_with_batch(school, category, batch, rows).await;
    }

    /// A school collecting for one category in one batch (`batch`: the batch's fields but its
    /// school and category), and its roster, set up over the API as an admin would.
    pub async fn school_with_batch(&self, school: &str, category: &str, batch: Value, rows: &str) {
        let admin = self.staff("admin").await;
        let (status, body) = self
            .post(
                "/api/v1/admin/schools",
                &admin,
                json!({"name": school, "categories": [category]}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let mut batch = batch;
        batch["school"] = json!(school);
        batch["education_type"] = json!(category);
        let (status, body) = self.post("/api/v1/admin/batches", &admin, batch).await;
        assert_eq!(status, 201, "{body}");
        let imported = self
            .client
            .post(self.url("/api/v1/admin/rosters"))
            .query(&[("school", school), ("file_name", "roster.csv")])
            .bearer_auth(&admin)
            .body(format!("学号,姓名,证件类型,证件号码,学历类别\n{rows}"))
            .send()
            .await
            .unwrap();
        assert_eq!(imported.status(), 200);
    }

    /// A student (signed in as `openid`) who proves who they are by their student number at
    /// `school`, photographs themselves and hands the photo in; answers their token and the
    /// capture.
    pub async fn submitted_by_student_number(
        &self,
        openid: &str,
        school: &str,
        student_number: &str,
    ) -> (String, String) {
        let student = self.student(openid).await;
        let (status, opened) = self
            .post(
                "/api/v1/captures",
                &student,
                json!({"school": school, "student_number": student_number}),
            )
            .await;
        assert_eq!(status, 201, "{opened}");
        let capture = opened["capture_id"].as_str().unwrap().to_string();
        let photo = self.standard_photo_of(&capture, &student).await;
        self.submit(&student, &capture, &photo).await;
        (student, capture)
    }

    /// A reviewer approves the capture's photo.
    pub async fn approve(&self, capture: &str) {
        let reviewer = self.staff("reviewer").await;
        let (status, body) = self
            .post(
                &format!("/api/v1/review/captures/{capture}/approve"),
                &reviewer,
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Sends a standard photo for review, as the student; it is accepted.
    pub async fn submit(&self, student: &str, capture: &str, standard_photo: &str) {
        let (status, body) = self
            .post(
                &format!("/api/v1/captures/{capture}/submit"),
                student,
                json!({"standard_photo_id": standard_photo}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

/// How many events of `event_type` a capture's trail (`GET /admin/captures/{id}/events`) holds.
pub fn count_events(trail: &Value, event_type: &str) -> usize {
    trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == event_type)
        .count()
}

/// Where a student asks for an upload on another background.
pub fn background_path(capture: &str, photo_id: &str) -> String {
    format!("/api/v1/captures/{capture}/photos/{photo_id}/background")
}

/// Opens WU's capture for `student` and pays the collection fee; returns the capture id.
pub async fn paid_capture(app: &TestApp, student: &str) -> String {
    let capture = app.open_capture(student, &WU).await;
    pay_fee(app, student, &capture).await;
    capture
}

/// Orders the collection fee and pays it through WeChat Pay's notification.
pub async fn pay_fee(app: &TestApp, student: &str, capture: &str) {
    let order_id = order_fee(app, student, capture).await;
    app.pay(&order_id, FEE_FEN).await;
}

/// Orders the collection fee; returns the order's id.
pub async fn order_fee(app: &TestApp, student: &str, capture: &str) -> String {
    let (status, order) = app
        .order(student, capture, json!({"purpose": "collection"}))
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["amount_fen"], FEE_FEN);
    assert_eq!(order["state"], "awaiting_payment");
    order["order_id"].as_str().unwrap().to_string()
}

/// A port nothing listens on now, for a service process to take.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port()
}

/// `photo-ledger serve` as a process of its own on the test service's store, with its photo
/// runtime and token secret, killed (SIGKILL) when dropped so a failing test leaves none behind.
pub struct ServiceProcess {
    child: std::process::Child,
    base: String,
    pub client: reqwest::Client,
}

impl ServiceProcess {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Uploads a photo to the capture as the mini-program does.
    pub async fn upload(&self, capture: &str, token: &str, photo: &[u8]) -> (StatusCode, Value) {
        upload_to(&self.client, &self.base, capture, token, photo, "camera").await
    }

    /// The process's resident memory now, in bytes (`VmRSS` in `/proc`).
    pub fn resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the service process is running");
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .expect("VmRSS in /proc/PID/status");
        kib * 1024
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts `command` (a `serve` on `port`) and waits until it answers.
    pub async fn start(mut command: std::process::Command, port: u16) -> ServiceProcess {
        let service = ServiceProcess {
            child: command.spawn().expect("photo-ledger serve starts"),
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while service
            .client
            .get(service.url("/healthz"))
            .send()
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the service did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        service
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

impl TestApp {
    /// Starts `photo-ledger serve` on this service's store and port `port`, with `env` set on
    /// the process (settings, `FAILPOINTS`), and waits until it answers.
    pub async fn serve_process(&self, port: u16, env: &[(&str, &str)]) -> ServiceProcess {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let onnxruntime = std::env::var_os("ORT_DYLIB_PATH")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| root.join(".onnxruntime/libonnxruntime.so"));
        let mut command = self.photo_ledger();
        command
            .args(["serve", "--dev", "--bind", &format!("127.0.0.1:{port}")])
            .env("PHOTO_LEDGER__AUTH__TOKEN_SECRET", TOKEN_SECRET)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .env("PHOTO_LEDGER__PHOTOS__ONNXRUNTIME", &onnxruntime)
            .env("PHOTO_LEDGER__PHOTOS__MODELS_DIR", root.join("models"))
            .envs(env.iter().copied());
        ServiceProcess::start(command, port).await
    }

    /// Sends `request` to a service process held at `failpoint`, kills the process once the
    /// request has claimed `key`, starts it again and sends the request again with the same key,
    /// as a mini-program retries; answers the retry (which must not be a replay) after checking a
    /// third send is one.
    pub async fn crash_and_retry<F, R>(
        &self,
        failpoint: &str,
        key: &str,
        request: F,
    ) -> (StatusCode, Value)
    where
        F: Fn(&ServiceProcess) -> R,
        R: std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
    {
        #[cfg(not(feature = "failpoints"))]
        panic!("crash tests need the failpoints feature: cargo test --all-features");
        use photo_ledger_store::on_db;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let claimed = || async {
            on_db!(self.ledger.db(), pool => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM idempotency_keys
                 WHERE idempotency_key = $1 AND status IS NULL")
                .bind(key)
                .fetch_one(pool)
                .await)
            .unwrap()
        };
        let mut held = self
            .serve_process(
                port,
                &[("FAILPOINTS", &format!("{failpoint}=sleep(60000)"))],
            )
            .await;
        let cut_off = tokio::spawn(request(&held));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while claimed().await == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the request never claimed its key"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        held.kill();
        assert!(cut_off.await.unwrap().is_err(), "the request was cut off");
        assert_eq!(
            claimed().await,
            1,
            "the dead request's claim is left behind"
        );

        // Restarted, the service releases what its last run held; the retry runs, once.
        let restarted = self.serve_process(port, &[]).await;
        // A 5xx (a slow machine) is not stored: the mini-program sends it again, as here.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let retried = loop {
            let retry = request(&restarted).await.unwrap();
            let replayed = retry.headers().contains_key("idempotency-replayed");
            let answer = read(retry).await;
            if !answer.0.is_server_error() {
                assert!(!replayed, "the retry ran: {answer:?}");
                break answer;
            }
            assert!(std::time::Instant::now() < deadline, "{answer:?}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        let again = request(&restarted).await.unwrap();
        let replayed = again.headers().contains_key("idempotency-replayed");
        assert!(replayed, "a third send replays: {:?}", read(again).await);
        retried
    }

    /// The `photo-ledger` binary on this service's store.
    pub fn photo_ledger(&self) -> std::process::Command {
        use secrecy::ExposeSecret;
        let store = self.store_settings();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_photo-ledger"));
        command.arg("--data-dir").arg(&store.data_dir);
        if let Some(url) = store.database_url() {
            command.args(["--database-url", url]);
        }
        if let Some(key) = &store.person_key {
            command.env("PHOTO_LEDGER__STORE__PERSON_KEY", key.expose_secret());
        }
        command
    }

    /// Whether some upload is recorded and its standard photo not yet.
    pub async fn an_upload_awaits_its_standard_photo(&self) -> bool {
        use photo_ledger_store::on_db;
        let waiting: i64 = on_db!(self.ledger.db(), pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM events u WHERE u.event_type = 'PhotoUploaded'
               AND NOT EXISTS (SELECT 1 FROM events s
                               WHERE s.aggregate_id = u.aggregate_id
                                 AND s.event_type = 'Standardised')")
            .fetch_one(pool)
            .await)
        .unwrap();
        waiting > 0
    }

    /// Waits until the service's own projector has brought every view past every event
    /// committed so far.
    pub async fn views_caught_up(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.ledger.projector().lag().await.expect("lag") > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the views never caught up"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// A capture's events as an admin reads them.
    pub async fn events_of(&self, capture: &str) -> Value {
        let admin = self.staff("admin").await;
        self.get(&format!("/api/v1/admin/captures/{capture}/events"), &admin)
            .await
            .1
    }
}
