//! The in-memory store: the local dev server's default and the fast half of the store tests.
//! Same semantics as DynamoDB (conditional writes, leases), one process only.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Claim, EventProgress, Lease, Store, StoreError, ThreadState, new_lease_token};

#[derive(Debug, Clone)]
struct EventRecord {
    done: bool,
    lease_until_ms: i64,
    lease_token: Option<String>,
    progress: EventProgress,
}

#[derive(Default)]
struct Tables {
    events: HashMap<String, EventRecord>,
    threads: HashMap<String, ThreadState>,
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
        // A panic while holding the lock cannot leave a half-written record (every write is
        // one insert), so a poisoned lock is still consistent.
        self.tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn check_lease<'a>(
    tables: &'a mut Tables,
    lease: &Lease,
) -> Result<&'a mut EventRecord, StoreError> {
    match tables.events.get_mut(&lease.event_id) {
        Some(record) if record.lease_token.as_deref() == Some(&lease.token) && !record.done => {
            Ok(record)
        }
        _ => Err(StoreError::LeaseLost(lease.event_id.clone())),
    }
}

fn check_version(tables: &Tables, thread: &ThreadState) -> Result<(), StoreError> {
    let stored = tables
        .threads
        .get(&thread.thread_id)
        .map(|t| t.version)
        .unwrap_or(0);
    if stored == thread.version {
        Ok(())
    } else {
        Err(StoreError::ThreadConflict(thread.thread_id.clone()))
    }
}

fn bumped(thread: &ThreadState) -> ThreadState {
    ThreadState {
        version: thread.version + 1,
        ..thread.clone()
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn claim_event(
        &self,
        event_id: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Claim, StoreError> {
        let mut tables = self.tables();
        let token = new_lease_token();
        let lease = Lease {
            event_id: event_id.to_string(),
            token: token.clone(),
        };
        match tables.events.get_mut(event_id) {
            None => {
                tables.events.insert(
                    event_id.to_string(),
                    EventRecord {
                        done: false,
                        lease_until_ms: now_ms + lease_ms,
                        lease_token: Some(token),
                        progress: EventProgress::default(),
                    },
                );
                Ok(Claim::Granted {
                    lease,
                    progress: EventProgress::default(),
                })
            }
            Some(record) if record.done => Ok(Claim::Done),
            Some(record) if record.lease_until_ms > now_ms => Ok(Claim::Busy),
            Some(record) => {
                record.lease_until_ms = now_ms + lease_ms;
                record.lease_token = Some(token);
                Ok(Claim::Granted {
                    lease,
                    progress: record.progress.clone(),
                })
            }
        }
    }

    async fn save_progress(
        &self,
        lease: &Lease,
        progress: &EventProgress,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables();
        check_lease(&mut tables, lease)?.progress = progress.clone();
        Ok(())
    }

    async fn finish_event(
        &self,
        lease: &Lease,
        progress: &EventProgress,
        thread: Option<&ThreadState>,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables();
        check_lease(&mut tables, lease)?;
        if let Some(thread) = thread {
            check_version(&tables, thread)?;
            tables
                .threads
                .insert(thread.thread_id.clone(), bumped(thread));
        }
        let record = check_lease(&mut tables, lease)?;
        record.done = true;
        record.lease_token = None;
        record.progress = progress.clone();
        Ok(())
    }

    async fn release_event(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut tables = self.tables();
        let record = check_lease(&mut tables, lease)?;
        record.lease_until_ms = 0;
        record.lease_token = None;
        Ok(())
    }

    async fn get_thread(&self, thread_id: &str) -> Result<Option<ThreadState>, StoreError> {
        Ok(self.tables().threads.get(thread_id).cloned())
    }

    async fn save_thread(&self, thread: &ThreadState) -> Result<(), StoreError> {
        let mut tables = self.tables();
        check_version(&tables, thread)?;
        tables
            .threads
            .insert(thread.thread_id.clone(), bumped(thread));
        Ok(())
    }
}
