//! JSAPI prepay (JSAPI下单): asks WeChat Pay for a `prepay_id` for one of our orders and signs the
//! parameters the mini-program hands to `wx.requestPayment`.

use chrono::Utc;
use reqwest::Method;
use serde::{Deserialize, Serialize};

pub use super::client::{PayClient, PayError};

const JSAPI_PATH: &str = "/v3/pay/transactions/jsapi";

/// What `wx.requestPayment` takes, named as it names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentParams {
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    #[serde(rename = "nonceStr")]
    pub nonce_str: String,
    /// `prepay_id=…`.
    pub package: String,
    #[serde(rename = "signType")]
    pub sign_type: String,
    #[serde(rename = "paySign")]
    pub pay_sign: String,
}

/// One order to prepay.
pub struct PrepayRequest<'a> {
    pub out_trade_no: &'a str,
    pub description: &'a str,
    pub amount_fen: u64,
    pub openid: &'a str,
}

#[derive(Deserialize)]
struct PrepayReply {
    prepay_id: String,
}

impl PayClient {
    /// A prepay id for the order, and the signed parameters for `wx.requestPayment`.
    pub async fn prepay(&self, order: &PrepayRequest<'_>) -> Result<PaymentParams, PayError> {
        let body = serde_json::to_string(&serde_json::json!({
            "appid": self.appid,
            "mchid": self.mchid,
            "description": order.description,
            "out_trade_no": order.out_trade_no,
            "notify_url": self.notify_url,
            "amount": {"total": order.amount_fen, "currency": "CNY"},
            "payer": {"openid": order.openid},
        }))
        .expect("the request serialises");
        let reply = self.call(Method::POST, JSAPI_PATH, &body).await?;
        let PrepayReply { prepay_id } = serde_json::from_slice(&reply)
            .map_err(|e| PayError::Unavailable(format!("malformed answer: {e}")))?;
        let time_stamp = Utc::now().timestamp().to_string();
        let nonce_str = super::client::nonce();
        let package = format!("prepay_id={prepay_id}");
        let pay_sign = self.sign(&format!(
            "{}\n{time_stamp}\n{nonce_str}\n{package}\n",
            self.appid
        ));
        Ok(PaymentParams {
            time_stamp,
            nonce_str,
            package,
            sign_type: "RSA".into(),
            pay_sign,
        })
    }
}
