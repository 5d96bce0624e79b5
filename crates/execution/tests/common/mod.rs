//! Helpers shared by the execution tests: certificates, signed transactions, blocks.
#![allow(dead_code)]

use bytes::Bytes;
use commonware_codec::Decode;
use commonware_runtime::{deterministic, Supervisor as _};
use ingot_crypto::{
    device_uri, issue_ca, issue_end_entity, model_uri, unix_now, CertInfo, CertSpec, PrivateKey,
    Role, Scheme,
};
use ingot_execution::{
    args,
    modules::device::{record_key, DeviceRecord},
    sign_transaction, Executor,
};
use ingot_state::StateStore;
use ingot_types::{
    block::HEADER_VERSION, sha256, tx::TX_VERSION, Block, Call, Digest, Header, SignedTransaction,
    Status, Transaction,
};
use std::sync::Arc;

pub struct Member {
    pub key: PrivateKey,
    pub der: Bytes,
    pub pem: String,
}

impl Member {
    /// The member id its certificate gives it on chain (organisation and key).
    pub fn member_id(&self) -> [u8; 32] {
        let cert = ingot_crypto::CertInfo::from_der(&self.der).unwrap();
        ingot_crypto::member_id(cert.subject_o.as_deref().unwrap(), &self.key.public_key()).unwrap()
    }
}

pub fn spec(cn: &str, org: &str, role: Role) -> CertSpec {
    let now = unix_now();
    CertSpec {
        common_name: cn.into(),
        organization: org.into(),
        san_uris: vec![],
        not_before: now - 60,
        not_after: now + 3600,
        role,
    }
}

pub fn member(
    ca_key: &PrivateKey,
    ca_pem: &str,
    cn: &str,
    org: &str,
    role: Role,
    scheme: Scheme,
) -> Member {
    let key = PrivateKey::generate(scheme).unwrap();
    let pem = issue_end_entity(ca_key, ca_pem, &key.public_key(), &spec(cn, org, role)).unwrap();
    Member {
        der: CertInfo::from_pem(&pem).unwrap().der.into(),
        key,
        pem,
    }
}

pub fn tx(
    m: &Member,
    chain: ingot_types::Digest,
    module: &str,
    method: &str,
    a: serde_json::Value,
    valid_until: u64,
    salt: u64,
) -> SignedTransaction {
    sign_call(&m.key, &m.der, chain, module, method, a, valid_until, salt)
}

pub fn block(height: u64, txs: Vec<SignedTransaction>) -> Block {
    block_at(height, unix_now() as u64 * 1000, txs)
}

/// A block with the given block time.
pub fn block_at(height: u64, timestamp_ms: u64, txs: Vec<SignedTransaction>) -> Block {
    let header = Header {
        version: HEADER_VERSION,
        parent: sha256(&[&height.to_be_bytes()]),
        height,
        timestamp_ms,
        proposer: [0; 32],
        tx_count: txs.len() as u32,
        tx_root: Block::compute_tx_root(&txs),
        exec_height: 0,
        results: vec![],
        next_validators: None,
    };
    Block::new(header, txs)
}

pub fn status(s: &Status) -> String {
    match s {
        Status::Success => "ok".into(),
        Status::Failed(f) => ingot_execution::failure::render(f),
    }
}

#[allow(clippy::too_many_arguments)]
pub fn sign_call(
    key: &PrivateKey,
    der: &Bytes,
    chain: ingot_types::Digest,
    module: &str,
    method: &str,
    a: serde_json::Value,
    valid_until: u64,
    salt: u64,
) -> SignedTransaction {
    let args = args::from_json(module, method, &a).unwrap();
    sign_args(key, der, chain, module, method, args, valid_until, salt)
}

/// A transaction of `m` carrying canonical `args` as they are.
pub fn sign_raw(
    m: &Member,
    chain: ingot_types::Digest,
    module: &str,
    method: &str,
    args: Vec<u8>,
    valid_until: u64,
    salt: u64,
) -> SignedTransaction {
    sign_args(
        &m.key,
        &m.der,
        chain,
        module,
        method,
        args.into(),
        valid_until,
        salt,
    )
}

#[allow(clippy::too_many_arguments)]
pub fn sign_args(
    key: &PrivateKey,
    der: &Bytes,
    chain: ingot_types::Digest,
    module: &str,
    method: &str,
    args: Bytes,
    valid_until: u64,
    salt: u64,
) -> SignedTransaction {
    sign_transaction(
        key,
        Transaction {
            version: TX_VERSION,
            chain_id: chain,
            certificate: der.clone(),
            valid_until,
            salt,
            call: Call {
                module: module.into(),
                method: method.into(),
                args,
            },
        },
    )
    .unwrap()
}

pub fn device(ca_key: &PrivateKey, ca_pem: &str, serial: &str, scheme: Scheme) -> Member {
    let now = unix_now();
    device_valid(ca_key, ca_pem, serial, scheme, now - 60, now + 3600)
}

