//! `ingot org` and `ingot genesis`: independent organisations form a
//! consortium on their own hosts (docs/consortium-formation.md).
//!
//! An organisation directory holds its CA (created here or imported from
//! OpenSSL / an enterprise PKI), admin and member certificates, one directory
//! per validator (key, certificate, node.toml) and `descriptor.json`, the only
//! file it sends to the others. `ingot genesis create` assembles descriptors;
//! `ingot genesis verify` is what each organisation runs on the result before
//! it starts a node, comparing the printed chain id out of band.

use crate::pki;
use anyhow::{bail, Context};
use clap::Subcommand;
use ingot_consortium::{
    assemble, check_genesis, DescriptorValidator, OrgDescriptor, EXPIRY_WARNING_DAYS,
};
use ingot_crypto::{unix_now, CertInfo, PrivateKey, Role, Scheme};
use ingot_types::{genesis::OrgKind, Genesis};
use std::path::{Path, PathBuf};

const DESCRIPTOR_FILE: &str = "descriptor.json";

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organisation directory: a new CA, or an imported one; admin
    /// and member certificates when the CA key is here; descriptor.json.
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// The organisation's name, which is its CA's subject O (taken from
        /// the certificate when importing).
        #[arg(long)]
        name: Option<String>,
        /// `member` or `regulator`.
        #[arg(long, default_value = "member")]
        kind: String,
        /// Scheme of a new CA: ed25519, p256 or sm2.
        #[arg(long, default_value = "ed25519")]
        scheme: String,
        /// Import this CA certificate (PEM) instead of creating a CA.
        #[arg(long)]
        ca_cert: Option<PathBuf>,
        /// The imported CA's private key (PKCS#8 PEM) so that `ingot` can
        /// issue certificates here. Without it, issue them with your own PKI.
        #[arg(long, requires = "ca_cert")]
        ca_key: Option<PathBuf>,
        #[arg(long, default_value_t = 3650)]
        days: i64,
    },
    /// Add a validator: its key, certificate and node.toml in DIR/NAME/, and
    /// its entry in descriptor.json.
    AddValidator {
        #[arg(long)]
        dir: PathBuf,
        /// Unique in the consortium; becomes the certificate's CN.
        #[arg(long)]
        name: String,
        /// host:port where the other validators reach this one.
        #[arg(long)]
        p2p_address: String,
        /// Where the node listens for peers (default 0.0.0.0 and the port of
        /// --p2p-address).
        #[arg(long)]
        p2p_listen: Option<String>,
        #[arg(long, default_value = "127.0.0.1:8080")]
        api_listen: String,
        /// An Ed25519 key (PKCS#8 PEM) certified by your own PKI; needs --cert.
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// Its certificate (O=<org>, OU=validator), issued by the organisation's CA.
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        #[arg(long, default_value_t = 825)]
        days: i64,
    },
    /// Make an observer node (a regulator's or an archive node): its p2p key
    /// and node.toml in DIR/NAME/. It follows the chain once the consortium
    /// admits it (`ingot governance propose add-observer --observer-key DIR/NAME/observer.key`).
    AddObserver {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        name: String,
        /// Where it listens for peers (validators never dial an observer,
        /// but the p2p stack listens).
        #[arg(long, default_value = "0.0.0.0:0")]
        p2p_listen: String,
        /// Not 8080: a validator on the same host likely has that.
        #[arg(long, default_value = "127.0.0.1:8180")]
        api_listen: String,
    },
}

