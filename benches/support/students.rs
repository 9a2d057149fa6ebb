//! Students as the benchmarks make them: a school with a paid batch and a generated roster added
//! by the admin over the API, then each student's whole flow to a capture in review.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use photo_ledger_domain::id_number::resident_check_digit;
use reqwest::multipart::{Form, Part};
use reqwest::RequestBuilder;
use serde_json::{json, Value};

use super::phone_photo::{phone_jpeg, Chroma};
use super::service::root;

pub const SCHOOL: &str = "江南大学";
pub const CATEGORY: &str = "普通高等教育";
pub const FEE_FEN: u64 = 2500;
pub const ADMIN: &str = "bench-admin";
pub const ADMIN_PASSWORD: &str = "a benchmark admin password";

/// Latencies by route.
pub type Samples = HashMap<&'static str, Vec<Duration>>;

/// The service's API as one student or the admin calls it.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn post(&self, path: &str, token: Option<&str>) -> RequestBuilder {
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
    pub async fn send(
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
pub fn roster_csv(students: usize) -> (String, Vec<String>) {
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
pub async fn seed(api: &Api, students: usize) -> Vec<String> {
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

/// The photo each student uploads, as the mini-program sends it.
pub struct Photo {
    pub bytes: Vec<u8>,
    pub file_name: &'static str,
    pub mime: &'static str,
}

impl Photo {
    /// The astronaut fixture, a small PNG.
    pub fn astronaut() -> Arc<Self> {
        Arc::new(Self {
            bytes: std::fs::read(root().join("fixtures/astronaut.png")).unwrap(),
            file_name: "photo.png",
            mime: "image/png",
        })
    }

    /// A phone's JPEG of `width`×`height` ([`phone_jpeg`]).
    pub fn phone(width: u32, height: u32) -> Arc<Self> {
        Arc::new(Self {
            bytes: phone_jpeg(width, height, Chroma::Full),
            file_name: "photo.jpg",
            mime: "image/jpeg",
        })
    }
}

/// A capture the flow left in review, with its owner's token.
pub struct Reader {
    pub capture_id: String,
    pub token: String,
}

/// One student's whole flow, from sign-in to the capture in review.
pub async fn flow(api: &Api, photo: &Photo, number: &str, samples: &mut Samples) -> Reader {
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
    let policy = photo_ledger::consent::privacy();
    api.send(
        samples,
        "POST /me/consent",
        api.post("/me/consent", Some(&token)).json(&json!({
            "version": policy.version,
            "sha256": policy.sha256(),
            "face_images": true,
        })),
        200,
    )
    .await;
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
        Part::bytes(photo.bytes.clone())
            .file_name(photo.file_name)
            .mime_str(photo.mime)
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

/// `students` at once, each uploading `photo` in flows with the next roster student until
/// `seconds` pass or the roster runs out. Returns the finished flows, how long until the last one finished, and the
/// latencies.
pub async fn student_flows(
    api: &Api,
    numbers: Arc<Vec<String>>,
    students: usize,
    seconds: u64,
    photo: Arc<Photo>,
) -> (Vec<Reader>, Duration, Samples) {
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
    (readers, started.elapsed(), samples)
}