/// A device certificate of `acme` valid from `not_before` to `not_after`.
pub fn device_valid(
    ca_key: &PrivateKey,
    ca_pem: &str,
    serial: &str,
    scheme: Scheme,
    not_before: i64,
    not_after: i64,
) -> Member {
    let key = PrivateKey::generate(scheme).unwrap();
    let pem = issue_end_entity(
        ca_key,
        ca_pem,
        &key.public_key(),
        &CertSpec {
            common_name: serial.into(),
            organization: "acme".into(),
            san_uris: vec![device_uri("acme", serial), model_uri("CNC-5000")],
            not_before,
            not_after,
            role: Role::Device,
        },
    )
    .unwrap();
    Member {
        der: CertInfo::from_pem(&pem).unwrap().der.into(),
        key,
        pem,
    }
}

pub struct Chain {
    pub exec: Executor,
    pub state: StateStore<deterministic::Context>,
    pub chain: Digest,
    pub height: u64,
    pub salt: u64,
    /// Block time of the next blocks; the wall clock when `None`.
    pub clock_ms: Option<u64>,
    /// The telemetry batches the last executed block anchored.
    pub last_anchored: Vec<ingot_execution::AnchoredTx>,
}

impl Chain {
    /// An empty chain under `trust`, its state in storage partition `name`.
    pub async fn open(
        ctx: &deterministic::Context,
        trust: ingot_execution::LiveConsortium,
        name: &str,
    ) -> Self {
        Self {
            exec: Executor::new(Arc::new(trust)),
            state: StateStore::open(ctx.child("state"), name).await.unwrap(),
            chain: sha256(&[b"chain"]),
            height: 0,
            salt: 0,
            clock_ms: None,
            last_anchored: Vec::new(),
        }
    }

    pub fn call(&mut self, who: &Member, method: &str, a: serde_json::Value) -> SignedTransaction {
        self.call_module(who, "device", method, a)
    }
    pub fn call_module(
        &mut self,
        who: &Member,
        module: &str,
        method: &str,
        a: serde_json::Value,
    ) -> SignedTransaction {
        self.salt += 1;
        tx(
            who,
            self.chain,
            module,
            method,
            a,
            self.height + 50,
            self.salt,
        )
    }
    /// Execute the next block; its receipts.
    pub async fn execute(&mut self, txs: Vec<SignedTransaction>) -> Vec<ingot_types::Receipt> {
        self.height += 1;
        let outcome = self
            .exec
            .execute_block(
                &mut self.state,
                &match self.clock_ms {
                    Some(t) => block_at(self.height, t, txs),
                    None => block(self.height, txs),
                },
            )
            .await
            .unwrap();
        self.last_anchored = outcome.anchored;
        outcome.receipts
    }
    /// Execute the next block; one status per transaction ("ok" or the reason).
    pub async fn run(&mut self, txs: Vec<SignedTransaction>) -> Vec<String> {
        let receipts = self.execute(txs).await;
        receipts.iter().map(|r| status(&r.status)).collect()
    }
    pub async fn record(&self, id: &str) -> DeviceRecord {
        let raw = self.state.get(&record_key(id)).await.unwrap().unwrap();
        DeviceRecord::decode_cfg(raw, &()).unwrap()
    }
}

/// Two organisations (acme with an Ed25519 CA, bolt with a CA of `bolt_scheme`)
/// and an empty chain.
pub async fn consortium(
    ctx: &deterministic::Context,
    bolt_scheme: Scheme,
) -> (PrivateKey, String, PrivateKey, String, Chain) {
    let acme_key = PrivateKey::generate(Scheme::Ed25519).unwrap();
    let acme_ca = issue_ca(&acme_key, &spec("acme CA", "acme", Role::Ca)).unwrap();
    let bolt_key = PrivateKey::generate(bolt_scheme).unwrap();
    let bolt_ca = issue_ca(&bolt_key, &spec("bolt CA", "bolt", Role::Ca)).unwrap();
    let trust = ingot_execution::LiveConsortium::of_members([
        ("acme", acme_ca.as_str()),
        ("bolt", bolt_ca.as_str()),
    ])
    .unwrap();
    let chain = Chain::open(ctx, trust, "devices").await;
    (acme_key, acme_ca, bolt_key, bolt_ca, chain)
}

/// The device's consent to registration by `registrant` on `chain`: the hex
/// signature of its key over the possession message.
pub fn consent(device: &Member, registrant: &Member, chain: &Digest) -> String {
    let message = ingot_types::consent::possession_message(
        chain,
        &ingot_crypto::cert_hash(&registrant.der),
        &ingot_crypto::cert_hash(&device.der),
    );
    hex::encode(device.key.sign(&message).unwrap())
}

pub fn assert_refused(got: &str, reason: &str) {
    assert!(
        got.contains(reason),
        "expected refusal `{reason}`, got `{got}`"
    );
}