#[derive(Subcommand)]
pub enum GenesisCommand {
    /// Assemble the organisations' descriptors into a genesis. The result
    /// depends only on the descriptors, the chain name and the time.
    Create {
        #[arg(long)]
        chain_name: String,
        /// One descriptor.json per organisation (repeat the flag).
        #[arg(long = "descriptor", required = true)]
        descriptors: Vec<PathBuf>,
        /// Genesis time in ms since the Unix epoch (default: now). Agree on
        /// it to assemble the same genesis independently.
        #[arg(long)]
        timestamp_ms: Option<u64>,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        governance: GovernanceRules,
        /// Blocks per consensus epoch: validator-set changes take effect at
        /// epoch boundaries (default: one epoch for the whole chain).
        #[arg(long)]
        epoch_length: Option<u64>,
    },
    /// Check a genesis completely (CAs, validator certificates, expiry) and
    /// print its chain id; with --descriptor, also that it holds your
    /// organisation exactly as you described it.
    Verify {
        #[arg(long)]
        genesis: PathBuf,
        #[arg(long)]
        descriptor: Option<PathBuf>,
    },
}

/// The governance rules a genesis sets (any of them given: the others take
/// their defaults, ingot_types::Governance::default).
#[derive(clap::Args)]
pub struct GovernanceRules {
    /// Share of the total vote weight that must vote for a decision, percent (default 51).
    #[arg(long)]
    participation: Option<u8>,
    /// Share of the weight voting that must approve, percent (default 51).
    #[arg(long)]
    approval: Option<u8>,
    /// Blocks a proposal stays open (default a week of one-second blocks).
    #[arg(long)]
    proposal_ttl: Option<u64>,
    /// An organisation's vote weight as ORG=N (repeat; others weigh 1).
    #[arg(long = "weight", value_name = "ORG=N")]
    weights: Vec<String>,
}

impl GovernanceRules {
    fn to_genesis(&self) -> anyhow::Result<Option<ingot_types::Governance>> {
        if self.participation.is_none()
            && self.approval.is_none()
            && self.proposal_ttl.is_none()
            && self.weights.is_empty()
        {
            return Ok(None);
        }
        let mut g = ingot_types::Governance::default();
        g.participation_pct = self.participation.unwrap_or(g.participation_pct);
        g.approval_pct = self.approval.unwrap_or(g.approval_pct);
        g.proposal_ttl_blocks = self.proposal_ttl.unwrap_or(g.proposal_ttl_blocks);
        for w in &self.weights {
            let (org, n) = w
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--weight {w}: expected ORG=N"))?;
            let n: u32 = n.parse().with_context(|| format!("--weight {w}"))?;
            g.weights.insert(org.to_string(), n);
        }
        Ok(Some(g))
    }
}

fn parse_kind(s: &str) -> anyhow::Result<OrgKind> {
    Ok(match s {
        "member" => OrgKind::Member,
        "regulator" => OrgKind::Regulator,
        other => bail!("unknown organisation kind `{other}` (member, regulator)"),
    })
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn load_descriptor(path: &Path) -> anyhow::Result<OrgDescriptor> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    OrgDescriptor::from_json(&bytes)
        .map_err(|e| anyhow::anyhow!("{} refused ({}): {e}", path.display(), e.code()))
}

/// A key that is meant to sign for `ca` must produce signatures `ca` verifies.
fn key_matches(key: &PrivateKey, cert: &CertInfo) -> anyhow::Result<bool> {
    let probe = b"ingot/org/key-matches-certificate";
    Ok(cert.public_key()?.verify(probe, &key.sign(probe)?).is_ok())
}

