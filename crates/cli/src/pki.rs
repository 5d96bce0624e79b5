//! `ingot keys` and `ingot ca`.

use anyhow::{bail, Context};
use clap::Subcommand;
use ingot_crypto::{issue_ca, issue_end_entity, unix_now, CertSpec, PrivateKey, Role, Scheme};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum CaCommand {
    /// Create an organisation CA: DIR/ca.key and DIR/ca.pem.
    Init {
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "ed25519")]
        scheme: String,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 3650)]
        days: i64,
    },
    /// Issue a member, admin or validator certificate signed by the CA in --ca-dir.
    Issue {
        #[arg(long)]
        ca_dir: PathBuf,
        #[arg(long)]
        cn: String,
        #[arg(long, default_value = "member")]
        role: String,
        /// Scheme of a newly generated subject key (ignored with --public-key-from).
        #[arg(long, default_value = "ed25519")]
        scheme: String,
        /// Certify the key in this PKCS#8 PEM file instead of generating one.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Writes NAME.key (if generated) and NAME.pem here.
        #[arg(long)]
        out_dir: PathBuf,
        #[arg(long, default_value_t = 825)]
        days: i64,
    },
    /// Issue a device certificate at manufacture, signed by the CA in --ca-dir
    /// (the manufacturer's or an industry CA). The device id is
    /// `<org>:<serial>`, carried as SAN URI `urn:ingot:device:<org>:<serial>`;
    /// the model as `urn:ingot:model:<model>`; OU=device, CN=<serial>.
    IssueDevice {
        #[arg(long)]
        ca_dir: PathBuf,
        /// Serial number, unique within the issuing organisation.
        #[arg(long)]
        serial: String,
        #[arg(long)]
        model: String,
        /// Scheme of a newly generated device key (ignored with --key).
        #[arg(long, default_value = "ed25519")]
        scheme: String,
        /// Certify the device's own key (PKCS#8 PEM) instead of generating one.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Writes SERIAL.key (if generated) and SERIAL.pem here.
        #[arg(long)]
        out_dir: PathBuf,
        #[arg(long, default_value_t = 3650)]
        days: i64,
    },
    /// A device's consent to be registered by another organisation's member:
    /// the device key signs the chain, the registrant's certificate and the
    /// device's certificate. Pass the printed `possession_signature` in the
    /// `device.register` arguments.
    DeviceConsent {
        /// The device's private key (PKCS#8 PEM).
        #[arg(long)]
        device_key: PathBuf,
        /// The device's certificate (PEM).
        #[arg(long)]
        device_cert: PathBuf,
        /// The certificate (PEM) of the member who will register it.
        #[arg(long)]
        registrant_cert: PathBuf,
        /// A node of the chain (for its chain id).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        node: String,
    },
    /// The ids a certificate gives its holder on chain: the member id
    /// (organisation and key: what `member:<id>` grants name and what owns
    /// documents; unchanged when the certificate is renewed on the same key)
    /// and the certificate's own hash.
    Id {
        /// The certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
    },
}

pub fn parse_scheme(s: &str) -> anyhow::Result<Scheme> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "ed25519" => Scheme::Ed25519,
        "p256" | "p-256" | "ecdsa" | "secp256r1" => Scheme::P256,
        "sm2" => Scheme::Sm2,
        other => bail!("unknown scheme `{other}` (ed25519, p256, sm2)"),
    })
}

pub fn parse_role(s: &str) -> anyhow::Result<Role> {
    Ok(match s {
        "member" => Role::Member,
        "admin" => Role::Admin,
        "validator" => Role::Validator,
        other => {
            bail!("unknown role `{other}` (member, admin, validator; devices: `ca issue-device`)")
        }
    })
}

