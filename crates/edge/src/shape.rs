//! The stateless half of judging a published message: what the gateway can
//! decide from the topic, the payload and its own clock alone, before it asks
//! the chain about the device. Kept apart so the fuzz target
//! `gateway_payload` runs exactly the gateway's code on hostile payloads.

use bytes::Bytes;
use commonware_codec::{Decode, EncodeSize};
use ingot_execution::modules::telemetry::{batch_refusal, failures::FUTURE_TIMESTAMP};
use ingot_types::telemetry::ReadingBatch;

/// The topic prefix devices publish under; the device id follows.
pub const TOPIC_PREFIX: &str = "ingot/telemetry/";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    Malformed,
    TooLarge,
    TopicMismatch,
    UnknownDevice,
    Inactive,
    BadSignature,
    Replay,
    /// Too large for one anchoring transaction, however it is packed.
    TooLargeForChain,
    /// A reading more than the chain's allowed skew ahead of now.
    FutureTimestamp,
    /// Starts before the device's last accepted reading (a clock reset).
    TimeBeforeLast,
    /// Refused by the chain's batch rules (order of timestamps, scale,
    /// sequence overflow).
    InvalidBatch,
    /// A CONNECT without a valid device signature where one is required.
    NotAuthenticated,
    /// An authenticated device publishing on another device's topic.
    NotYourTopic,
    /// More batches from this device than its rate allows.
    RateLimited,
    /// Too many of this device's batches waiting in the queue.
    QueueQuota,
}

impl RefusalKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
            Self::TopicMismatch => "topic_mismatch",
            Self::UnknownDevice => "unknown_device",
            Self::Inactive => "inactive_device",
            Self::BadSignature => "bad_signature",
            Self::Replay => "replay",
            Self::TooLargeForChain => "too_large_for_chain",
            Self::FutureTimestamp => "future_timestamp",
            Self::TimeBeforeLast => "time_before_last",
            Self::InvalidBatch => "invalid_batch",
            Self::NotAuthenticated => "not_authenticated",
            Self::NotYourTopic => "not_your_topic",
            Self::RateLimited => "rate_limited",
            Self::QueueQuota => "queue_quota",
        }
    }
}

/// Room in one anchoring transaction's arguments for batches.
pub(crate) const ARGS_BUDGET: usize = ingot_types::telemetry::MAX_BATCH_BYTES;

/// The batch a message carries, or why the gateway refuses it whoever the
/// device is: too large a payload, not a canonical batch, a topic naming
/// another device, an empty batch, too large for any anchoring transaction,
/// or a batch the chain's rules refuse at `now_ms`.
pub fn judge_shape(
    topic: &str,
    payload: &Bytes,
    max_payload: usize,
    now_ms: u64,
) -> Result<ReadingBatch, (RefusalKind, String)> {
    if payload.len() > max_payload {
        return Err((
            RefusalKind::TooLarge,
            format!("payload of {} bytes exceeds {max_payload}", payload.len()),
        ));
    }
    let batch = ReadingBatch::decode_cfg(payload.clone(), &())
        .map_err(|e| (RefusalKind::Malformed, format!("malformed payload: {e}")))?;
    if topic.strip_prefix(TOPIC_PREFIX) != Some(batch.device_id.as_str()) {
        return Err((
            RefusalKind::TopicMismatch,
            format!("topic {topic} does not name device {}", batch.device_id),
        ));
    }
    if batch.readings.is_empty() || batch.first_seq == 0 {
        return Err((RefusalKind::Malformed, "empty batch or sequence 0".into()));
    }
    if batch.encode_size() > ARGS_BUDGET {
        return Err((
            RefusalKind::TooLargeForChain,
            format!(
                "batch encodes to {} bytes; one anchoring transaction carries at most {ARGS_BUDGET} bytes of batches: sign fewer readings per batch",
                batch.encode_size(),
            ),
        ));
    }
    if let Some(failure) = batch_refusal(&batch, now_ms) {
        let kind = if failure == FUTURE_TIMESTAMP.bare() {
            RefusalKind::FutureTimestamp
        } else {
            RefusalKind::InvalidBatch
        };
        return Err((kind, ingot_execution::failure::render(&failure)));
    }
    Ok(batch)
}
