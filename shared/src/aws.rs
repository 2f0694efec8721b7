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
pub async fn config_for(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http_client());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && std::env::var_os("AWS_PROFILE").is_none() {
            loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local", "local", None, None, "local",
            ));
        }
        if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
            loader = loader.region(aws_config::Region::new("us-east-1"));
        }
    }
    loader.load().await
}