fn init(
    dir: &Path,
    name: Option<String>,
    kind: OrgKind,
    scheme: Scheme,
    import: Option<(PathBuf, Option<PathBuf>)>,
    days: i64,
) -> anyhow::Result<OrgDescriptor> {
    if dir.join(DESCRIPTOR_FILE).exists() {
        bail!(
            "{} already holds an organisation; nothing was changed",
            dir.display()
        );
    }
    let (name, ca_pem, can_issue) = match import {
        None => {
            let name = name.context("--name is required when creating a CA")?;
            let (_, pem) = pki::init_ca(&name, scheme, dir, days)?;
            (name, pem, true)
        }
        Some((cert_path, key_path)) => {
            let pem = read(&cert_path)?;
            let ca = CertInfo::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM certificate", cert_path.display()))?;
            let subject_o = ca
                .subject_o
                .clone()
                .context("the CA certificate has no subject O; Ingot names organisations by it")?;
            let name = name.unwrap_or_else(|| subject_o.clone());
            if name != subject_o {
                bail!("the CA's subject O is `{subject_o}`; the organisation's name must equal it (use --name {subject_o})");
            }
            if let Some(key_path) = &key_path {
                let key = PrivateKey::from_pkcs8_pem(&read(key_path)?)
                    .with_context(|| format!("{} is not a PKCS#8 PEM key", key_path.display()))?;
                if !key_matches(&key, &ca)? {
                    bail!(
                        "{} is not the key of the CA certificate {}",
                        key_path.display(),
                        cert_path.display()
                    );
                }
                pki::write_secret(&dir.join("ca.key"), &read(key_path)?)?;
            }
            pki::write(&dir.join("ca.pem"), &pem)?;
            (name, pem, key_path.is_some())
        }
    };
    let descriptor = OrgDescriptor::new(&name, kind, ca_pem);
    descriptor
        .check()
        .map_err(|e| anyhow::anyhow!("refused ({}): {e}", e.code()))?;
    if can_issue {
        let scheme = CertInfo::from_pem(&descriptor.ca_cert_pem)?
            .public_key()?
            .scheme();
        pki::issue(dir, "admin", Role::Admin, None, scheme, dir, 825)?;
        pki::issue(dir, "member", Role::Member, None, scheme, dir, 825)?;
    }
    pki::write(&dir.join(DESCRIPTOR_FILE), &descriptor.to_json())?;
    Ok(descriptor)
}

#[allow(clippy::too_many_arguments)]
fn add_validator(
    dir: &Path,
    name: &str,
    p2p_address: &str,
    p2p_listen: Option<String>,
    api_listen: &str,
    own: Option<(PathBuf, PathBuf)>,
    days: i64,
) -> anyhow::Result<OrgDescriptor> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        bail!("--name must be non-empty, without '/', and not start with '.'");
    }
    let mut descriptor = load_descriptor(&dir.join(DESCRIPTOR_FILE))?;
    if descriptor.validators.iter().any(|v| v.name == name) {
        bail!("{} already lists validator {name}", descriptor.name);
    }
    let node_dir = dir.join(name);
    if node_dir.exists() {
        bail!("{} exists; nothing was changed", node_dir.display());
    }
    let port = p2p_address
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .context("--p2p-address must be host:port")?;
    let (key, cert_pem) = match own {
        Some((key_path, cert_path)) => {
            let key = PrivateKey::from_pkcs8_pem(&read(&key_path)?)
                .with_context(|| format!("{} is not a PKCS#8 PEM key", key_path.display()))?;
            let cert_pem = read(&cert_path)?;
            let cert = CertInfo::from_pem(&cert_pem)?;
            if !key_matches(&key, &cert)? {
                bail!(
                    "{} does not certify the key {}",
                    cert_path.display(),
                    key_path.display()
                );
            }
            (key, cert_pem)
        }
        None => {
            if !dir.join("ca.key").exists() {
                bail!("the CA key of {} is not in {}; issue the validator certificate with your PKI (O={}, OU=validator, an Ed25519 key) and pass --key and --cert", descriptor.name, dir.display(), descriptor.name);
            }
            pki::issue(
                dir,
                name,
                Role::Validator,
                None,
                Scheme::Ed25519,
                &node_dir,
                days,
            )?
        }
    };
    if key.scheme() != Scheme::Ed25519 {
        bail!("consensus keys are Ed25519; this key is {:?}", key.scheme());
    }
    descriptor.validators.push(DescriptorValidator {
        name: name.into(),
        public_key: hex::encode(key.public_key().raw_bytes()?),
        cert_pem: cert_pem.clone(),
        p2p_address: p2p_address.into(),
    });
    // Everything is checked before anything is written.
    descriptor
        .check()
        .map_err(|e| anyhow::anyhow!("refused ({}): {e}", e.code()))?;
    // `pki::issue` names its files after the CN; a node directory has one
    // validator whose files have fixed names.
    let _ = std::fs::remove_file(node_dir.join(format!("{name}.key")));
    let _ = std::fs::remove_file(node_dir.join(format!("{name}.pem")));
    pki::write_secret(&node_dir.join("validator.key"), &key.to_pkcs8_pem()?)?;
    pki::write(&node_dir.join("validator.pem"), &cert_pem)?;
    let p2p_listen = p2p_listen.unwrap_or_else(|| format!("0.0.0.0:{port}"));
    pki::write(
        &node_dir.join("node.toml"),
        &format!("genesis = \"../genesis.json\"\nkey = \"validator.key\"\ndata_dir = \"data\"\np2p_listen = \"{p2p_listen}\"\napi_listen = \"{api_listen}\"\n"),
    )?;
    pki::write(&dir.join(DESCRIPTOR_FILE), &descriptor.to_json())?;
    Ok(descriptor)
}

