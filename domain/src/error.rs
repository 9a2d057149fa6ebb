//! Every refusal a capture can give. Codes are stable API; messages are short Chinese
//! sentences a mini-program can show as they are.

use serde::{Deserialize, Serialize};

use crate::reasons::UnknownRejectReason;
use crate::values::{OrderId, PhotoId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CaptureError {
    #[error("capture already exists")]
    AlreadyExists,
    #[error("eligibility has not been verified")]
    NotVerified,
    #[error("the collection fee must be paid first")]
    PaymentRequired,
    #[error("this collection accepts photos from the camera only")]
    AlbumNotAllowed,
    #[error("the capture is locked after approval")]
    Locked,
    #[error("unknown photo {0}")]
    UnknownPhoto(PhotoId),
    #[error("photo {0} is not a standardised photo of this capture")]
    NotStandardPhoto(PhotoId),
    #[error("the photo failed a blocking check")]
    BlockingCheckFailed,
    #[error("background is not offered by this collection")]
    BackgroundNotOffered,
    #[error("a capture keeps at most {max} photos")]
    PhotoLimitReached { max: usize },
    #[error("already in review")]
    AlreadyInReview,
    #[error("not in review")]
    NotInReview,
    #[error("claimed by another reviewer until the claim expires")]
    ClaimedByAnother,
    #[error("claim time must be positive")]
    InvalidClaimTtl,
    #[error("at least one reject reason is required")]
    RejectReasonRequired,
    /// Given where reason codes are read into [`crate::reasons::RejectReason`]s; commands only
    /// ever carry catalogue reasons.
    #[error("unknown reject reason {0:?}")]
    UnknownRejectReason(String),
    #[error("not approved")]
    NotApproved,
    #[error("delivery stage cannot go back")]
    DeliveryStageRegress,
    #[error("no collection fee is due")]
    NoFeeRequired,
    #[error("the collection fee is already paid or ordered")]
    FeeAlreadyPaid,
    #[error("paper prints are not offered by this collection")]
    PrintsNotOffered,
    #[error("print details are required for this order")]
    PrintDetailsRequired,
    #[error("print details are not allowed for this order")]
    PrintDetailsNotAllowed,
    #[error("sheets must be between 1 and {max}")]
    InvalidSheets { max: u32 },
    #[error("recipient, phone and address are required")]
    IncompleteAddress,
    #[error("order id {0} is already used")]
    DuplicateOrder(OrderId),
    #[error("unknown order {0}")]
    UnknownOrder(OrderId),
    #[error("the order is already paid")]
    OrderAlreadyPaid,
    #[error("the order is not paid")]
    OrderUnpaid,
    #[error("the order has no prints")]
    NotAPrintOrder,
    #[error("the order is already shipped")]
    AlreadyShipped,
    #[error("carrier and tracking number are required")]
    TrackingRequired,
    #[error("transaction {0} already paid another order")]
    TransactionReused(String),
    #[error("the order is closed")]
    OrderClosed,
    #[error("transaction {0} is not a payment of this order")]
    UnknownPayment(String),
    #[error("a reason is required for a refund")]
    RefundNoteRequired,
    #[error("the payment is already refunded or being refunded")]
    AlreadyRefunded,
    #[error("unknown refund {0}")]
    UnknownRefund(crate::values::RefundId),
    #[error("the capture's personal information was erased")]
    Erased,
}

impl CaptureError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        use CaptureError::*;
        match self {
            AlreadyExists => "capture.already_exists",
            NotVerified => "capture.not_verified",
            PaymentRequired => "capture.payment_required",
            AlbumNotAllowed => "capture.album_not_allowed",
            Locked => "capture.locked",
            UnknownPhoto(_) => "capture.unknown_photo",
            NotStandardPhoto(_) => "capture.not_standard_photo",
            BlockingCheckFailed => "capture.blocking_check_failed",
            BackgroundNotOffered => "capture.background_not_offered",
            PhotoLimitReached { .. } => "capture.photo_limit_reached",
            AlreadyInReview => "capture.already_in_review",
            NotInReview => "capture.not_in_review",
            ClaimedByAnother => "capture.claimed_by_another",
            InvalidClaimTtl => "capture.invalid_claim_ttl",
            RejectReasonRequired => "capture.reject_reason_required",
            UnknownRejectReason(_) => "capture.unknown_reject_reason",
            NotApproved => "capture.not_approved",
            DeliveryStageRegress => "capture.delivery_stage_regress",
            NoFeeRequired => "capture.no_fee_required",
            FeeAlreadyPaid => "capture.fee_already_paid",
            PrintsNotOffered => "capture.prints_not_offered",
            PrintDetailsRequired => "capture.print_details_required",
            PrintDetailsNotAllowed => "capture.print_details_not_allowed",
            InvalidSheets { .. } => "capture.invalid_sheets",
            IncompleteAddress => "capture.incomplete_address",
            DuplicateOrder(_) => "capture.duplicate_order",
            UnknownOrder(_) => "capture.unknown_order",
            OrderAlreadyPaid => "capture.order_already_paid",
            OrderUnpaid => "capture.order_unpaid",
            NotAPrintOrder => "capture.not_a_print_order",
            AlreadyShipped => "capture.already_shipped",
            TrackingRequired => "capture.tracking_required",
            TransactionReused(_) => "capture.transaction_reused",
            OrderClosed => "capture.order_closed",
            UnknownPayment(_) => "capture.unknown_payment",
            RefundNoteRequired => "capture.refund_note_required",
            AlreadyRefunded => "capture.already_refunded",
            UnknownRefund(_) => "capture.unknown_refund",
            Erased => "capture.erased",
        }
    }

    /// A short message for the student or staff member, in Chinese.
    pub fn message(&self) -> String {
        use CaptureError::*;
        match self {
            AlreadyExists => "该学历的采集记录已存在".into(),
            NotVerified => "请先完成身份验证".into(),
            PaymentRequired => "请先支付采集费用".into(),
            AlbumNotAllowed => "本次采集只允许现场拍照，不能从相册选择".into(),
            Locked => "照片已审核通过，不能再修改".into(),
            UnknownPhoto(_) => "找不到这张照片，请重新上传".into(),
            NotStandardPhoto(_) => "请提交处理后的标准照片".into(),
            BlockingCheckFailed => "照片未通过检测，请按提示重新拍摄".into(),
            BackgroundNotOffered => "本次采集不提供该背景颜色".into(),
            PhotoLimitReached { max } => {
                format!("本次采集最多保存 {max} 张照片，已达上限，请联系学校工作人员")
            }
            AlreadyInReview => "照片正在审核中，请耐心等待".into(),
            NotInReview => "照片当前不在审核中".into(),
            ClaimedByAnother => "该照片已由其他审核员领取".into(),
            InvalidClaimTtl => "领取时长必须大于零".into(),
            RejectReasonRequired => "请至少选择一个不通过原因".into(),
            UnknownRejectReason(code) => format!("未知的不通过原因：{code}"),
            NotApproved => "照片尚未审核通过".into(),
            DeliveryStageRegress => "上传学信网的状态不能回退".into(),
            NoFeeRequired => "本次采集免费，无需支付".into(),
            FeeAlreadyPaid => "采集费用已支付或已下单".into(),
            PrintsNotOffered => "本次采集不提供纸质照片冲印".into(),
            PrintDetailsRequired => "请填写冲印版式、张数和收件信息".into(),
            PrintDetailsNotAllowed => "该订单不包含冲印".into(),
            InvalidSheets { max } => format!("冲印张数应为 1 到 {max} 张"),
            IncompleteAddress => "请填写完整的收件人、电话和地址".into(),
            DuplicateOrder(_) => "订单号重复".into(),
            UnknownOrder(_) => "找不到该订单".into(),
            OrderAlreadyPaid => "该订单已支付".into(),
            OrderUnpaid => "该订单尚未支付".into(),
            NotAPrintOrder => "该订单不包含冲印".into(),
            AlreadyShipped => "该订单已发货".into(),
            TrackingRequired => "请填写快递公司和运单号".into(),
            TransactionReused(_) => "该支付流水已用于其他订单".into(),
            OrderClosed => "该订单已关闭，请重新下单".into(),
            UnknownPayment(_) => "该订单没有这笔支付".into(),
            RefundNoteRequired => "请填写退款原因".into(),
            AlreadyRefunded => "这笔支付已退款或正在退款".into(),
            UnknownRefund(_) => "找不到该退款".into(),
            Erased => "该采集记录的个人信息已删除".into(),
        }
    }
}

impl From<UnknownRejectReason> for CaptureError {
    fn from(e: UnknownRejectReason) -> Self {
        CaptureError::UnknownRejectReason(e.0)
    }
}
