//! The one HTTP client of a process for what it calls out to: Engage Digital, Zenvia, a bot, a
//! model server. hyper-util's pooled client over rustls, the same hyper, hyper-util and
//! hyper-rustls the AWS SDK's client is built on, so a Lambda binary carries one HTTP stack
//! (reqwest's own layers were 0.17 MB of the worker and re-parsed every URL twice per call).
//!
//! What a call may rely on: no redirect is ever followed (one would carry the token
//! elsewhere), connecting is bounded (3 s), each call has its own time budget for the whole
//! exchange, body included, and an answer's body is read only up to a limit. Errors never carry
//! the URL (it may hold ids, never a secret, but logs are not the place for either).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// Connecting (TCP and TLS) is bounded apart from each call's own budget.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Pooled connections idle longer than this are closed (below the usual 60 s of load balancers).
const POOL_IDLE: Duration = Duration::from_secs(50);
/// The default bound of an answer's body: the platforms' pages of 150 items stay far below.
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("the URL is malformed: {0}")]
    Url(String),
    /// Nothing answered: refused, reset, TLS, DNS. Whether the request arrived is unknown.
    #[error("{0}")]
    Transport(String),
    #[error("no answer within {0} ms")]
    TimedOut(u64),
    #[error("an answer over {0} bytes")]
    TooLarge(usize),
}

/// An answer, its body read whole (up to the call's limit).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Cheap to clone: the pool is shared.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<Connector, Full<Bytes>>,
}

impl HttpClient {
    /// rustls with the platform's certificate verifier (the system's roots, read once here,
    /// at start-up, as reqwest did) and the process's crypto provider (ring, see
    /// `wiring::install_crypto_provider`).
    pub fn new() -> Self {
        crate::wiring::install_crypto_provider();
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .expect("a crypto provider is installed above");
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
            .expect("the platform's certificate verifier initializes");
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the crypto provider supports TLS 1.2 and 1.3")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Self { client }
    }

    /// A call to `url` (absolute, already percent-encoded: see [`encode_component`]).
    pub fn request(&self, method: Method, url: &str) -> Call<'_> {
        Call {
            client: self,
            uri: url.parse::<Uri>().map_err(|e| CallError::Url(e.to_string())),
            method,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout: Duration::from_secs(30),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

/// One request being put together, as reqwest's builder did.
pub struct Call<'a> {
    client: &'a HttpClient,
    uri: Result<Uri, CallError>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    timeout: Duration,
    body_limit: usize,
}

impl Call<'_> {
    /// `Authorization: Bearer <token>`, marked sensitive (never printed by hyper's debug).
    pub fn bearer_auth(mut self, token: &str) -> Self {
        if let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}")) {
            value.set_sensitive(true);
            self.headers.insert(AUTHORIZATION, value);
        }
        self
    }

    /// A JSON body.
    pub fn json<T: serde::Serialize + ?Sized>(mut self, body: &T) -> Self {
        self.body = Bytes::from(serde_json::to_vec(body).expect("a request body serializes"));
        self.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self
    }

    /// A form body (`application/x-www-form-urlencoded`).
    pub fn form(mut self, fields: &[(&str, &str)]) -> Self {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (name, value) in fields {
            form.append_pair(name, value);
        }
        self.body = Bytes::from(form.finish());
        self.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        self
    }

    /// The whole exchange's budget: connecting, sending, the answer's head and body.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Reads no more than `limit` bytes of the answer's body.
    pub fn body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    pub async fn send(self) -> Result<Answer, CallError> {
        let mut request = Request::builder()
            .method(self.method)
            .uri(self.uri?)
            .body(Full::new(self.body))
            .map_err(|e| CallError::Url(e.to_string()))?;
        *request.headers_mut() = self.headers;
        let (client, limit, timeout) = (&self.client.client, self.body_limit, self.timeout);
        let exchange = async move {
            let response = client.request(request).await.map_err(|e| CallError::Transport(describe(&e)))?;
            let (parts, body) = response.into_parts();
            let body = read_bounded(body, limit).await?;
            Ok(Answer { status: parts.status, headers: parts.headers, body })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(CallError::TimedOut(timeout.as_millis() as u64)))
    }
}

/// The body frame by frame, failing as soon as it passes `limit` (a server sending gigabytes
/// costs this process at most `limit`).
async fn read_bounded(mut body: hyper::body::Incoming, limit: usize) -> Result<Bytes, CallError> {
    use http_body::Body as _;
    if body.size_hint().lower() > limit as u64 {
        return Err(CallError::TooLarge(limit));
    }
    let mut read = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CallError::Transport(describe(&e)))?;
        if let Ok(data) = frame.into_data() {
            if read.len() + data.len() > limit {
                return Err(CallError::TooLarge(limit));
            }
            read.extend_from_slice(&data);
        }
    }
    Ok(read.freeze())
}

/// An error with its causes, e.g. "client error (Connect): tcp connect error: Connection
/// refused (os error 111)": what went wrong, never the URL.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Percent-encodes one path segment or query value (everything but RFC 3986's unreserved).
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_encoded_for_a_path_or_a_query() {
        assert_eq!(encode_component("5be5ae57d6cb009bde8e5674"), "5be5ae57d6cb009bde8e5674");
        assert_eq!(encode_component("a b/c?d&é"), "a%20b%2Fc%3Fd%26%C3%A9");
    }

    #[test]
    fn an_error_is_described_with_its_causes() {
        #[derive(Debug)]
        struct Connect(std::io::Error);
        impl std::fmt::Display for Connect {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl std::error::Error for Connect {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused =
            Connect(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused"));
        assert_eq!(describe(&refused), "client error (Connect): Connection refused");
    }

    #[tokio::test]
    async fn a_malformed_url_is_an_error_before_anything_is_sent() {
        let client = HttpClient::new();
        let error = client.request(Method::GET, "http://exa mple/").send().await.unwrap_err();
        assert!(matches!(error, CallError::Url(_)), "{error:?}");
    }
}
