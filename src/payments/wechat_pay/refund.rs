//! Refunds (申请退款 and 查询单笔退款, by our `out_refund_no`): asks WeChat Pay to give a payment
//! back, and what became of a refund asked for. Both are signed like prepay, and their answers
//! are believed only once their platform signature verifies. Asking again with the same
//! `out_refund_no` never refunds twice: WeChat Pay answers the refund it already has.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;

use super::client::{PayClient, PayError};

const REFUNDS_PATH: &str = "/v3/refund/domestic/refunds";

/// One full refund of one payment.
pub struct RefundRequest<'a> {
    pub out_refund_no: &'a str,
    pub transaction_id: &'a str,
    /// Shown to the student with the refund (WeChat Pay takes at most 80 characters).
    pub reason: &'a str,
    /// What was paid, all of which is given back.
    pub amount_fen: u64,
}

/// A refund as WeChat Pay answers about it (and as its refund notifications carry it).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RefundAnswer {
    pub out_refund_no: String,
    /// The payment refunded.
    pub transaction_id: String,
    /// WeChat Pay's id of the refund.
    pub refund_id: String,
    /// `SUCCESS`, `PROCESSING`, `CLOSED` or `ABNORMAL`: in answers `status`, in notifications
    /// `refund_status`.
    #[serde(alias = "refund_status")]
    pub status: String,
    pub success_time: Option<DateTime<Utc>>,
}

impl PayClient {
    /// Asks WeChat Pay to refund a payment in full. Its result comes in the answer (often
    /// `PROCESSING`), a refund notification, or [`Self::query_refund`].
    pub async fn refund(&self, refund: &RefundRequest<'_>) -> Result<RefundAnswer, PayError> {
        let body = serde_json::to_string(&serde_json::json!({
            "transaction_id": refund.transaction_id,
            "out_refund_no": refund.out_refund_no,
            "reason": refund.reason.chars().take(80).collect::<String>(),
            "notify_url": self.notify_url,
            "amount": {"refund": refund.amount_fen, "total": refund.amount_fen, "currency": "CNY"},
        }))
        .expect("the request serialises");
        let reply = self.call(Method::POST, REFUNDS_PATH, &body).await?;
        answer(&reply, refund.out_refund_no)
    }

    /// What became of a refund asked for.
    pub async fn query_refund(&self, out_refund_no: &str) -> Result<RefundAnswer, PayError> {
        let reply = self
            .call(Method::GET, &format!("{REFUNDS_PATH}/{out_refund_no}"), "")
            .await?;
        answer(&reply, out_refund_no)
    }
}

fn answer(reply: &[u8], out_refund_no: &str) -> Result<RefundAnswer, PayError> {
    let answer: RefundAnswer = serde_json::from_slice(reply)
        .map_err(|e| PayError::Unavailable(format!("malformed answer: {e}")))?;
    if answer.out_refund_no != out_refund_no {
        return Err(PayError::Unavailable(format!(
            "malformed answer: about refund {}",
            answer.out_refund_no
        )));
    }
    Ok(answer)
}
