//! The C example (examples/c-device/sign_batch.c) compiled with the system C
//! compiler against the static and the shared library, run with the test
//! vectors' keys: its payload must equal the published vector byte for byte,
//! for every scheme. Also the C API's refusals, called as C would.

use std::{
    ffi::{c_char, CStr, CString},
    path::{Path, PathBuf},
    process::Command,
};

use ingot_device_c::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where cargo put this crate's static and shared libraries: next to the
/// test binary (the library is built with every crate type for the tests).
fn library_dir() -> PathBuf {
    std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

fn compile(out: &Path, link: &[&str]) {
    let status = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(repo().join("crates/device-c/include"))
        .arg(repo().join("examples/c-device/sign_batch.c"))
        .args(link)
        .arg("-o")
        .arg(out)
        .status()
        .expect("a C compiler (cc)");
    assert!(status.success(), "compiling the C example with {link:?}");
}

#[test]
fn the_c_example_reproduces_every_vector_with_static_and_shared_libraries() {
    let lib = library_dir();
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c-device");
    std::fs::create_dir_all(&tmp).unwrap();
    let static_bin = tmp.join("sign_batch_static");
    let shared_bin = tmp.join("sign_batch_shared");
    let archive = lib.join("libingot_device_c.a");
    compile(
        &static_bin,
        &[archive.to_str().unwrap(), "-lpthread", "-ldl", "-lm"],
    );
    let rpath = format!("-Wl,-rpath,{}", lib.display());
    compile(
        &shared_bin,
        &["-L", lib.to_str().unwrap(), "-lingot_device_c", &rpath],
    );
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/device-protocol-vectors.json")).unwrap(),
    )
    .unwrap();
    for v in vectors["batches"].as_array().unwrap() {
        let scheme = match v["scheme"].as_str().unwrap() {
            "ed25519" => ingot_crypto::Scheme::Ed25519,
            "p256" => ingot_crypto::Scheme::P256,
            _ => ingot_crypto::Scheme::Sm2,
        };
        let raw = hex::decode(v["private_key"].as_str().unwrap()).unwrap();
        let key = ingot_crypto::PrivateKey::from_raw(scheme, &raw).unwrap();
        let key_path = tmp.join(format!("{}.key", v["scheme"].as_str().unwrap()));
        std::fs::write(&key_path, key.to_pkcs8_pem().unwrap()).unwrap();
        for bin in [&static_bin, &shared_bin] {
            let out = Command::new(bin)
                .arg(&key_path)
                .arg(v["device_id"].as_str().unwrap())
                .arg(v["first_seq"].to_string())
                .arg(v["readings"][0]["timestamp_ms"].to_string())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8(out.stdout).unwrap();
            let lines: Vec<&str> = stdout.lines().collect();
            assert_eq!(lines[0], v["topic"], "{bin:?}");
            assert_eq!(lines[1], v["payload"], "{bin:?} {}", v["scheme"]);
            assert!(String::from_utf8_lossy(&out.stderr).contains("next sequence number: 44"));
        }
    }
    // A file that is not a key: a clear message, a failing exit status.
    let junk = tmp.join("junk.key");
    std::fs::write(&junk, "not a key").unwrap();
    let out = Command::new(&static_bin)
        .args([junk.to_str().unwrap(), "acme:x", "1", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PKCS#8"));
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn new_device() -> *mut IngotDevice {
    let key = ingot_crypto::PrivateKey::generate(ingot_crypto::Scheme::Ed25519).unwrap();
    let pem = c(&key.to_pkcs8_pem().unwrap());
    let mut device = std::ptr::null_mut();
    let status = unsafe { ingot_device_new(c("acme:p-1").as_ptr(), pem.as_ptr(), 5, &mut device) };
    assert_eq!(status, IngotStatus::Ok);
    device
}

#[test]
fn the_c_api_refuses_misuse_with_statuses_and_changes_nothing() {
    unsafe {
        let mut device = std::ptr::null_mut();
        assert_eq!(
            ingot_device_new(std::ptr::null(), c("x").as_ptr(), 1, &mut device),
            IngotStatus::InvalidArgument
        );
        assert_eq!(
            ingot_device_new(c("acme:p").as_ptr(), c("x").as_ptr(), 1, &mut device),
            IngotStatus::BadKey
        );
        let d = new_device();
        let (name, unit) = (c("t"), c("C"));
        let m = IngotMeasurement {
            name: name.as_ptr(),
            value: 1,
            scale: 0,
            unit: unit.as_ptr(),
        };
        let mut out = vec![0u8; INGOT_MAX_BATCH_BYTES];
        let mut len = 0usize;
        assert_eq!(
            ingot_device_sign(d, out.as_mut_ptr(), out.len(), &mut len),
            IngotStatus::NoReadings
        );
        assert_eq!(ingot_device_add_reading(d, 1_000, &m, 1), IngotStatus::Ok);
        // Time going backwards, too many measurements, a scale above 18,
        // a name too long: refused, the pending batch unchanged.
        assert_eq!(
            ingot_device_add_reading(d, 999, &m, 1),
            IngotStatus::InvalidArgument
        );
        assert_eq!(
            ingot_device_add_reading(d, 1_000, &m, 17),
            IngotStatus::TooManyMeasurements
        );
        let fine = IngotMeasurement { scale: 19, ..m };
        assert_eq!(
            ingot_device_add_reading(d, 1_000, &fine, 1),
            IngotStatus::InvalidArgument
        );
        let long = c(&"n".repeat(33));
        let named = IngotMeasurement {
            name: long.as_ptr(),
            ..m
        };
        assert_eq!(
            ingot_device_add_reading(d, 1_000, &named, 1),
            IngotStatus::InvalidArgument
        );
        assert_eq!(ingot_device_pending(d), 1);
        // Too small a buffer: the size needed, nothing consumed.
        assert_eq!(
            ingot_device_sign(d, out.as_mut_ptr(), 10, &mut len),
            IngotStatus::BufferTooSmall
        );
        let needed = len;
        assert_eq!((ingot_device_pending(d), ingot_device_next_seq(d)), (1, 5));
        assert_eq!(
            ingot_device_sign(d, out.as_mut_ptr(), needed, &mut len),
            IngotStatus::Ok
        );
        assert_eq!(
            (len, ingot_device_pending(d), ingot_device_next_seq(d)),
            (needed, 0, 6)
        );
        // A batch no transaction could carry: refused, readings kept.
        let sixteen: Vec<IngotMeasurement> = (0..16).map(|_| IngotMeasurement { ..m }).collect();
        for i in 0..2_000 {
            assert_eq!(
                ingot_device_add_reading(d, 2_000 + i, sixteen.as_ptr(), 16),
                IngotStatus::Ok
            );
        }
        assert_eq!(
            ingot_device_sign(d, out.as_mut_ptr(), out.len(), &mut len),
            IngotStatus::TooLarge
        );
        assert_eq!(
            (ingot_device_pending(d), ingot_device_next_seq(d)),
            (2_000, 6)
        );
        ingot_device_discard(d);
        let mut topic = [0 as c_char; INGOT_MAX_TOPIC_BYTES];
        assert_eq!(
            ingot_device_topic(d, topic.as_mut_ptr(), topic.len(), &mut len),
            IngotStatus::Ok
        );
        assert_eq!(
            CStr::from_ptr(topic.as_ptr()).to_str().unwrap(),
            "ingot/telemetry/acme:p-1"
        );
        ingot_device_free(d);
        ingot_device_free(std::ptr::null_mut());
        assert_eq!(
            CStr::from_ptr(ingot_status_message(42)).to_str().unwrap(),
            "unknown status"
        );
        assert!(
            CStr::from_ptr(ingot_status_message(IngotStatus::TooLarge as i32))
                .to_str()
                .unwrap()
                .contains("fewer readings")
        );
    }
}
