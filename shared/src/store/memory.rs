//! The in-memory store: the local dev server's default and the fast half of the store tests.
//! Same semantics as DynamoDB (conditional writes, leases), one process only.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use super::{
    EmergencyState, EventRecord, EventStore, Generation, HourStats, Journal, Lease, Span, StatsEntry,
    StatsSet, StatsStore, StoreError, SummariesRead, Summary, SweepStore, SwitchStore, ThreadState,
    ThreadStore,
};

#[derive(Default)]
struct Tables {
    /// By thread id: a thread's records sit in small maps of their own, so a busy dev server
    /// never rehashes one huge table of every event it has seen (7% of its CPU under load) and
    /// the lookups need no key built from both ids.
    events: HashMap<String, ThreadEvents>,
    threads: HashMap<String, ThreadState>,
    /// Events committed per thread (kept even before the thread has a state, as in DynamoDB).
    committed: HashMap<String, u64>,
    /// Threads taken out of the bot-owned index until their next save.
    out_of_index: std::collections::HashSet<String>,
    emergency: EmergencyState,
    stats: BTreeMap<i64, BTreeMap<StatsSet, BTreeSet<String>>>,
    summaries: HashMap<Span, StoredSpan>,
}

/// One thread's event records.
#[derive(Default)]
struct ThreadEvents {
    /// Events being processed, released after a failure, or marked: their whole record.
    open: HashMap<String, EventRecord>,
    /// Events finished by their commit: only the thread's position when they were claimed,
    /// which is all a redelivery reads ([`super::claim_of`]: done). Their journal is never
    /// read again; keeping it made the dev server keep every reply it ever posted (under load,
    /// most of its memory, and a fifth of its CPU in page faults and rehashing as it grew).
    finished: HashMap<Box<str>, u64>,
}

impl ThreadEvents {
    fn record(&self, event_id: &str) -> Option<EventRecord> {
        if let Some(record) = self.open.get(event_id) {
            return Some(record.clone());
        }
        self.finished.get(event_id).map(|&claimed_at| EventRecord {
            lease_until: 0,
            token: String::new(),
            claimed_at,
            journal: Journal::default(),
        })
    }
}

/// A closed span's summary, when rolled up, and its generation.
#[derive(Default)]
struct StoredSpan {
    summary: Option<Summary>,
    generation: Generation,
}

#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // Every write below is a single insert under the lock, so even a poisoned lock holds
        // consistent data.
        self.tables.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Tables {
    fn thread(&self, thread_id: &str) -> ThreadState {
        let mut thread = self.threads.get(thread_id).cloned().unwrap_or_else(|| ThreadState::new(thread_id));
        thread.events_committed = self.committed.get(thread_id).copied().unwrap_or(0);
        thread
    }

    fn held(&mut self, lease: &Lease) -> Result<&mut EventRecord, StoreError> {
        match self.events.get_mut(&lease.thread_id).and_then(|records| records.open.get_mut(&lease.event_id))
        {
            Some(record) if record.token == lease.token => Ok(record),
            _ => Err(StoreError::LeaseLost(lease.event_id.clone())),
        }
    }

    /// Keeps only the claim's position of the holder's finished event ([`ThreadEvents`]); a
    /// record taken over since is the new holder's, kept whole.
    fn keep_finished(&mut self, lease: &Lease) {
        let Ok(claimed_at) = self.held(lease).map(|record| record.claimed_at) else { return };
        let records = self.events.get_mut(&lease.thread_id).expect("held just above");
        records.open.remove(&lease.event_id);
        records.finished.insert(lease.event_id.as_str().into(), claimed_at);
    }

    fn save_thread(&mut self, thread: &ThreadState) -> Result<(), StoreError> {
        let stored = self.threads.get(&thread.thread_id).map(|t| t.version).unwrap_or(0);
        if stored != thread.version {
            return Err(StoreError::ThreadConflict(thread.thread_id.clone()));
        }
        let stored = ThreadState { version: thread.version + 1, ..thread.clone() };
        self.threads.insert(thread.thread_id.clone(), stored);
        self.out_of_index.remove(&thread.thread_id);
        Ok(())
    }

    fn in_bot_index(&self, thread: &ThreadState) -> bool {
        thread.version > 0 && thread.bot_is_in_it() && !self.out_of_index.contains(&thread.thread_id)
    }
}

#[async_trait::async_trait]
impl ThreadStore for MemoryStore {
    async fn get_thread(&self, thread_id: &str) -> Result<ThreadState, StoreError> {
        Ok(self.tables().thread(thread_id))
    }
    async fn save_thread(&self, thread: &ThreadState) -> Result<(), StoreError> {
        self.tables().save_thread(thread)
    }
}

