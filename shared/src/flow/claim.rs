//! Claiming and finishing an event, shared by every flow. Events of one thread arrive one at a
//! time from the queue; the claim only tells a new event from a redelivery (done, or to be
//! resumed where it stopped).

use std::time::Duration;

use crate::store::{Claim, Lease, StatsEntry, Store, StoreError, ThreadState, claim_of};

/// How long one delivery holds an event after each save. Longer than a turn takes after its
/// last save (replies and a recategorization), shorter than the queue's visibility timeout,
/// so a delivery the queue repeats after a crash finds the lease expired and resumes.
pub const EVENT_LEASE: Duration = Duration::from_secs(120);

/// Loads the thread and the event's record (one request) and decides the claim.
pub async fn claim(store: &dyn Store, thread_id: &str, event_id: &str) -> Result<Claim, StoreError> {
    let (thread, record) = store.load_event(thread_id, event_id).await?;
    Ok(claim_of(thread, record, event_id, crate::now_millis(), EVENT_LEASE.as_millis() as i64))
}

/// A thread changed under us this many times in a row: give up and let the queue retry.
const THREAD_CONFLICT_ATTEMPTS: usize = 5;

/// Finishes an event, saving `change` applied to its thread. When another writer changed the
/// thread meanwhile (the emergency switch), the thread is read again and `change` applied to
/// it: the event's steps are not repeated, its outcome is re-applied.
pub async fn finish_applying(
    store: &dyn Store,
    lease: &Lease,
    thread: ThreadState,
    change: impl Fn(&ThreadState) -> ThreadState,
) -> Result<(), StoreError> {
    let mut current = thread;
    for _ in 0..THREAD_CONFLICT_ATTEMPTS {
        match store.finish_event(lease, Some(&change(&current))).await {
            Err(StoreError::ThreadConflict(_)) => current = store.get_thread(&current.thread_id).await?,
            other => return other,
        }
    }
    Err(StoreError::ThreadConflict(current.thread_id))
}

/// Records statistics after the event is done. Never fails the event: a fact that cannot be
/// written is logged (`stats_not_recorded`) and the event goes on.
pub async fn record_stats(store: &dyn Store, stats: &[StatsEntry]) {
    if stats.is_empty() {
        return;
    }
    if let Err(err) = store.record_stats(stats).await {
        tracing::warn!(error = %err, facts = stats.len(), "stats_not_recorded");
    }
}
