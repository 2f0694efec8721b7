//! The adapter between API Gateway (through `lambda_http`) and the handlers.

use std::future::Future;

use bytes::Bytes;
use lambda_http::{Body, service_fn};

use lambda_http::RequestExt;
use lambda_http::request::RequestContext;

use super::emergency::CallerIdentity;
use super::{ApiRequest, ApiResponse};

/// Converts a Lambda request into the handlers' request (body decoded, headers and query kept,
/// the IAM caller's identity as a [`CallerIdentity`] extension when API Gateway gives one).
pub fn from_lambda(request: lambda_http::Request) -> ApiRequest {
    let identity = iam_caller(&request);
    let (mut parts, body) = request.into_parts();
    if let Some(identity) = identity {
        parts.extensions.insert(identity);
    }
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    http::Request::from_parts(parts, bytes)
}

fn iam_caller(request: &lambda_http::Request) -> Option<CallerIdentity> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => {
            let iam = context.authorizer.as_ref()?.iam.as_ref()?;
            iam.user_arn.clone().or_else(|| iam.caller_id.clone()).map(CallerIdentity)
        }
        #[allow(unreachable_patterns)]
        _ => None,
    }
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
        async move {
            let response = into_lambda(response.await);
            crate::metrics::flush();
            Ok::<_, std::convert::Infallible>(response)
        }
    }))
    .await
}

/// Runs a function that answers HTTP requests (API Gateway HTTP API) and also scheduled
/// events (EventBridge), which call `on_schedule` with the time the invocation has left.
pub async fn run_with_schedule<F, Fut, S, SFut>(handler: F, on_schedule: S) -> Result<(), lambda_http::Error>
where
    F: Fn(ApiRequest) -> Fut,
    Fut: Future<Output = ApiResponse> + Send,
    S: Fn(std::time::Duration) -> SFut,
    SFut: Future<Output = ()> + Send,
{
    use lambda_http::aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
    use lambda_http::request::LambdaRequest;
    use lambda_http::{LambdaEvent, lambda_runtime};

    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let payload = event.payload;
        let is_http = payload.get("routeKey").is_some() && payload.get("requestContext").is_some();
        let http = is_http.then(|| serde_json::from_value::<ApiGatewayV2httpRequest>(payload));
        let http_call = match http {
            Some(Ok(request)) => {
                let request: lambda_http::Request = LambdaRequest::ApiGatewayV2(request).into();
                Some(handler(from_lambda(request)))
            }
            Some(Err(err)) => {
                tracing::error!(error = %err, "unreadable API Gateway event");
                None
            }
            None => None,
        };
        let left_ms = (event.context.deadline as i64 - crate::now_millis()).max(0) as u64;
        let scheduled = (!is_http).then(|| on_schedule(std::time::Duration::from_millis(left_ms)));
        async move {
            if let Some(response) = http_call {
                let response = response.await;
                crate::metrics::flush();
                let mut out = ApiGatewayV2httpResponse::default();
                out.status_code = response.status().as_u16() as i64;
                out.headers = response.headers().clone();
                out.body = Some(Body::Text(response.into_body()));
                return Ok::<_, lambda_http::Error>(serde_json::to_value(out)?);
            }
            if let Some(scheduled) = scheduled {
                scheduled.await;
                crate::metrics::flush();
            }
            Ok(serde_json::Value::Null)
        }
    }))
    .await
}
