//! One retry policy for every client and every loop that tries again: how many attempts, and
//! how long to wait before each retry (doubling, capped, with jitter so that many retries
//! started together do not come back together). Every loop that retries is bounded by one.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait before the first retry.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// Re-reading after a conflicting write (a thread, the emergency switch): at once, a few
    /// times, then the queue's next delivery.
    pub const CONFLICTS: Self = Self { attempts: 5, first: Duration::ZERO, max: Duration::ZERO };

    /// The wait before retry number `retry` (0: the first retry): `first` doubled each time,
    /// capped at `max`, then between half of that and all of it (jitter).
    pub fn delay(&self, retry: u32) -> Duration {
        let capped = self.first.saturating_mul(1 << retry.min(16)).min(self.max);
        capped.mul_f64(rand::random_range(0.5..=1.0))
    }

    /// Whether `attempt` (1 for the first) may be followed by another.
    pub fn allows_another(&self, attempt: u32) -> bool {
        attempt < self.attempts.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_is_capped_and_jittered() {
        let backoff =
            Backoff { attempts: 5, first: Duration::from_millis(100), max: Duration::from_millis(300) };
        for retry in 0..6 {
            let delay = backoff.delay(retry);
            let cap = (100u64 << retry).min(300);
            assert!(delay <= Duration::from_millis(cap), "{delay:?} > {cap}");
            assert!(delay >= Duration::from_millis(cap / 2), "{delay:?} < {cap}/2");
        }
        assert!(backoff.allows_another(4) && !backoff.allows_another(5));
        assert_eq!(Backoff::CONFLICTS.delay(3), Duration::ZERO);
    }
}
