//! The product's metrics, as CloudWatch Embedded Metric Format lines (namespace [`NAMESPACE`]):
//! a Lambda function writes them to standard output after each invocation
//! ([`flush`]) and CloudWatch Logs turns them into metrics, without an API call or a
//! permission. Each function installs the recorder once ([`install`], from `telemetry::init`
//! inside Lambda); the dev server and tests pay nothing (the calls below are no-ops).
//!
//! Every metric has the dimension `Stack` (the CloudFormation stack, `HANDOVER_STACK`), and
//! some one more (`Decision`, `Reason`, `Route`): template.yaml's dashboard and alarms name
//! them exactly, and `tests/api/template.rs` checks that they exist here.

use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "Handover";
/// The dimension every metric has.
pub const STACK_DIMENSION: &str = "Stack";

/// Metric names (and the dimension each has besides `Stack`).
pub mod name {
    /// Events queued by a receiver (`Route`: `engage_content`, `engage_intervention`, `zenvia`).
    pub const EVENTS_RECEIVED: &str = "EventsReceived";
    /// Events finished, by what was decided (`Decision`).
    pub const EVENTS_PROCESSED: &str = "EventsProcessed";
    /// Events not finished this time (the queue delivers them again).
    pub const EVENTS_NOT_FINISHED: &str = "EventsNotFinished";
    /// Milliseconds from claim to commit of a finished event.
    pub const EVENT_LATENCY: &str = "EventLatency";
    /// Conversations the bot started.
    pub const CONVERSATIONS_STARTED: &str = "ConversationsStarted";
    /// Handovers to agents, by reason (`Reason`).
    pub const HANDOVERS: &str = "Handovers";
    /// Milliseconds the bot took to answer.
    pub const BOT_LATENCY: &str = "BotLatency";
    /// Bot answers that did not come (timeout, error, malformed): each hands over.
    pub const BOT_FAILURES: &str = "BotFailures";
    /// Milliseconds of a platform call, by route (`Route`: `GET /contents/:id`, ...).
    pub const PLATFORM_LATENCY: &str = "PlatformCallLatency";
    /// Platform calls that failed (transport, 4xx, 5xx), by route (`Route`).
    pub const PLATFORM_ERRORS: &str = "PlatformCallErrors";
    /// Jobs handed back to the queue for another try.
    pub const RETRIES: &str = "Retries";
    /// Jobs moved to the dead-letter queue.
    pub const DEAD_LETTERS: &str = "DeadLetters";
    /// Conversations marked for a person after the platform refused a step for good.
    pub const PARKED: &str = "ParkedConversations";
    /// Conversations the emergency sweep handed over.
    pub const SWEEP_HANDED_OVER: &str = "EmergencySweepHandedOver";
    /// Emergency sweep runs that stopped at their deadline with conversations left for the next.
    pub const SWEEP_UNFINISHED: &str = "EmergencySweepRunsUnfinished";
}

/// Every metric name, for the template's check.
pub const ALL: [&str; 15] = [
    name::EVENTS_RECEIVED,
    name::EVENTS_PROCESSED,
    name::EVENTS_NOT_FINISHED,
    name::EVENT_LATENCY,
    name::CONVERSATIONS_STARTED,
    name::HANDOVERS,
    name::BOT_LATENCY,
    name::BOT_FAILURES,
    name::PLATFORM_LATENCY,
    name::PLATFORM_ERRORS,
    name::RETRIES,
    name::DEAD_LETTERS,
    name::PARKED,
    name::SWEEP_HANDED_OVER,
    name::SWEEP_UNFINISHED,
];

static COLLECTOR: std::sync::OnceLock<&'static metrics_cloudwatch_embedded::Collector> =
    std::sync::OnceLock::new();

/// Installs the EMF recorder for this process (once; `telemetry::init` does it in Lambda).
pub fn install() {
    let stack = std::env::var("HANDOVER_STACK").unwrap_or_else(|_| "handover".into());
    let installed = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension(STACK_DIMENSION, stack)
        .init();
    if let Ok(collector) = installed {
        let _ = COLLECTOR.set(collector);
        describe();
    }
}

/// Writes the metrics recorded since the last flush to standard output, one line per
/// dimension set (nothing when the recorder is not installed). A failure to write loses
/// metrics, never an event.
pub fn flush() {
    let Some(collector) = COLLECTOR.get() else { return };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Err(err) = collector.flush(&mut out) {
        tracing::warn!(error = %err, "metrics not written");
    }
}

