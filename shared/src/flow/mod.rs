//! The conversation flows: pure decisions ([`decide`]) and the executor that carries them out
//! against Engage Digital, the bot and the store ([`engage_flow`]).

pub mod cache;
pub mod claim;
pub mod decide;
pub mod emergency;
pub mod engage_flow;
pub mod zenvia_flow;

pub use engage_flow::{EngageFlow, EventOutcome, ProcessError};

/// Runs one event's processing inside `span` and writes its one log line: the decision and
/// the latency, or why it is not finished. Every flow logs its events the same way, so one
/// CloudWatch query reads them all.
pub(crate) async fn logged_event<T, E: std::fmt::Display>(
    span: tracing::Span,
    work: impl std::future::Future<Output = Result<T, E>>,
    decision: impl Fn(&T) -> &'static str,
) -> Result<T, E> {
    use tracing::Instrument;
    let started = std::time::Instant::now();
    async {
        let result = work.await;
        let latency_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(outcome) => tracing::info!(decision = decision(outcome), latency_ms, "event processed"),
            Err(err) => tracing::warn!(error = %err, latency_ms, "event not finished; the sender will retry"),
        }
        result
    }
    .instrument(span)
    .await
}
