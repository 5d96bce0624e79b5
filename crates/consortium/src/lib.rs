//! Forming a consortium of independent organisations (white paper 一.3, 二.1,
//! 七.1; issue 16).
//!
//! Each organisation, on its own host, keeps its private keys and publishes a
//! [`OrgDescriptor`]: its name, kind, CA certificate (made by `ingot org init`
//! or imported from OpenSSL or an enterprise PKI) and its validators' public
//! keys, certificates and p2p addresses. Anyone assembles the descriptors into
//! a [`Genesis`](ingot_types::Genesis) with [`assemble`]; the result depends
//! only on the descriptors, the chain name and the genesis time, so every
//! organisation can assemble or check it independently and compare chain ids
//! out of band. [`check_genesis`] is the full check that `ingot genesis
//! verify` prints and that every node runs before it opens its storage.

mod check;
mod descriptor;
mod error;

pub use check::{check_genesis, expiring_within, CertSummary, GenesisReport, EXPIRY_WARNING_DAYS};
pub use descriptor::{
    assemble, DescriptorValidator, OrgDescriptor, DESCRIPTOR_FORMAT, MAX_DESCRIPTORS,
};
pub use error::ConsortiumError;
