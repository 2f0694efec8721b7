//! `POST /zenvia/webhook?token=…` (CONTRACT C10). Zenvia signs nothing, so the URL carries its
//! own secret, compared in constant time; a wrong token does nothing at all. A good request's
//! event is queued with an id given here, which the queue keeps across its redeliveries.

use std::sync::Arc;

use http::{Method, StatusCode};

use super::{
    ApiRequest, ApiResponse, MAX_BODY_BYTES, body_too_large, error_response, json_response, query_pairs,
    query_value,
};
use crate::queue::{Job, JobQueue};
use crate::secret::Secret;
use crate::zenvia::ZenviaEvent;

/// What the receiving `zenvia` function needs.
pub struct ZenviaReceiver {
    /// Every inbound POST must carry it as `?token=`.
    pub webhook_token: Secret,
    pub queue: Arc<dyn JobQueue>,
}

pub async fn handle(receiver: &ZenviaReceiver, request: ApiRequest) -> ApiResponse {
    if request.method() != Method::POST {
        return error_response(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use POST");
    }
    let query = query_pairs(&request);
    let authorized = query_value(&query, "token").is_some_and(|t| receiver.webhook_token.matches(t));
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
    if let ZenviaEvent::Unknown { event_type } = &event {
        tracing::info!(%event_type, "event type not handled; acknowledged");
        return json_response(StatusCode::OK, serde_json::json!({ "queued": 0 }));
    }
    match receiver.queue.enqueue(vec![Job::zenvia(event)]).await {
        Ok(()) => {
            crate::metrics::event_received("zenvia");
            json_response(StatusCode::OK, serde_json::json!({ "queued": 1 }))
        }
        Err(err) => super::retry_later("the event could not be queued", &err),
    }
}
