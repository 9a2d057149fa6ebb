//! The order query (查询订单, by our `out_trade_no`): what WeChat Pay knows of an order whose
//! payment notification has not come. The answer is signed like a notification and checked the
//! same way (platform key by serial, fresh timestamp, our merchant and app) before it is believed.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;

use super::client::{PayClient, PayError};
use super::{Amount, Notification, Transaction};

/// The transaction as the query answers it: unencrypted, and without a transaction id or a
/// payment time until the order is paid.
#[derive(Deserialize)]
struct QueriedOrder {
    mchid: String,
    appid: String,
    out_trade_no: String,
    transaction_id: Option<String>,
    trade_state: String,
    success_time: Option<DateTime<Utc>>,
    amount: Option<Amount>,
}

impl PayClient {
    /// `Paid` with the transaction once WeChat Pay holds the order paid; else `Other` with its
    /// trade state (`NOTPAY`, `USERPAYING`, `CLOSED`, …).
    pub async fn query(&self, out_trade_no: &str) -> Result<Notification, PayError> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={}",
            self.mchid
        );
        let reply = self.call(Method::GET, &path, "").await?;
        let malformed = |e: String| PayError::Unavailable(format!("malformed answer: {e}"));
        let order: QueriedOrder =
            serde_json::from_slice(&reply).map_err(|e| malformed(e.to_string()))?;
        self.verifier
            .check_ours(&order.mchid, &order.appid)
            .map_err(|e| PayError::Unavailable(format!("unusable answer: {e}")))?;
        if order.out_trade_no != out_trade_no {
            return Err(malformed(format!("answer for {}", order.out_trade_no)));
        }
        if order.trade_state != "SUCCESS" {
            return Ok(Notification::Other(order.trade_state));
        }
        let (Some(transaction_id), Some(amount)) = (order.transaction_id, order.amount) else {
            return Err(malformed(
                "a paid order without transaction id or amount".into(),
            ));
        };
        Ok(Notification::Paid(Transaction {
            mchid: order.mchid,
            appid: order.appid,
            out_trade_no: order.out_trade_no,
            transaction_id,
            trade_state: order.trade_state,
            success_time: order.success_time,
            amount,
        }))
    }
}
