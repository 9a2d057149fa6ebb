//! `serve --demo`: the service with something in it, for a newcomer or a demonstration (never
//! in production; it implies `--dev`). On a store with no school yet it makes one school, a
//! batch, a roster of eight students and three staff accounts, then takes one student to each
//! status a capture can be in — awaiting payment, awaiting a photo, awaiting submission, in
//! review, rejected with reasons, approved, delivered to 学信网 — and one, rejected, back in review
//! with a new photo, all with real standardised photos. The approved and the delivered student
//! each pay for a reprint mailed to them, so print staff have orders to print.
//! It does so the way clients do, over the service's own HTTP API, so what it makes is what the
//! mini-program and staff would have made. Every student hands in the same photo, so the one in
//! review carries a same-photo (同版) warning: another person's photo. Then it prints how to sign
//! in.

use anyhow::{bail, Context};
use chrono::Utc;
use photo_ledger_domain::id_number::resident_check_digit;
use photo_ledger_domain::metadata::Role;
use photo_ledger_store::Db;
use serde_json::{json, Value};

use crate::accounts::staff;
use crate::eligibility::schools;

/// Every demo staff account's password: the demo is never a production service.
pub const STAFF_PASSWORD: &str = "photo-ledger-demo";
const SCHOOL: &str = "演示大学";
const CATEGORY: &str = "普通全日制";
/// A real photo to upload: the astronaut fixture (NASA, public domain).
const PHOTO: &[u8] = include_bytes!("../../fixtures/astronaut.png");

const STAFF: [(&str, Role); 3] = [
    ("demo-reviewer", Role::Reviewer),
    ("demo-courier", Role::Courier),
    ("demo-admin", Role::Admin),
];

/// How far each demo student is taken, in order; the student number is `20260100` + position.
const STUDENTS: [(&str, Stage); 8] = [
    ("赵一鸣", Stage::Verified),
    ("钱二宁", Stage::Paid),
    ("孙三思", Stage::Uploaded),
    ("李四海", Stage::Submitted),
    ("周五岳", Stage::Rejected),
    ("冯八方", Stage::Resubmitted),
    ("吴六合", Stage::Approved),
    ("郑七星", Stage::Delivered),
];

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Verified,
    Paid,
    Uploaded,
    Submitted,
    Rejected,
    /// Rejected, then a new photo handed in: in review with an earlier submission.
    Resubmitted,
    Approved,
    Delivered,
}

/// Fills a new store through the service at `base`; leaves a store that has a school alone.
pub async fn seed(db: &Db, base: &str, photos: bool) -> anyhow::Result<()> {
    if !schools::list(db).await?.is_empty() {
        tracing::info!("demo: the store already has schools; nothing added");
        return Ok(());
    }
    for (username, role) in STAFF {
        staff::add(db, username, role, STAFF_PASSWORD.into(), Utc::now()).await?;
    }
    let api = Api::new(base);
    let admin = api.staff_token("demo-admin").await?;
    let reviewer = api.staff_token("demo-reviewer").await?;
    api.post(
        &admin,
        "/admin/schools",
        json!({"name": SCHOOL, "categories": [CATEGORY]}),
    )
    .await?;
    api.post(
        &admin,
        "/admin/batches",
        json!({"school": SCHOOL, "education_type": CATEGORY, "price_fen": 2000, "pay_before_upload": true, "paper_prints_fen": 1500}),
    )
    .await?;
    api.roster(&admin).await?;
    for (i, (_, stage)) in STUDENTS.iter().enumerate() {
        if !photos && *stage >= Stage::Uploaded {
            tracing::warn!(
                "demo: photos cannot be standardised here; the later stages are left out"
            );
            break;
        }
        api.take_student(i, *stage, &reviewer, &admin).await?;
    }
    Ok(())
}

