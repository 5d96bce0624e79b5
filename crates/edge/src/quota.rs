//! Per-device limits at the gateway, so one device (or someone holding its
//! key) cannot fill the gateway's queue or starve the others: a rate of
//! accepted batches per device (a token bucket) and a cap on each device's
//! batches waiting in the queue. Both refuse at PUBACK with their own codes
//! (`rate_limited`, `queue_quota`); the device waits and resends.

use std::{collections::HashMap, sync::Mutex, time::Instant};

/// The limits per device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceLimits {
    /// Sustained accepted batches per minute.
    pub batches_per_minute: u32,
    /// Batches accepted at once after a quiet period (a device flushing
    /// its backlog after an outage).
    pub burst: u32,
    /// Batches of one device waiting in the queue at most.
    pub queued_batches: u64,
}

impl Default for DeviceLimits {
    fn default() -> Self {
        Self {
            batches_per_minute: 1_200,
            burst: 200,
            queued_batches: 10_000,
        }
    }
}

/// Buckets kept at most; past it, full buckets (devices quiet long enough
/// to have their whole burst back) are forgotten first.
const MAX_BUCKETS: usize = crate::ingest::MAX_CACHED_DEVICES;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per device.
pub struct RateLimiter {
    limits: DeviceLimits,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(limits: DeviceLimits) -> Self {
        Self {
            limits,
            buckets: Mutex::default(),
        }
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let per_second = f64::from(self.limits.batches_per_minute) / 60.0;
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(f64::from(self.limits.burst));
        bucket.at = now;
    }

    /// Take one batch's token for `device`; `false` when it has none left.
    pub fn allow(&self, device: &str, now: Instant) -> bool {
        let burst = f64::from(self.limits.burst);
        let mut buckets = self.buckets.lock().unwrap();
        if !buckets.contains_key(device) && buckets.len() >= MAX_BUCKETS {
            let per_second = f64::from(self.limits.batches_per_minute) / 60.0;
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second < burst
            });
            if buckets.len() >= MAX_BUCKETS {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(device.to_string()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        self.refill(bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn limits(&self) -> DeviceLimits {
        self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_sustained_rate_per_device() {
        let limiter = RateLimiter::new(DeviceLimits {
            batches_per_minute: 60,
            burst: 3,
            queued_batches: 10,
        });
        let t = Instant::now();
        assert!((0..3).all(|_| limiter.allow("a", t)), "the burst");
        assert!(!limiter.allow("a", t), "then nothing");
        assert!(limiter.allow("b", t), "another device has its own bucket");
        assert!(!limiter.allow("a", t + Duration::from_millis(500)));
        assert!(
            limiter.allow("a", t + Duration::from_millis(1_500)),
            "one a second"
        );
        assert!(!limiter.allow("a", t + Duration::from_millis(1_600)));
        // A long quiet period gives back the burst, not more.
        let later = t + Duration::from_secs(3_600);
        assert!((0..3).all(|_| limiter.allow("a", later)));
        assert!(!limiter.allow("a", later));
    }
}
