//! Golden conformance: the canonical bytes of every hashed or signed type,
//! for a fixed example, pinned by the SHA-256 of its encoding (and the hash
//! the chain derives from it). A failure here means a CONSENSUS-BREAKING
//! CHANGE: blocks, receipts, signatures or state written by one version
//! would not be reproduced by the other. Change a layout only on purpose,
//! with a new version number and a migration, and then update the pins.

use bytes::Bytes;
use commonware_codec::{Decode, Encode};
use ingot_types::{
    access::Token,
    block::HEADER_VERSION,
    receipt::Failure,
    sha256,
    telemetry::{BatchCommitment, Measurement, Reading, ReadingBatch},
    tx::TX_VERSION,
    Block, Call, Event, ExecResult, Header, Receipt, SignedTransaction, Status, Transaction,
};

/// Check `bytes` against a pinned SHA-256 (hex), naming the type.
fn pin(name: &str, bytes: &[u8], want: &str) {
    let got = hex::encode(sha256(&[bytes]));
    check(name, &got, want);
    if std::env::var_os("INGOT_GOLDEN_BLESS").is_some() {
        return;
    }
    assert_eq!(
        got,
        want,
        "CONSENSUS-BREAKING CHANGE: the canonical encoding of {name} changed \
         ({} bytes now: {})",
        bytes.len(),
        hex::encode(bytes)
    );
}

/// Compare a pinned value; `INGOT_GOLDEN_BLESS=1` prints every value
/// instead of stopping at the first (to pin a deliberate layout change).
fn check(name: &str, got: &str, want: &str) {
    if std::env::var_os("INGOT_GOLDEN_BLESS").is_some() {
        println!("PIN {name} = {got}");
        return;
    }
    assert_eq!(got, want, "CONSENSUS-BREAKING CHANGE: {name} changed");
}

fn digest(tag: &[u8]) -> ingot_types::Digest {
    sha256(&[tag])
}

fn transaction() -> SignedTransaction {
    SignedTransaction {
        tx: Transaction {
            version: TX_VERSION,
            chain_id: digest(b"chain"),
            certificate: Bytes::from_static(b"certificate-der"),
            valid_until: 1_000,
            salt: 7,
            call: Call {
                module: "notary".into(),
                method: "record".into(),
                args: Bytes::from_static(&[1, 2, 3]),
            },
        },
        signature: Bytes::from_static(&[9; 64]),
    }
}

fn header() -> Header {
    Header {
        version: HEADER_VERSION,
        parent: digest(b"parent"),
        height: 42,
        timestamp_ms: 1_700_000_000_000,
        proposer: [5; 32],
        tx_count: 1,
        tx_root: Block::compute_tx_root(&[transaction()]),
        exec_height: 41,
        results: vec![ExecResult {
            state_root: digest(b"state"),
            receipts_root: digest(b"receipts"),
        }],
        next_validators: None,
    }
}

fn receipt() -> Receipt {
    Receipt {
        tx_hash: transaction().hash(),
        status: Status::Failed(Failure {
            module: "device".into(),
            code: 3,
            detail: vec![("device".into(), "acme:SN-1".into())],
        }),
        events: vec![Event {
            module: "device".into(),
            kind: "registered".into(),
            attributes: vec![("device_id".into(), "acme:SN-1".into())],
        }],
        work_used: 1_234,
    }
}

#[test]
fn golden_transaction() {
    let t = transaction();
    pin(
        "SignedTransaction",
        &t.encode(),
        "62ed3d7b2f86eae0ab7d09699109ccbcf7a87043070b867eab5a7770fcaed26e",
    );
    pin(
        "Transaction signing message",
        &t.tx.signing_message(),
        "29a0e9159c976056c2850f6a457b6a6802677655a49e8a1bbde6da6929e23de2",
    );
    check(
        "transaction hash",
        &hex::encode(t.hash()),
        "adf943036737dcb051c9e3ee1bc16402cc733d40cb43af20ffd271dfeb1c4d93",
    );
    assert_eq!(SignedTransaction::decode_cfg(t.encode(), &()).unwrap(), t);
}

#[test]
fn golden_header_and_block() {
    let h = header();
    pin(
        "Header",
        &h.encode(),
        "125f7688c544d249b5145f411f2a3227cff9d97eb0b78a170677adb19aadeb6e",
    );
    check(
        "block hash",
        &hex::encode(h.digest()),
        "125f7688c544d249b5145f411f2a3227cff9d97eb0b78a170677adb19aadeb6e",
    );
    let b = Block::new(h, vec![transaction()]);
    pin(
        "Block",
        &b.encode(),
        "d94d6bf131a405f20c70fbba69314c4cfcc84df68cb7d549447adc9fcea73748",
    );
    assert_eq!(Block::decode_cfg(b.encode(), &()).unwrap().hash(), b.hash());
}

/// The last block of an epoch names the next epoch's validators: the same
/// fields, version 2, then the keys (a varint count and 32 bytes each).
#[test]
fn golden_boundary_header() {
    let h = Header {
        version: ingot_types::block::BOUNDARY_HEADER_VERSION,
        next_validators: Some(vec![[1; 32], [2; 32]]),
        ..header()
    };
    pin(
        "boundary Header",
        &h.encode(),
        "b8bfdceb09531718659b4aea55da1de34e04af58cab980bde61b0d562d9af653",
    );
    assert_eq!(Header::decode_cfg(h.encode(), &()).unwrap(), h);
    assert!(h.version_consistent());
    let mismatched = Header {
        next_validators: None,
        ..h.clone()
    };
    assert!(!mismatched.version_consistent());
    // A boundary header names at least one validator.
    let mut empty = h.encode().to_vec();
    let keys = 1 + 2 * 32;
    empty.truncate(empty.len() - keys);
    empty.push(0);
    assert!(Header::decode_cfg(bytes::Bytes::from(empty), &()).is_err());
}

