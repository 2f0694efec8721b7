//! `POST /zenvia/webhook?token=…` (CONTRACT C10). Zenvia signs nothing, so the URL carries its
//! own secret, compared in constant time; a wrong token does nothing at all.

use http::{Method, StatusCode};

use super::{
    ApiRequest, ApiResponse, MAX_BODY_BYTES, body_too_large, error_response, json_response, query_pairs,
    query_value,
};
use crate::flow::zenvia_flow::{ZenviaFlow, ZenviaProcessError};
use crate::zenvia::ZenviaEvent;

pub async fn handle(flow: &ZenviaFlow, request: ApiRequest) -> ApiResponse {
    if request.method() != Method::POST {
        return error_response(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use POST");
    }
    let query = query_pairs(&request);
    let authorized = query_value(&query, "token").is_some_and(|t| flow.settings.webhook_token.matches(t));
    if !authorized {
        tracing::warn!("Zenvia webhook refused: wrong or missing token");
        return error_response(StatusCode::FORBIDDEN, "forbidden", "wrong or missing token");
    }
    if request.body().len() > MAX_BODY_BYTES {
        return body_too_large();
    }
    let event = match ZenviaEvent::parse(request.body()) {
        Ok(event) => event,
        Err(err) => return error_response(StatusCode::BAD_REQUEST, "bad_request", &err.to_string()),
    };
    match flow.process(&event).await {
        Ok(outcome) => json_response(StatusCode::OK, serde_json::json!({ "outcome": outcome.label() })),
        Err(err) => {
            let code = match &err {
                ZenviaProcessError::Busy(_) => "in_progress",
                _ => "retry_later",
            };
            error_response(StatusCode::SERVICE_UNAVAILABLE, code, &err.to_string())
        }
    }
}
