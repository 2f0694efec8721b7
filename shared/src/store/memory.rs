//! The in-memory store: the local dev server's default and the fast half of the store tests.
//! Same semantics as DynamoDB (conditional writes, leases), one process only.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use super::{
    Claim, EmergencyState, EventProgress, HourStats, Lease, StatsEntry, StatsSet, Store, StoreError,
    ThreadState, new_lease_token,
};

#[derive(Debug, Clone)]
struct EventRecord {
    done: bool,
    lease_until_ms: i64,
    lease_token: Option<String>,
    progress: EventProgress,
}

#[derive(Default)]
struct Tables {
    /// Keyed by (thread id, event id), as DynamoDB keeps them inside the thread's item.
    events: HashMap<(String, String), EventRecord>,
    threads: HashMap<String, ThreadState>,
    /// The thread's turn: (until ms, lease token) of the event being processed.
    turns: HashMap<String, (i64, String)>,
    emergency: EmergencyState,
    stats: BTreeMap<i64, BTreeMap<StatsSet, BTreeSet<String>>>,
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
        self.threads.get(thread_id).cloned().unwrap_or_else(|| ThreadState::new(thread_id))
    }

    fn held(&mut self, lease: &Lease) -> Result<&mut EventRecord, StoreError> {
        match self.events.get_mut(&(lease.thread_id.clone(), lease.event_id.clone())) {
            Some(record) if record.lease_token.as_deref() == Some(&lease.token) && !record.done => Ok(record),
            _ => Err(StoreError::LeaseLost(lease.event_id.clone())),
        }
    }

    fn check_version(&self, thread: &ThreadState) -> Result<(), StoreError> {
        let stored = self.threads.get(&thread.thread_id).map(|t| t.version).unwrap_or(0);
        if stored == thread.version {
            Ok(())
        } else {
            Err(StoreError::ThreadConflict(thread.thread_id.clone()))
        }
    }

    fn put_thread(&mut self, thread: &ThreadState) {
        let stored = ThreadState { version: thread.version + 1, ..thread.clone() };
        self.threads.insert(thread.thread_id.clone(), stored);
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn claim_event(
        &self,
        thread_id: &str,
        event_id: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Claim, StoreError> {
        let mut tables = self.tables();
        let thread = tables.thread(thread_id);
        let token = new_lease_token();
        let mut lease = Lease {
            thread_id: thread_id.to_string(),
            event_id: event_id.to_string(),
            token: token.clone(),
            expired_events: vec![],
            after_crash: false,
        };
        let key = (thread_id.to_string(), event_id.to_string());
        let turn_free = tables.turns.get(thread_id).is_none_or(|(until, _)| *until <= now_ms);
        let progress = match tables.events.get(&key) {
            Some(record) if record.done => return Ok(Claim::Done),
            Some(record) if record.lease_until_ms > now_ms => return Ok(Claim::Busy),
            _ if !turn_free => return Ok(Claim::Busy),
            Some(record) => {
                // Released events drop their token; a crashed holder's is still there.
                lease.after_crash = record.lease_token.is_some();
                record.progress.clone()
            }
            None => EventProgress::default(),
        };
        let record = EventRecord {
            done: false,
            lease_until_ms: now_ms + lease_ms,
            lease_token: Some(token.clone()),
            progress: progress.clone(),
        };
        tables.events.insert(key, record);
        tables.turns.insert(thread_id.to_string(), (now_ms + lease_ms, token));
        Ok(Claim::Granted { lease, progress, thread })
    }

    async fn save_progress(&self, lease: &Lease, progress: &EventProgress) -> Result<(), StoreError> {
        self.tables().held(lease)?.progress = progress.clone();
        Ok(())
    }

    async fn finish_event(
        &self,
        lease: &Lease,
        progress: &EventProgress,
        thread: Option<&ThreadState>,
        stats: &[StatsEntry],
    ) -> Result<(), StoreError> {
        let mut tables = self.tables();
        tables.held(lease)?;
        if let Some(thread) = thread {
            tables.check_version(thread)?;
            tables.put_thread(thread);
        }
        for entry in stats {
            tables
                .stats
                .entry(entry.hour)
                .or_default()
                .entry(entry.set)
                .or_default()
                .insert(entry.value.clone());
        }
        let record = tables.held(lease)?;
        record.done = true;
        record.lease_token = None;
        record.progress = progress.clone();
        tables.turns.remove(&lease.thread_id);
        Ok(())
    }

    async fn release_event(&self, lease: &Lease, progress: &EventProgress) -> Result<(), StoreError> {
        let mut tables = self.tables();
        let record = tables.held(lease)?;
        record.lease_until_ms = 0;
        record.lease_token = None;
        record.progress = progress.clone();
        tables.turns.remove(&lease.thread_id);
        Ok(())
    }

    async fn get_thread(&self, thread_id: &str) -> Result<ThreadState, StoreError> {
        Ok(self.tables().thread(thread_id))
    }

    async fn save_thread(&self, thread: &ThreadState) -> Result<(), StoreError> {
        let mut tables = self.tables();
        tables.check_version(thread)?;
        tables.put_thread(thread);
        Ok(())
    }

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

    async fn bot_owned_threads(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        let tables = self.tables();
        let mut ids: Vec<&String> = tables
            .threads
            .values()
            .filter(|t| t.owner == super::Owner::Bot && t.version > 0)
            .map(|t| &t.thread_id)
            .filter(|id| after.is_none_or(|after| id.as_str() > after))
            .collect();
        ids.sort();
        let page: Vec<String> = ids.iter().take(limit).map(|id| id.to_string()).collect();
        let next = if ids.len() > limit { page.last().cloned() } else { None };
        Ok((page, next))
    }

    async fn count_bot_owned(&self) -> Result<u64, StoreError> {
        let tables = self.tables();
        Ok(tables.threads.values().filter(|t| t.owner == super::Owner::Bot && t.version > 0).count() as u64)
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
                users: set(sets, StatsSet::Users),
                interventions: set(sets, StatsSet::Interventions),
            })
            .collect())
    }
}
