//! Claiming an event and its thread's turn, waiting briefly while either is busy. Shared by
//! every flow: customers often send two messages at once, and the second should wait for the
//! first rather than be refused.

use std::time::Duration;

use crate::store::{Claim, EventProgress, Lease, StatsEntry, Store, StoreError, ThreadState};

/// How long one delivery holds an event and its thread's turn. Longer than any function run
/// (API Gateway gives up after 30 s), so two deliveries never work on one thread at once.
pub const EVENT_LEASE: Duration = Duration::from_secs(60);

/// Waits between attempts while the event or its thread is busy (about 3 s in all).
const CLAIM_WAITS_MS: [u64; 7] = [25, 50, 100, 200, 400, 800, 1600];

/// What a claim gave.
pub enum Claimed {
    Granted {
        lease: Lease,
        progress: EventProgress,
        thread: ThreadState,
    },
    /// Already processed.
    Done,
    /// Still busy after waiting: answer so that the sender retries later.
    Busy,
}

pub async fn claim_with_wait(
    store: &dyn Store,
    thread_id: &str,
    event_id: &str,
) -> Result<Claimed, StoreError> {
    let lease_ms = EVENT_LEASE.as_millis() as i64;
    for wait in CLAIM_WAITS_MS.iter().map(|ms| Some(*ms)).chain([None]) {
        match store.claim_event(thread_id, event_id, crate::now_millis(), lease_ms).await? {
            Claim::Done => return Ok(Claimed::Done),
            Claim::Granted { lease, progress, thread } => {
                return Ok(Claimed::Granted { lease, progress, thread });
            }
            Claim::Busy => match wait {
                Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                None => break,
            },
        }
    }
    Ok(Claimed::Busy)
}

/// A thread changed under us this many times in a row: give up and let the sender retry.
const THREAD_CONFLICT_ATTEMPTS: usize = 5;

/// Finishes an event, saving `change` applied to its thread in the same write. When another
/// writer changed the thread meanwhile (its version moved), the thread is read again and
/// `change` applied to it: the event's steps are not repeated, its outcome is re-applied.
pub async fn finish_applying(
    store: &dyn Store,
    lease: &Lease,
    progress: &EventProgress,
    thread: ThreadState,
    stats: &[StatsEntry],
    change: impl Fn(&ThreadState) -> ThreadState,
) -> Result<(), StoreError> {
    let mut current = thread;
    for _ in 0..THREAD_CONFLICT_ATTEMPTS {
        match store.finish_event(lease, progress, Some(&change(&current)), stats).await {
            Err(StoreError::ThreadConflict(_)) => current = store.get_thread(&current.thread_id).await?,
            other => return other,
        }
    }
    Err(StoreError::ThreadConflict(current.thread_id))
}
