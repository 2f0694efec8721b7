//! State kept between calls: one bounded item per thread, one per event record, one per
//! statistics fact. The model itself is [`crate::domain`]'s.
//!
//! Events of one thread are processed one at a time, in order: the queue (SQS FIFO grouped by
//! thread, or the dev server's in-process queue) serializes them, so the store needs no turn
//! of its own. What the store adds is exactly-once over at-least-once delivery:
//!
//! - [`Store::load_event`] reads the thread and the event's record in one request;
//!   [`claim_of`] (pure) decides from them: new, resume, busy, or done.
//! - The first [`Store::save_journal`] writes the record, conditionally (it is the claim): the
//!   bot's answer, at once, and the turn's effects planned, before the first of them is made.
//! - [`Store::finish_event`] saves the thread's new state (conditional on its version) and
//!   counts the event as committed on the thread. A record whose thread has committed an event
//!   since it was claimed is done, every effect of its journal with it: the record itself is
//!   never rewritten, so finishing costs one small write, the same at a thread's 1st and
//!   2,000th event.
//! - An event that changes no thread is finished by its record alone, marked
//!   ([`Journal::marked`]): every event leaves a mark, so a redelivery hours later does nothing.
//!
//! Statistics are facts of their own ([`Store::record_stats`]), written after the event's
//! commit and never able to fail it.

pub mod dynamodb;
pub mod memory;

pub use crate::analytics::rollup::{Generation, Span, Summary};
pub use crate::domain::{
    BotOutcome, Effect, EffectState, EmergencyState, HandoverDecision, HourStats, Journal, JournalEntry,
    Owner, StatsEntry, StatsSet, ThreadState,
};

pub use dynamodb::DynamoStore;
pub use memory::MemoryStore;

/// How long an event record is kept: beyond the platform's retry window (24 h, 48 h promised).
pub const EVENT_RECORD_TTL_SECONDS: i64 = 72 * 3600;
/// How long an idle thread's state is kept.
pub const THREAD_TTL_SECONDS: i64 = 90 * 24 * 3600;

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
    pub journal: Journal,
}

/// The outcome of claiming an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Process it, resuming from `journal`. `thread` is the thread's state as loaded. Writes
    /// about the event must present `lease`.
    Granted { lease: Lease, journal: Journal, thread: ThreadState },
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
/// unit test. The record is written by the first [`Store::save_journal`], conditionally, so
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
        None => Claim::Granted { lease: lease(None, false), journal: Journal::default(), thread },
        // A mark: the event was decided and finished without a commit on its thread.
        Some(record) if record.journal.marked.is_some() => Claim::Done,
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
            Claim::Granted { lease, journal: record.journal, thread }
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
    /// A late fact came into the span while it was rolled up: the summary is not kept.
    #[error("a late fact came into the hours {first_hour}+{hours} while they were rolled up")]
    SpanChanged { first_hour: i64, hours: i64 },
    /// The facts were written, but the closed spans they fall in could not be moved on to their
    /// next generation: a summary already kept for them misses these facts.
    #[error("facts recorded, but {spans} closed span(s) they fall in were not marked stale: {cause}")]
    LateFactsNotMarked { spans: usize, cause: String },
}

/// Summaries read for a report: the stored ones, and each span that has none (never rolled up,
/// or made stale by a late fact) with the [`Generation`] its roll-up is written against.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SummariesRead {
    pub found: Vec<Summary>,
    pub missing: Vec<(Span, Generation)>,
}

/// A thread's state, read and saved on its version.
#[async_trait::async_trait]
pub trait ThreadStore: Send + Sync {
    /// The thread's state; a thread never seen comes back new (version 0).
    async fn get_thread(&self, thread_id: &str) -> Result<ThreadState, StoreError>;

    /// Saves a thread if its stored version is still `thread.version` (0: never saved).
    async fn save_thread(&self, thread: &ThreadState) -> Result<(), StoreError>;
}

