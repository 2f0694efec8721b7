//! The `http` backend: the bot protocol over HTTP with a time budget.

use std::time::Duration;

use super::{Bot, BotAnswer, BotError, BotRequest};

pub struct HttpBot {
    http: reqwest::Client,
    url: String,
    timeout: Duration,
}

impl HttpBot {
    pub fn new(http: reqwest::Client, url: impl Into<String>, timeout: Duration) -> Self {
        Self { http, url: url.into(), timeout }
    }
}

#[async_trait::async_trait]
impl Bot for HttpBot {
    async fn ask(&self, request: &BotRequest) -> Result<BotAnswer, BotError> {
        let body = exchange(self.http.post(&self.url).json(request), self.timeout).await?;
        serde_json::from_slice::<BotAnswer>(&body).map_err(|e| BotError::Malformed(e.to_string()))
    }
}

/// Sends `request` and reads a 2xx answer's body, all within `timeout` (body included): a
/// non-2xx status, an unreachable server or the time running out is a bot failure. Shared by
/// the backends that speak HTTP.
pub(super) async fn exchange(
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<bytes::Bytes, BotError> {
    let exchange = async {
        let response =
            request.send().await.map_err(|e| BotError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(BotError::Status(status.as_u16()));
        }
        response.bytes().await.map_err(|e| BotError::Unreachable(e.without_url().to_string()))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(BotError::Timeout(timeout.as_millis() as u64)))
}
