//! WeChat's server API as the mini-program back office uses it: `jscode2session`, which turns
//! the code from `wx.login` into the student's openid. The base URL is configurable so tests
//! (and staging) can point it at a fake server.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::configuration::{SettingError, WechatSettings};

#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    #[error("the mini-program's AppID and AppSecret are not configured")]
    NotConfigured,
    #[error("WeChat refused the login code ({errcode}: {errmsg})")]
    CodeRejected { errcode: i64, errmsg: String },
    #[error("WeChat is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Clone, Debug)]
pub struct WechatClient {
    http: reqwest::Client,
    base_url: String,
    app_id: String,
    app_secret: Option<SecretString>,
}

#[derive(Deserialize)]
struct SessionReply {
    openid: Option<String>,
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// WeChat's error codes for a login code that is wrong, used or expired, and for one that a
/// risk check blocked: the student should call `wx.login` again.
const CODE_ERRORS: &[i64] = &[40029, 40163, 40226];

impl WechatClient {
    pub fn new(settings: &WechatSettings) -> Result<Self, SettingError> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_millis(settings.timeout_ms))
                .build()
                .map_err(|e| {
                    SettingError::unusable("wechat.api_base_url", "no HTTP client for it", e)
                })?,
            base_url: settings.api_base_url.trim_end_matches('/').to_string(),
            app_id: settings.app_id.clone(),
            app_secret: settings.app_secret.clone(),
        })
    }

    /// The openid behind a `wx.login` code.
    pub async fn openid_for(&self, code: &str) -> Result<String, WechatError> {
        let secret = match &self.app_secret {
            Some(secret) if !self.app_id.is_empty() => secret,
            _ => return Err(WechatError::NotConfigured),
        };
        let reply: SessionReply = self
            .http
            .get(format!("{}/sns/jscode2session", self.base_url))
            .query(&[
                ("appid", self.app_id.as_str()),
                ("secret", secret.expose_secret()),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| WechatError::Unavailable(e.without_url().to_string()))?
            .json()
            .await
            .map_err(|e| WechatError::Unavailable(e.without_url().to_string()))?;
        match reply {
            SessionReply {
                openid: Some(openid),
                errcode: 0,
                ..
            } if !openid.is_empty() => Ok(openid),
            SessionReply {
                errcode, errmsg, ..
            } if CODE_ERRORS.contains(&errcode) => {
                Err(WechatError::CodeRejected { errcode, errmsg })
            }
            SessionReply {
                errcode, errmsg, ..
            } => Err(WechatError::Unavailable(format!(
                "errcode {errcode}: {errmsg}"
            ))),
        }
    }
}