/// Events processed exactly once: the claim, the journal, the commit.
#[async_trait::async_trait]
pub trait EventStore: ThreadStore {
    /// The thread's state and the event's record, in one request.
    async fn load_event(
        &self,
        thread_id: &str,
        event_id: &str,
    ) -> Result<(ThreadState, Option<EventRecord>), StoreError>;

    /// Saves the event's journal. The first save writes the record (the claim), conditional
    /// on nobody else having written or taken it over; `LeaseLost` when somebody did.
    async fn save_journal(&self, lease: &mut Lease, journal: &Journal) -> Result<(), StoreError>;

    /// Gives the event up after a failure, saving its journal, so that the next delivery
    /// resumes at once from there. Nothing to do when the record was never written.
    async fn release_event(&self, lease: &Lease, journal: &Journal) -> Result<(), StoreError>;

    /// Finishes the event: saves the thread's new state when given (conditional on
    /// `thread.version`, the version it was read at) and counts the event as committed on its
    /// thread when its record was written. One write, or none.
    async fn finish_event(&self, lease: &Lease, thread: Option<&ThreadState>) -> Result<(), StoreError>;
}

/// The handover statistics.
#[async_trait::async_trait]
pub trait StatsStore: Send + Sync {
    /// Records statistics facts at `now_ms`, each an item of its own (a repeated fact counts
    /// once). A fact of a span closed by then (late) moves that span to its next
    /// [`Generation`] first, dropping its summary; when that fails and the facts are still
    /// written: [`StoreError::LateFactsNotMarked`].
    async fn record_stats(&self, entries: &[StatsEntry], now_ms: i64) -> Result<(), StoreError>;

    /// The statistics of hours `from..=to` (hours since the epoch) that have any.
    async fn read_stats(&self, from_hour: i64, to_hour: i64) -> Result<Vec<HourStats>, StoreError>;

    /// The stored summaries of `spans`, and the generation of each span that has none.
    async fn read_summaries(&self, spans: &[Span]) -> Result<SummariesRead, StoreError>;

    /// Stores a closed span's summary rolled up from facts read after `read` was: refused with
    /// [`StoreError::SpanChanged`] when a late fact has moved the span on since (written again
    /// at the same generation, it is the same summary).
    async fn write_summary(&self, summary: &Summary, read: Generation) -> Result<(), StoreError>;
}

/// The emergency switch.
#[async_trait::async_trait]
pub trait SwitchStore: Send + Sync {
    /// The emergency switch (off when never set).
    async fn get_emergency(&self) -> Result<EmergencyState, StoreError>;

    /// Saves the switch if its stored version is still `state.version`; returns the new version.
    async fn set_emergency(&self, state: &EmergencyState) -> Result<u64, StoreError>;
}

/// The bot's conversations, as the emergency switch sweeps them.
#[async_trait::async_trait]
pub trait SweepStore: ThreadStore {
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
}

/// What the worker uses: events, the statistics it records, the switch it reads.
pub trait WorkerStore: EventStore + StatsStore + SwitchStore {}
impl<T: EventStore + StatsStore + SwitchStore + ?Sized> WorkerStore for T {}

/// What the emergency function uses: the switch, the sweep, the statistics it records.
pub trait EmergencyStore: SwitchStore + SweepStore + StatsStore {}
impl<T: SwitchStore + SweepStore + StatsStore + ?Sized> EmergencyStore for T {}

/// Every capability: one table (DynamoDB) or one map (memory) holds them all, and each
/// function is given only the capabilities it uses (the analytics function: [`StatsStore`];
/// the worker: [`WorkerStore`]; the emergency function: [`EmergencyStore`]).
pub trait Store: WorkerStore + EmergencyStore {}
impl<T: WorkerStore + EmergencyStore + ?Sized> Store for T {}

pub(crate) fn new_lease_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(lease_until: i64, claimed_at: u64) -> EventRecord {
        EventRecord { lease_until, token: "t".into(), claimed_at, journal: Journal::default() }
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
