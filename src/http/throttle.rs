//! Throttling beyond governor's per-key quotas: a backoff on failed password checks per
//! account (an email, an operator), quota checks that say how long to wait, and pruning of
//! the limiters' maps so that clients who went quiet are forgotten.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::clock::Clock;
use governor::DefaultKeyedRateLimiter;
use parking_lot::Mutex;

use crate::error::{AppError, AppResult};

/// How a backoff grows.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures allowed before the first wait.
    pub free_failures: u32,
    /// The wait after the last free failure; each further failure doubles it.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// A key with no failure for this long starts afresh.
    pub forget_after: Duration,
}

/// Sign-in: five tries, then 1 s, 2 s, 4 s … up to 15 minutes between tries.
pub const LOGIN_POLICY: Policy = Policy {
    free_failures: 5,
    first_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(15 * 60),
    forget_after: Duration::from_secs(60 * 60),
};

/// The current-password check of a password change: five wrong ones, then 15 minutes.
pub const PASSWORD_CHECK_POLICY: Policy = Policy {
    free_failures: 5,
    first_delay: Duration::from_secs(15 * 60),
    max_delay: Duration::from_secs(15 * 60),
    forget_after: Duration::from_secs(15 * 60),
};

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: DateTime<Utc>,
    blocked_until: DateTime<Utc>,
}

/// Failed attempts per key. An attempt is charged as a failure before the password is checked
/// and refunded when it was right, so attempts running at the same time cannot slip past the
/// limit together.
pub struct Backoff<K> {
    policy: Policy,
    entries: Mutex<HashMap<K, Entry>>,
}

