//! State kept between calls: one record per thread, one per webhook event.
//!
//! The event record makes side effects exactly-once over at-least-once delivery: the first
//! delivery claims it with a lease, each step's outcome that a later step depends on is saved
//! before that step, and the record is finished together with the thread's new state in one
//! atomic write. A redelivery of a finished event does nothing; a redelivery after a failure
//! resumes where the steps stopped. Event records are kept inside their thread's record, so
//! the common case costs two requests: claim (which also reads the thread) and finish.

pub mod dynamodb;
pub mod memory;

use std::collections::BTreeMap;

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
    /// The thread's categories as last read or set; `None` while unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// The intervention the bot opened and has not closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_intervention_id: Option<String>,
    /// Fallback answers in a row.
    #[serde(default)]
    pub consecutive_fallbacks: u32,
    /// Turns the bot took on this conversation.
    #[serde(default)]
    pub bot_turns: u32,
    /// Set when a handover is needed and not yet done, with its reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_handover: Option<String>,
    /// `issued_at` of the event that last changed the owner: older events never undo it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_changed_at: Option<String>,
    #[serde(default)]
    pub updated_at_ms: i64,
    /// The conversation is over (a Zenvia interaction finished): nobody answers it any more.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ended: bool,
    /// The Zenvia department the interaction started in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_id: Option<i64>,
}

impl ThreadState {
    pub fn new(thread_id: &str) -> Self {
        Self { thread_id: thread_id.to_string(), ..Self::default() }
    }
}

/// What the bot said for one event, saved before anything is posted so a resumed run posts
/// exactly the same text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BotOutcome {
    Answered(BotAnswer),
    Failed {
        reason: String,
    },
    /// The bot was not asked (emergency): straight to the agents.
    NotAsked {
        reason: String,
    },
}

/// Where a handover goes, decided once per event and kept, so that a resumed run carries out
/// the same decision (a later availability check could say otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum HandoverDecision {
    /// Recategorize the thread to the agents.
    Agents,
    /// No agent available and `NO_AGENT_POLICY=stay`: the bot keeps the thread.
    StayWithBot,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handover: Option<HandoverDecision>,
    /// How many messages are posted: the bot's replies, then the handover or no-agent message.
    #[serde(default)]
    pub replies_posted: usize,
    /// The categories the thread was (or is being) recategorized to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_categories: Option<Vec<String>>,
    #[serde(default)]
    pub recategorized: bool,
    #[serde(default)]
    pub intervention_closed: bool,
    #[serde(default)]
    pub thread_closed: bool,
    /// Zenvia: the interaction was transferred to the agents.
    #[serde(default)]
    pub transferred: bool,
    /// Zenvia: the interaction was finished by the bot.
    #[serde(default)]
    pub finished: bool,
    /// A platform call got no answer (timeout, connection lost): it may have been performed.
    /// The next run checks with the platform before repeating a step, as after a crash.
    #[serde(default)]
    pub uncertain: bool,
}

/// The emergency switch (CONTRACT C9): while active, every bot message goes to the agents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EmergencyState {
    /// Optimistic-concurrency version: 0 never saved, +1 at every save.
    #[serde(default)]
    pub version: u64,
    pub active: bool,
    /// When it was last switched, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who switched it (the caller's identity as API Gateway saw it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switched_by: Option<String>,
    /// The bot sources' default categories before the switch, to restore (source id to list).
    /// An entry is removed once restored.
    #[serde(default)]
    pub saved_default_categories: BTreeMap<String, Vec<String>>,
    /// Every bot source's default categories are switched to AGENT.
    #[serde(default)]
    pub sources_switched: bool,
    /// Threads recategorized BOT to AGENT since it was switched on.
    #[serde(default)]
    pub handed_over: u64,
    /// Threads that could not be recategorized (403/404: closed, deleted, no access).
    #[serde(default)]
    pub failed: u64,
}

/// Which activity set of an hour's statistics an entry goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatsSet {
    Sessions,
    Users,
    Interventions,
}

impl StatsSet {
    pub fn attribute(self) -> &'static str {
        match self {
            Self::Sessions => "sessions",
            Self::Users => "users",
            Self::Interventions => "interventions",
        }
    }
}

