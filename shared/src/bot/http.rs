//! The `http` backend: the bot protocol over HTTP with a time budget.

use std::time::Duration;

use super::{AnswerBounds, Bot, BotAnswer, BotError, BotRequest};

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
/// non-2xx status, an unreachable server, the time running out or a body past
/// [`AnswerBounds::body_bytes`] (read no further) is a bot failure. Shared by the backends
/// that speak HTTP.
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
        read_bounded(response, AnswerBounds::PRODUCT.body_bytes).await
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(BotError::Timeout(timeout.as_millis() as u64)))
}

/// The body, chunk by chunk, failing as soon as it passes `limit` bytes: a bot that sends
/// gigabytes costs this process at most `limit`.
async fn read_bounded(mut response: reqwest::Response, limit: usize) -> Result<bytes::Bytes, BotError> {
    if response.content_length().is_some_and(|length| length > limit as u64) {
        return Err(BotError::TooLarge(format!(
            "a body of {} bytes",
            response.content_length().unwrap_or(0)
        )));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| BotError::Unreachable(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > limit {
            return Err(BotError::TooLarge(format!("a body over {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
