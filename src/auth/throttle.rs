//! Limits on failed password attempts, per client address and per username.
//!
//! After [`MAX_FAILURES`] failures inside [`WINDOW`], further attempts from that address or
//! for that username are refused with 429 before any hash runs, until the oldest failure
//! leaves the window. A success clears the username's count but not the address's, so one
//! valid account cannot be used to reset an attacker's budget.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed inside the window before attempts are refused.
pub const MAX_FAILURES: usize = 10;

/// How long a failure counts.
pub const WINDOW: Duration = Duration::from_secs(5 * 60);

/// Beyond this many tracked keys the oldest idle ones are forgotten, bounding memory.
const MAX_TRACKED_KEYS: usize = 100_000;

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    Username(String),
}

/// The failure log of every address and username seen recently.
// Limitation: failures are counted per process; each replica keeps its own count.
#[derive(Default)]
pub struct FailureThrottle {
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
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
        let mut failures = self.failures.lock().expect("throttle lock");
        failures.remove(&Key::Username(username.to_owned()));
    }

    fn retry_after_at(&self, address: IpAddr, username: &str, now: Instant) -> Option<Duration> {
        let mut failures = self.failures.lock().expect("throttle lock");
        [Key::Address(address), Key::Username(username.to_owned())]
            .into_iter()
            .filter_map(|key| {
                let log = failures.get_mut(&key)?;
                prune(log, now);
                let oldest = *log.front()?;
                (log.len() >= MAX_FAILURES)
                    .then(|| (oldest + WINDOW).saturating_duration_since(now))
            })
            .max()
    }

    fn record_failure_at(&self, address: IpAddr, username: &str, now: Instant) {
        let mut failures = self.failures.lock().expect("throttle lock");
        if failures.len() >= MAX_TRACKED_KEYS {
            failures.retain(|_, log| {
                prune(log, now);
                !log.is_empty()
            });
        }
        for key in [Key::Address(address), Key::Username(username.to_owned())] {
            let log = failures.entry(key).or_default();
            prune(log, now);
            log.push_back(now);
            // Only the newest failures matter for the decision; older ones need no memory.
            while log.len() > MAX_FAILURES {
                log.pop_front();
            }
        }
    }
}

fn prune(log: &mut VecDeque<Instant>, now: Instant) {
    while log
        .front()
        .is_some_and(|at| now.duration_since(*at) >= WINDOW)
    {
        log.pop_front();
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
        assert_eq!(
            throttle.retry_after_at(HOME, "alice", now),
            Some(WINDOW - Duration::from_secs(20))
        );
        assert_eq!(
            throttle.retry_after_at(HOME, "bob", now),
            Some(WINDOW - Duration::from_secs(20))
        );
        assert!(throttle.retry_after_at(OTHER, "alice", now).is_some());
        assert_eq!(throttle.retry_after_at(OTHER, "bob", now), None);

        assert_eq!(throttle.retry_after_at(OTHER, "bob", start + WINDOW), None);
        assert_eq!(
            throttle.retry_after_at(HOME, "alice", start + WINDOW + Duration::from_secs(10)),
            None
        );
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
}
