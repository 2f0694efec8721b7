//! State kept between calls: one bounded item per thread, one per event record, one per
//! statistics fact.
//!
//! Events of one thread are processed one at a time, in order: the queue (SQS FIFO grouped by
//! thread, or the dev server's in-process queue) serializes them, so the store needs no turn
//! of its own. What the store adds is exactly-once over at-least-once delivery:
//!
//! - [`Store::load_event`] reads the thread and the event's record in one request;
//!   [`claim_of`] (pure) decides from them: new, resume after a crash, busy, or done.
//! - The first [`Store::save_progress`] writes the record, conditionally (it is the claim);
//!   it happens before the first effect that must not be repeated (a reply), and holds the
//!   bot's answer, so a redelivery never asks the bot again.
//! - [`Store::finish_event`] saves the thread's new state (conditional on its version) and
//!   counts the event as committed on the thread. A record whose thread has committed an event
//!   since it was claimed is done: the record itself is never rewritten, so finishing costs one
//!   small write, the same at a thread's 1st and 2,000th event.
//!
//! Statistics are facts of their own ([`Store::record_stats`]), written after the event's
//! commit and never able to fail it.

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
    /// The bot resolved the conversation; its next message starts a new one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resolved: bool,
    /// The platform refused to act on the thread for good (or the emergency switch failed on
    /// it three times): nobody can hand it over, so the switch leaves it alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parked: bool,
    /// Emergency handovers that failed on this thread in a row.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub emergency_attempts: u32,
    /// When `categories` were last read or set (ms; 0: unknown).
    #[serde(default, skip_serializing_if = "is_zero_ms")]
    pub categories_at_ms: i64,
    /// The categories of the thread's last message, and when it was issued (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_categories: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "is_zero_ms")]
    pub last_event_ms: i64,
    /// The conversation's recent messages, for a bot backend that needs them (an LLM), bounded
    /// by its `MemoryLimits`; empty for the others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bot_memory: Vec<crate::bot::HistoryEntry>,
    /// Events committed on this thread (stored beside the state, not in it): an event record
    /// claimed at a lower count is done.
    #[serde(skip)]
    pub events_committed: u64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_ms(n: &i64) -> bool {
    *n == 0
}

impl ThreadState {
    pub fn new(thread_id: &str) -> Self {
        Self { thread_id: thread_id.to_string(), ..Self::default() }
    }

    /// Whether the bot is in this conversation: it is the bot's, not ended, not resolved, not
    /// parked. Only such threads are in the `bot-owned` index the emergency switch sweeps.
    pub fn bot_is_in_it(&self) -> bool {
        self.owner == Owner::Bot && !self.ended && !self.resolved && !self.parked
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
    /// The contact center was closed when the handover was decided: the message sent instead
    /// of the handover or no-agent message (rendered once, so a redelivery posts the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_message: Option<String>,
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
    /// Threads that could not be recategorized (403/404: closed, deleted, no access; or three
    /// failures in a row).
    #[serde(default)]
    pub failed: u64,
    /// Where the sweep of the bot-owned index goes on: the last thread of the last page done
    /// (`None`: from the top).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_after: Option<String>,
}

/// Which activity set of an hour's statistics an entry goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatsSet {
    Sessions,
    Interventions,
}

impl StatsSet {
    pub fn attribute(self) -> &'static str {
        match self {
            Self::Sessions => "sessions",
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
    pub interventions: Vec<String>,
}

/// How long statistics are kept.
pub const STATS_TTL_SECONDS: i64 = 400 * 24 * 3600;

/// An event's record as stored: who holds it, and the steps done so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// Until when the holder works on it (ms); 0 once released after a failure.
    pub lease_until: i64,
    pub token: String,
    /// The thread's [`ThreadState::events_committed`] when the record was claimed.
    pub claimed_at: u64,
    pub progress: EventProgress,
}

/// The outcome of claiming an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Process it, resuming from `progress`. `thread` is the thread's state as loaded. Writes
    /// about the event must present `lease`.
    Granted { lease: Lease, progress: EventProgress, thread: ThreadState },
    /// Another delivery holds this event: the queue delivers it again later.
    Busy,
    /// Already processed: do nothing.
    Done,
}

/// Proof of holding an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub thread_id: String,
    pub event_id: String,
    pub token: String,
    /// How long a save holds the event, from the time of the save.
    pub lease_ms: i64,
    /// The thread's committed-event count when claimed.
    pub claimed_at: u64,
    /// The record is written. Until then the first save writes it, conditional on `replaces`.
    pub written: bool,
    /// The lease of the record this claim takes over (`None`: there is no record yet).
    pub replaces: Option<i64>,
    /// The previous delivery died holding the event (its lease expired, it was never
    /// released): a step it began may or may not have reached the platform, so the resumed run
    /// checks with the platform before repeating one.
    pub after_crash: bool,
}