/// How to sign in to what [`seed`] made.
pub fn sign_ins(base: &str) -> String {
    let staff = STAFF.map(|(name, _)| name).join(", ");
    let students = (1..=STUDENTS.len())
        .map(|n| format!("demo-student-{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "demo: {base}/ · staff {staff} (password {STAFF_PASSWORD}) sign in to the console at {base}/console/ \
         or at POST {base}/api/v1/auth/staff; \
         students {students} at POST {base}/api/v1/auth/dev {{\"openid\": …}}"
    )
}

/// A valid resident ID number for demo student `i`.
fn id_number(i: usize) -> String {
    let first17 = format!("11010520040{:03}{:03}", 101 + i, 100 + i);
    let check = resident_check_digit(&first17).expect("17 digits");
    format!("{first17}{check}")
}

fn student_number(i: usize) -> String {
    format!("20260100{}", i + 1)
}

/// The service's API, called as its clients call it.
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    fn new(base: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: format!("{base}/api/v1"),
        }
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body);
        answer(path, request).await
    }

    async fn staff_token(&self, username: &str) -> anyhow::Result<String> {
        let request = self
            .client
            .post(format!("{}/auth/staff", self.base))
            .json(&json!({"username": username, "password": STAFF_PASSWORD}));
        token(answer("/auth/staff", request).await?)
    }

    /// Signs the student in and, as the mini-program's first screen does, has them read the
    /// privacy policy and consent to it.
    async fn student_token(&self, openid: &str) -> anyhow::Result<String> {
        let request = self
            .client
            .post(format!("{}/auth/dev", self.base))
            .json(&json!({ "openid": openid }));
        let token = token(answer("/auth/dev", request).await?)?;
        let policy = answer(
            "/policies/privacy",
            self.client.get(format!("{}/policies/privacy", self.base)),
        )
        .await?;
        let request = self
            .client
            .post(format!("{}/me/consent", self.base))
            .bearer_auth(&token)
            .json(&json!({
                "version": policy["version"],
                "sha256": policy["sha256"],
                "face_images": true,
            }));
        answer("/me/consent", request).await?;
        Ok(token)
    }

    async fn roster(&self, admin: &str) -> anyhow::Result<()> {
        let mut csv = String::from("学号,姓名,证件类型,证件号码,学历类别\n");
        for (i, (name, _)) in STUDENTS.iter().enumerate() {
            let (number, id) = (student_number(i), id_number(i));
            csv.push_str(&format!("{number},{name},居民身份证,{id},{CATEGORY}\n"));
        }
        let path = "/admin/rosters";
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .query(&[("school", SCHOOL), ("file_name", "demo.csv")])
            .bearer_auth(admin)
            .header("content-type", "text/csv")
            .body(csv);
        answer(path, request).await.map(|_| ())
    }

    /// Hands in a standard photo for review.
    async fn submit(&self, token: &str, capture: &str, photo: String) -> anyhow::Result<()> {
        self.post(
            token,
            &format!("/captures/{capture}/submit"),
            json!({ "standard_photo_id": photo }),
        )
        .await?;
        Ok(())
    }

    async fn upload(&self, token: &str, capture: &str) -> anyhow::Result<Value> {
        const BOUNDARY: &str = "photo-ledger-demo";
        let mut body = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"source\"\r\n\r\ncamera\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"photo.png\"\r\n\
             Content-Type: image/png\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(PHOTO);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let path = format!("/captures/{capture}/photos");
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body);
        answer(&path, request).await
    }

    /// Demo student `i` pays for a reprint of the approved photo, mailed to them.
    async fn reprint(&self, student: &str, capture: &str, i: usize) -> anyhow::Result<()> {
        let (name, _) = STUDENTS[i];
        let address = self
            .post(
                student,
                "/me/addresses",
                json!({"recipient": name, "phone": format!("1380013800{i}"), "address": format!("北京市海淀区学院路{}号", 30 + i)}),
            )
            .await?;
        let layout = if i.is_multiple_of(2) { "one" } else { "two" };
        let order = self
            .post(
                student,
                &format!("/captures/{capture}/orders"),
                json!({"purpose": "reprint", "layout": layout, "sheets": 1 + i % 2, "address_id": text(&address, "address_id")?}),
            )
            .await?;
        let order_id = text(&order, "order_id")?;
        self.post(student, &format!("/dev/orders/{order_id}/pay"), json!({}))
            .await?;
        Ok(())
    }

    /// Takes demo student `i` as far as `stage`.
    async fn take_student(
        &self,
        i: usize,
        stage: Stage,
        reviewer: &str,
        admin: &str,
    ) -> anyhow::Result<()> {
        let student = self
            .student_token(&format!("demo-student-{}", i + 1))
            .await?;
        let opened = self
            .post(
                &student,
                "/captures",
                json!({"school": SCHOOL, "education_type": CATEGORY, "student_number": student_number(i)}),
            )
            .await?;
        let capture = text(&opened, "capture_id")?;
        if stage == Stage::Verified {
            return Ok(());
        }
        let order = self
            .post(
                &student,
                &format!("/captures/{capture}/orders"),
                json!({"purpose": "collection"}),
            )
            .await?;
        let order_id = text(&order, "order_id")?;
        self.post(&student, &format!("/dev/orders/{order_id}/pay"), json!({}))
            .await?;
        if stage == Stage::Paid {
            return Ok(());
        }
        let uploaded = self.upload(&student, &capture).await?;
        let photo = text(&uploaded, "standard_photo_id")?;
        if stage == Stage::Uploaded {
            return Ok(());
        }
        self.submit(&student, &capture, photo).await?;
        if stage == Stage::Submitted {
            return Ok(());
        }
        let review = |decision: &str| format!("/review/captures/{capture}/{decision}");
        self.post(reviewer, &review("claim"), json!({})).await?;
        if matches!(stage, Stage::Rejected | Stage::Resubmitted) {
            let reasons =
                json!({"reasons": ["blurred", "too_dark"], "note": "演示：请在光线充足处重拍"});
            self.post(reviewer, &review("reject"), reasons).await?;
            if stage == Stage::Resubmitted {
                let uploaded = self.upload(&student, &capture).await?;
                self.submit(&student, &capture, text(&uploaded, "standard_photo_id")?)
                    .await?;
            }
            return Ok(());
        }
        self.post(reviewer, &review("approve"), json!({})).await?;
        self.reprint(&student, &capture, i).await?;
        if stage == Stage::Delivered {
            self.post(
                admin,
                &format!("/admin/captures/{capture}/delivered"),
                json!({}),
            )
            .await?;
        }
        Ok(())
    }
}

/// The JSON answer to `request`, or what went wrong.
async fn answer(path: &str, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let response = request
        .send()
        .await
        .with_context(|| format!("demo: POST {path}"))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("demo: POST {path} answered {status}: {body}");
    }
    Ok(body)
}

fn token(body: Value) -> anyhow::Result<String> {
    text(&body, "token")
}

fn text(body: &Value, field: &str) -> anyhow::Result<String> {
    body[field]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("demo: no {field} in {body}"))
}
