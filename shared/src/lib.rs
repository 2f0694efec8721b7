//! Core of handover: everything the Lambda functions and the local dev server share.
//!
//! - [`engage`]: Engage Digital webhook payloads and its REST client.
//! - [`bot`]: the bot protocol and its backends (builtin rules, HTTP).
//! - [`domain`]: the model: a thread's state, an event's effects journal, the switch.
//! - [`store`]: where the model is kept, with exactly-once event records (DynamoDB, in memory).
//! - [`aws`]: the one AWS SDK configuration of the process.
//! - [`flow`]: the decisions (pure functions over plain data) and the executor that carries them out.
//! - [`edge`]: HTTP handlers, independent of Lambda, plus the Lambda adapter.
//! - [`config`]: typed configuration read once at start-up.
//! - [`metrics`]: the product's metrics (CloudWatch Embedded Metric Format).

pub mod analytics;
pub mod aws;
pub mod bot;
pub mod config;
pub mod domain;
pub mod edge;
pub mod engage;
pub mod flow;
pub mod hours;
pub mod metrics;
pub mod outbound;
pub mod queue;
pub mod retry;
pub mod secret;
pub mod secret_store;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod texts;
pub mod time;
pub mod wiring;
pub mod zenvia;

/// Milliseconds since the Unix epoch, the one clock the flows read.
pub fn now_millis() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