/// One entry of the handover statistics: a string added to a set of an hour's item, so that
/// recording the same entry twice (a retry) counts once. The entries' format belongs to
/// [`crate::analytics`]; the store only keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsEntry {
    /// Hours since the epoch.
    pub hour: i64,
    pub set: StatsSet,
    pub value: String,
}

/// An hour's recorded entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HourStats {
    pub hour: i64,
    pub sessions: Vec<String>,
    pub users: Vec<String>,
    pub interventions: Vec<String>,
}

/// How long statistics are kept.
pub const STATS_TTL_SECONDS: i64 = 400 * 24 * 3600;

/// The outcome of claiming an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First delivery, or a takeover after an expired lease: process it, resuming from
    /// `progress`. `thread` is the thread's state as it was when claimed (read in the same
    /// request). Writes about the event must present `lease`. The claim also holds the
    /// thread's turn: no other event of the thread is processed until this one is finished or
    /// released, so decisions never race (no reply after a handover, no double handover).
    Granted { lease: Lease, progress: EventProgress, thread: ThreadState },
    /// Another delivery holds this event, or another event holds the thread's turn: wait a
    /// little or answer so that the platform retries later.
    Busy,
    /// Already processed: do nothing.
    Done,
}

/// Proof of holding an event's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub thread_id: String,
    pub event_id: String,
    pub token: String,
    /// Records of the thread's earlier events past [`EVENT_RECORD_TTL_SECONDS`], seen when
    /// claiming; finishing this event removes them (housekeeping, no extra request).
    pub expired_events: Vec<String>,
    /// The previous delivery died holding the event (its lease expired, it was never
    /// released): a step it began may or may not have reached the platform, so the resumed run
    /// checks with the platform before repeating one.
    pub after_crash: bool,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The thread changed since it was read: re-read and decide again.
    #[error("thread {0} was changed concurrently")]
    ThreadConflict(String),
    /// The emergency switch changed since it was read: read it again.
    #[error("the emergency switch was changed concurrently")]
    EmergencyConflict,
    /// Another delivery took the event over (our lease expired).
    #[error("the lease on event {0} was lost")]
    LeaseLost(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
}

/// Where state is kept. Event records live with their thread, so claiming an event also
/// reads the thread (one request), and finishing it saves the thread (one more).
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// Claims event `event_id` of thread `thread_id` for processing (see [`Claim`]).
    async fn claim_event(
        &self,
        thread_id: &str,
        event_id: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Claim, StoreError>;

    /// Saves the steps done so far, while holding the lease.
    async fn save_progress(&self, lease: &Lease, progress: &EventProgress) -> Result<(), StoreError>;

    /// Marks the event done and, in the same atomic write, saves the thread's new state when
    /// given (conditional on `thread.version`, the version it was read at) and records the
    /// statistics entries.
    async fn finish_event(
        &self,
        lease: &Lease,
        progress: &EventProgress,
        thread: Option<&ThreadState>,
        stats: &[StatsEntry],
    ) -> Result<(), StoreError>;

    /// The statistics of hours `from..=to` (hours since the epoch) that have any.
    async fn read_stats(&self, from_hour: i64, to_hour: i64) -> Result<Vec<HourStats>, StoreError>;

    /// Gives the lease up after a failure, saving the steps done, so that the platform's retry
    /// resumes at once from there.
    async fn release_event(&self, lease: &Lease, progress: &EventProgress) -> Result<(), StoreError>;

    /// The thread's state; a thread never seen comes back new (version 0).
    async fn get_thread(&self, thread_id: &str) -> Result<ThreadState, StoreError>;

    /// Saves a thread if its stored version is still `thread.version` (0: never saved).
    async fn save_thread(&self, thread: &ThreadState) -> Result<(), StoreError>;

    /// A page of bot-owned threads (ids in order, after `after`), without scanning the table,
    /// and the id to continue after when there may be more.
    async fn bot_owned_threads(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>), StoreError>;

    /// How many threads are bot-owned.
    async fn count_bot_owned(&self) -> Result<u64, StoreError>;

    /// The emergency switch (off when never set).
    async fn get_emergency(&self) -> Result<EmergencyState, StoreError>;

    /// Saves the switch if its stored version is still `state.version`; returns the new version.
    async fn set_emergency(&self, state: &EmergencyState) -> Result<u64, StoreError>;
}

pub(crate) fn new_lease_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}
