//! The emergency switch's sweep of the bot's conversations (CONTRACT C9).

use crate::store::{Owner, ThreadState};

/// A bot-owned thread handed to the agents by the emergency switch.
pub fn thread_after_emergency(thread: &ThreadState, categories: Vec<String>, now_ms: i64) -> ThreadState {
    ThreadState {
        owner: Owner::Agent,
        categories: Some(categories),
        categories_at_ms: now_ms,
        pending_handover: None,
        consecutive_fallbacks: 0,
        emergency_attempts: 0,
        owner_changed_at: Some(crate::time::format_rfc3339(now_ms)),
        updated_at_ms: now_ms,
        ..thread.clone()
    }
}

/// The categories the emergency switch recategorizes a thread from, when they are known well
/// enough (`None`: read the thread first). The stored list, unless the thread had a message
/// since it was read or set (a category may have been added meanwhile); the last message's
/// categories when nothing is stored.
pub fn known_categories(thread: &ThreadState) -> Option<Vec<String>> {
    match (&thread.categories, &thread.last_event_categories) {
        (Some(stored), _) if thread.categories_at_ms >= thread.last_event_ms => Some(stored.clone()),
        (Some(_), _) => None,
        (None, Some(last)) => Some(last.clone()),
        (None, None) => None,
    }
}

/// A thread the emergency switch could not hand over: after `MAX_EMERGENCY_ATTEMPTS` failures
/// in a row (or a refusal for good), it is parked and left alone.
pub fn thread_after_emergency_failure(
    thread: &ThreadState,
    for_good: bool,
    reason: &str,
    now_ms: i64,
) -> ThreadState {
    let attempts = thread.emergency_attempts + 1;
    let parked = for_good || attempts >= MAX_EMERGENCY_ATTEMPTS;
    ThreadState {
        emergency_attempts: attempts,
        parked,
        pending_handover: if parked {
            Some(format!("emergency: {reason}"))
        } else {
            thread.pending_handover.clone()
        },
        updated_at_ms: now_ms,
        ..thread.clone()
    }
}

/// Emergency handovers of one thread that may fail in a row before it is left alone.
pub const MAX_EMERGENCY_ATTEMPTS: u32 = 3;
