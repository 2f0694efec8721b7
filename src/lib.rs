//! The local dev server: every function's routes on one HTTP server, through the very same
//! handlers as the Lambda functions (CONTRACT C13).

pub mod console;
pub mod demo;
pub mod devserver;
pub mod fake_model;
pub mod replay;
pub mod sandbox;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::any;
use handover_core::edge::emergency::Authorization;
use handover_core::edge::engage::{Endpoint, EngageReceiver};
use handover_core::edge::zenvia::ZenviaReceiver;
use handover_core::edge::{self, ApiRequest, ApiResponse, MAX_BODY_BYTES};
use handover_core::flow::emergency::EmergencyFlow;
use handover_core::queue::{InProcessQueue, Processor};
use handover_core::secret::Secret;
use handover_core::store::Store;

/// The functions the server runs, each built once.
#[derive(Clone)]
pub struct Functions {
    /// Behind `/engage/webhook` (the `webhook` Lambda) and `/engage/interventions` (`rebot`):
    /// they check, parse and queue.
    pub engage: Arc<EngageReceiver>,
    /// The queue's worker (the `process` Lambda).
    pub processor: Arc<Processor>,
    /// The in-process queue, when `QUEUE_URL` is unset (`None`: SQS, polled by the server).
    pub queue: Option<InProcessQueue>,
    /// Behind `/emergency`.
    pub emergency: Arc<EmergencyFlow>,
    /// Locally: `Authorization: Bearer $EMERGENCY_TOKEN`, or refused when unset.
    pub emergency_authorization: Arc<Authorization>,
    /// Behind `/zenvia/webhook`, when Zenvia is configured.
    pub zenvia: Option<Arc<ZenviaReceiver>>,
    /// The store every function shares (read by `/analytics/agent_intervention.json`).
    pub store: Arc<dyn Store>,
    /// `ANALYTICS_ACCESS_TOKEN`; unset: the analytics route is refused.
    pub analytics_token: Option<Secret>,
}

impl Functions {
    /// Waits until every event queued so far is processed (or dead-lettered), with the
    /// in-process queue; returns at once with SQS.
    pub async fn settle(&self) {
        if let Some(queue) = &self.queue {
            queue.wait_idle().await;
        }
    }
}

/// Continues unfinished emergency work every few seconds, as the schedule does in AWS.
pub fn spawn_emergency_schedule(
    functions: &Functions,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    let flow = functions.emergency.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            if let Err(err) = flow.continue_work().await {
                tracing::warn!(error = %err, "emergency work not finished; the next run continues");
            }
        }
    })
}

/// The routes of CONTRACT C3 that exist so far.
pub fn router(functions: Functions) -> Router {
    Router::new()
        .route("/engage/webhook", any(engage_webhook))
        .route("/engage/interventions", any(engage_interventions))
        .route("/emergency", any(emergency))
        .route("/zenvia/webhook", any(zenvia))
        .route("/analytics/agent_intervention.json", any(analytics))
        .route("/queue", axum::routing::get(queue))
        .with_state(functions)
}

/// The in-process queue: jobs waiting per thread, and the dead letters with their last error.
async fn queue(State(functions): State<Functions>) -> Response {
    let body = match &functions.queue {
        Some(queue) => serde_json::to_value(queue.snapshot()).expect("plain data serializes"),
        None => {
            serde_json::json!({"error": "not_in_process", "message": "the queue is SQS (QUEUE_URL): see its console and its dead-letter queue"})
        }
    };
    from_api_response(edge::json_response(http::StatusCode::OK, body))
}

async fn engage_webhook(State(functions): State<Functions>, request: Request) -> Response {
    engage(&functions, Endpoint::Webhook, request).await
}

async fn engage_interventions(State(functions): State<Functions>, request: Request) -> Response {
    engage(&functions, Endpoint::Interventions, request).await
}

async fn emergency(State(functions): State<Functions>, request: Request) -> Response {
    match into_api_request(request).await {
        Ok(request) => from_api_response(
            edge::emergency::handle(&functions.emergency, &functions.emergency_authorization, request).await,
        ),
        Err(response) => from_api_response(response),
    }
}

async fn zenvia(State(functions): State<Functions>, request: Request) -> Response {
    let Some(receiver) = &functions.zenvia else {
        return from_api_response(edge::error_response(
            http::StatusCode::NOT_FOUND,
            "not_configured",
            "Zenvia is not configured: set ZENVIA_API_TOKEN and ZENVIA_WEBHOOK_TOKEN",
        ));
    };
    match into_api_request(request).await {
        Ok(request) => from_api_response(edge::zenvia::handle(receiver, request).await),
        Err(response) => from_api_response(response),
    }
}

async fn analytics(State(functions): State<Functions>, request: Request) -> Response {
    let Some(token) = &functions.analytics_token else {
        return from_api_response(edge::error_response(
            http::StatusCode::UNAUTHORIZED,
            "not_configured",
            "analytics is disabled: set ANALYTICS_ACCESS_TOKEN",
        ));
    };
    match into_api_request(request).await {
        Ok(request) => {
            from_api_response(edge::analytics::handle(functions.store.as_ref(), token, request).await)
        }
        Err(response) => from_api_response(response),
    }
}

async fn engage(functions: &Functions, endpoint: Endpoint, request: Request) -> Response {
    match into_api_request(request).await {
        Ok(request) => from_api_response(edge::engage::handle(&functions.engage, endpoint, request).await),
        Err(response) => from_api_response(response),
    }
}

/// Reads the body (at most one byte over the limit, so the handler can refuse it) and keeps the
/// method, URI and headers as API Gateway would pass them.
pub(crate) async fn into_api_request(request: Request) -> Result<ApiRequest, ApiResponse> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES + 1).await.map_err(|_| edge::body_too_large())?;
    Ok(http::Request::from_parts(parts, bytes))
}

pub(crate) fn from_api_response(response: ApiResponse) -> Response {
    response.map(Body::from)
}
