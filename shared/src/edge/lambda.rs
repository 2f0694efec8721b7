//! The adapter between API Gateway (through `lambda_http`) and the handlers.

use std::future::Future;

use bytes::Bytes;
use lambda_http::{Body, service_fn};

use super::{ApiRequest, ApiResponse};

/// Converts a Lambda request into the handlers' request (body decoded, headers and query kept).
pub fn from_lambda(request: lambda_http::Request) -> ApiRequest {
    let (parts, body) = request.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    http::Request::from_parts(parts, bytes)
}

/// Converts a handler's response into a Lambda response.
pub fn into_lambda(response: ApiResponse) -> lambda_http::Response<Body> {
    response.map(Body::Text)
}

/// Runs the Lambda event loop with one handler. The handler's state is built once, before.
pub async fn run<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(ApiRequest) -> Fut,
    Fut: Future<Output = ApiResponse> + Send,
{
    lambda_http::run(service_fn(|request: lambda_http::Request| {
        let response = handler(from_lambda(request));
        async move { Ok::<_, std::convert::Infallible>(into_lambda(response.await)) }
    }))
    .await
}
