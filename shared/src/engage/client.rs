//! The Engage Digital REST API calls the product makes.
//!
//! The token travels only in the `Authorization: Bearer` header, never in a URL, so it cannot
//! show up in access logs or in an error (our transport errors never carry the URL).
//! Parameters go form-encoded in the body, arrays as `name[]`, as the platform accepts.

use std::time::Duration;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::outbound::{HttpClient, encode_component as encode};
use crate::retry::Backoff;
use crate::secret::Secret;

/// A failed Engage Digital call, by what failed. The platform's own `error` and `message`
/// travel with it.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EngageError {
    #[error("Engage Digital refused (403 {error}): {message}")]
    Forbidden { error: String, message: String },
    #[error("Engage Digital found nothing or no read access (404 {error}): {message}")]
    NotFound { error: String, message: String },
    #[error("Engage Digital is busy with this resource (409 {error}): {message}")]
    Conflict { error: String, message: String },
    #[error("Engage Digital could not do it (422 {error}): {message}")]
    Unprocessable { error: String, message: String },
    #[error("Engage Digital rate limit exceeded (429 {error}): {message}")]
    RateLimited { error: String, message: String, retry_after: Option<Duration> },
    #[error("Engage Digital failed ({status} {error}): {message}")]
    Server { status: u16, error: String, message: String },
    #[error("Engage Digital answered {status} unexpectedly: {message}")]
    Unexpected { status: u16, message: String },
    #[error("Engage Digital could not be reached: {0}")]
    Transport(String),
    #[error("Engage Digital's answer could not be read: {0}")]
    Decode(String),
}

impl EngageError {
    /// Whether the same call may succeed later (the platform's webhook retry, or ours).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Conflict { .. } | Self::RateLimited { .. } | Self::Server { .. } | Self::Transport(_)
        )
    }

    /// The platform's error code (`rate_limit_exceeded`, ...) or the HTTP status, for logs.
    pub fn code(&self) -> String {
        match self {
            Self::Forbidden { error, .. }
            | Self::NotFound { error, .. }
            | Self::Conflict { error, .. }
            | Self::Unprocessable { error, .. }
            | Self::RateLimited { error, .. }
            | Self::Server { error, .. } => error.clone(),
            Self::Unexpected { status, .. } => status.to_string(),
            Self::Transport(_) => "transport".into(),
            Self::Decode(_) => "decode".into(),
        }
    }
}

#[derive(Deserialize, Default)]
struct PlatformError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// An intervention as the API renders it (the fields the product reads).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Intervention {
    pub id: String,
    #[serde(default)]
    pub thread_id: Option<String>,
    #[serde(default)]
    pub closed: bool,
    /// The user the intervention belongs to (for the bot's: the API token's).
    #[serde(default)]
    pub user_id: Option<String>,
}

/// A comment on an intervention (`GET /intervention_comments`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct InterventionComment {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
}

/// A content as the API renders it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Content {
    pub id: String,
    #[serde(default)]
    pub thread_id: Option<String>,
    #[serde(default)]
    pub in_reply_to_id: Option<String>,
    #[serde(default)]
    pub intervention_id: Option<String>,
}

/// A thread as the API renders it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ContentThread {
    pub id: String,
    #[serde(default)]
    pub source_id: Option<String>,
    #[serde(default)]
    pub thread_category_ids: Vec<String>,
    #[serde(default)]
    pub closed: bool,
}

/// One connected agent's status (`GET /status`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct AgentStatus {
    pub agent_id: String,
    #[serde(default)]
    pub channels: Vec<AgentChannelStatus>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct AgentChannelStatus {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// `available`, `away`, or null when not connected on this channel.
    #[serde(default)]
    pub status: Option<String>,
    /// `unoccupied`, `ok`, `busy` or `full`.
    #[serde(default)]
    pub busyness: Option<String>,
}

/// A channel (`GET /channels`): which sources it groups.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Channel {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub source_ids: Vec<String>,
}

/// A source (`GET /content_sources/{id}`): the fields the emergency switch reads.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Source {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub default_category_ids: Vec<String>,
}

/// The filters of `GET /status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct StatusQuery {
    pub source_ids: Vec<String>,
    pub category_ids: Vec<String>,
    pub spoken_languages: Vec<String>,
}

/// How transient refusals (409 being categorized, 429 rate limit) are retried inside one call:
/// 4 attempts, 0.2 s to 2 s apart.
pub const REFUSAL_RETRIES: Backoff =
    Backoff { attempts: 4, first: Duration::from_millis(200), max: Duration::from_secs(2) };

