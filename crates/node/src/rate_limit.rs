//! Requests per second per client address, as a token bucket (issue 14:
//! per-caller limits at every edge). Over the rate a request gets 429
//! `rate_limited` with `retry-after`, before authentication or any handler
//! runs, so a flood costs the node one map lookup per request.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Addresses remembered at most; beyond, idle ones are forgotten first.
pub const MAX_TRACKED_ADDRESSES: usize = 65_536;
/// An address idle this long starts again with a full bucket.
const IDLE: Duration = Duration::from_secs(60);

/// Requests per second per key: a client address before authentication,
/// a certificate after it.
pub struct RateLimiter<K = IpAddr> {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: std::hash::Hash + Eq + Copy> RateLimiter<K> {
    /// `per_second` requests per address, with bursts of twice that.
    pub fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second.max(1));
        Self {
            per_second,
            burst: 2.0 * per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `ip` may make one more request now (and count it).
    pub fn allow(&self, ip: K) -> bool {
        self.allow_at(ip, Instant::now())
    }

    fn allow_at(&self, ip: K, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap();
        if buckets.len() >= MAX_TRACKED_ADDRESSES && !buckets.contains_key(&ip) {
            buckets.retain(|_, (_, last)| now.duration_since(*last) < IDLE);
            if buckets.len() >= MAX_TRACKED_ADDRESSES {
                // Every tracked address is active: the newcomer waits.
                return false;
            }
        }
        let (tokens, last) = buckets.entry(ip).or_insert((self.burst, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let limiter = RateLimiter::<IpAddr>::new(10);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        let allowed = (0..100).filter(|_| limiter.allow_at(ip, t0)).count();
        assert_eq!(allowed, 20, "the burst is twice the rate");
        assert!(limiter.allow_at(other, t0), "addresses are limited apart");
        assert!(!limiter.allow_at(ip, t0 + Duration::from_millis(50)));
        assert!(limiter.allow_at(ip, t0 + Duration::from_millis(150)));
    }
}
