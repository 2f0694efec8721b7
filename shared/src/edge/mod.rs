//! The HTTP edge: handlers over plain `http` types, shared by the Lambda functions and the
//! local dev server, and the adapter between them and Lambda.

pub mod analytics;
pub mod emergency;
pub mod engage;
pub mod lambda;
pub mod zenvia;

use bytes::Bytes;
use http::{Response, StatusCode, header};

/// The largest body any route accepts.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A request as the handlers see it.
pub type ApiRequest = http::Request<Bytes>;
/// A response as the handlers produce it.
pub type ApiResponse = http::Response<String>;

/// Query parameters, decoded, in order (a name may repeat).
pub fn query_pairs(request: &ApiRequest) -> Vec<(String, String)> {
    request
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// The first value of a query parameter.
pub fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A header's value; `http` header names are case-insensitive, as API Gateway needs (it
/// lower-cases them).
pub fn header_value<'a>(request: &'a ApiRequest, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A JSON error body `{"error": code, "message": text}`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> ApiResponse {
    json_response(status, serde_json::json!({ "error": code, "message": message }))
}

/// A `503` the caller can act on: retry later. The details go to the log only, with a
/// correlation id that the answer carries too; internal error text never leaves the process.
pub fn retry_later(what_failed: &str, err: &dyn std::fmt::Display) -> ApiResponse {
    let correlation_id = format!("{:016x}", rand::random::<u64>());
    tracing::error!(%correlation_id, error = %err, "{what_failed}");
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        serde_json::json!({
            "error": "retry_later",
            "message": format!("{what_failed}; retry later"),
            "correlation_id": correlation_id,
        }),
    )
}

pub fn json_response(status: StatusCode, body: serde_json::Value) -> ApiResponse {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .expect("static parts are valid")
}

pub fn body_too_large() -> ApiResponse {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        &format!("the body is larger than {MAX_BODY_BYTES} bytes"),
    )
}