/// The longest `Retry-After` a call waits for itself; a longer one fails the call, and the
/// queue's backoff takes over.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(10);

/// At most `per_minute` requests in any 60 s from this process: a request past it waits its
/// turn. The platform allows 500 a minute in all; the template gives each worker container
/// its share (see the README), so the shares add up below it whatever the traffic.
pub struct RateWindow {
    per_minute: usize,
    sent: tokio::sync::Mutex<std::collections::VecDeque<tokio::time::Instant>>,
}

impl RateWindow {
    const WINDOW: Duration = Duration::from_secs(60);

    pub fn per_minute(requests: u32) -> Self {
        Self { per_minute: requests.max(1) as usize, sent: Default::default() }
    }

    /// Waits until a request may go, and counts it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut sent = self.sent.lock().await;
                let now = tokio::time::Instant::now();
                while sent.front().is_some_and(|at| now.duration_since(*at) >= Self::WINDOW) {
                    sent.pop_front();
                }
                match sent.front() {
                    Some(oldest) if sent.len() >= self.per_minute => {
                        Self::WINDOW - now.duration_since(*oldest)
                    }
                    _ => {
                        sent.push_back(now);
                        return;
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// The REST client; built once per process and shared.
#[derive(Clone)]
pub struct EngageClient {
    http: HttpClient,
    api_url: String,
    token: Secret,
    retry: Backoff,
    timeout: Duration,
    rate: Option<std::sync::Arc<RateWindow>>,
}

impl EngageClient {
    pub fn new(http: HttpClient, api_url: &str, token: Secret) -> Self {
        Self {
            http,
            api_url: api_url.trim_end_matches('/').to_string(),
            token,
            retry: REFUSAL_RETRIES,
            timeout: Duration::from_secs(10),
            rate: None,
        }
    }

    /// Every call waits its turn in `rate` (this process's share of the platform's limit).
    pub fn with_rate(mut self, rate: RateWindow) -> Self {
        self.rate = Some(std::sync::Arc::new(rate));
        self
    }

    /// The time budget of each call (a call that takes longer fails as a transport error).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn with_retry(mut self, retry: Backoff) -> Self {
        self.retry = retry;
        self
    }

    /// `POST /interventions?content_id=` (seed 000).
    pub async fn create_intervention(&self, content_id: &str) -> Result<Intervention, EngageError> {
        let path = format!("/interventions?content_id={}", encode(content_id));
        self.call(Method::POST, &path, &[]).await
    }

    /// `GET /interventions/{id}`.
    pub async fn get_intervention(&self, intervention_id: &str) -> Result<Intervention, EngageError> {
        self.call_with_retry(Method::GET, &format!("/interventions/{}", encode(intervention_id)), &[]).await
    }

    /// `POST /intervention_comments`: a private comment agents see on the intervention.
    pub async fn create_intervention_comment(
        &self,
        intervention_id: &str,
        user_id: &str,
        body: &str,
    ) -> Result<InterventionComment, EngageError> {
        let form = [("intervention_id", intervention_id), ("user_id", user_id), ("body", body)];
        self.call(Method::POST, "/intervention_comments", &form).await
    }

    /// The comments of an intervention (`GET /intervention_comments?intervention_id=`, one page).
    pub async fn intervention_comments(
        &self,
        intervention_id: &str,
    ) -> Result<Vec<InterventionComment>, EngageError> {
        #[derive(Deserialize)]
        struct Page {
            records: Vec<InterventionComment>,
        }
        let path = format!("/intervention_comments?intervention_id={}&limit=150", encode(intervention_id));
        let page: Page = self.call_with_retry(Method::GET, &path, &[]).await?;
        Ok(page.records)
    }

    /// `PUT /interventions/{id}/close`.
    pub async fn close_intervention(&self, intervention_id: &str) -> Result<Intervention, EngageError> {
        self.call(Method::PUT, &format!("/interventions/{}/close", encode(intervention_id)), &[]).await
    }

    /// `POST /contents` replying to a content; the text goes in the form body, marked
    /// `auto_submitted` ("automatically sent": the bot's, not an agent's).
    pub async fn create_reply(&self, in_reply_to_id: &str, body: &str) -> Result<Content, EngageError> {
        let form = [("in_reply_to_id", in_reply_to_id), ("body", body), ("auto_submitted", "true")];
        self.call(Method::POST, "/contents", &form).await
    }

    /// `GET /contents/{id}`.
    pub async fn get_content(&self, content_id: &str) -> Result<Content, EngageError> {
        self.call_with_retry(Method::GET, &format!("/contents/{}", encode(content_id)), &[]).await
    }

    /// The latest contents of a thread (`GET /contents?q=thread:"…"`, newest first, one page).
    pub async fn thread_contents(&self, thread_id: &str) -> Result<Vec<Content>, EngageError> {
        #[derive(Deserialize)]
        struct Page {
            records: Vec<Content>,
        }
        let query = encode(&format!("thread:\"{thread_id}\""));
        let page: Page =
            self.call_with_retry(Method::GET, &format!("/contents?q={query}&limit=150"), &[]).await?;
        Ok(page.records)
    }

    /// `GET /content_threads/{id}`.
    pub async fn get_thread(&self, thread_id: &str) -> Result<ContentThread, EngageError> {
        self.call(Method::GET, &format!("/content_threads/{}", encode(thread_id)), &[]).await
    }

    /// `PUT /content_threads/{id}/update_categories` with the whole new list. A `409` (being
    /// categorized) or `429` is retried with backoff; setting the same list twice is harmless.
    pub async fn update_thread_categories(
        &self,
        thread_id: &str,
        category_ids: &[String],
    ) -> Result<ContentThread, EngageError> {
        let path = format!("/content_threads/{}/update_categories", encode(thread_id));
        let form: Vec<(&str, &str)> =
            category_ids.iter().map(|id| ("thread_category_ids[]", id.as_str())).collect();
        self.call_with_retry(Method::PUT, &path, &form).await
    }

    /// `PUT /content_threads/{id}/close` (asynchronous on the platform's side).
    pub async fn close_thread(&self, thread_id: &str) -> Result<ContentThread, EngageError> {
        self.call(Method::PUT, &format!("/content_threads/{}/close", encode(thread_id)), &[]).await
    }

    /// `GET /status`: connected agents and their status per channel.
    pub async fn agent_statuses(&self, query: &StatusQuery) -> Result<Vec<AgentStatus>, EngageError> {
        let mut params = Vec::new();
        params.extend(query.source_ids.iter().map(|v| format!("source_ids[]={}", encode(v))));
        params.extend(query.category_ids.iter().map(|v| format!("category_ids[]={}", encode(v))));
        params.extend(query.spoken_languages.iter().map(|v| format!("spoken_languages[]={}", encode(v))));
        let path =
            if params.is_empty() { "/status".to_string() } else { format!("/status?{}", params.join("&")) };
        self.call_with_retry(Method::GET, &path, &[]).await
    }

    /// `GET /channels` (one page of up to 150: channels are few).
    pub async fn channels(&self) -> Result<Vec<Channel>, EngageError> {
        #[derive(Deserialize)]
        struct Page {
            records: Vec<Channel>,
        }
        let page: Page = self.call_with_retry(Method::GET, "/channels?limit=150", &[]).await?;
        Ok(page.records)
    }

    /// `GET /content_sources/{id}`.
    pub async fn get_source(&self, source_id: &str) -> Result<Source, EngageError> {
        self.call_with_retry(Method::GET, &format!("/content_sources/{}", encode(source_id)), &[]).await
    }

    /// Every source, page by page (`GET /content_sources`).
    pub async fn list_sources(&self) -> Result<Vec<Source>, EngageError> {
        self.every_page("/content_sources").await
    }

    /// Every time sheet, page by page (`GET /time_sheets`).
    pub async fn time_sheets(&self) -> Result<Vec<crate::hours::TimeSheetRecord>, EngageError> {
        self.every_page("/time_sheets").await
    }

    /// Every record of a listing, 150 (the most the API gives) at a time.
    async fn every_page<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, EngageError> {
        #[derive(Deserialize)]
        struct Page<T> {
            records: Vec<T>,
        }
        const LIMIT: usize = 150;
        let mut records = Vec::new();
        loop {
            let page_path = format!("{path}?offset={}&limit={LIMIT}", records.len());
            let page: Page<T> = self.call_with_retry(Method::GET, &page_path, &[]).await?;
            let full = page.records.len() == LIMIT;
            records.extend(page.records);
            if !full {
                return Ok(records);
            }
        }
    }

    /// `PUT /content_sources/{id}` with the source's new default categories.
    pub async fn update_source_default_categories(
        &self,
        source_id: &str,
        category_ids: &[String],
    ) -> Result<Source, EngageError> {
        let path = format!("/content_sources/{}", encode(source_id));
        let form: Vec<(&str, &str)> =
            category_ids.iter().map(|id| ("default_category_ids[]", id.as_str())).collect();
        self.call_with_retry(Method::PUT, &path, &form).await
    }

    async fn call_with_retry<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<T, EngageError> {
        let mut attempt = 1;
        loop {
            match self.call(method.clone(), path, form).await {
                Err(e @ (EngageError::Conflict { .. } | EngageError::RateLimited { .. }))
                    if self.retry.allows_another(attempt) =>
                {
                    // The platform's own word on when to come back, when it says and it is short.
                    let delay = match &e {
                        EngageError::RateLimited { retry_after: Some(after), .. }
                            if *after > LONGEST_RETRY_AFTER =>
                        {
                            return Err(e);
                        }
                        EngageError::RateLimited { retry_after: Some(after), .. } => *after,
                        _ => self.retry.delay(attempt - 1),
                    };
                    tracing::warn!(code = %e.code(), attempt, delay_ms = delay.as_millis() as u64, "Engage Digital asked to retry later");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<T, EngageError> {
        if let Some(rate) = &self.rate {
            rate.acquire().await;
        }
        let started = std::time::Instant::now();
        let route = || crate::metrics::route_of(method.as_str(), path);
        let result = self.call_once(method.clone(), path, form).await;
        crate::metrics::platform_call(route, started.elapsed(), result.is_ok());
        result
    }

    async fn call_once<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<T, EngageError> {
        // Paths and queries come percent-encoded (see `encode`).
        let url = format!("{}{path}", self.api_url);
        let mut request =
            self.http.request(method, &url).bearer_auth(self.token.expose()).timeout(self.timeout);
        if !form.is_empty() {
            request = request.form(form);
        }
        let answer = request.send().await.map_err(|e| EngageError::Transport(e.to_string()))?;
        let (status, bytes) = (answer.status, answer.body);
        let retry_after = retry_after(&answer.headers);
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| EngageError::Decode(e.to_string()));
        }
        Err(match error_from(status, &bytes) {
            EngageError::RateLimited { error, message, .. } => {
                EngageError::RateLimited { error, message, retry_after }
            }
            other => other,
        })
    }
}

/// `Retry-After` in seconds (the form the platform sends).
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let seconds = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(seconds))
}

fn error_from(status: StatusCode, body: &[u8]) -> EngageError {
    let platform: PlatformError = serde_json::from_slice(body).unwrap_or_default();
    let error = platform.error.unwrap_or_else(|| status.as_str().to_string());
    let message = platform
        .message
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    match status.as_u16() {
        403 => EngageError::Forbidden { error, message },
        404 => EngageError::NotFound { error, message },
        409 => EngageError::Conflict { error, message },
        422 => EngageError::Unprocessable { error, message },
        429 => EngageError::RateLimited { error, message, retry_after: None },
        s @ 500..=599 => EngageError::Server { status: s, error, message },
        s => EngageError::Unexpected { status: s, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_platform_code_and_message() {
        let body = br#"{"error":"rate_limit_exceeded","message":"Too many requests","status":429}"#;
        let err = error_from(StatusCode::TOO_MANY_REQUESTS, body);
        assert_eq!(
            err,
            EngageError::RateLimited {
                error: "rate_limit_exceeded".into(),
                message: "Too many requests".into(),
                retry_after: None
            }
        );
        assert!(err.is_transient());
        assert!(!error_from(StatusCode::FORBIDDEN, b"{}").is_transient());
        assert!(error_from(StatusCode::BAD_GATEWAY, b"<html>").is_transient());
        assert!(!error_from(StatusCode::UNPROCESSABLE_ENTITY, b"").is_transient());
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_window_lets_a_burst_through_and_then_at_most_its_share_a_minute() {
        let window = RateWindow::per_minute(3);
        let started = tokio::time::Instant::now();
        for _ in 0..3 {
            window.acquire().await;
        }
        assert_eq!(started.elapsed(), Duration::ZERO, "a burst within the share goes at once");
        window.acquire().await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(60),
            "the fourth waits for the first to leave the window"
        );
    }

    #[test]
    fn encodes_ids_safely() {
        assert_eq!(encode("5be5ae57d6cb009bde8e5674"), "5be5ae57d6cb009bde8e5674");
        assert_eq!(encode("a/b?c&d"), "a%2Fb%3Fc%26d");
    }
}
