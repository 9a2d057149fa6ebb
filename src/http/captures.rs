//! The student's routes: prove eligibility (which opens the capture), see their captures,
//! submit or withdraw a photo for review, and order (the collection fee, paper prints, reprints).

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use data_encoding::BASE64;
use photo_ledger_domain::commands::Withdraw;
use photo_ledger_domain::orders::{OrderPurpose, OrderState, PrintRequest};
use photo_ledger_domain::values::{CaptureId, OrderId, PhotoId, PrintLayout};
use photo_ledger_domain::CaptureCommand;
use photo_ledger_projections::capture_status::{self, CaptureStatusView};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::extract::{Auth, Caller, CommandContext, Students};
use super::state::AppState;
use crate::accounts::addresses::{self, AddressError, AddressStoreError};
use crate::captures::CaptureAccessError;
use crate::consent::{self, ConsentError};
use crate::eligibility::verify::VerifiedStudent;
use crate::eligibility::{CodeInput, Proof, VerifyRequest};
use crate::payments::wechat_pay::prepay::PaymentParams;
use crate::payments::{OrderDue, OrderRequest};

/// One of the three proofs, told apart by which fields are present.
/// One of three proofs: `school` + `education_type` + `collection_code` (or
/// `collection_code_image`) + `id_last4`; `feature_code` + `collection_code` (or image) +
/// `id_last4`; or `school` + `student_number` (+ `education_type` when ambiguous).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCapture {
    school: Option<String>,
    education_type: Option<String>,
    feature_code: Option<String>,
    collection_code: Option<String>,
    /// A picture (PNG, base64) of the collection code instead of its text.
    collection_code_image: Option<String>,
    id_last4: Option<String>,
    student_number: Option<String>,
}

fn required(value: Option<String>, field: &str) -> Result<String, ApiError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::invalid(format!("请填写{field}")))
}

