//! The device protocol (docs/device-protocol.md) for firmware written in C.
//!
//! The header `include/ingot_device.h` is generated from this file by
//! cbindgen and checked by `tests/header.rs`; `examples/c-device` shows the
//! whole flow. Memory: the library allocates only inside an `IngotDevice`
//! (its pending readings) and never hands allocated memory to the caller;
//! outputs go to caller-provided buffers. No function panics across the
//! boundary: a panic is caught and reported as `INGOT_STATUS_INTERNAL`.

#![allow(clippy::missing_safety_doc)] // every function's safety is in its own comment

use commonware_codec::Encode;
use ingot_device::{DeviceSigner, Measurement, PrivateKey, Reading, SignError};
use ingot_types::telemetry::{
    MAX_BATCH_BYTES, MAX_BATCH_READINGS, MAX_DEVICE_ID_LEN, MAX_MEASUREMENTS, MAX_MEASUREMENT_NAME,
    MAX_SCALE, MAX_UNIT_LEN,
};
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Largest encoded batch an anchoring transaction carries (bytes).
pub const INGOT_MAX_BATCH_BYTES: usize = 49_088;
/// Most readings under one signature.
pub const INGOT_MAX_BATCH_READINGS: usize = 4_096;
/// Most measurements in one reading.
pub const INGOT_MAX_MEASUREMENTS: usize = 16;
/// Longest topic `ingot_device_topic` writes, with its terminating NUL.
pub const INGOT_MAX_TOPIC_BYTES: usize = 217;
const TOPIC_PREFIX_BYTES: usize = 16; // "ingot/telemetry/"
const _: () = assert!(INGOT_MAX_BATCH_BYTES == MAX_BATCH_BYTES);
const _: () = assert!(INGOT_MAX_BATCH_READINGS == MAX_BATCH_READINGS);
const _: () = assert!(INGOT_MAX_MEASUREMENTS == MAX_MEASUREMENTS);
const _: () = assert!(INGOT_MAX_TOPIC_BYTES == TOPIC_PREFIX_BYTES + MAX_DEVICE_ID_LEN + 1);

/// What every function returns. `ingot_status_message` describes each.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngotStatus {
    Ok = 0,
    /// A null pointer, text that is not UTF-8, or a value out of range
    /// (device id, name or unit too long, scale above 18, sequence 0).
    InvalidArgument = 1,
    /// The key is not a PKCS#8 PEM Ed25519, P-256 or SM2 private key.
    BadKey = 2,
    /// The batch already holds 4,096 readings: sign it first.
    TooManyReadings = 3,
    /// More than 16 measurements in one reading.
    TooManyMeasurements = 4,
    /// Signing would give a batch larger than `INGOT_MAX_BATCH_BYTES`:
    /// sign fewer readings (the pending readings are kept).
    TooLarge = 5,
    /// The output buffer is too small; `*out_len` holds the size needed.
    BufferTooSmall = 6,
    /// There is no pending reading to sign.
    NoReadings = 7,
    /// The key could not sign.
    SigningFailed = 8,
    /// A bug in the library (a caught panic); please report it.
    Internal = 9,
}

/// One measured quantity: `value × 10^-scale` `unit`.
#[repr(C)]
pub struct IngotMeasurement {
    /// UTF-8, NUL-terminated, at most 32 bytes.
    pub name: *const c_char,
    pub value: i64,
    /// 0 to 18.
    pub scale: u8,
    /// UTF-8, NUL-terminated, at most 16 bytes (may be empty).
    pub unit: *const c_char,
}

/// A device: its id, key, sequence counter and the readings not yet signed.
pub struct IngotDevice {
    signer: DeviceSigner,
    next_seq: u64,
    pending: Vec<Reading>,
}

fn guarded(f: impl FnOnce() -> IngotStatus) -> IngotStatus {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(IngotStatus::Internal)
}

/// # Safety
/// `ptr` is null or a NUL-terminated string.
unsafe fn text<'a>(ptr: *const c_char, max: usize) -> Result<&'a str, IngotStatus> {
    if ptr.is_null() {
        return Err(IngotStatus::InvalidArgument);
    }
    let s = CStr::from_ptr(ptr)
        .to_str()
        .map_err(|_| IngotStatus::InvalidArgument)?;
    if s.len() > max {
        return Err(IngotStatus::InvalidArgument);
    }
    Ok(s)
}

