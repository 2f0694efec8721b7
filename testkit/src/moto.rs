//! moto's server, the usual local SQS endpoint, started once per test binary on a free loopback
//! port (PyPI `moto[server]`; `./scripts/test` installs it when missing). A missing server
//! fails the tests loudly: they are never skipped. Like DynamoDB Local, a small shell loop
//! stops it as soon as this test process ends.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static ENDPOINT: OnceLock<String> = OnceLock::new();

/// The endpoint of the shared moto server (started on first use).
pub fn endpoint() -> &'static str {
    ENDPOINT.get_or_init(start)
}

/// `MOTO_SERVER`, the tools' virtual environment `./scripts/test` makes, or `moto_server` on
/// the `PATH`.
fn moto_server() -> PathBuf {
    if let Ok(path) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let tools = std::env::var("HANDOVER_CI_TOOLS").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/handover/tools")
    });
    let in_tools = tools.join("venv/bin/moto_server");
    if in_tools.exists() { in_tools } else { PathBuf::from("moto_server") }
}

fn start() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let watcher = format!(
        "'{server}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & \
         server=$!; while kill -0 {parent} 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 0.5; done; kill $server 2>/dev/null",
        server = moto_server().display(),
        parent = std::process::id()
    );
    // Never waited for on purpose: the watcher lives as long as this test process.
    #[allow(clippy::zombie_processes)]
    Command::new("sh").arg("-c").arg(watcher).stdin(Stdio::null()).spawn().expect("sh starts moto_server");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return format!("http://127.0.0.1:{port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "moto_server did not start on port {port} within 60 s: run ./scripts/test, which installs moto[server]"
    )
}

/// A Secrets Manager client for the shared moto server.
fn secrets_client() -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .http_client(handover_core::aws::http_client())
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// Rotates a secret: its new value becomes `AWSCURRENT`, the old one `AWSPREVIOUS`.
pub async fn put_secret_value(arn: &str, value: &str) {
    secrets_client()
        .put_secret_value()
        .secret_id(arn)
        .secret_string(value)
        .send()
        .await
        .expect("moto rotates it");
}

/// Stores `value` as a new secret in moto's Secrets Manager and returns its ARN.
pub async fn create_secret(name: &str, value: &str) -> String {
    let client = secrets_client();
    static CREATED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CREATED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let created = client
        .create_secret()
        .name(format!("{name}-{}-{n}", std::process::id()))
        .secret_string(value)
        .send()
        .await
        .expect("moto stores the secret");
    created.arn.expect("an ARN")
}

/// A new FIFO queue on the shared moto server, with `visibility_seconds`: its URL.
pub async fn create_fifo_queue(visibility_seconds: u32) -> String {
    use aws_sdk_sqs::types::QueueAttributeName;
    let client = handover_core::queue::sqs_client(Some(endpoint())).await;
    let name = format!("handover-{}.fifo", uuid::Uuid::new_v4().simple());
    let created = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::VisibilityTimeout, visibility_seconds.to_string())
        .send()
        .await
        .expect("moto creates the queue");
    created.queue_url.expect("a queue URL")
}