/// Decides a claim from what [`Store::load_event`] read: a pure function, so every case is a
/// unit test. The record is written by the first [`Store::save_progress`], conditionally, so
/// two deliveries racing for one event cannot both write it.
pub fn claim_of(
    thread: ThreadState,
    record: Option<EventRecord>,
    event_id: &str,
    now_ms: i64,
    lease_ms: i64,
) -> Claim {
    let lease = |replaces: Option<i64>, after_crash: bool| Lease {
        thread_id: thread.thread_id.clone(),
        event_id: event_id.to_string(),
        token: new_lease_token(),
        lease_ms,
        claimed_at: thread.events_committed,
        written: false,
        replaces,
        after_crash,
    };
    match record {
        None => Claim::Granted { lease: lease(None, false), progress: EventProgress::default(), thread },
        // The thread committed an event since this one was claimed: events of a thread are
        // processed in order, so that was this one (or it was given up and its thread moved on).
        Some(record) if thread.events_committed > record.claimed_at => Claim::Done,
        Some(record) if record.lease_until > now_ms => Claim::Busy,
        Some(record) => {
            // A released record's lease is 0; a crashed holder's is a past time.
            let lease = Lease {
                claimed_at: record.claimed_at,
                ..lease(Some(record.lease_until), record.lease_until > 0)
            };
            Claim::Granted { lease, progress: record.progress, thread }
        }
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The thread changed since it was read: re-read and decide again.
    #[error("thread {0} was changed concurrently")]
    ThreadConflict(String),
    /// The emergency switch changed since it was read: read it again.
    #[error("the emergency switch was changed concurrently")]
    EmergencyConflict,
    /// Another delivery holds the event.
    #[error("event {0} is held by another delivery")]
    LeaseLost(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
}

/// Where state is kept.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// The thread's state and the event's record, in one request.
    async fn load_event(
        &self,
        thread_id: &str,
        event_id: &str,
    ) -> Result<(ThreadState, Option<EventRecord>), StoreError>;

    /// Saves the steps done so far. The first save writes the record (the claim), conditional
    /// on nobody else having written or taken it over; `LeaseLost` when somebody did.
    async fn save_progress(&self, lease: &mut Lease, progress: &EventProgress) -> Result<(), StoreError>;

    /// Gives the event up after a failure, saving the steps done, so that the next delivery
    /// resumes at once from there. Nothing to do when the record was never written.
    async fn release_event(&self, lease: &Lease, progress: &EventProgress) -> Result<(), StoreError>;

    /// Finishes the event: saves the thread's new state when given (conditional on
    /// `thread.version`, the version it was read at) and counts the event as committed on its
    /// thread when its record was written. One write, or none.
    async fn finish_event(&self, lease: &Lease, thread: Option<&ThreadState>) -> Result<(), StoreError>;

    /// Records statistics facts, each an item of its own (a repeated fact counts once).
    async fn record_stats(&self, entries: &[StatsEntry]) -> Result<(), StoreError>;

    /// The statistics of hours `from..=to` (hours since the epoch) that have any.
    async fn read_stats(&self, from_hour: i64, to_hour: i64) -> Result<Vec<HourStats>, StoreError>;

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

    /// Takes a thread out of the bot-owned index without changing it (an idle conversation),
    /// if it is still at `thread.version`; its next save puts it back when the bot is in it.
    async fn leave_bot_index(&self, thread: &ThreadState) -> Result<(), StoreError>;

    /// The emergency switch (off when never set).
    async fn get_emergency(&self) -> Result<EmergencyState, StoreError>;

    /// Saves the switch if its stored version is still `state.version`; returns the new version.
    async fn set_emergency(&self, state: &EmergencyState) -> Result<u64, StoreError>;
}

pub(crate) fn new_lease_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(lease_until: i64, claimed_at: u64) -> EventRecord {
        EventRecord { lease_until, token: "t".into(), claimed_at, progress: EventProgress::default() }
    }

    fn thread(committed: u64) -> ThreadState {
        ThreadState { events_committed: committed, ..ThreadState::new("th") }
    }

    #[test]
    fn a_new_event_is_granted_unwritten() {
        let Claim::Granted { lease, .. } = claim_of(thread(4), None, "e", 1000, 60) else { panic!() };
        assert!(!lease.written && lease.replaces.is_none() && !lease.after_crash);
        assert_eq!(lease.claimed_at, 4);
    }

    #[test]
    fn a_record_older_than_the_last_commit_is_done() {
        assert_eq!(claim_of(thread(5), Some(record(2000, 4)), "e", 1000, 60), Claim::Done);
        assert_eq!(claim_of(thread(5), Some(record(0, 4)), "e", 1000, 60), Claim::Done);
    }

    #[test]
    fn a_live_lease_is_busy() {
        assert_eq!(claim_of(thread(4), Some(record(2000, 4)), "e", 1000, 60), Claim::Busy);
    }

    #[test]
    fn an_expired_lease_is_resumed_after_a_crash_and_a_released_one_without() {
        let Claim::Granted { lease, .. } = claim_of(thread(4), Some(record(900, 4)), "e", 1000, 60) else {
            panic!()
        };
        assert_eq!((lease.replaces, lease.after_crash, lease.claimed_at), (Some(900), true, 4));
        let Claim::Granted { lease, .. } = claim_of(thread(4), Some(record(0, 4)), "e", 1000, 60) else {
            panic!()
        };
        assert_eq!((lease.replaces, lease.after_crash), (Some(0), false));
    }
}
