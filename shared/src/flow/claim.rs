//! Claiming and finishing an event, shared by every flow. Events of one thread arrive one at a
//! time from the queue; the claim only tells a new event from a redelivery (done, or to be
//! resumed where it stopped).

use std::time::Duration;

use crate::store::{Claim, EventStore, Lease, StatsEntry, StatsStore, StoreError, ThreadState, claim_of};

/// How long one delivery holds an event after each save. Longer than a turn takes after its
/// last save (replies and a recategorization), shorter than the queue's visibility timeout,
/// so a delivery the queue repeats after a crash finds the lease expired and resumes.
pub const EVENT_LEASE: Duration = Duration::from_secs(120);

/// Loads the thread and the event's record (one request) and decides the claim.
pub async fn claim(store: &dyn EventStore, thread_id: &str, event_id: &str) -> Result<Claim, StoreError> {
    let (thread, record) = store.load_event(thread_id, event_id).await?;
    Ok(claim_of(thread, record, event_id, crate::now_millis(), EVENT_LEASE.as_millis() as i64))
}

/// Finishes an event, saving `change` applied to its thread. When another writer changed the
/// thread meanwhile (the emergency switch), the thread is read again and `change` applied to
/// it: the event's steps are not repeated, its outcome is re-applied. A thread whose last
/// commit is this very event was our own write (its answer lost, the write retried by the
/// SDK): done, not applied twice.
pub async fn finish_applying(
    store: &dyn EventStore,
    lease: &Lease,
    thread: &ThreadState,
    change: impl Fn(&ThreadState) -> ThreadState,
) -> Result<(), StoreError> {
    // Read again only after a conflict; the first try applies the change to the claimed state.
    let mut current = std::borrow::Cow::Borrowed(thread);
    // A thread changing under every attempt: the queue's next delivery tries again.
    for _ in 0..crate::retry::Backoff::CONFLICTS.attempts {
        match store.finish_event(lease, Some(&change(&current))).await {
            Err(StoreError::ThreadConflict(_)) => {
                current = std::borrow::Cow::Owned(store.get_thread(&current.thread_id).await?);
                if current.last_event_id.as_deref() == Some(lease.event_id.as_str()) {
                    tracing::info!("the commit met its own write (an answer lost): done once");
                    return Ok(());
                }
            }
            other => return other,
        }
    }
    Err(StoreError::ThreadConflict(current.thread_id.clone()))
}

/// Records statistics after the event is done. Never fails the event: a fact that cannot be
/// written is logged (`stats_not_recorded`) and the event goes on.
pub async fn record_stats(store: &dyn StatsStore, stats: &[StatsEntry]) {
    if stats.is_empty() {
        return;
    }
    for entry in stats {
        match entry.set {
            crate::domain::StatsSet::Sessions => crate::metrics::conversation_started(),
            crate::domain::StatsSet::Interventions => {
                crate::metrics::handover(crate::analytics::reason_of(&entry.value).unwrap_or(""))
            }
        }
    }
    match store.record_stats(stats, crate::now_millis()).await {
        Ok(()) => {}
        // Recorded: only a summary of their closed hour or day kept before them misses them.
        Err(err @ StoreError::LateFactsNotMarked { .. }) => {
            tracing::warn!(error = %err, facts = stats.len(), "late_facts_not_marked")
        }
        Err(err) => tracing::warn!(error = %err, facts = stats.len(), "stats_not_recorded"),
    }
}
