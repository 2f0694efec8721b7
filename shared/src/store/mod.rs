//! State kept between calls: one record per thread, one per webhook event.
//!
//! The event record makes side effects exactly-once over at-least-once delivery: the first
//! delivery claims it with a lease, each step's outcome is saved before the next step, and the
//! record is finished together with the thread's new state in one atomic write. A redelivery
//! of a finished event does nothing; a redelivery after a crash resumes where the steps stopped.

pub mod dynamodb;
pub mod memory;

use serde::{Deserialize, Serialize};

use crate::bot::BotAnswer;

pub use dynamodb::DynamoStore;
pub use memory::MemoryStore;

/// How long an event record is kept: beyond the platform's retry window (24 h, 48 h promised).
pub const EVENT_RECORD_TTL_SECONDS: i64 = 72 * 3600;
/// How long an idle thread's state is kept.
pub const THREAD_TTL_SECONDS: i64 = 90 * 24 * 3600;

/// Who answers a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    #[default]
    Bot,
    Agent,
}

impl Owner {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bot => "bot",
            Self::Agent => "agent",
        }
    }
}

/// What the product knows of one Engage Digital thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ThreadState {
    pub thread_id: String,
    pub owner: Owner,
    /// Optimistic-concurrency version: 0 for a thread never saved, +1 at every save.
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// The thread's categories as last seen or set.
    #[serde(default)]
    pub categories: Vec<String>,
    /// The intervention the bot opened and has not closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_intervention_id: Option<String>,
    /// Fallback answers in a row.
    #[serde(default)]
    pub consecutive_fallbacks: u32,
    /// Set when a handover is needed and not yet done, with its reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_handover: Option<String>,
    /// `issued_at` of the event that last changed the owner: older events never undo it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_changed_at: Option<String>,
    #[serde(default)]
    pub updated_at_ms: i64,
}

impl ThreadState {
    pub fn new(thread_id: &str) -> Self {
        Self {
            thread_id: thread_id.to_string(),
            ..Self::default()
        }
    }
}

/// What the bot said for one event, saved before anything is posted so a resumed run posts
/// exactly the same text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BotOutcome {
    Answered(BotAnswer),
    Failed { reason: String },
}

/// The steps of one event done so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EventProgress {
    /// The intervention was opened (or its creation refused with a 422, and the turn went on).
    #[serde(default)]
    pub intervention_step_done: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervention_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<BotOutcome>,
    /// How many of the bot's replies are posted.
    #[serde(default)]
    pub replies_posted: usize,
    #[serde(default)]
    pub intervention_closed: bool,
    #[serde(default)]
    pub thread_closed: bool,
}

/// The outcome of claiming an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First delivery, or a takeover after an expired lease: process it, resuming from
    /// `progress`. Writes about the event must present `lease`.
    Granted {
        lease: Lease,
        progress: EventProgress,
    },
    /// Another delivery holds a live lease: answer so that the platform retries later.
    Busy,
    /// Already processed: do nothing.
    Done,
}

/// Proof of holding an event's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub event_id: String,
    pub token: String,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The thread changed since it was read: re-read and decide again.
    #[error("thread {0} was changed concurrently")]
    ThreadConflict(String),
    /// Another delivery took the event over (our lease expired).
    #[error("the lease on event {0} was lost")]
    LeaseLost(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
}

#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// Claims an event for processing (see [`Claim`]).
    async fn claim_event(
        &self,
        event_id: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Claim, StoreError>;

    /// Saves the steps done so far, while holding the lease.
    async fn save_progress(
        &self,
        lease: &Lease,
        progress: &EventProgress,
    ) -> Result<(), StoreError>;

    /// Marks the event done and, atomically with it, saves the thread's new state
    /// (conditional on the version it was read at).
    async fn finish_event(
        &self,
        lease: &Lease,
        progress: &EventProgress,
        thread: Option<&ThreadState>,
    ) -> Result<(), StoreError>;

    /// Gives the lease up after a failure, so the platform's retry resumes at once.
    async fn release_event(&self, lease: &Lease) -> Result<(), StoreError>;

    async fn get_thread(&self, thread_id: &str) -> Result<Option<ThreadState>, StoreError>;

    /// Saves a thread if its stored version is still `thread.version` (0: not stored yet).
    async fn save_thread(&self, thread: &ThreadState) -> Result<(), StoreError>;
}

pub(crate) fn new_lease_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}
