//! Calls to Zenvia's bot API. The token travels in each JSON body (as the API wants), never in
//! a URL. Answers are `{"message", "status"}`; a `status` of 400 or more is an error even when
//! the HTTP status says 200.

use std::time::Duration;

use http::Method;

use crate::outbound::{HttpClient, encode_component};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::secret::Secret;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ZenviaError {
    #[error("Zenvia refused ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("Zenvia failed ({status}): {message}")]
    Server { status: u16, message: String },
    #[error("Zenvia could not be reached: {0}")]
    Transport(String),
}

impl ZenviaError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Server { .. } | Self::Transport(_) | Self::Refused { status: 429, .. })
    }
}

#[derive(Deserialize, Default)]
struct Answer {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    status: Option<u16>,
}

/// The time budget of one Zenvia call: a call that takes longer fails as a transport error
/// (and the effect it carried is uncertain).
pub const ZENVIA_CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct ZenviaClient {
    http: HttpClient,
    api_url: String,
    token: Secret,
    timeout: Duration,
}

impl ZenviaClient {
    pub fn new(http: HttpClient, api_url: &str, token: Secret) -> Self {
        Self { http, api_url: api_url.trim_end_matches('/').to_string(), token, timeout: ZENVIA_CALL_TIMEOUT }
    }

    /// `PUT /bot/{hash}/accept`.
    pub async fn accept(&self, hash: &str) -> Result<(), ZenviaError> {
        self.call(Method::PUT, hash, "accept", json!({ "token": self.token.expose() })).await
    }

    /// `POST /bot/{hash}/message` with a text.
    pub async fn send_text(&self, hash: &str, text: &str) -> Result<(), ZenviaError> {
        let body = json!({ "token": self.token.expose(), "content": text, "content_type": "text" });
        self.call(Method::POST, hash, "message", body).await
    }

    /// `PUT /bot/{hash}/transfer`; `None` transfers to the interaction's own department. Not
    /// retried here: a 5xx may follow a transfer Zenvia made, and a repeat would be refused;
    /// the turn engine retries it knowing that.
    pub async fn transfer(&self, hash: &str, department_id: Option<i64>) -> Result<(), ZenviaError> {
        let body = json!({ "token": self.token.expose(), "department_id": department_id });
        self.call(Method::PUT, hash, "transfer", body).await
    }

    /// `PUT /bot/{hash}/finish`.
    pub async fn finish(&self, hash: &str) -> Result<(), ZenviaError> {
        self.call(Method::PUT, hash, "finish", json!({ "token": self.token.expose() })).await
    }

    async fn call(&self, method: Method, hash: &str, action: &str, body: Value) -> Result<(), ZenviaError> {
        let started = std::time::Instant::now();
        let route = || format!("{} /bot/:id/{action}", method.as_str());
        let result = self.call_once(method.clone(), hash, action, body).await;
        crate::metrics::platform_call(route, started.elapsed(), result.is_ok());
        result
    }

    async fn call_once(
        &self,
        method: Method,
        hash: &str,
        action: &str,
        body: Value,
    ) -> Result<(), ZenviaError> {
        let url = format!("{}/bot/{}/{}", self.api_url, encode_component(hash), action);
        let answer = self
            .http
            .request(method, &url)
            .timeout(self.timeout)
            .json(&body)
            .send()
            .await
            .map_err(|e| ZenviaError::Transport(e.to_string()))?;
        let (http_status, bytes) = (answer.status.as_u16(), answer.body);
        let answer: Answer = serde_json::from_slice(&bytes).unwrap_or_default();
        let status = answer.status.filter(|s| *s >= 400).unwrap_or(http_status);
        let message = answer
            .message
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned());
        match status {
            200..=299 => Ok(()),
            500..=599 => Err(ZenviaError::Server { status, message }),
            _ => Err(ZenviaError::Refused { status, message }),
        }
    }
}