pub fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A private key's file: readable by its owner only (created so, never
/// briefly world-readable).
pub fn write_secret(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // `mode` applies only when the file is created: an existing one is
    // narrowed too.
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(pem.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

pub fn keys_gen(scheme: &str, out: &Path, json: bool) -> anyhow::Result<()> {
    let key = PrivateKey::generate(parse_scheme(scheme)?)?;
    write_secret(out, &key.to_pkcs8_pem()?)?;
    let public = hex::encode(key.public_key().raw_bytes()?);
    if json {
        println!(
            "{}",
            serde_json::json!({"key": out, "scheme": scheme, "public_key": public})
        );
    } else {
        println!("wrote {} ({scheme}); public key {public}", out.display());
    }
    Ok(())
}

/// Create a CA in `dir`.
pub fn init_ca(
    org: &str,
    scheme: Scheme,
    dir: &Path,
    days: i64,
) -> anyhow::Result<(PrivateKey, String)> {
    let key = PrivateKey::generate(scheme)?;
    let now = unix_now();
    let pem = issue_ca(
        &key,
        &CertSpec {
            common_name: format!("{org} CA"),
            organization: org.into(),
            san_uris: vec![format!("urn:ingot:org:{org}")],
            not_before: now - 3600,
            not_after: now + days * 86_400,
            role: Role::Ca,
        },
    )?;
    write_secret(&dir.join("ca.key"), &key.to_pkcs8_pem()?)?;
    write(&dir.join("ca.pem"), &pem)?;
    Ok((key, pem))
}

/// Issue a certificate for `subject` (a new key of `scheme` if `None`).
pub fn issue(
    ca_dir: &Path,
    cn: &str,
    role: Role,
    subject: Option<PrivateKey>,
    scheme: Scheme,
    out_dir: &Path,
    days: i64,
) -> anyhow::Result<(PrivateKey, String)> {
    issue_with_names(ca_dir, cn, role, subject, scheme, out_dir, days, |org| {
        vec![format!(
            "urn:ingot:{org}:{}:{cn}",
            role.ou().unwrap_or("ca")
        )]
    })
}

/// Issue a device certificate (see `ingot ca issue-device`).
pub fn issue_device(
    ca_dir: &Path,
    serial: &str,
    model: &str,
    subject: Option<PrivateKey>,
    scheme: Scheme,
    out_dir: &Path,
    days: i64,
) -> anyhow::Result<(PrivateKey, String)> {
    if serial.is_empty() || serial.contains([':', '/']) || model.is_empty() {
        bail!("--serial must be non-empty without ':' or '/', --model non-empty");
    }
    issue_with_names(
        ca_dir,
        serial,
        Role::Device,
        subject,
        scheme,
        out_dir,
        days,
        |org| {
            vec![
                ingot_crypto::device_uri(org, serial),
                ingot_crypto::model_uri(model),
            ]
        },
    )
}

#[allow(clippy::too_many_arguments)]
fn issue_with_names(
    ca_dir: &Path,
    cn: &str,
    role: Role,
    subject: Option<PrivateKey>,
    scheme: Scheme,
    out_dir: &Path,
    days: i64,
    san_uris: impl FnOnce(&str) -> Vec<String>,
) -> anyhow::Result<(PrivateKey, String)> {
    let ca_key = PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(ca_dir.join("ca.key"))?)?;
    let ca_pem = std::fs::read_to_string(ca_dir.join("ca.pem"))?;
    let ca = ingot_crypto::CertInfo::from_pem(&ca_pem)?;
    let org = ca.subject_o.clone().context("CA certificate has no O=")?;
    let key = match subject {
        Some(k) => k,
        None => PrivateKey::generate(scheme)?,
    };
    let now = unix_now();
    let pem = issue_end_entity(
        &ca_key,
        &ca_pem,
        &key.public_key(),
        &CertSpec {
            common_name: cn.into(),
            organization: org.clone(),
            san_uris: san_uris(&org),
            not_before: now - 3600,
            not_after: now + days * 86_400,
            role,
        },
    )?;
    write_secret(&out_dir.join(format!("{cn}.key")), &key.to_pkcs8_pem()?)?;
    write(&out_dir.join(format!("{cn}.pem")), &pem)?;
    Ok((key, pem))
}

pub fn ca(cmd: CaCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        CaCommand::Init {
            org,
            scheme,
            dir,
            days,
        } => {
            init_ca(&org, parse_scheme(&scheme)?, &dir, days)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ca_key": dir.join("ca.key"), "ca_cert": dir.join("ca.pem")})
                );
            } else {
                println!(
                    "created CA of {org}: {} and {}",
                    dir.join("ca.key").display(),
                    dir.join("ca.pem").display()
                );
            }
        }
        CaCommand::Issue {
            ca_dir,
            cn,
            role,
            scheme,
            key,
            out_dir,
            days,
        } => {
            let subject = match key {
                Some(p) => Some(PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(&p)?)?),
                None => None,
            };
            issue(
                &ca_dir,
                &cn,
                parse_role(&role)?,
                subject,
                parse_scheme(&scheme)?,
                &out_dir,
                days,
            )?;
            let cert = out_dir.join(format!("{cn}.pem"));
            if json {
                println!(
                    "{}",
                    serde_json::json!({"certificate": cert, "key": out_dir.join(format!("{cn}.key"))})
                );
            } else {
                println!("issued {role} certificate {}", cert.display());
            }
        }
        CaCommand::IssueDevice {
            ca_dir,
            serial,
            model,
            scheme,
            key,
            out_dir,
            days,
        } => {
            let subject = match key {
                Some(p) => Some(PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(&p)?)?),
                None => None,
            };
            let (_, pem) = issue_device(
                &ca_dir,
                &serial,
                &model,
                subject,
                parse_scheme(&scheme)?,
                &out_dir,
                days,
            )?;
            let info = ingot_crypto::CertInfo::from_pem(&pem)?;
            let org = info.subject_o.unwrap_or_default();
            let cert = out_dir.join(format!("{serial}.pem"));
            if json {
                println!(
                    "{}",
                    serde_json::json!({"device_id": format!("{org}:{serial}"), "certificate": cert, "key": out_dir.join(format!("{serial}.key"))})
                );
            } else {
                println!("issued device {org}:{serial} ({model}): {}", cert.display());
            }
        }
        CaCommand::DeviceConsent {
            device_key,
            device_cert,
            registrant_cert,
            node,
        } => {
            let key = PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(&device_key)?)?;
            let device = ingot_crypto::CertInfo::from_pem(&std::fs::read_to_string(&device_cert)?)?;
            let registrant =
                ingot_crypto::CertInfo::from_pem(&std::fs::read_to_string(&registrant_cert)?)?;
            let (chain, _) = crate::client::chain_info(&node)?;
            let message = ingot_types::consent::possession_message(
                &chain,
                &ingot_crypto::cert_hash(&registrant.der),
                &ingot_crypto::cert_hash(&device.der),
            );
            let signature = hex::encode(key.sign(&message)?);
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "possession_signature": signature })
                );
            } else {
                println!("{signature}");
            }
        }
        CaCommand::Id { cert } => {
            let info = ingot_crypto::CertInfo::from_pem(&std::fs::read_to_string(&cert)?)?;
            let org = info
                .subject_o
                .clone()
                .ok_or_else(|| anyhow::anyhow!("the certificate names no organisation (O=)"))?;
            let member = hex::encode(ingot_crypto::member_id(&org, &info.public_key()?)?);
            let certificate = hex::encode(ingot_crypto::cert_hash(&info.der));
            if json {
                println!(
                    "{}",
                    serde_json::json!({"member_id": member, "certificate_hash": certificate, "org": org})
                );
            } else {
                println!("member id        {member}\ncertificate hash {certificate}\norganisation     {org}");
            }
        }
    }
    Ok(())
}
