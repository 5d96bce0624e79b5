//! `ingot governance`: the consortium's decisions from the command line —
//! what stands, what awaits my organisation's vote, proposing and voting.

use crate::client::{print, refused, send_and_wait, SignerArgs};
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum GovernanceCommand {
    /// The consortium as it stands: organisations with kind, weight and
    /// trusted CAs; thresholds; who may deploy workflows.
    Show {
        #[command(flatten)]
        signer: SignerArgs,
    },
    /// Open proposals my organisation has not voted on.
    Inbox {
        #[command(flatten)]
        signer: SignerArgs,
    },
    /// Proposals, newest first; with an id, one proposal and every vote.
    Proposals {
        id: Option<u64>,
        /// Only proposals in this status (open, approved, rejected, expired, applied, failed).
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        signer: SignerArgs,
    },
    /// Propose a change (as an organisation admin; it counts as my
    /// organisation's approval).
    Propose {
        #[command(subcommand)]
        action: ProposeAction,
    },
    /// Vote on a proposal (as an organisation admin), once per organisation.
    Vote {
        proposal: u64,
        /// Approve (default) or, with --reject, reject.
        #[arg(long, conflicts_with = "reject")]
        approve: bool,
        #[arg(long)]
        reject: bool,
        #[command(flatten)]
        signer: SignerArgs,
    },
}

/// Options every proposal takes.
#[derive(Args)]
pub struct ProposalArgs {
    /// First height the change must hold (default: as soon as approved).
    #[arg(long)]
    effective_at: Option<u64>,
    #[command(flatten)]
    signer: SignerArgs,
}

#[derive(Subcommand)]
pub enum ProposeAction {
    /// Admit an organisation: from its public descriptor (`ingot org init`),
    /// or by name, kind and CA certificate.
    AddOrg {
        /// The organisation's descriptor (ingot-org/v1 JSON).
        #[arg(long, conflicts_with_all = ["name", "ca"])]
        descriptor: Option<PathBuf>,
        #[arg(long, requires = "ca")]
        name: Option<String>,
        /// CA certificate (PEM), made anywhere (OpenSSL, an enterprise PKI).
        #[arg(long, requires = "name")]
        ca: Option<PathBuf>,
        /// member or regulator (with --name; a descriptor states its kind).
        #[arg(long, default_value = "member")]
        kind: String,
        #[arg(long, default_value_t = 1)]
        weight: u32,
        #[command(flatten)]
        common: ProposalArgs,
    },
    /// Remove an organisation: its certificates sign nothing from the next block on.
    RemoveOrg {
        name: String,
        #[command(flatten)]
        common: ProposalArgs,
    },
    /// Replace an organisation's CA; the old one's certificates count up to
    /// and including height --old-until.
    ReplaceCa {
        #[arg(long)]
        org: String,
        #[arg(long)]
        ca: PathBuf,
        #[arg(long)]
        old_until: u64,
        #[command(flatten)]
        common: ProposalArgs,
    },
    /// Change the thresholds (percent) and how long proposals stay open (blocks).
    SetRules {
        #[arg(long)]
        participation: u8,
        #[arg(long)]
        approval: u8,
        #[arg(long)]
        ttl: u64,
        #[command(flatten)]
        common: ProposalArgs,
    },
    /// Change an organisation's vote weight.
    SetWeight {
        #[arg(long)]
        org: String,
        #[arg(long)]
        weight: u32,
        #[command(flatten)]
        common: ProposalArgs,
    },
    /// Chain parameters: transactions an honest proposer puts in a block,
    /// the idle heartbeat, the work one transaction may use (0 or absent:
    /// each node's configuration, or the built-in limit).
    SetParams {
        #[arg(long, default_value_t = 0)]
        max_block_txs: u32,
        #[arg(long, default_value_t = 0)]
        heartbeat_ms: u64,
        #[arg(long, default_value_t = 0)]
        max_work: u64,
        #[command(flatten)]
        common: ProposalArgs,
    },
    /// Admit an observer node (`ingot org add-observer` makes one): the
    /// validators accept it from the host of --p2p-address; it follows
    /// finalized blocks without voting and holds every block.
    AddObserver {
        #[arg(long)]
        name: String,
        #[arg(long)]
        org: String,
        /// Its Ed25519 p2p key (64 hex digits), or --observer-key.
        #[arg(
            long,
            conflicts_with = "observer_key",
            required_unless_present = "observer_key"
        )]
        public_key: Option<String>,
        /// Its key file (PKCS#8 PEM): the public key is read from it.
        #[arg(long)]
        observer_key: Option<PathBuf>,
        /// host:port it connects from.
        #[arg(long)]
        p2p_address: String,
        #[command(flatten)]
        common: ProposalArgs,
    },
    /// Withdraw an observer node's admission.
    RemoveObserver {
        /// Its p2p key (64 hex digits).
        #[arg(long)]
        public_key: String,
        #[command(flatten)]
        common: ProposalArgs,
    },
    /// Add a validator of --org (its node made like an observer's: `ingot org
    /// add-observer`). Decided in epoch k, it votes from epoch k + 2; until
    /// then its node connects and catches up. One validator change at a time.
    AddValidator {
        #[arg(long)]
        name: String,
        #[arg(long)]
        org: String,
        /// Its Ed25519 consensus key (64 hex digits), or --node-key.
        #[arg(
            long,
            conflicts_with = "node_key",
            required_unless_present = "node_key"
        )]
        public_key: Option<String>,
        /// Its key file (PKCS#8 PEM): the public key is read from it.
        #[arg(long)]
        node_key: Option<PathBuf>,
        /// host:port the other validators dial.
        #[arg(long)]
        p2p_address: String,
        #[command(flatten)]
        common: ProposalArgs,
    },
    /// Remove a validator: it stops voting two epochs after the decision.
    RemoveValidator {
        /// Its consensus key (64 hex digits).
        #[arg(long)]
        public_key: String,
        #[command(flatten)]
        common: ProposalArgs,
    },
    /// Replace a validator by a new node of the same organisation, at one
    /// epoch boundary.
    ReplaceValidator {
        /// The key of the validator replaced.
        #[arg(long)]
        old_public_key: String,
        #[arg(long)]
        name: String,
        /// The new node's consensus key (64 hex digits), or --node-key.
        #[arg(
            long,
            conflicts_with = "node_key",
            required_unless_present = "node_key"
        )]
        public_key: Option<String>,
        #[arg(long)]
        node_key: Option<PathBuf>,
        #[arg(long)]
        p2p_address: String,
        #[command(flatten)]
        common: ProposalArgs,
    },
    /// Name the organisations whose members may deploy workflows (none: all).
    SetDeployers {
        #[arg(long, default_value = "workflow")]
        module: String,
        #[arg(long = "org")]
        orgs: Vec<String>,
        #[command(flatten)]
        common: ProposalArgs,
    },
}

fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// A node's Ed25519 key: given as hex, or read from its key file.
fn node_public_key(hex: Option<String>, key_file: Option<PathBuf>) -> anyhow::Result<String> {
    match (hex, key_file) {
        (Some(hex), _) => Ok(hex),
        (None, Some(path)) => {
            let key = ingot_crypto::PrivateKey::from_pkcs8_pem(&read(&path)?)?;
            if key.scheme() != ingot_crypto::Scheme::Ed25519 {
                anyhow::bail!("{}: a node's key is Ed25519", path.display());
            }
            Ok(hex::encode(key.public_key().raw_bytes()?))
        }
        (None, None) => anyhow::bail!("the node's public key or key file is required"),
    }
}

/// The action's JSON form (as the governance module reads it) and the options.
fn action(a: ProposeAction) -> anyhow::Result<(Value, ProposalArgs)> {
    Ok(match a {
        ProposeAction::AddOrg {
            descriptor,
            name,
            ca,
            kind,
            weight,
            common,
        } => {
            let (name, kind, ca_pem) = match (descriptor, name, ca) {
                (Some(d), _, _) => {
                    let d = ingot_consortium::OrgDescriptor::from_json(read(&d)?.as_bytes())?;
                    d.check()?;
                    let kind = match d.kind {
                        ingot_types::OrgKind::Member => "member",
                        ingot_types::OrgKind::Regulator => "regulator",
                    };
                    (d.name, kind.to_string(), d.ca_cert_pem)
                }
                (None, Some(name), Some(ca)) => (name, kind, read(&ca)?),
                _ => bail!("give --descriptor, or --name with --ca"),
            };
            let v = json!({"kind": "add_org", "name": name, "org_kind": kind, "ca_pem": ca_pem, "weight": weight});
            (v, common)
        }
        ProposeAction::RemoveOrg { name, common } => {
            (json!({"kind": "remove_org", "name": name}), common)
        }
        ProposeAction::ReplaceCa {
            org,
            ca,
            old_until,
            common,
        } => (
            json!({"kind": "replace_ca", "org": org, "ca_pem": read(&ca)?, "old_until": old_until}),
            common,
        ),
        ProposeAction::SetRules {
            participation,
            approval,
            ttl,
            common,
        } => (
            json!({"kind": "set_rules", "participation_pct": participation, "approval_pct": approval, "proposal_ttl_blocks": ttl}),
            common,
        ),
        ProposeAction::SetWeight {
            org,
            weight,
            common,
        } => (
            json!({"kind": "set_weight", "org": org, "weight": weight}),
            common,
        ),
        ProposeAction::SetParams {
            max_block_txs,
            heartbeat_ms,
            max_work,
            common,
        } => (
            json!({"kind": "set_params", "max_block_txs": max_block_txs, "idle_heartbeat_ms": heartbeat_ms, "max_work_per_tx": max_work}),
            common,
        ),
        ProposeAction::AddObserver {
            name,
            org,
            public_key,
            observer_key,
            p2p_address,
            common,
        } => {
            let public_key = node_public_key(public_key, observer_key)?;
            (
                json!({"kind": "add_observer", "name": name, "org": org, "public_key": public_key, "p2p_address": p2p_address}),
                common,
            )
        }
        ProposeAction::RemoveObserver { public_key, common } => (
            json!({"kind": "remove_observer", "public_key": public_key}),
            common,
        ),
        ProposeAction::AddValidator {
            name,
            org,
            public_key,
            node_key,
            p2p_address,
            common,
        } => (
            json!({"kind": "add_validator", "name": name, "org": org, "public_key": node_public_key(public_key, node_key)?, "p2p_address": p2p_address}),
            common,
        ),
        ProposeAction::RemoveValidator { public_key, common } => (
            json!({"kind": "remove_validator", "public_key": public_key}),
            common,
        ),
        ProposeAction::ReplaceValidator {
            old_public_key,
            name,
            public_key,
            node_key,
            p2p_address,
            common,
        } => (
            json!({"kind": "replace_validator", "old_public_key": old_public_key, "name": name, "public_key": node_public_key(public_key, node_key)?, "p2p_address": p2p_address}),
            common,
        ),
        ProposeAction::SetDeployers {
            module,
            orgs,
            common,
        } => (
            json!({"kind": "set_deployers", "module": module, "orgs": orgs}),
            common,
        ),
    })
}

