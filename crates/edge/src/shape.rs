//! The stateless half of judging a published message: what the gateway can
//! decide from the topic, the payload and its own clock alone, before it asks
//! the chain about the device. Kept apart so the fuzz target
//! `gateway_payload` runs exactly the gateway's code on hostile payloads.

use crate::ingest::{RefusalKind, TOPIC_PREFIX};
use bytes::Bytes;
use commonware_codec::{Decode, EncodeSize};
use ingot_execution::modules::telemetry::{batch_refusal, failures::FUTURE_TIMESTAMP};
use ingot_types::telemetry::ReadingBatch;

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