/// Create a device. `device_id` is `<organisation>:<serial>`; `key_pem` is
/// its private key (PKCS#8 PEM, the key its certificate certifies);
/// `next_seq` is the sequence number its next reading gets (1 for a new
/// device; persist it, see docs/device-protocol.md §6). On success `*out`
/// owns a device to free with `ingot_device_free`.
///
/// # Safety
/// `device_id` and `key_pem` are NUL-terminated strings; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn ingot_device_new(
    device_id: *const c_char,
    key_pem: *const c_char,
    next_seq: u64,
    out: *mut *mut IngotDevice,
) -> IngotStatus {
    guarded(|| {
        if out.is_null() || next_seq == 0 {
            return IngotStatus::InvalidArgument;
        }
        let (id, pem) = match (text(device_id, MAX_DEVICE_ID_LEN), text(key_pem, 16 * 1024)) {
            (Ok(id), Ok(pem)) if !id.is_empty() => (id, pem),
            _ => return IngotStatus::InvalidArgument,
        };
        let Ok(key) = PrivateKey::from_pkcs8_pem(pem) else {
            return IngotStatus::BadKey;
        };
        let device = IngotDevice {
            signer: DeviceSigner::new(id, key, next_seq),
            next_seq,
            pending: Vec::new(),
        };
        *out = Box::into_raw(Box::new(device));
        IngotStatus::Ok
    })
}

/// Free a device (null is ignored).
///
/// # Safety
/// `device` came from `ingot_device_new` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ingot_device_free(device: *mut IngotDevice) {
    if !device.is_null() {
        drop(Box::from_raw(device));
    }
}

/// The sequence number the next signed reading gets (0 for a null device).
///
/// # Safety
/// `device` is null or a live device.
#[no_mangle]
pub unsafe extern "C" fn ingot_device_next_seq(device: *const IngotDevice) -> u64 {
    device.as_ref().map_or(0, |d| d.next_seq)
}

/// Readings added and not yet signed (0 for a null device).
///
/// # Safety
/// `device` is null or a live device.
#[no_mangle]
pub unsafe extern "C" fn ingot_device_pending(device: *const IngotDevice) -> usize {
    device.as_ref().map_or(0, |d| d.pending.len())
}

/// Add a reading taken at `timestamp_ms` (ms since the Unix epoch, UTC) with
/// `count` measurements. Timestamps must not decrease.
///
/// # Safety
/// `device` is a live device; `measurements` points to `count` measurements
/// (may be null when `count` is 0) whose strings are NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ingot_device_add_reading(
    device: *mut IngotDevice,
    timestamp_ms: u64,
    measurements: *const IngotMeasurement,
    count: usize,
) -> IngotStatus {
    guarded(|| {
        let Some(d) = device.as_mut() else {
            return IngotStatus::InvalidArgument;
        };
        if count > MAX_MEASUREMENTS {
            return IngotStatus::TooManyMeasurements;
        }
        if d.pending.len() >= MAX_BATCH_READINGS {
            return IngotStatus::TooManyReadings;
        }
        if count > 0 && measurements.is_null() {
            return IngotStatus::InvalidArgument;
        }
        if d.pending
            .last()
            .is_some_and(|r| r.timestamp_ms > timestamp_ms)
        {
            return IngotStatus::InvalidArgument;
        }
        let given = if count == 0 {
            &[][..]
        } else {
            std::slice::from_raw_parts(measurements, count)
        };
        let mut converted = Vec::with_capacity(count);
        for m in given {
            let (Ok(name), Ok(unit)) = (
                text(m.name, MAX_MEASUREMENT_NAME),
                text(m.unit, MAX_UNIT_LEN),
            ) else {
                return IngotStatus::InvalidArgument;
            };
            if m.scale > MAX_SCALE {
                return IngotStatus::InvalidArgument;
            }
            converted.push(Measurement {
                name: name.into(),
                value: m.value,
                scale: m.scale,
                unit: unit.into(),
            });
        }
        d.pending.push(Reading {
            timestamp_ms,
            measurements: converted,
        });
        IngotStatus::Ok
    })
}

/// Drop the pending readings without signing them.
///
/// # Safety
/// `device` is null or a live device.
#[no_mangle]
pub unsafe extern "C" fn ingot_device_discard(device: *mut IngotDevice) {
    if let Some(d) = device.as_mut() {
        d.pending.clear();
    }
}

