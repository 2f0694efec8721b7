//! The AWS SDK's configuration, one for every client of the process (DynamoDB, SQS, Secrets
//! Manager, Lex): one HTTPS client, one TLS stack (rustls with ring), local endpoints for tests
//! and the dev server.

/// The AWS SDK's HTTPS client: rustls with ring, the same TLS stack as the rest of the process.
pub fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// The AWS SDK's configuration for every client of the process: for a local `endpoint`
/// (DynamoDB Local, moto's server) or, without one, for AWS from the environment. Local
/// endpoints accept any credentials: without AWS ones in the environment, local placeholders
/// and `us-east-1` are used, so nobody needs an AWS account to run them.
///
/// With the `profiles` feature (the dev server) the SDK's full provider chain is used
/// (`aws-config`: profiles, SSO, IMDS); without it (the Lambda functions) the region and the
/// credentials come from the environment, as Lambda gives them, and the binaries are 0.3 MB
/// smaller (no aws-config, no STS client).
#[cfg(feature = "profiles")]
pub async fn config_for(endpoint: Option<&str>) -> aws_types::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http_client());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && std::env::var_os("AWS_PROFILE").is_none() {
            loader = loader.credentials_provider(local_credentials());
        }
        if region_from_env().is_none() {
            loader = loader.region(aws_types::region::Region::new("us-east-1"));
        }
    }
    loader.load().await
}

/// The same from the environment only (see above).
#[cfg(not(feature = "profiles"))]
pub async fn config_for(endpoint: Option<&str>) -> aws_types::SdkConfig {
    use aws_credential_types::provider::SharedCredentialsProvider;
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let credentials = match (from_env("AWS_ACCESS_KEY_ID"), from_env("AWS_SECRET_ACCESS_KEY")) {
        (Some(key), Some(secret)) => Some(aws_credential_types::Credentials::new(
            key,
            secret,
            from_env("AWS_SESSION_TOKEN"),
            None,
            "environment",
        )),
        _ => endpoint.map(|_| local_credentials()),
    };
    let region = region_from_env().or_else(|| endpoint.map(|_| "us-east-1".to_string()));
    let mut builder = aws_types::SdkConfig::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .http_client(http_client())
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .retry_config(aws_smithy_types::retry::RetryConfig::standard())
        .region(region.map(aws_types::region::Region::new));
    if let Some(credentials) = credentials {
        builder = builder.credentials_provider(SharedCredentialsProvider::new(credentials));
    }
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    builder.build()
}

fn region_from_env() -> Option<String> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

fn local_credentials() -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new("local", "local", None, None, "local")
}