/// Submit, print the receipt, fail on a refusal.
fn submit(signer: &SignerArgs, method: &str, args: Value, json_out: bool) -> anyhow::Result<()> {
    let receipt = send_and_wait(signer, "governance", method, &args)?;
    if json_out {
        println!("{receipt}");
    } else {
        for e in receipt["events"].as_array().into_iter().flatten() {
            println!(
                "governance.{} {}",
                e["kind"].as_str().unwrap_or(""),
                e["attributes"]
            );
        }
    }
    refused(&receipt)
}

pub fn run(cmd: GovernanceCommand, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        GovernanceCommand::Show { signer } => print(
            &signer
                .http()?
                .get(&format!("{}/v1/governance", signer.node))?,
            json_out,
        ),
        GovernanceCommand::Inbox { signer } => {
            let v = signer
                .http()?
                .get(&format!("{}/v1/governance/inbox", signer.node))?;
            if json_out {
                println!("{v}");
            } else {
                let awaiting = v["awaiting"].as_array().cloned().unwrap_or_default();
                println!(
                    "{} proposal(s) await {}'s vote",
                    awaiting.len(),
                    v["org"].as_str().unwrap_or("?")
                );
                for p in awaiting {
                    println!(
                        "  #{} {} by {} (open until height {})",
                        p["id"],
                        p["action"],
                        p["proposer_org"].as_str().unwrap_or("?"),
                        p["expires"]
                    );
                }
            }
        }
        GovernanceCommand::Proposals { id, status, signer } => {
            let url = match (id, status) {
                (Some(id), _) => format!("{}/v1/governance/proposals/{id}", signer.node),
                (None, Some(s)) => format!("{}/v1/governance/proposals?status={s}", signer.node),
                (None, None) => format!("{}/v1/governance/proposals", signer.node),
            };
            print(&signer.http()?.get(&url)?, json_out);
        }
        GovernanceCommand::Propose { action: a } => {
            let (action, common) = action(a)?;
            let mut args = json!({ "action": action });
            if let Some(h) = common.effective_at {
                args["effective_at"] = json!(h);
            }
            submit(&common.signer, "propose", args, json_out)?;
        }
        GovernanceCommand::Vote {
            proposal,
            approve: _,
            reject,
            signer,
        } => submit(
            &signer,
            "vote",
            json!({"proposal": proposal, "approve": !reject}),
            json_out,
        )?,
    }
    Ok(())
}