/// Sign the pending readings as one batch and write the MQTT payload (the
/// encoded batch) to `out`. On `INGOT_STATUS_OK` the readings are consumed and
/// the sequence counter advanced by their number: persist
/// `ingot_device_next_seq` before publishing. On `BUFFER_TOO_SMALL`
/// `*out_len` is the size needed and nothing changed; on `TOO_LARGE` nothing
/// changed either (sign fewer readings). `INGOT_MAX_BATCH_BYTES` is always
/// enough room.
///
/// # Safety
/// `device` is a live device; `out` has `capacity` writable bytes; `out_len`
/// is writable.
#[no_mangle]
pub unsafe extern "C" fn ingot_device_sign(
    device: *mut IngotDevice,
    out: *mut u8,
    capacity: usize,
    out_len: *mut usize,
) -> IngotStatus {
    guarded(|| {
        let Some(d) = device.as_mut() else {
            return IngotStatus::InvalidArgument;
        };
        if out_len.is_null() || (out.is_null() && capacity > 0) {
            return IngotStatus::InvalidArgument;
        }
        if d.pending.is_empty() {
            return IngotStatus::NoReadings;
        }
        let batch = match d.signer.sign_at(d.next_seq, d.pending.clone()) {
            Ok(b) => b,
            Err(SignError::TooLarge(_)) => return IngotStatus::TooLarge,
            Err(SignError::Empty) => return IngotStatus::NoReadings,
            Err(SignError::TooMany(_)) => return IngotStatus::TooManyReadings,
            Err(SignError::Key(_)) => return IngotStatus::SigningFailed,
        };
        let payload = batch.encode();
        *out_len = payload.len();
        if payload.len() > capacity {
            return IngotStatus::BufferTooSmall;
        }
        std::ptr::copy_nonoverlapping(payload.as_ptr(), out, payload.len());
        d.next_seq += d.pending.len() as u64;
        d.pending.clear();
        IngotStatus::Ok
    })
}

/// Write the device's MQTT topic, NUL-terminated, to `out`;
/// `*out_len` is its length without the NUL. `INGOT_MAX_TOPIC_BYTES` is
/// always enough room.
///
/// # Safety
/// `device` is a live device; `out` has `capacity` writable bytes; `out_len`
/// is writable.
#[no_mangle]
pub unsafe extern "C" fn ingot_device_topic(
    device: *const IngotDevice,
    out: *mut c_char,
    capacity: usize,
    out_len: *mut usize,
) -> IngotStatus {
    guarded(|| {
        let Some(d) = device.as_ref() else {
            return IngotStatus::InvalidArgument;
        };
        if out_len.is_null() || (out.is_null() && capacity > 0) {
            return IngotStatus::InvalidArgument;
        }
        let topic = ingot_device::topic(d.signer.device_id());
        *out_len = topic.len();
        if topic.len() + 1 > capacity {
            return IngotStatus::BufferTooSmall;
        }
        std::ptr::copy_nonoverlapping(topic.as_ptr(), out.cast::<u8>(), topic.len());
        *out.add(topic.len()) = 0;
        IngotStatus::Ok
    })
}

/// A static, NUL-terminated description of a status (never null). Takes
/// the status as an integer so that any value a caller passes is defined.
#[no_mangle]
pub extern "C" fn ingot_status_message(status: i32) -> *const c_char {
    const ALL: [IngotStatus; 10] = [
        IngotStatus::Ok,
        IngotStatus::InvalidArgument,
        IngotStatus::BadKey,
        IngotStatus::TooManyReadings,
        IngotStatus::TooManyMeasurements,
        IngotStatus::TooLarge,
        IngotStatus::BufferTooSmall,
        IngotStatus::NoReadings,
        IngotStatus::SigningFailed,
        IngotStatus::Internal,
    ];
    let Some(&status) = ALL.iter().find(|s| **s as i32 == status) else {
        return c"unknown status".as_ptr();
    };
    let text: &'static CStr = match status {
        IngotStatus::Ok => c"ok",
        IngotStatus::InvalidArgument => c"invalid argument (null pointer, not UTF-8, too long, scale above 18, sequence 0, or time going backwards)",
        IngotStatus::BadKey => c"not a PKCS#8 PEM Ed25519, P-256 or SM2 private key",
        IngotStatus::TooManyReadings => c"the batch holds 4096 readings: sign it first",
        IngotStatus::TooManyMeasurements => c"more than 16 measurements in one reading",
        IngotStatus::TooLarge => c"the batch would exceed INGOT_MAX_BATCH_BYTES: sign fewer readings",
        IngotStatus::BufferTooSmall => c"the output buffer is too small; out_len holds the size needed",
        IngotStatus::NoReadings => c"no pending reading to sign",
        IngotStatus::SigningFailed => c"the key could not sign",
        IngotStatus::Internal => c"internal error in the Ingot device library",
    };
    text.as_ptr()
}