fn describe() {
    for name in [name::EVENT_LATENCY, name::BOT_LATENCY, name::PLATFORM_LATENCY] {
        describe_histogram!(name, Unit::Milliseconds, "");
    }
    for name in ALL.iter().filter(|n| !n.ends_with("Latency")) {
        describe_counter!(*name, Unit::Count, "");
    }
}

/// Milliseconds to the microsecond: `54.46`, not `54.459835999999996` (every byte of an EMF
/// line is a byte of logs paid for).
fn ms(elapsed: Duration) -> f64 {
    elapsed.as_micros() as f64 / 1000.0
}

pub fn event_received(route: &'static str) {
    counter!(name::EVENTS_RECEIVED, "Route" => route).increment(1);
}

pub fn event_processed(decision: &'static str, elapsed: Duration) {
    counter!(name::EVENTS_PROCESSED, "Decision" => decision).increment(1);
    histogram!(name::EVENT_LATENCY).record(ms(elapsed));
}

pub fn event_not_finished() {
    counter!(name::EVENTS_NOT_FINISHED).increment(1);
}

pub fn conversation_started() {
    counter!(name::CONVERSATIONS_STARTED).increment(1);
}

/// A handover, by reason: the product's reasons and the bot's own (a Lex intent, an LLM's
/// word), kept to a short name so a chatty bot cannot make thousands of metrics.
pub fn handover(reason: &str) {
    if COLLECTOR.get().is_none() {
        return;
    }
    let plain = !reason.is_empty()
        && reason.len() <= 40
        && reason.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let reason = if plain { reason.to_string() } else { "other".to_string() };
    counter!(name::HANDOVERS, "Reason" => reason).increment(1);
}

pub fn bot_answered(elapsed: Duration) {
    histogram!(name::BOT_LATENCY).record(ms(elapsed));
}

pub fn bot_failed(elapsed: Duration) {
    histogram!(name::BOT_LATENCY).record(ms(elapsed));
    counter!(name::BOT_FAILURES).increment(1);
}

/// A platform call: `route` gives its method and path with ids replaced ([`route_of`]), only
/// when a recorder is installed (the dev server's hot path builds no label).
pub fn platform_call(route: impl FnOnce() -> String, elapsed: Duration, ok: bool) {
    if COLLECTOR.get().is_none() {
        return;
    }
    let route = route();
    if !ok {
        counter!(name::PLATFORM_ERRORS, "Route" => route.clone()).increment(1);
    }
    histogram!(name::PLATFORM_LATENCY, "Route" => route).record(ms(elapsed));
}

/// `PUT /content_sources/:id` for `PUT /content_sources/5f1e...`: words stay, ids go.
pub fn route_of(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    let word = |s: &str| s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    let segments: Vec<&str> = path.split('/').map(|s| if word(s) { s } else { ":id" }).collect();
    format!("{method} {}", segments.join("/"))
}

pub fn retry() {
    counter!(name::RETRIES).increment(1);
}

pub fn dead_letter() {
    counter!(name::DEAD_LETTERS).increment(1);
}

pub fn parked() {
    counter!(name::PARKED).increment(1);
}

pub fn sweep_handed_over() {
    counter!(name::SWEEP_HANDED_OVER).increment(1);
}

pub fn sweep_unfinished() {
    counter!(name::SWEEP_UNFINISHED).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_are_written_to_the_microsecond() {
        assert_eq!(ms(Duration::from_nanos(54_459_835)).to_string(), "54.459");
        assert_eq!(ms(Duration::from_nanos(44_493)).to_string(), "0.044");
    }

    #[test]
    fn routes_keep_words_and_drop_ids() {
        assert_eq!(route_of("PUT", "/content_sources/5f1e3c"), "PUT /content_sources/:id");
        assert_eq!(route_of("GET", "/contents/c-1"), "GET /contents/:id");
        assert_eq!(route_of("POST", "/interventions/42/close"), "POST /interventions/:id/close");
        assert_eq!(route_of("GET", "/time_sheets"), "GET /time_sheets");
        assert_eq!(route_of("GET", "/contents?thread_id=t-1"), "GET /contents");
    }
}
