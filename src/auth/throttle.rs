//! Sliding-window limits: failed passwords per client address and username, and request
//! rates on the public pairing and device-flow endpoints.
//!
//! After [`MAX_FAILURES`] failed passwords inside [`FAILURE_WINDOW`], further attempts from
//! that address or for that username are refused with 429 before any hash runs, until the
//! oldest failure leaves the window. A success clears the username's count but not the
//! address's, so one valid account cannot be used to reset an attacker's budget.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed inside the window before password attempts are refused.
pub const MAX_FAILURES: usize = 10;

/// How long a failed password counts.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Beyond this many tracked keys the idle ones are forgotten, bounding memory.
const MAX_TRACKED_KEYS: usize = 100_000;

/// The times of recent events per key, at most `limit` of them within `window`.
// Limitation: events are counted per process; each replica keeps its own count.
pub struct SlidingWindow<K> {
    limit: usize,
    window: Duration,
    events: Mutex<HashMap<K, VecDeque<Instant>>>,
}

impl<K: Eq + Hash + Clone> SlidingWindow<K> {
    pub fn new(limit: usize, window: Duration) -> SlidingWindow<K> {
        SlidingWindow {
            limit,
            window,
            events: Mutex::default(),
        }
    }

    /// How long until `key` may have another event, or `None` when it may now.
    pub fn retry_after(&self, key: &K, now: Instant) -> Option<Duration> {
        let mut events = self.events.lock().expect("throttle lock");
        let log = events.get_mut(key)?;
        self.prune(log, now);
        let oldest = *log.front()?;
        (log.len() >= self.limit).then(|| (oldest + self.window).saturating_duration_since(now))
    }

    /// Records an event for `key`.
    pub fn record(&self, key: K, now: Instant) {
        let mut events = self.events.lock().expect("throttle lock");
        if events.len() >= MAX_TRACKED_KEYS {
            events.retain(|_, log| {
                self.prune(log, now);
                !log.is_empty()
            });
        }
        let log = events.entry(key).or_default();
        self.prune(log, now);
        log.push_back(now);
        // Only the newest events matter for the decision; older ones need no memory.
        while log.len() > self.limit {
            log.pop_front();
        }
    }

    /// Records an event unless the limit is reached; `Err` carries the wait.
    pub fn try_record(&self, key: K, now: Instant) -> Result<(), Duration> {
        if let Some(wait) = self.retry_after(&key, now) {
            return Err(wait);
        }
        self.record(key, now);
        Ok(())
    }

    pub fn forget(&self, key: &K) {
        self.events.lock().expect("throttle lock").remove(key);
    }

    fn prune(&self, log: &mut VecDeque<Instant>, now: Instant) {
        while log
            .front()
            .is_some_and(|at| now.duration_since(*at) >= self.window)
        {
            log.pop_front();
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum FailureKey {
    Address(IpAddr),
    Username(String),
}

/// Failed password attempts by client address and by username.
pub struct FailureThrottle {
    failures: SlidingWindow<FailureKey>,
}

impl Default for FailureThrottle {
    fn default() -> FailureThrottle {
        FailureThrottle {
            failures: SlidingWindow::new(MAX_FAILURES, FAILURE_WINDOW),
        }
    }
}

impl FailureThrottle {
    /// How long the caller must wait before trying a password, or `None` when it may now.
    pub fn retry_after(&self, address: IpAddr, username: &str) -> Option<Duration> {
        self.retry_after_at(address, username, Instant::now())
    }

    /// Records a failed attempt for both the address and the username.
    pub fn record_failure(&self, address: IpAddr, username: &str) {
        self.record_failure_at(address, username, Instant::now());
    }

    /// Forgets the username's failures after a correct password.
    pub fn record_success(&self, username: &str) {
        self.failures
            .forget(&FailureKey::Username(username.to_owned()));
    }

    fn retry_after_at(&self, address: IpAddr, username: &str, now: Instant) -> Option<Duration> {
        let by_address = self
            .failures
            .retry_after(&FailureKey::Address(address), now);
        let by_username = self
            .failures
            .retry_after(&FailureKey::Username(username.to_owned()), now);
        by_address.max(by_username)
    }

    fn record_failure_at(&self, address: IpAddr, username: &str, now: Instant) {
        self.failures.record(FailureKey::Address(address), now);
        self.failures
            .record(FailureKey::Username(username.to_owned()), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn the_eleventh_attempt_waits_until_the_first_failure_expires() {
        let throttle = FailureThrottle::default();
        let start = Instant::now();
        for second in 0..MAX_FAILURES as u64 {
            let at = start + Duration::from_secs(second);
            assert_eq!(throttle.retry_after_at(HOME, "alice", at), None);
            throttle.record_failure_at(HOME, "alice", at);
        }

        let now = start + Duration::from_secs(20);
        let wait = Some(FAILURE_WINDOW - Duration::from_secs(20));
        assert_eq!(throttle.retry_after_at(HOME, "alice", now), wait);
        assert_eq!(throttle.retry_after_at(HOME, "bob", now), wait);
        assert!(throttle.retry_after_at(OTHER, "alice", now).is_some());
        assert_eq!(throttle.retry_after_at(OTHER, "bob", now), None);

        let later = start + FAILURE_WINDOW + Duration::from_secs(10);
        assert_eq!(throttle.retry_after_at(HOME, "alice", later), None);
    }

    #[test]
    fn success_clears_the_username_but_not_the_address() {
        let throttle = FailureThrottle::default();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES {
            throttle.record_failure_at(HOME, "alice", now);
        }
        throttle.record_success("alice");
        assert_eq!(throttle.retry_after_at(OTHER, "alice", now), None);
        assert!(throttle.retry_after_at(HOME, "carol", now).is_some());
    }

    #[test]
    fn a_request_limit_admits_exactly_its_budget_per_window() {
        let limit = SlidingWindow::new(5, Duration::from_secs(60));
        let start = Instant::now();
        for _ in 0..5 {
            assert!(limit.try_record(HOME, start).is_ok());
        }
        assert_eq!(limit.try_record(HOME, start), Err(Duration::from_secs(60)));
        assert!(limit.try_record(OTHER, start).is_ok());
        assert!(limit
            .try_record(HOME, start + Duration::from_secs(60))
            .is_ok());
    }
}
