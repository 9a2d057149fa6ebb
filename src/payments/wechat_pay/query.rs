//! The order query (查询订单, by our `out_trade_no`): what WeChat Pay knows of an order whose
//! payment notification has not come. The answer is signed like a notification and checked the
//! same way (platform key by serial, fresh timestamp, our merchant and app) before it is believed.
//! And closing an order (关闭订单) that is not to be paid any more.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;

use super::client::{PayClient, PayError};
use super::{Amount, Transaction};

/// What WeChat Pay knows of an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TradeState {
    Paid(Transaction),
    /// Not paid: its trade state (`NOTPAY`, `USERPAYING`, `CLOSED`, …).
    Unpaid(String),
}

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
    /// `Paid` with the transaction once WeChat Pay holds the order paid; else its trade state.
    pub async fn query(&self, out_trade_no: &str) -> Result<TradeState, PayError> {
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
            return Ok(TradeState::Unpaid(order.trade_state));
        }
        let (Some(transaction_id), Some(amount)) = (order.transaction_id, order.amount) else {
            return Err(malformed(
                "a paid order without transaction id or amount".into(),
            ));
        };
        Ok(TradeState::Paid(Transaction {
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

impl PayClient {
    /// Closes an unpaid order, so it can no longer be paid. WeChat Pay answers 204 with no
    /// body, and the same for an order already closed.
    pub async fn close(&self, out_trade_no: &str) -> Result<(), PayError> {
        let body = serde_json::json!({ "mchid": self.mchid }).to_string();
        let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}/close");
        self.call(Method::POST, &path, &body).await.map(|_| ())
    }
}
