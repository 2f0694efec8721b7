//! Running a sample API Gateway event (`events/*.json`) through a function's handler, the way
//! `cargo lambda invoke --data-file` would, without the runtime emulator.

use handover_core::edge::emergency::Authorization;
use handover_core::edge::engage::Endpoint;
use handover_core::edge::{self, ApiResponse};

use crate::Functions;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("the event is not an API Gateway HTTP API event: {0}")]
    NotAnEvent(String),
    #[error("unknown function `{0}` (known: webhook, rebot, emergency, zenvia, analytics)")]
    UnknownFunction(String),
    #[error("the function is not configured: {0}")]
    NotConfigured(&'static str),
}

/// Runs `event_json` through the function named `function`.
pub async fn replay(
    functions: &Functions,
    function: &str,
    event_json: &str,
) -> Result<ApiResponse, ReplayError> {
    let request =
        lambda_http::request::from_str(event_json).map_err(|e| ReplayError::NotAnEvent(e.to_string()))?;
    let request = edge::lambda::from_lambda(request);
    let response = run(functions, function, request).await;
    // The receivers only queue: the event is processed before the replay ends.
    functions.settle().await;
    response
}

async fn run(
    functions: &Functions,
    function: &str,
    request: edge::ApiRequest,
) -> Result<ApiResponse, ReplayError> {
    match function {
        "webhook" => Ok(edge::engage::handle(&functions.engage, Endpoint::Webhook, request).await),
        "rebot" => Ok(edge::engage::handle(&functions.engage, Endpoint::Interventions, request).await),
        // As deployed: API Gateway authenticated the caller with IAM (the event carries who).
        "emergency" => Ok(edge::emergency::handle(&functions.emergency, &Authorization::Iam, request).await),
        "zenvia" => match &functions.zenvia {
            Some(receiver) => Ok(edge::zenvia::handle(receiver, request).await),
            None => Err(ReplayError::NotConfigured("zenvia: set ZENVIA_API_TOKEN and ZENVIA_WEBHOOK_TOKEN")),
        },
        "analytics" => match &functions.analytics_token {
            Some(token) => Ok(edge::analytics::handle(functions.store.as_ref(), token, request).await),
            None => Err(ReplayError::NotConfigured("analytics: set ANALYTICS_ACCESS_TOKEN")),
        },
        other => Err(ReplayError::UnknownFunction(other.to_string())),
    }
}
