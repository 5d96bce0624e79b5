//! Helpers shared by the execution tests: certificates, signed transactions, blocks.
#![allow(dead_code)]

use bytes::Bytes;
use ingot_crypto::{issue_end_entity, unix_now, CertInfo, CertSpec, PrivateKey, Role, Scheme};
use ingot_execution::{args, sign_transaction};
use ingot_types::{
    block::HEADER_VERSION, sha256, tx::TX_VERSION, Block, Call, Header, SignedTransaction, Status,
    Transaction,
};

pub struct Member {
    pub key: PrivateKey,
    pub der: Bytes,
    pub pem: String,
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
    let header = Header {
        version: HEADER_VERSION,
        parent: sha256(&[&height.to_be_bytes()]),
        height,
        timestamp_ms: unix_now() as u64 * 1000,
        proposer: [0; 32],
        tx_count: txs.len() as u32,
        tx_root: Block::compute_tx_root(&txs),
        exec_height: 0,
        results: vec![],
    };
    Block::new(header, txs)
}

pub fn status(s: &Status) -> String {
    match s {
        Status::Success => "ok".into(),
        Status::Failed(r) => r.clone(),
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
                args: args::from_json(module, method, &a).unwrap(),
            },
        },
    )
    .unwrap()
}