impl NewCapture {
    fn proof(self) -> Result<Proof, ApiError> {
        if let Some(student_number) = self.student_number {
            if self.feature_code.is_some()
                || self.collection_code.is_some()
                || self.collection_code_image.is_some()
                || self.id_last4.is_some()
            {
                return Err(ApiError::invalid("学号验证时无需填写采集码或证件号后四位"));
            }
            return Ok(Proof::StudentNumber {
                school: required(self.school, "学校")?,
                education_type: self.education_type,
                student_number,
            });
        }
        let code = match (self.collection_code, self.collection_code_image) {
            (Some(text), None) => CodeInput::Text(text),
            (None, Some(image)) => CodeInput::Image(
                BASE64
                    .decode(image.trim().as_bytes())
                    .map_err(|_| ApiError::invalid("采集码图片须为 base64 编码的 PNG"))?,
            ),
            (Some(_), Some(_)) => return Err(ApiError::invalid("采集码和采集码图片只需提供一个")),
            (None, None) => return Err(ApiError::invalid("请填写采集码或上传采集码图片")),
        };
        let last4 = required(self.id_last4, "证件号码后四位")?;
        match self.feature_code {
            Some(feature_code) => {
                if self.school.is_some() || self.education_type.is_some() {
                    return Err(ApiError::invalid("使用特征码验证时无需填写学校和学历类别"));
                }
                Ok(Proof::FeatureCode {
                    feature_code,
                    code,
                    last4,
                })
            }
            None => Ok(Proof::CollectionCode {
                school: required(self.school, "学校")?,
                education_type: required(self.education_type, "学历类别")?,
                code,
                last4,
            }),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct CaptureOpened {
    #[schema(value_type = String, format = Uuid)]
    capture_id: CaptureId,
    /// False when the record had been verified before from this account.
    created: bool,
    status: String,
    status_label: String,
    feature_code: String,
    /// Masked name and ID, school, category, student number.
    #[schema(value_type = Object)]
    student: VerifiedStudent,
    /// The capture-status view, as `GET /captures/{id}` returns it.
    #[schema(value_type = Object)]
    capture: CaptureStatusView,
}

/// `POST /captures`: 201 with a new capture, 200 with the one this account already has.
#[utoipa::path(post, path = "/api/v1/captures", tag = "students", request_body = NewCapture, security(("bearer" = [])),
    responses((status = 201, body = CaptureOpened), (status = 200, body = CaptureOpened), (status = "4XX", body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Auth<Students>,
    ctx: CommandContext,
    body: web::Json<NewCapture>,
) -> Result<HttpResponse, ApiError> {
    let proof = body.into_inner().proof()?;
    // Nothing of the student is looked up, let alone shown, before they consented.
    let consent = consent::of(state.ledger.db(), &caller.subject)
        .await?
        .ok_or(ConsentError::Required)?;
    let verified = state
        .verifier
        .verify(VerifyRequest {
            owner: caller.subject.clone(),
            request_id: ctx.request_id.clone(),
            proof,
            consent,
            at: Utc::now(),
        })
        .await;
    state
        .metrics
        .observe_verification(verified.as_ref().map_or_else(
            |e| e.code(),
            |v| if v.created { "created" } else { "existing" },
        ));
    let verified = verified?;
    if let Some(outcome) = &verified.outcome {
        state.captures.wait_for_views(outcome).await?;
    }
    let capture = state.captures.status(verified.capture_id).await?;
    let mut answer = if verified.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(answer.json(CaptureOpened {
        capture_id: verified.capture_id,
        created: verified.created,
        status: capture.status.clone(),
        status_label: capture.status_label.clone(),
        feature_code: verified.feature_code,
        student: verified.student,
        capture,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct CaptureList {
    #[schema(value_type = Vec<Object>)]
    captures: Vec<CaptureStatusView>,
}

/// `GET /captures`: the student's own captures, most recently changed first.
#[utoipa::path(get, path = "/api/v1/captures", tag = "students", operation_id = "list_captures", security(("bearer" = [])),
    responses((status = 200, body = CaptureList), (status = "4XX", body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Auth<Students>,
) -> Result<HttpResponse, ApiError> {
    let captures = capture_status::by_owner(state.ledger.db(), &caller.subject).await?;
    Ok(HttpResponse::Ok().json(CaptureList { captures }))
}

/// `GET /captures/{id}`: to its owner and to staff.
#[utoipa::path(get, path = "/api/v1/captures/{capture_id}", tag = "students", operation_id = "get_capture", params(("capture_id" = String, Path, description = "The capture (UUID)")), security(("bearer" = [])),
    responses((status = 200, description = "The capture-status view: status, status_label, next_actions, photos, checks, reasons, orders", body = Object), (status = "4XX", body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<CaptureId>,
) -> Result<HttpResponse, ApiError> {
    let (owner, view) = state
        .status_reads
        .get(path.to_string())
        .await?
        .ok_or(CaptureAccessError::NotFound)?;
    if !caller.is_staff() && owner != caller.subject {
        return Err(CaptureAccessError::NotFound.into());
    }
    // The view is answered as stored: it was encoded once, when projected.
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(view))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    #[schema(value_type = String, format = Uuid)]
    standard_photo_id: PhotoId,
}

/// `POST /captures/{id}/submit {standard_photo_id}`: send the standardised photo for review.
#[utoipa::path(post, path = "/api/v1/captures/{capture_id}/submit", tag = "students", params(("capture_id" = String, Path, description = "The capture (UUID)")), request_body = SubmitBody, security(("bearer" = [])),
    responses((status = 200, description = "The capture-status view", body = Object), (status = "4XX", body = ErrorBody)))]
pub async fn submit(
    state: web::Data<AppState>,
    caller: Auth<Students>,
    ctx: CommandContext,
    path: web::Path<CaptureId>,
    body: web::Json<SubmitBody>,
) -> Result<HttpResponse, ApiError> {
    let view = state
        .photos
        .submit(
            &ctx.requester(&caller),
            path.into_inner(),
            body.standard_photo_id,
        )
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /captures/{id}/withdraw`: take a photo back out of review.
#[utoipa::path(post, path = "/api/v1/captures/{capture_id}/withdraw", tag = "students", params(("capture_id" = String, Path, description = "The capture (UUID)")), security(("bearer" = [])),
    responses((status = 200, description = "The capture-status view", body = Object), (status = "4XX", body = ErrorBody)))]
pub async fn withdraw(
    state: web::Data<AppState>,
    caller: Auth<Students>,
    ctx: CommandContext,
    path: web::Path<CaptureId>,
) -> Result<HttpResponse, ApiError> {
    let command = CaptureCommand::Withdraw(Withdraw { at: Utc::now() });
    let view = state
        .captures
        .act(&ctx.requester(&caller), path.into_inner(), command)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// `collection` (the fee, with prints if a layout is given), `paper_prints` or `reprint`.
    #[schema(value_type = String, example = "collection")]
    purpose: OrderPurpose,
    /// Print layout for mailed prints: `one` (版式一) or `two` (版式二).
    #[schema(value_type = Option<String>, example = "one")]
    layout: Option<PrintLayout>,
    /// Sheets to print (default 1).
    sheets: Option<u32>,
    /// An entry of the student's address book to mail the prints to.
    address_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct OrderPlaced {
    #[schema(value_type = String, format = Uuid)]
    order_id: OrderId,
    #[schema(value_type = String)]
    purpose: OrderPurpose,
    amount_fen: u64,
    #[schema(value_type = String, example = "awaiting_payment")]
    state: OrderState,
    /// For `wx.requestPayment`; absent when nothing is due or WeChat Pay is not configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    payment: Option<PaymentParams>,
    #[schema(value_type = Object)]
    capture: CaptureStatusView,
}

impl From<OrderDue> for OrderPlaced {
    fn from(due: OrderDue) -> Self {
        Self {
            order_id: due.order.order_id,
            purpose: due.order.purpose,
            amount_fen: due.order.amount_fen.fen(),
            state: due.order.state,
            payment: due.payment,
            capture: due.capture,
        }
    }
}

/// The prints an order asks for, from the student's address book.
async fn prints_of(
    state: &AppState,
    caller: &Caller,
    order: &NewOrder,
) -> Result<Option<PrintRequest>, ApiError> {
    match (&order.layout, &order.address_id) {
        (None, None) if order.sheets.is_none() => Ok(None),
        (Some(layout), Some(address_id)) => {
            let entry = addresses::get(state.ledger.db(), &caller.subject, address_id)
                .await
                .map_err(|e| match e {
                    AddressStoreError::Refused(AddressError::NotFound) => {
                        ApiError::invalid("收件地址不存在，请重新选择")
                    }
                    other => other.into(),
                })?;
            Ok(Some(PrintRequest {
                layout: *layout,
                sheets: order.sheets.unwrap_or(1),
                recipient: entry.recipient,
                phone: entry.phone,
                address: entry.address,
            }))
        }
        (None, _) => Err(ApiError::invalid("请选择冲印版式")),
        (_, None) => Err(ApiError::invalid("请选择收件地址")),
    }
}

/// `POST /captures/{id}/orders {purpose, layout?, sheets?, address_id?}` → 201 with the order
/// and its amount.
#[utoipa::path(post, path = "/api/v1/captures/{capture_id}/orders", tag = "students", params(("capture_id" = String, Path, description = "The capture (UUID)")), request_body = NewOrder, security(("bearer" = [])),
    responses((status = 201, body = OrderPlaced), (status = "4XX", body = ErrorBody)))]
pub async fn place_order(
    state: web::Data<AppState>,
    caller: Auth<Students>,
    ctx: CommandContext,
    path: web::Path<CaptureId>,
    body: web::Json<NewOrder>,
) -> Result<HttpResponse, ApiError> {
    let order = body.into_inner();
    let prints = prints_of(&state, &caller, &order).await?;
    let due = state
        .payments
        .place_order(
            &ctx.requester(&caller),
            path.into_inner(),
            OrderRequest {
                order_id: OrderId::from_uuid(ctx.new_id(&caller, "order")),
                purpose: order.purpose,
                prints,
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(OrderPlaced::from(due)))
}

/// `POST /captures/{id}/orders/{order_id}/payment`: fresh `wx.requestPayment` parameters for an
/// unpaid order (a prepay id lasts two hours).
#[utoipa::path(post, path = "/api/v1/captures/{capture_id}/orders/{order_id}/payment", tag = "students",
    params(("capture_id" = String, Path), ("order_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = OrderPlaced), (status = "4XX", body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn payment(
    state: web::Data<AppState>,
    caller: Auth<Students>,
    path: web::Path<(CaptureId, OrderId)>,
) -> Result<HttpResponse, ApiError> {
    let (capture_id, order_id) = path.into_inner();
    let due = state
        .payments
        .prepay(&caller.actor(), capture_id, order_id)
        .await?;
    Ok(HttpResponse::Ok().json(OrderPlaced::from(due)))
}
