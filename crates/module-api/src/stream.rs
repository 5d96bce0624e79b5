//! Long-lived streams (server-sent events) re-check their reader: a member
//! revoked or expired after subscribing, or whose grant ended, stops
//! receiving within [`STREAM_RECHECK`], whether or not items arrive.

/// How often a long-lived stream (server-sent events) re-checks its reader:
/// a member revoked or expired after subscribing, or whose grant ended, stops
/// receiving within this time.
pub const STREAM_RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// Tracks when a stream last re-checked its reader.
pub struct Recheck {
    at: std::time::Instant,
}

impl Default for Recheck {
    fn default() -> Self {
        Self {
            at: std::time::Instant::now(),
        }
    }
}

impl Recheck {
    /// Whether a re-check is due now (and mark it done).
    pub fn due(&mut self) -> bool {
        if self.at.elapsed() < STREAM_RECHECK {
            return false;
        }
        self.at = std::time::Instant::now();
        true
    }
}

/// What a long-lived stream takes in: an item from its source, or a tick
/// every [`STREAM_RECHECK`] so it re-checks its reader even when nothing
/// arrives for it.
pub enum Paced<T> {
    Item(T),
    Tick,
}

/// `source`, interleaved with re-check ticks.
pub fn paced<S: futures::Stream + Unpin>(source: S) -> impl futures::Stream<Item = Paced<S::Item>> {
    use tokio_stream::StreamExt as _;
    let start = tokio::time::Instant::now() + STREAM_RECHECK;
    let ticks = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval_at(
        start,
        STREAM_RECHECK,
    ))
    .map(|_| Paced::Tick);
    source.map(Paced::Item).merge(ticks)
}

/// Caps on long-lived streams (server-sent events): each holds a
/// connection and a broadcast subscription for as long as the client
/// wants, so a few callers could otherwise hold every connection the node
/// allows. One cap for the node, a smaller one per caller (by certificate).
pub struct StreamSlots {
    max_total: usize,
    max_per_caller: usize,
    open: std::sync::Mutex<(usize, std::collections::HashMap<[u8; 32], usize>)>,
}

/// One open stream's claim; released when the stream ends (on drop).
pub struct StreamSlot {
    slots: std::sync::Arc<StreamSlots>,
    caller: [u8; 32],
}

impl StreamSlots {
    pub fn new(max_total: usize, max_per_caller: usize) -> std::sync::Arc<Self> {
        assert!(max_total >= 1 && max_per_caller >= 1);
        std::sync::Arc::new(Self {
            max_total,
            max_per_caller: max_per_caller.min(max_total),
            open: Default::default(),
        })
    }

    /// Claim a slot for `viewer`'s new stream: 429 `too_many_streams` over
    /// the caller's cap, 503 `too_many_streams` over the node's.
    pub fn claim(
        self: &std::sync::Arc<Self>,
        viewer: &crate::Viewer,
    ) -> Result<StreamSlot, crate::ApiError> {
        // Anonymous callers share one key (streams are members-only today).
        // Per holder (member id): several certificates on one key share.
        self.claim_for(viewer.identity().map_or([0; 32], |i| i.id))
    }

    /// [`Self::claim`] for the caller whose certificate hash is `caller`.
    pub fn claim_for(
        self: &std::sync::Arc<Self>,
        caller: [u8; 32],
    ) -> Result<StreamSlot, crate::ApiError> {
        use axum::http::StatusCode;
        let mut open = self.open.lock().unwrap();
        if open.0 >= self.max_total {
            return Err(crate::ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_streams",
                format!(
                    "this node serves at most {} streams at once; retry later",
                    self.max_total
                ),
            ));
        }
        let mine = open.1.entry(caller).or_insert(0);
        if *mine >= self.max_per_caller {
            return Err(crate::ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_streams",
                format!(
                    "at most {} open streams per caller; close one first",
                    self.max_per_caller
                ),
            ));
        }
        *mine += 1;
        open.0 += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            caller,
        })
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap().0
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap();
        open.0 -= 1;
        if let Some(n) = open.1.get_mut(&self.caller) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_caller_and_per_node_and_release_on_drop() {
        let slots = StreamSlots::new(3, 2);
        let (a, b) = ([1; 32], [2; 32]);
        let a1 = slots.claim_for(a).unwrap();
        let _a2 = slots.claim_for(a).unwrap();
        let e = slots.claim_for(a).err().unwrap();
        assert_eq!((e.status.as_u16(), e.code), (429, "too_many_streams"));
        let _b1 = slots.claim_for(b).unwrap();
        let e = slots.claim_for(b).err().unwrap();
        assert_eq!((e.status.as_u16(), e.code), (503, "too_many_streams"));
        drop(a1);
        assert_eq!(slots.open(), 2);
        assert!(slots.claim_for(b).is_ok());
    }
}
