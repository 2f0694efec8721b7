//! The conversation flows: pure decisions ([`decide`]), one turn engine for every platform
//! ([`turn`]: claim, bot, journaled effects, commit, statistics), and each platform's side of
//! it ([`engage`], [`zenvia`]); the emergency switch's sweep ([`emergency`]); what an analytics
//! report reads ([`report`]).

pub mod cache;
pub mod claim;
pub mod decide;
pub mod emergency;
pub mod engage;
pub mod report;
pub mod turn;
pub mod zenvia;

pub use engage::{EngageFlow, EventOutcome};
pub use turn::ProcessError;

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
        let elapsed = started.elapsed();
        let latency_ms = elapsed.as_millis() as u64;
        match &result {
            Ok(outcome) => {
                crate::metrics::event_processed(decision(outcome), elapsed);
                tracing::info!(decision = decision(outcome), latency_ms, "event processed")
            }
            Err(err) => {
                crate::metrics::event_not_finished();
                tracing::warn!(error = %err, latency_ms, "event not finished; the sender will retry")
            }
        }
        result
    }
    .instrument(span)
    .await
}
