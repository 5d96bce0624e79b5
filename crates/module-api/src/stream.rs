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
