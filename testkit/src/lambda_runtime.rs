//! A minimal Lambda Runtime API on loopback: it hands one event to the function process that
//! polls it, and reports the answer (or the error) the process posts back, with its time.
//! The function binaries then run exactly as in Lambda, through their real entry point.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::routing::any;
use serde_json::Value;

/// What a function posted back for its invocation.
#[derive(Debug)]
pub struct Answer {
    pub at: Instant,
    /// `true` for `/response`, `false` for `/error`.
    pub ok: bool,
    /// The posted JSON (`null` when the body is not JSON).
    pub body: Value,
}

/// Serves `event` once, with 30 s to run; returns the address for `AWS_LAMBDA_RUNTIME_API`
/// and the answers.
pub async fn serve_one(event: Value) -> std::io::Result<(SocketAddr, tokio::sync::mpsc::Receiver<Answer>)> {
    serve_one_with(event, 30_000).await
}

/// The same, with `time_ms` to run (the worker's Timeout is 720 s).
pub async fn serve_one_with(
    event: Value,
    time_ms: i64,
) -> std::io::Result<(SocketAddr, tokio::sync::mpsc::Receiver<Answer>)> {
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let served = Arc::new(AtomicUsize::new(0));
    let app = Router::new().fallback(any(move |request: Request| {
        let (sender, served, event) = (sender.clone(), served.clone(), event.clone());
        async move {
            let path = request.uri().path().to_string();
            if path.ends_with("/invocation/next") {
                if served.fetch_add(1, Ordering::SeqCst) > 0 {
                    // One invocation per process: the next poll waits until the process ends.
                    std::future::pending::<()>().await;
                }
                let deadline = handover_core::now_millis() + time_ms;
                return axum::response::Response::builder()
                    .header("lambda-runtime-aws-request-id", "request-1")
                    .header("lambda-runtime-deadline-ms", deadline.to_string())
                    .header(
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:f",
                    )
                    .header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000")
                    .body(axum::body::Body::from(event.to_string()))
                    .expect("valid response");
            }
            let at = Instant::now();
            let bytes = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap_or_default();
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let _ = sender.send(Answer { at, ok: path.ends_with("/response"), body }).await;
            axum::response::Response::builder()
                .status(202)
                .body(axum::body::Body::empty())
                .expect("valid response")
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((address, receiver))
}

/// The environment Lambda gives a function (besides its own configuration).
pub fn lambda_environment(runtime: SocketAddr) -> Vec<(&'static str, String)> {
    [
        ("AWS_LAMBDA_FUNCTION_NAME", "f"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/f"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "f"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testkey"),
        ("AWS_SECRET_ACCESS_KEY", "testsecret"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .chain([("AWS_LAMBDA_RUNTIME_API", runtime.to_string())])
    .collect()
}

/// One invocation of a function binary: its answer and what it wrote.
#[derive(Debug)]
pub struct Invocation {
    pub answer: Answer,
    pub stdout: String,
    pub stderr: String,
}

/// CloudWatch Logs counts each log event as its message plus 26 bytes.
pub const BYTES_PER_LOG_EVENT: usize = 26;

impl Invocation {
    /// Every line the function wrote: standard output (the EMF lines), then standard error.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().chain(self.stderr.lines()).collect()
    }

    /// What its lines weigh in CloudWatch Logs.
    pub fn log_bytes(&self) -> usize {
        self.lines().iter().map(|line| line.len() + BYTES_PER_LOG_EVENT).sum()
    }
}

/// Runs the function `binary` as Lambda would for one invocation of `event`, with `time_ms` to
/// run and its configuration `env` (besides Lambda's); stops it once it answered. Panics when
/// no answer comes within a minute.
pub async fn invoke_once(binary: &str, event: Value, time_ms: i64, env: &[(&str, &str)]) -> Invocation {
    use std::process::{Command, Stdio};
    let (runtime, mut answers) = serve_one_with(event, time_ms).await.expect("a Runtime API on loopback");
    let mut child = Command::new(binary)
        .env_clear()
        .envs(lambda_environment(runtime))
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the function starts");
    let answer = tokio::time::timeout(std::time::Duration::from_secs(60), answers.recv()).await;
    let _ = child.kill();
    let output = child.wait_with_output().expect("the function's output");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    match answer {
        Ok(Some(answer)) => Invocation { answer, stdout, stderr },
        _ => panic!("{binary} gave no answer within a minute; it wrote:\n{stdout}\n{stderr}"),
    }
}

/// An SQS record of `body` as Lambda's event source hands it to the worker (first delivery).
pub fn sqs_record(id: &str, group: &str, body: &str) -> Value {
    serde_json::json!({
        "messageId": id,
        "receiptHandle": format!("handle-{id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": group},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:handover-events.fifo",
        "awsRegion": "us-east-1"
    })
}