#[test]
fn golden_receipt_and_event() {
    let r = receipt();
    pin(
        "Receipt (failed, with event)",
        &r.encode(),
        "170aa966ddfe65fd111d66ae5f56af3b2278d04b057c319a394fd7fd443046d2",
    );
    pin(
        "Event",
        &r.events[0].encode(),
        "ce797ab294d61850e37bb242bfc3653fd5862fe006737730f263b940ee1a1760",
    );
    let ok = Receipt {
        status: Status::Success,
        ..receipt()
    };
    pin(
        "Receipt (success)",
        &ok.encode(),
        "70cd7028c8de9fd750ec5c3f8488f5a0af3cb577a67ed904a4c1a3251e267b64",
    );
    assert_eq!(Receipt::decode_cfg(r.encode(), &()).unwrap(), r);
}

#[test]
fn golden_telemetry() {
    let batch = ReadingBatch {
        device_id: "acme:SN-1".into(),
        first_seq: 1,
        readings: vec![Reading {
            timestamp_ms: 1_700_000_000_000,
            measurements: vec![Measurement {
                name: "temp".into(),
                value: 215,
                scale: 1,
                unit: "C".into(),
            }],
        }],
        signature: Bytes::from_static(&[3; 64]),
    };
    pin(
        "ReadingBatch",
        &batch.encode(),
        "95a51e1a1b6030ee3ec7d2481fc968495a178ebdcc165c783b421c4963a267ba",
    );
    let (root, message) = batch.root_and_message();
    check(
        "reading batch root",
        &hex::encode(root),
        "771aeee5aa6398df56dae641db0db27715349a53251c5e15226de493ac6a7ff1",
    );
    pin(
        "ReadingBatch signing message",
        &message,
        "69da925068cc9ac57c05fc98475e8268e72c7f99a25ce83db58094c626004aa2",
    );
    let c = BatchCommitment {
        device_id: "acme:SN-1".into(),
        first_seq: 1,
        count: 1,
        first_ts_ms: 1_700_000_000_000,
        last_ts_ms: 1_700_000_000_000,
        root: root.as_ref().try_into().unwrap(),
        attested_by: String::new(),
    };
    pin(
        "BatchCommitment",
        &c.encode(),
        "1ee070d52af835f756759d1d3017d0ed7aa6cbe810c4d49f9e468e44c8e0bbf1",
    );
    let attested = BatchCommitment {
        attested_by: "acme:gw-1".into(),
        ..c
    };
    pin(
        "BatchCommitment (gateway-attested)",
        &attested.encode(),
        "3cf2f1ec9f97cb69da00ca0a8ffb3af2894fe5718cd0b0e149e84358bcc9f589",
    );
}

#[test]
fn golden_access_token() {
    let t = Token {
        token_id: [1; 32],
        device_id: "acme:SN-1".into(),
        operation: "read".into(),
        accessor: format!("member:{}", hex::encode([2u8; 32])),
        accessor_cert: [2; 32],
        issued_height: 10,
        issued_ms: 1_700_000_000_000,
        expires_ms: 1_700_000_300_000,
        device_address: "10.0.0.7:502".into(),
    };
    pin(
        "Token",
        &t.encode(),
        "24432a521f098710574da2dfc2638b12b833b1c23b1d369d7b47a12747e445f3",
    );
}

#[test]
fn golden_genesis_chain_id() {
    let g = ingot_types::Genesis {
        chain_name: "golden".into(),
        timestamp_ms: 1_700_000_000_000,
        organisations: vec![ingot_types::Organisation {
            name: "acme".into(),
            kind: ingot_types::OrgKind::Member,
            ca_cert_pem: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n".into(),
        }],
        validators: vec![ingot_types::ValidatorEntry {
            name: "v0".into(),
            org: "acme".into(),
            public_key: hex::encode([4u8; 32]),
            cert_pem: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n".into(),
            p2p_address: "127.0.0.1:30300".into(),
        }],
        governance: None,
        epoch_length: None,
    };
    // Unchanged since before genesis had a governance section.
    check(
        "chain id",
        &hex::encode(g.chain_id()),
        "0fabf178ca969e5bb8e98cbede2ec89247e50dc37727c1c13800c566eb35f34d",
    );
    let governed = ingot_types::Genesis {
        governance: Some(ingot_types::Governance {
            participation_pct: 60,
            approval_pct: 67,
            proposal_ttl_blocks: 1000,
            weights: [("acme".to_string(), 3)].into(),
        }),
        ..g.clone()
    };
    check(
        "chain id with governance",
        &hex::encode(governed.chain_id()),
        "e75958f4ca2f06247dcc46d431e470894a45c66c684d9e75133982e35c9065ac",
    );
    let epochs = ingot_types::Genesis {
        epoch_length: Some(1_000),
        ..governed.clone()
    };
    check(
        "chain id with governance and epochs",
        &hex::encode(epochs.chain_id()),
        "8df5eef85c5ec94619b7e2397bec6a2247fc2bf79a27e88cb53729d013168c64",
    );
    let epochs_only = ingot_types::Genesis {
        governance: None,
        ..epochs
    };
    // Recomputed independently in Python from the documented layout.
    check(
        "chain id with epochs",
        &hex::encode(epochs_only.chain_id()),
        "930021f52cbd7367ca009d77ff7b2ebdeed932080777db629089c6b4d5bf4e6e",
    );
}
