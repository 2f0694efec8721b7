//! The `http` backend: the bot protocol over HTTP with a time budget.

use std::time::Duration;

use super::{AnswerBounds, Bot, BotAnswer, BotError, BotRequest};
use crate::outbound::{Call, CallError, HttpClient};

pub struct HttpBot {
    http: HttpClient,
    url: String,
    timeout: Duration,
}

impl HttpBot {
    pub fn new(http: HttpClient, url: impl Into<String>, timeout: Duration) -> Self {
        Self { http, url: url.into(), timeout }
    }
}

#[async_trait::async_trait]
impl Bot for HttpBot {
    async fn ask(&self, request: &BotRequest) -> Result<BotAnswer, BotError> {
        let body =
            exchange(self.http.request(http::Method::POST, &self.url).json(request), self.timeout).await?;
        serde_json::from_slice::<BotAnswer>(&body).map_err(|e| BotError::Malformed(e.to_string()))
    }
}

/// Sends `request` and reads a 2xx answer's body, all within `timeout` (body included): a
/// non-2xx status, an unreachable server, the time running out or a body past
/// [`AnswerBounds::body_bytes`] (read no further) is a bot failure. Shared by the backends
/// that speak HTTP.
pub(super) async fn exchange(request: Call<'_>, timeout: Duration) -> Result<bytes::Bytes, BotError> {
    let limit = AnswerBounds::PRODUCT.body_bytes;
    let answer = request.timeout(timeout).body_limit(limit).send().await.map_err(|error| match error {
        CallError::TimedOut(_) => BotError::Timeout(timeout.as_millis() as u64),
        CallError::TooLarge(limit) => BotError::TooLarge(format!("a body over {limit} bytes")),
        CallError::Url(_) | CallError::Transport(_) => BotError::Unreachable(error.to_string()),
    })?;
    if !answer.status.is_success() {
        return Err(BotError::Status(answer.status.as_u16()));
    }
    Ok(answer.body)
}
