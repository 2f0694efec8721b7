//! `GET /emergency` and `POST /emergency` (CONTRACT C9).
//!
//! In AWS the routes are IAM-authorized by API Gateway; the handler still refuses a request
//! that reaches it without an IAM identity (a route deployed without its authorizer). Locally
//! the dev server asks for `Authorization: Bearer $EMERGENCY_TOKEN`, and refuses everything
//! when the token is unset.

use http::{Method, StatusCode};
use serde::Deserialize;

use super::{
    ApiRequest, ApiResponse, MAX_BODY_BYTES, body_too_large, error_response, header_value, json_response,
};
use crate::flow::emergency::EmergencyFlow;
use crate::secret::Secret;

/// Who is calling, as the platform in front established it (set by the Lambda adapter from
/// API Gateway's IAM authorizer context).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity(pub String);

/// How callers of the emergency routes are authenticated.
#[derive(Debug, Clone)]
pub enum Authorization {
    /// API Gateway checked the caller's IAM signature; its identity is in the request.
    Iam,
    /// A bearer token (the local dev server's `EMERGENCY_TOKEN`).
    Bearer(Secret),
    /// No way to authenticate: every call is refused.
    Refuse,
}

#[derive(Deserialize)]
struct SwitchRequest {
    active: Option<bool>,
    #[serde(default)]
    reason: Option<String>,
}

const MAX_REASON_CHARS: usize = 500;

fn caller(request: &ApiRequest, authorization: &Authorization) -> Result<String, ApiResponse> {
    match authorization {
        Authorization::Iam => {
            request.extensions().get::<CallerIdentity>().map(|c| c.0.clone()).ok_or_else(|| {
                error_response(StatusCode::FORBIDDEN, "forbidden", "the route must be IAM-authorized")
            })
        }
        Authorization::Bearer(token) => {
            let presented = header_value(request, "authorization").and_then(|v| v.strip_prefix("Bearer "));
            match presented {
                Some(presented) if token.matches(presented) => Ok("emergency-token".into()),
                _ => Err(error_response(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "a valid bearer token is required",
                )),
            }
        }
        Authorization::Refuse => Err(error_response(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the emergency route is disabled: set EMERGENCY_TOKEN",
        )),
    }
}

pub async fn handle(flow: &EmergencyFlow, authorization: &Authorization, request: ApiRequest) -> ApiResponse {
    let who = match caller(&request, authorization) {
        Ok(who) => who,
        Err(refused) => {
            tracing::warn!(method = %request.method(), "emergency call refused: not authenticated");
            return refused;
        }
    };
    let result = match *request.method() {
        Method::GET => flow.status().await,
        Method::POST => {
            if request.body().len() > MAX_BODY_BYTES {
                return body_too_large();
            }
            let parsed: SwitchRequest = match serde_json::from_slice(request.body()) {
                Ok(parsed) => parsed,
                Err(err) => {
                    return error_response(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        &format!("invalid JSON: {err}"),
                    );
                }
            };
            let Some(active) = parsed.active else {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "`active` (true or false) is required",
                );
            };
            let reason = parsed.reason.filter(|r| !r.trim().is_empty());
            if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "`reason` is longer than 500 characters",
                );
            }
            flow.switch(active, reason, &who).await
        }
        _ => return error_response(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use GET or POST"),
    };
    match result {
        Ok(status) => json_response(StatusCode::OK, serde_json::to_value(status).expect("plain data")),
        // The switch's state is saved: the next call or the schedule continues the work.
        Err(err) => super::retry_later("the emergency work is not finished", &err),
    }
}
