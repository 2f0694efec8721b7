//! Engage Digital webhook routes (CONTRACT C3): `/engage/webhook` (content events, C6) and
//! `/engage/interventions` (intervention events, C8), each with its verification GET (C5).
//! Both share this code; only the event types they expect differ. A POST is checked, parsed
//! and its events queued (CONTRACT C14): the answer never waits on the bot or the platform.

use std::sync::Arc;

use http::{Method, Response, StatusCode, header};

use super::{
    ApiRequest, ApiResponse, MAX_BODY_BYTES, body_too_large, error_response, header_value, json_response,
    query_pairs, query_value,
};
use crate::config::WebhookAuth;
use crate::engage::{Envelope, WebhookEvent};
use crate::queue::{Job, JobQueue};

/// What the receiving functions (`webhook`, `rebot`) need: the webhook's tokens and the queue.
pub struct EngageReceiver {
    pub auth: WebhookAuth,
    /// In AWS: the webhook's secret as Secrets Manager has it now (re-read every few minutes,
    /// the previous value too during a rotation), in place of `auth`'s.
    pub rotating_secret: Option<Arc<crate::secret_store::RotatingSecret>>,
    pub queue: Arc<dyn JobQueue>,
}

impl EngageReceiver {
    pub fn new(auth: WebhookAuth, queue: Arc<dyn JobQueue>) -> Self {
        Self { auth, rotating_secret: None, queue }
    }

    /// The tokens requests are checked against now.
    async fn current_auth(&self) -> std::borrow::Cow<'_, WebhookAuth> {
        match &self.rotating_secret {
            None => std::borrow::Cow::Borrowed(&self.auth),
            Some(rotating) => std::borrow::Cow::Owned(WebhookAuth {
                verify_token: self.auth.verify_token.clone(),
                webhook_secrets: rotating.values().await,
            }),
        }
    }
}

/// The two webhook URLs, each registered in Engage Digital with its own event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/engage/webhook`: `content.imported`.
    Webhook,
    /// `/engage/interventions`: `intervention.closed`, `intervention.reopened`.
    Interventions,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Self::Webhook => "/engage/webhook",
            Self::Interventions => "/engage/interventions",
        }
    }

    /// The endpoint registered for an event type (`None`: types the product does not act on).
    pub fn expected_for(event: &WebhookEvent) -> Option<Self> {
        match event {
            WebhookEvent::ContentImported(_) => Some(Self::Webhook),
            WebhookEvent::InterventionClosed(_) | WebhookEvent::InterventionReopened(_) => {
                Some(Self::Interventions)
            }
            WebhookEvent::Unknown { .. } => None,
        }
    }
}

/// The header carrying the webhook's secret on every request, when one is configured.
pub const SECRET_HEADER: &str = "x-dimelo-secret";

