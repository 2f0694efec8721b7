//! A small time-bounded cache, per function container: reused answers (agent status, channels,
//! the emergency switch) save platform calls, which Engage Digital rate-limits and may bill.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The fresh value for `key`, if any.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        entries.insert(key, (Instant::now(), value));
    }

    /// Forgets every value: the next read loads afresh.
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The cached value, or the one `load` gives (then cached). Errors are not cached.
    pub async fn get_or_load<E, F, Fut>(&self, key: K, load: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let value = load().await?;
        self.put(key, value.clone());
        Ok(value)
    }
}

/// The emergency switch as this process knows it: read from the store at most every
/// `EMERGENCY_CACHE_SECONDS`, and known at once when this process flips it (the dev server,
/// where the switch and the worker share a process).
pub struct EmergencyFlag(TtlCache<(), bool>);

impl EmergencyFlag {
    pub fn new(reuse_for: Duration) -> Self {
        Self(TtlCache::new(reuse_for))
    }

    pub async fn active(
        &self,
        store: &dyn crate::store::SwitchStore,
    ) -> Result<bool, crate::store::StoreError> {
        self.0.get_or_load((), || async { Ok(store.get_emergency().await?.active) }).await
    }

    /// This process switched it: no need to read it back.
    pub fn switched(&self, active: bool) {
        self.0.put((), active);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reuses_values_until_they_expire() {
        let cache = TtlCache::new(Duration::from_secs(60));
        let first: Result<u32, ()> = cache.get_or_load("k", || async { Ok(1) }).await;
        let second: Result<u32, ()> = cache.get_or_load("k", || async { Ok(2) }).await;
        assert_eq!((first, second), (Ok(1), Ok(1)));
        let failed: Result<u32, &str> = cache.get_or_load("e", || async { Err("down") }).await;
        assert_eq!(failed, Err("down"));
        assert_eq!(cache.get(&"e"), None, "errors are not cached");
    }

    #[tokio::test]
    async fn a_zero_ttl_caches_nothing() {
        let cache = TtlCache::new(Duration::ZERO);
        let _: Result<u32, ()> = cache.get_or_load("k", || async { Ok(1) }).await;
        let again: Result<u32, ()> = cache.get_or_load("k", || async { Ok(2) }).await;
        assert_eq!(again, Ok(2));
    }
}