impl<K: Eq + Hash> Backoff<K> {
    pub fn new(policy: Policy) -> Self {
        Backoff {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt as failed, unless the key must still wait: then how long.
    pub fn charge(&self, key: K, now: DateTime<Utc>) -> Result<(), Duration> {
        let mut entries = self.entries.lock();
        let entry = entries.entry(key).or_insert(Entry {
            failures: 0,
            last_failure: now,
            blocked_until: now,
        });
        if entry.blocked_until > now {
            return Err((entry.blocked_until - now).to_std().unwrap_or_default());
        }
        if now - entry.last_failure > self.forget_after() {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        if let Some(delay) = self.delay_after(entry.failures) {
            entry.blocked_until = now + chrono::Duration::from_std(delay).unwrap_or_default();
        }
        Ok(())
    }

    /// The attempt was right: the key starts afresh.
    pub fn clear(&self, key: &K) {
        self.entries.lock().remove(key);
    }

    /// Forgets keys that neither wait nor failed lately.
    pub fn prune(&self, now: DateTime<Utc>) {
        let forget_after = self.forget_after();
        self.entries
            .lock()
            .retain(|_, e| e.blocked_until > now || now - e.last_failure <= forget_after);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn forget_after(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.policy.forget_after).unwrap_or(chrono::Duration::MAX)
    }

    /// The wait that `failures` failures impose, if any.
    fn delay_after(&self, failures: u32) -> Option<Duration> {
        let beyond = failures.checked_sub(self.policy.free_failures)?;
        let factor = 2u32.saturating_pow(beyond.min(31));
        Some(
            self.policy
                .first_delay
                .saturating_mul(factor)
                .min(self.policy.max_delay),
        )
    }
}

/// Takes one request from `key`'s quota; when it is spent, `rate_limited` with the wait until
/// it allows one.
pub fn check<K: Clone + Eq + Hash>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> AppResult<()> {
    limiter
        .check_key(key)
        .map_err(|refused| AppError::RateLimited(refused.wait_time_from(limiter.clock().now())))
}

/// Drops the state of keys whose quota is full again (they would be admitted exactly as an
/// unknown key is) and gives the memory back.
pub fn prune_limiter<K: Clone + Eq + Hash>(limiter: &DefaultKeyedRateLimiter<K>) {
    limiter.retain_recent();
    limiter.shrink_to_fit();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    use governor::{Quota, RateLimiter};

    const POLICY: Policy = Policy {
        free_failures: 3,
        first_delay: Duration::from_secs(2),
        max_delay: Duration::from_secs(10),
        forget_after: Duration::from_secs(60),
    };

    fn secs(n: i64) -> chrono::Duration {
        chrono::Duration::seconds(n)
    }

    #[test]
    fn the_wait_starts_after_the_free_failures_and_doubles_up_to_the_cap() {
        let backoff = Backoff::new(POLICY);
        let t0 = Utc::now();
        for _ in 0..2 {
            assert_eq!(backoff.charge("ann", t0), Ok(()));
        }
        // The third is charged; only the fourth must wait.
        assert_eq!(backoff.charge("ann", t0), Ok(()));
        assert_eq!(backoff.charge("ann", t0), Err(Duration::from_secs(2)));
        assert_eq!(
            backoff.charge("ann", t0 + secs(1)),
            Err(Duration::from_secs(1))
        );
        let t1 = t0 + secs(2);
        assert_eq!(backoff.charge("ann", t1), Ok(()));
        assert_eq!(backoff.charge("ann", t1), Err(Duration::from_secs(4)));
        let t2 = t1 + secs(4);
        assert_eq!(backoff.charge("ann", t2), Ok(()));
        assert_eq!(backoff.charge("ann", t2), Err(Duration::from_secs(8)));
        let t3 = t2 + secs(8);
        assert_eq!(backoff.charge("ann", t3), Ok(()));
        assert_eq!(
            backoff.charge("ann", t3),
            Err(Duration::from_secs(10)),
            "capped"
        );
        assert_eq!(backoff.charge("bob", t3), Ok(()), "keys are apart");
    }

    #[test]
    fn a_right_attempt_or_a_quiet_hour_starts_afresh() {
        let backoff = Backoff::new(POLICY);
        let t0 = Utc::now();
        for _ in 0..3 {
            backoff.charge("ann", t0).unwrap();
        }
        assert!(backoff.charge("ann", t0).is_err());
        backoff.clear(&"ann");
        for _ in 0..3 {
            assert_eq!(backoff.charge("ann", t0), Ok(()));
        }
        let later = t0 + secs(61);
        for _ in 0..3 {
            assert_eq!(backoff.charge("ann", later), Ok(()));
        }
        assert!(backoff.charge("ann", later).is_err());
    }

    #[test]
    fn pruning_forgets_quiet_keys_only() {
        let backoff = Backoff::new(POLICY);
        let t0 = Utc::now();
        backoff.charge("once", t0).unwrap();
        for _ in 0..3 {
            backoff.charge("blocked", t0 + secs(55)).unwrap();
        }
        backoff.prune(t0 + secs(30));
        assert_eq!(backoff.len(), 2);
        backoff.prune(t0 + secs(61));
        assert_eq!(backoff.len(), 1, "the quiet key went, the recent one stays");
        backoff.prune(t0 + secs(200));
        assert!(backoff.is_empty());
    }

    #[test]
    fn a_spent_quota_answers_429_with_its_wait() {
        use actix_web::ResponseError;
        let limiter: DefaultKeyedRateLimiter<u32> =
            RateLimiter::keyed(Quota::per_minute(NonZeroU32::new(1).unwrap()));
        assert!(check(&limiter, &7).is_ok());
        let refused = check(&limiter, &7).unwrap_err();
        let response = refused.error_response();
        assert_eq!(response.status(), 429);
        let secs: u64 = response
            .headers()
            .get("Retry-After")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((59..=60).contains(&secs), "{secs}");
    }

    #[test]
    fn pruning_a_limiter_forgets_clients_whose_quota_refilled() {
        // A quota that refills within a millisecond: the wait below only has to be longer.
        let limiter: DefaultKeyedRateLimiter<u32> =
            RateLimiter::keyed(Quota::per_second(NonZeroU32::new(1000).unwrap()));
        for client in 0..50 {
            assert!(limiter.check_key(&client).is_ok());
        }
        assert_eq!(limiter.len(), 50);
        std::thread::sleep(Duration::from_millis(50));
        prune_limiter(&limiter);
        assert_eq!(limiter.len(), 0);
    }
}