/// Why a verification request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `400`: missing parameter or wrong mode.
    BadRequest(&'static str),
    /// `403`: wrong verify token or secret.
    Forbidden(&'static str),
}

/// Checks the `X-Dimelo-Secret` header when a secret is configured (constant time): any of
/// the secrets accepted now (the previous one too, during a rotation).
pub fn check_secret(request: &ApiRequest, settings: &WebhookAuth) -> Result<(), Refusal> {
    if settings.webhook_secrets.is_empty() {
        return Ok(());
    }
    match header_value(request, SECRET_HEADER) {
        // Every secret is compared, so the time taken says nothing about which matched.
        Some(presented) if settings.webhook_secrets.iter().fold(false, |ok, s| s.matches(presented) | ok) => {
            Ok(())
        }
        Some(_) => Err(Refusal::Forbidden("the webhook secret is wrong")),
        None => Err(Refusal::Forbidden("the webhook secret is missing")),
    }
}

/// The subscription check: the challenge to echo, or why not. A pure function of the request.
pub fn verify_subscription(request: &ApiRequest, settings: &WebhookAuth) -> Result<String, Refusal> {
    check_secret(request, settings)?;
    let query = query_pairs(request);
    let mode = query_value(&query, "hub.mode").ok_or(Refusal::BadRequest("hub.mode is missing"))?;
    let challenge =
        query_value(&query, "hub.challenge").ok_or(Refusal::BadRequest("hub.challenge is missing"))?;
    let token =
        query_value(&query, "hub.verify_token").ok_or(Refusal::BadRequest("hub.verify_token is missing"))?;
    if mode != "subscribe" {
        return Err(Refusal::BadRequest("hub.mode must be subscribe"));
    }
    if !settings.verify_token.matches(token) {
        return Err(Refusal::Forbidden("hub.verify_token is wrong"));
    }
    Ok(challenge.to_string())
}

fn refusal_response(refusal: Refusal) -> ApiResponse {
    match refusal {
        Refusal::BadRequest(message) => error_response(StatusCode::BAD_REQUEST, "bad_request", message),
        Refusal::Forbidden(message) => error_response(StatusCode::FORBIDDEN, "forbidden", message),
    }
}

/// `GET` and `POST` of an Engage Digital webhook URL.
pub async fn handle(receiver: &EngageReceiver, endpoint: Endpoint, request: ApiRequest) -> ApiResponse {
    let settings = receiver.current_auth().await;
    match *request.method() {
        Method::GET => match verify_subscription(&request, &settings) {
            Ok(challenge) => {
                tracing::info!(endpoint = endpoint.path(), "webhook subscription verified");
                Response::builder()
                    .status(StatusCode::OK)
                    .header(header::CONTENT_TYPE, "text/html")
                    .body(challenge)
                    .expect("static parts are valid")
            }
            Err(refusal) => {
                tracing::warn!(?refusal, "webhook verification refused");
                refusal_response(refusal)
            }
        },
        Method::POST => receive_events(receiver, &settings, endpoint, request).await,
        _ => error_response(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use GET or POST"),
    }
}

async fn receive_events(
    receiver: &EngageReceiver,
    settings: &WebhookAuth,
    endpoint: Endpoint,
    request: ApiRequest,
) -> ApiResponse {
    if let Err(refusal) = check_secret(&request, settings) {
        tracing::warn!(?refusal, "webhook POST refused");
        return refusal_response(refusal);
    }
    if request.body().len() > MAX_BODY_BYTES {
        return body_too_large();
    }
    let envelope = match Envelope::parse(request.body()) {
        Ok(envelope) => envelope,
        Err(err) => {
            tracing::warn!(error = %err, "webhook body rejected");
            return error_response(StatusCode::BAD_REQUEST, "bad_request", &err.to_string());
        }
    };
    let mut jobs = Vec::with_capacity(envelope.events.len());
    for event in envelope.events {
        match Endpoint::expected_for(&event) {
            None => {
                tracing::info!(event_id = %event.id(), event_type = %event.event_type(), "event type not handled; acknowledged");
                continue;
            }
            Some(expected) if expected != endpoint => {
                // Still handled: nothing is lost. The warning tells how to fix the registration.
                tracing::warn!(
                    event_id = %event.id(),
                    event_type = %event.event_type(),
                    received_at = endpoint.path(),
                    belongs_to = expected.path(),
                    "event type registered on the other webhook; handled anyway"
                );
            }
            Some(_) => {}
        }
        jobs.push(Job::engage(event));
    }
    let routes: Vec<&'static str> = jobs.iter().map(Job::route).collect();
    match receiver.queue.enqueue(jobs).await {
        Ok(()) => {
            for route in &routes {
                crate::metrics::event_received(route);
            }
            json_response(StatusCode::OK, serde_json::json!({ "queued": routes.len() }))
        }
        // Engage Digital retries anything but 200; the queue drops what it already has.
        Err(err) => super::retry_later("the events could not be queued", &err),
    }
}