#[async_trait::async_trait]
impl EventStore for MemoryStore {
    async fn load_event(
        &self,
        thread_id: &str,
        event_id: &str,
    ) -> Result<(ThreadState, Option<EventRecord>), StoreError> {
        let tables = self.tables();
        let record = tables.events.get(thread_id).and_then(|records| records.record(event_id));
        Ok((tables.thread(thread_id), record))
    }
    async fn save_journal(&self, lease: &mut Lease, journal: &Journal) -> Result<(), StoreError> {
        let now = crate::now_millis();
        let mut tables = self.tables();
        if lease.written {
            let record = tables.held(lease)?;
            record.journal = journal.clone();
            record.lease_until = now + lease.lease_ms;
            return Ok(());
        }
        let records = tables.events.entry(lease.thread_id.clone()).or_default();
        let current = records.open.get(&lease.event_id).map(|r| r.lease_until);
        if current != lease.replaces || records.finished.contains_key(lease.event_id.as_str()) {
            return Err(StoreError::LeaseLost(lease.event_id.clone()));
        }
        records.open.insert(
            lease.event_id.clone(),
            EventRecord {
                lease_until: now + lease.lease_ms,
                token: lease.token.clone(),
                claimed_at: lease.claimed_at,
                journal: journal.clone(),
            },
        );
        lease.written = true;
        Ok(())
    }
    async fn release_event(&self, lease: &Lease, journal: &Journal) -> Result<(), StoreError> {
        if !lease.written {
            return Ok(());
        }
        let mut tables = self.tables();
        let record = tables.held(lease)?;
        record.journal = journal.clone();
        record.lease_until = 0;
        Ok(())
    }
    async fn finish_event(&self, lease: &Lease, thread: Option<&ThreadState>) -> Result<(), StoreError> {
        let mut tables = self.tables();
        if let Some(thread) = thread {
            tables.save_thread(thread)?;
        }
        if lease.written {
            *tables.committed.entry(lease.thread_id.clone()).or_default() += 1;
            tables.keep_finished(lease);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl StatsStore for MemoryStore {
    async fn record_stats(&self, entries: &[StatsEntry], now: i64) -> Result<(), StoreError> {
        let mut tables = self.tables();
        for span in crate::analytics::rollup::spans_made_stale(entries, now) {
            let stored = tables.summaries.entry(span).or_default();
            stored.summary = None;
            stored.generation = Generation { count: stored.generation.count + 1, late_at_ms: Some(now) };
        }
        for entry in entries {
            tables
                .stats
                .entry(entry.hour)
                .or_default()
                .entry(entry.set)
                .or_default()
                .insert(entry.value.clone());
        }
        Ok(())
    }
    async fn read_stats(&self, from_hour: i64, to_hour: i64) -> Result<Vec<HourStats>, StoreError> {
        let tables = self.tables();
        let set = |sets: &BTreeMap<StatsSet, BTreeSet<String>>, which| {
            sets.get(&which).map(|s| s.iter().cloned().collect()).unwrap_or_default()
        };
        Ok(tables
            .stats
            .range(from_hour..=to_hour)
            .map(|(hour, sets)| HourStats {
                hour: *hour,
                sessions: set(sets, StatsSet::Sessions),
                interventions: set(sets, StatsSet::Interventions),
            })
            .collect())
    }
    async fn read_summaries(&self, spans: &[Span]) -> Result<SummariesRead, StoreError> {
        let tables = self.tables();
        let mut read = SummariesRead::default();
        for span in spans {
            match tables.summaries.get(span) {
                Some(StoredSpan { summary: Some(summary), .. }) => read.found.push(summary.clone()),
                Some(StoredSpan { summary: None, generation }) => read.missing.push((*span, *generation)),
                None => read.missing.push((*span, Generation::default())),
            }
        }
        Ok(read)
    }
    async fn write_summary(&self, summary: &Summary, read: Generation) -> Result<(), StoreError> {
        let mut tables = self.tables();
        let stored = tables.summaries.entry(summary.span).or_default();
        if stored.generation.count != read.count {
            return Err(StoreError::SpanChanged {
                first_hour: summary.span.first_hour,
                hours: summary.span.hours,
            });
        }
        stored.summary = Some(summary.clone());
        Ok(())
    }
}

#[async_trait::async_trait]
impl SwitchStore for MemoryStore {
    async fn get_emergency(&self) -> Result<EmergencyState, StoreError> {
        Ok(self.tables().emergency.clone())
    }
    async fn set_emergency(&self, state: &EmergencyState) -> Result<u64, StoreError> {
        let mut tables = self.tables();
        if tables.emergency.version != state.version {
            return Err(StoreError::EmergencyConflict);
        }
        tables.emergency = EmergencyState { version: state.version + 1, ..state.clone() };
        Ok(state.version + 1)
    }
}

#[async_trait::async_trait]
impl SweepStore for MemoryStore {
    async fn bot_owned_threads(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        let tables = self.tables();
        let mut ids: Vec<&String> = tables
            .threads
            .values()
            .filter(|t| tables.in_bot_index(t))
            .map(|t| &t.thread_id)
            .filter(|id| after.is_none_or(|after| id.as_str() > after))
            .collect();
        ids.sort();
        let page: Vec<String> = ids.iter().take(limit).map(|id| id.to_string()).collect();
        let next = if ids.len() > limit { page.last().cloned() } else { None };
        Ok((page, next))
    }
    async fn leave_bot_index(&self, thread: &ThreadState) -> Result<(), StoreError> {
        let mut tables = self.tables();
        if tables.threads.get(&thread.thread_id).map(|t| t.version) != Some(thread.version) {
            return Err(StoreError::ThreadConflict(thread.thread_id.clone()));
        }
        tables.out_of_index.insert(thread.thread_id.clone());
        Ok(())
    }
    async fn count_bot_owned(&self) -> Result<u64, StoreError> {
        let tables = self.tables();
        Ok(tables.threads.values().filter(|t| tables.in_bot_index(t)).count() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Effect, JournalEntry};
    use crate::store::{Claim, claim_of};

    const LEASE_MS: i64 = 60_000;

    async fn claim(store: &MemoryStore, event: &str) -> Claim {
        let (thread, record) = store.load_event("t", event).await.unwrap();
        claim_of(thread, record, event, crate::now_millis(), LEASE_MS)
    }

    #[tokio::test]
    async fn a_finished_event_keeps_only_that_it_is_done() {
        let store = MemoryStore::new();
        let Claim::Granted { mut lease, thread, .. } = claim(&store, "e1").await else { panic!("granted") };
        // A second delivery that loaded the event before the first one's claim was written.
        let Claim::Granted { lease: mut late, .. } = claim(&store, "e1").await else { panic!("granted") };
        let journal = Journal {
            effects: vec![JournalEntry::planned(Effect::Reply { text: "hi".repeat(500) })],
            ..Journal::default()
        };
        store.save_journal(&mut lease, &journal).await.unwrap();
        store.finish_event(&lease, Some(&thread)).await.unwrap();

        let (thread, record) = store.load_event("t", "e1").await.unwrap();
        assert_eq!(thread.events_committed, 1);
        let record = record.expect("the event is remembered");
        assert_eq!(record.journal, Journal::default(), "its journal is not kept");
        assert_eq!(claim_of(thread, Some(record), "e1", crate::now_millis(), LEASE_MS), Claim::Done);
        assert!(
            matches!(store.save_journal(&mut late, &journal).await, Err(StoreError::LeaseLost(_))),
            "the late delivery cannot claim it again"
        );
        assert_eq!(claim(&store, "e1").await, Claim::Done);
        // The thread's next event is new.
        assert!(matches!(claim(&store, "e2").await, Claim::Granted { .. }));
    }

    /// A thread's thousands of events: each done once, none kept whole once finished.
    #[tokio::test]
    async fn thousands_of_events_on_one_thread_are_each_done_and_none_kept_whole() {
        let store = MemoryStore::new();
        let journal = Journal {
            effects: vec![JournalEntry::planned(Effect::Reply { text: "a reply".into() })],
            ..Journal::default()
        };
        for i in 0..3_000 {
            let event = format!("e{i}");
            let Claim::Granted { mut lease, thread, .. } = claim(&store, &event).await else {
                panic!("{event}")
            };
            store.save_journal(&mut lease, &journal).await.unwrap();
            store.finish_event(&lease, Some(&thread)).await.unwrap();
        }
        for i in [0, 1_500, 2_999] {
            assert_eq!(claim(&store, &format!("e{i}")).await, Claim::Done, "e{i} redelivered");
        }
        let tables = store.tables();
        assert_eq!(tables.committed["t"], 3_000);
        let records = &tables.events["t"];
        assert_eq!((records.open.len(), records.finished.len()), (0, 3_000));
    }
}
