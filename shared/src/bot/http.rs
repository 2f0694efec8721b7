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
        let timeout_ms = self.timeout.as_millis() as u64;
        let exchange = async {
            let response = self
                .http
                .post(&self.url)
                .json(request)
                .send()
                .await
                .map_err(|e| BotError::Unreachable(e.without_url().to_string()))?;
            let status = response.status();
            if !status.is_success() {
                return Err(BotError::Status(status.as_u16()));
            }
            let body =
                response.bytes().await.map_err(|e| BotError::Unreachable(e.without_url().to_string()))?;
            serde_json::from_slice::<BotAnswer>(&body).map_err(|e| BotError::Malformed(e.to_string()))
        };
        // One budget for the whole exchange, body included.
        tokio::time::timeout(self.timeout, exchange).await.unwrap_or(Err(BotError::Timeout(timeout_ms)))
    }
}