/// An observer node's directory: a fresh Ed25519 p2p key and node.toml.
/// Returns its public key (hex), which the admission proposal names.
fn add_observer(
    dir: &Path,
    name: &str,
    p2p_listen: &str,
    api_listen: &str,
) -> anyhow::Result<String> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        bail!("--name must be non-empty, without '/', and not start with '.'");
    }
    let node_dir = dir.join(name);
    if node_dir.exists() {
        bail!("{} exists; nothing was changed", node_dir.display());
    }
    let key = PrivateKey::generate(Scheme::Ed25519)?;
    std::fs::create_dir_all(&node_dir)?;
    pki::write_secret(&node_dir.join("observer.key"), &key.to_pkcs8_pem()?)?;
    pki::write(
        &node_dir.join("node.toml"),
        &format!("genesis = \"../genesis.json\"\nkey = \"observer.key\"\ndata_dir = \"data\"\np2p_listen = \"{p2p_listen}\"\napi_listen = \"{api_listen}\"\n"),
    )?;
    Ok(hex::encode(key.public_key().raw_bytes()?))
}

pub fn org(cmd: OrgCommand, json: bool) -> anyhow::Result<()> {
    let (dir, descriptor) = match cmd {
        OrgCommand::AddObserver {
            dir,
            name,
            p2p_listen,
            api_listen,
        } => {
            let public_key = add_observer(&dir, &name, &p2p_listen, &api_listen)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"observer": name, "public_key": public_key, "dir": dir.join(&name)})
                );
            } else {
                println!(
                    "observer {name}: public key {public_key}; put genesis.json beside {}, have the consortium admit it (ingot governance propose add-observer --name {name} --org <org> --public-key {public_key} --p2p-address <host:port>), then run `ingot node run --config {}`",
                    dir.join(&name).display(),
                    dir.join(&name).join("node.toml").display()
                );
            }
            return Ok(());
        }
        OrgCommand::Init {
            dir,
            name,
            kind,
            scheme,
            ca_cert,
            ca_key,
            days,
        } => {
            let import = ca_cert.map(|c| (c, ca_key));
            let d = init(
                &dir,
                name,
                parse_kind(&kind)?,
                pki::parse_scheme(&scheme)?,
                import,
                days,
            )?;
            (dir, d)
        }
        OrgCommand::AddValidator {
            dir,
            name,
            p2p_address,
            p2p_listen,
            api_listen,
            key,
            cert,
            days,
        } => {
            let own = key.zip(cert);
            let d = add_validator(
                &dir,
                &name,
                &p2p_address,
                p2p_listen,
                &api_listen,
                own,
                days,
            )?;
            (dir, d)
        }
    };
    let path = dir.join(DESCRIPTOR_FILE);
    if json {
        println!(
            "{}",
            serde_json::json!({"organisation": descriptor.name, "descriptor": path, "validators": descriptor.validators.iter().map(|v| &v.name).collect::<Vec<_>>()})
        );
    } else {
        println!(
            "organisation {} ({} validator(s)); send {} to the other organisations",
            descriptor.name,
            descriptor.validators.len(),
            path.display()
        );
    }
    Ok(())
}

fn describe(genesis: &Genesis, json: bool) -> anyhow::Result<()> {
    let report = check_genesis(genesis)
        .map_err(|e| anyhow::anyhow!("genesis refused ({}): {e}", e.code()))?;
    let chain_id = ingot_types::hex_digest(&report.chain_id);
    let expiring = report.expiring(unix_now(), EXPIRY_WARNING_DAYS);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ok": true,
                "chain_id": chain_id,
                "chain_name": genesis.chain_name,
                "organisations": report.organisations.iter().map(|(n, k)| serde_json::json!({"name": n, "kind": k})).collect::<Vec<_>>(),
                "validators": genesis.validators.iter().map(|v| serde_json::json!({"name": v.name, "org": v.org, "p2p_address": v.p2p_address})).collect::<Vec<_>>(),
                "expiring": expiring.iter().map(|c| serde_json::json!({"certificate": c.subject, "not_after": c.not_after})).collect::<Vec<_>>(),
                "governance": genesis.governance(),
                "epoch_length": genesis.epoch_length,
            })
        );
        return Ok(());
    }
    println!("genesis OK: chain `{}`", genesis.chain_name);
    println!("chain id: {chain_id}");
    let rules = genesis.governance();
    println!(
        "governance: {} % of the vote weight must vote, {} % of it approve; proposals open {} blocks",
        rules.participation_pct, rules.approval_pct, rules.proposal_ttl_blocks
    );
    match genesis.epoch_length {
        Some(length) => println!(
            "epochs: {length} blocks each; validator-set changes take effect at their boundaries"
        ),
        None => println!("epochs: one for the whole chain"),
    }
    println!(
        "compare this chain id with every other organisation out of band before starting a node."
    );
    for (name, kind) in &report.organisations {
        let validators: Vec<&str> = genesis
            .validators
            .iter()
            .filter(|v| &v.org == name)
            .map(|v| v.name.as_str())
            .collect();
        println!("  {name} ({kind:?}): validators {validators:?}");
    }
    for c in expiring {
        println!(
            "WARNING: {} expires within {EXPIRY_WARNING_DAYS} days (notAfter {})",
            c.subject, c.not_after
        );
    }
    Ok(())
}

pub fn genesis(cmd: GenesisCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        GenesisCommand::Create {
            chain_name,
            descriptors,
            timestamp_ms,
            out,
            governance,
            epoch_length,
        } => {
            let loaded = descriptors
                .iter()
                .map(|p| load_descriptor(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let timestamp_ms = match timestamp_ms {
                Some(t) => t,
                None => std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_millis() as u64,
            };
            let mut genesis = assemble(&chain_name, timestamp_ms, &loaded)
                .map_err(|e| anyhow::anyhow!("refused ({}): {e}", e.code()))?;
            genesis.governance = governance.to_genesis()?;
            genesis.epoch_length = epoch_length;
            ingot_consortium::check_genesis(&genesis)
                .map_err(|e| anyhow::anyhow!("refused ({}): {e}", e.code()))?;
            pki::write(&out, &serde_json::to_string_pretty(&genesis)?)?;
            describe(&genesis, json)
        }
        GenesisCommand::Verify {
            genesis,
            descriptor,
        } => {
            let parsed: Genesis = serde_json::from_slice(
                &std::fs::read(&genesis)
                    .with_context(|| format!("reading {}", genesis.display()))?,
            )
            .with_context(|| format!("{} is not a genesis", genesis.display()))?;
            if let Some(path) = descriptor {
                load_descriptor(&path)?
                    .matches(&parsed)
                    .map_err(|e| anyhow::anyhow!("refused ({}): {e}", e.code()))?;
            }
            describe(&parsed, json)
        }
    }
}
