//! Talking to a node over HTTP: `ingot tx`, `ingot query`, `ingot block`.

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use commonware_codec::Encode;
use ingot_crypto::{CertInfo, PrivateKey};
use ingot_types::{parse_digest, Call, SignedTransaction};
use serde_json::Value;
use std::path::PathBuf;

/// How many blocks a CLI transaction stays valid.
pub const VALIDITY_BLOCKS: u64 = 500;

/// A keep-alive HTTP client over absolute URLs, anonymous or signing every
/// request as a member (`ingot_client` does the signing). Reuse one per
/// thread: a fresh connection per request costs the node a TCP handshake.
pub struct Http(ingot_client::Client);

impl Default for Http {
    fn default() -> Self {
        Self(ingot_client::Client::new(""))
    }
}

impl Http {
    /// Sign every request as `signer`.
    pub fn as_member(signer: ingot_client::Signer) -> Self {
        Self(ingot_client::Client::new("").signed(signer))
    }

    pub fn get(&self, url: &str) -> anyhow::Result<Value> {
        Ok(self.0.get(url)?)
    }

    pub fn post(&self, url: &str, body: &Value) -> anyhow::Result<Value> {
        Ok(self.0.post(url, body)?)
    }
}

/// An anonymous GET (public routes: status, health, device resolution).
pub fn get(url: &str) -> anyhow::Result<Value> {
    Http::default().get(url)
}

pub fn post(url: &str, body: &Value) -> anyhow::Result<Value> {
    Http::default().post(url, body)
}

/// Who a read is made as: chain data is members-only, so reads are signed
/// with a member key and certificate (or INGOT_KEY / INGOT_CERT).
#[derive(Args, Clone, Debug)]
pub struct ReadAs {
    /// Member private key (PKCS#8 PEM) that signs the request.
    #[arg(long = "key", id = "read_key", env = "INGOT_KEY")]
    pub key: Option<PathBuf>,
    /// Member certificate (PEM) sent with the request.
    #[arg(long = "cert", id = "read_cert", env = "INGOT_CERT")]
    pub cert: Option<PathBuf>,
}

impl ReadAs {
    /// A client signing as this member, or anonymous without key and certificate.
    pub fn http(&self) -> anyhow::Result<Http> {
        match (&self.key, &self.cert) {
            (Some(key), Some(cert)) => {
                let sender = Sender::load(key, cert)?;
                Ok(Http::as_member(ingot_client::Signer::new(
                    sender.key,
                    sender.cert_der,
                )))
            }
            (None, None) => Ok(Http::default()),
            _ => bail!("--key and --cert go together"),
        }
    }
}

#[derive(Subcommand)]
pub enum TxCommand {
    /// Sign and submit a call.
    Send(SendArgs),
    /// Status and receipt of a transaction.
    Status {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        node: String,
        hash: String,
        #[command(flatten)]
        read_as: ReadAs,
    },
}

#[derive(Args)]
pub struct SendArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub node: String,
    /// Sender's private key (PKCS#8 PEM).
    #[arg(long)]
    pub key: PathBuf,
    /// Sender's certificate (PEM).
    #[arg(long)]
    pub cert: PathBuf,
    #[arg(long)]
    pub module: String,
    #[arg(long)]
    pub method: String,
    /// Arguments as JSON, e.g. '{"document_hash":"..","metadata":".."}',
    /// or `@FILE` to read them from a file (large arguments: a certificate,
    /// a BPMN diagram).
    #[arg(long, default_value = "{}")]
    pub args: String,
    /// Wait until the transaction is executed and print its receipt.
    #[arg(long)]
    pub wait: bool,
}

pub struct Sender {
    pub key: PrivateKey,
    pub cert_der: Vec<u8>,
}

impl Sender {
    pub fn load(key: &PathBuf, cert: &PathBuf) -> anyhow::Result<Self> {
        let key = PrivateKey::from_pkcs8_pem(
            &std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?,
        )?;
        let cert = CertInfo::from_pem(
            &std::fs::read_to_string(cert)
                .with_context(|| format!("reading {}", cert.display()))?,
        )?;
        Ok(Self {
            key,
            cert_der: cert.der,
        })
    }

    pub fn sign(
        &self,
        chain_id: ingot_types::Digest,
        valid_until: u64,
        salt: u64,
        call: Call,
    ) -> anyhow::Result<SignedTransaction> {
        Ok(ingot_execution::sign_call(
            &self.key,
            self.cert_der.clone().into(),
            chain_id,
            valid_until,
            salt,
            call,
        )?)
    }
}

/// The node and the member who signs: transactions and signed reads.
#[derive(Args)]
pub struct SignerArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub node: String,
    /// Private key (PKCS#8 PEM); reads use the same variable.
    #[arg(long, env = "INGOT_KEY")]
    pub key: PathBuf,
    /// Certificate (PEM).
    #[arg(long, env = "INGOT_CERT")]
    pub cert: PathBuf,
}

impl SignerArgs {
    /// A client signing reads as this member.
    pub fn http(&self) -> anyhow::Result<Http> {
        let sender = Sender::load(&self.key, &self.cert)?;
        Ok(Http::as_member(ingot_client::Signer::new(
            sender.key,
            sender.cert_der,
        )))
    }
}

/// Sign a call, submit it and wait until it is executed; the receipt
/// (a refused call is a receipt too: see [`refused`]).
pub fn send_and_wait(
    signer: &SignerArgs,
    module: &str,
    method: &str,
    args: &Value,
) -> anyhow::Result<Value> {
    let sender = Sender::load(&signer.key, &signer.cert)?;
    let call_args =
        ingot_execution::args::from_json(module, method, args).map_err(|e| anyhow!(e))?;
    let (chain, height) = chain_info(&signer.node)?;
    let tx = sender.sign(
        chain,
        height + VALIDITY_BLOCKS,
        rand::random(),
        Call {
            module: module.into(),
            method: method.into(),
            args: call_args,
        },
    )?;
    post(
        &format!("{}/v1/tx?wait=true", signer.node),
        &serde_json::json!({"tx": hex::encode(tx.encode())}),
    )
}

/// Chain id and finalized height of a node.
pub fn chain_info(node: &str) -> anyhow::Result<(ingot_types::Digest, u64)> {
    let status = get(&format!("{node}/v1/status"))?;
    let chain = parse_digest(
        status["chain_id"]
            .as_str()
            .ok_or_else(|| anyhow!("node sent no chain id"))?,
    )
    .map_err(|e| anyhow!(e))?;
    Ok((chain, status["finalized_height"].as_u64().unwrap_or(0)))
}

pub fn tx(cmd: TxCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        TxCommand::Send(a) => {
            let sender = Sender::load(&a.key, &a.cert)?;
            let text = match a.args.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("--args @{path}: cannot read the file"))?,
                None => a.args.clone(),
            };
            let args: Value = serde_json::from_str(&text).context("--args is not JSON")?;
            let call_args = ingot_execution::args::from_json(&a.module, &a.method, &args)
                .map_err(|e| anyhow!(e))?;
            let (chain, height) = chain_info(&a.node)?;
            let tx = sender.sign(
                chain,
                height + VALIDITY_BLOCKS,
                rand::random(),
                Call {
                    module: a.module,
                    method: a.method,
                    args: call_args,
                },
            )?;
            let url = format!("{}/v1/tx{}", a.node, if a.wait { "?wait=true" } else { "" });
            let v = post(&url, &serde_json::json!({"tx": hex::encode(tx.encode())}))?;
            print(&v, json);
            // Waited for: a failed transaction is a failed command (the
            // receipt, printed above, names its code).
            if a.wait && v["status"] == "failed" {
                refused(&v)?;
            }
        }
        TxCommand::Status {
            node,
            hash,
            read_as,
        } => print(&read_as.http()?.get(&format!("{node}/v1/tx/{hash}"))?, json),
    }
    Ok(())
}

/// A receipt that is not a success as an error naming the failure's
/// stable code (with `--json` the receipt itself is printed first).
pub fn refused(receipt: &Value) -> anyhow::Result<()> {
    let code = receipt["failure"]["name"].as_str().unwrap_or("unknown");
    match receipt["status"].as_str() {
        Some("success") => Ok(()),
        Some("failed") => match receipt["reason"].as_str() {
            Some(reason) => bail!("refused ({code}): {reason}"),
            // What it touched belongs to others: its detail is theirs to read.
            None => bail!(
                "refused ({code}, transaction {}); the detail is shown only to the parties of what it touched",
                receipt["hash"].as_str().unwrap_or_default()
            ),
        },
        _ => bail!("not executed yet (transaction {})", receipt["hash"]),
    }
}

pub fn print(v: &Value, json: bool) {
    if json {
        println!("{v}");
    } else {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    }
}

#[derive(Args)]
pub struct QueryArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub node: String,
    /// State key, e.g. notary/doc/<hash>.
    pub key: String,
    /// Fetch a proof and verify it offline against the state root, and check
    /// that a block finalized by the genesis validators anchors that root.
    #[arg(long)]
    pub prove: bool,
    /// Genesis file whose validator set must have finalized the anchoring
    /// block (only with --prove).
    #[arg(long, default_value = ".ingot/genesis.json")]
    pub genesis: PathBuf,
    #[command(flatten)]
    pub read_as: ReadAs,
}

pub fn query(a: QueryArgs, json: bool) -> anyhow::Result<()> {
    let http = a.read_as.http()?;
    let mut v = http.get(&format!(
        "{}/v1/state/{}{}",
        a.node,
        a.key,
        if a.prove { "?prove=true" } else { "" }
    ))?;
    if a.prove {
        let genesis: ingot_types::Genesis = serde_json::from_slice(
            &std::fs::read(&a.genesis)
                .with_context(|| format!("reading genesis {}", a.genesis.display()))?,
        )
        .context("genesis is not valid JSON")?;
        let root =
            parse_digest(v["state_root"].as_str().unwrap_or_default()).map_err(|e| anyhow!(e))?;
        let proof = hex::decode(v["proof"].as_str().unwrap_or_default())?;
        let value = match v["value"].as_str() {
            Some(h) => Some(hex::decode(h)?),
            None => None,
        };
        let ok = ingot_state::verify_proof(&root, a.key.as_bytes(), value.as_deref(), &proof);
        if !ok {
            bail!(
                "proof does NOT verify against state root {}",
                v["state_root"]
            );
        }
        // The root must be anchored in a header that the genesis validators
        // finalized; nothing the node says is taken on trust.
        let height = v["height"].as_u64().unwrap_or(0);
        let anchor = find_anchor(&http, &a.node, &genesis, height, &root)?;
        v["proof_verified"] = Value::Bool(true);
        v["anchored_in_block"] = Value::from(anchor.anchor);
        v["finalized_by_certificate_of"] = Value::from(anchor.certified);
    }
    print(&v, json);
    Ok(())
}

struct Anchor {
    /// Height of the block whose header anchors the root.
    anchor: u64,
    /// Height of the block whose finalization certificate covers it (the
    /// anchor itself, or a descendant linked to it by parent hashes).
    certified: u64,
}

/// Most blocks searched after the proof's height for its anchor and a certificate.
const ANCHOR_SEARCH: u64 = 64;
/// How long to wait for the anchoring block to be finalized. The state root
/// of a height is carried by a later block; on an idle chain that block may
/// be the next heartbeat (every 10 s by default, `idle_heartbeat_ms`), so the
/// wait covers two heartbeats and finalization. (It was 10 s: a proof of a
/// height whose block carried nothing failed on a loaded CI machine.)
const ANCHOR_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The validator sets from genesis up to the epoch of `height`: later
/// epochs' sets are fetched from the node (`GET /v1/epochs`) and each is
/// checked against the set before it, so the node is trusted for nothing.
pub fn validators_through(
    http: &Http,
    node: &str,
    genesis: &ingot_types::Genesis,
    height: u64,
) -> anyhow::Result<ingot_light::Validators> {
    let mut validators = ingot_light::validators(genesis).map_err(|e| anyhow!("{e}"))?;
    let wanted = validators.epoch_of(height);
    while validators.known_epochs() < wanted {
        let from = validators.known_epochs() + 1;
        let page = http.get(&format!("{node}/v1/epochs?from={from}"))?;
        let boundaries: Vec<ingot_light::Boundary> =
            serde_json::from_value(page["boundaries"].clone())
                .context("the node's epoch list does not parse")?;
        if boundaries.is_empty() {
            bail!("the node lists no boundary for epoch {from}");
        }
        let known = validators
            .follow(&boundaries)
            .map_err(|e| anyhow!("epoch boundaries: {e}"))?;
        if known < from {
            bail!("the node's epoch list does not reach epoch {from}");
        }
    }
    Ok(validators)
}

/// Find the block anchoring `root` for `height` and prove it final: every
/// block from the anchor up is decoded from its raw bytes and hash-linked to
/// the previous one until one carries a finalization certificate that
/// verifies against its epoch's validators.
fn find_anchor(
    http: &Http,
    node: &str,
    genesis: &ingot_types::Genesis,
    height: u64,
    root: &ingot_types::Digest,
) -> anyhow::Result<Anchor> {
    use commonware_codec::Decode;
    let deadline = std::time::Instant::now() + ANCHOR_WAIT;
    while std::time::Instant::now() < deadline {
        let latest = http.get(&format!("{node}/v1/blocks/latest?raw=false&txs=hashes"))?["height"]
            .as_u64()
            .unwrap_or(0);
        let mut anchor: Option<(u64, ingot_types::Digest)> = None;
        for h in (height + 1)..=latest.min(height + ANCHOR_SEARCH) {
            // Headers suffice (and are what every member may read): the
            // block hash is the header's digest.
            let b = http.get(&format!("{node}/v1/blocks/{h}?txs=hashes&raw=false"))?;
            let raw = hex::decode(b["header"].as_str().unwrap_or_default())?;
            let header = ingot_types::Header::decode_cfg(raw.clone(), &())
                .map_err(|e| anyhow!("header {h} does not decode: {e}"))?;
            if header.height != h {
                bail!("node served header {} as height {h}", header.height);
            }
            match anchor {
                None => match header.result_for(height) {
                    Some(r) if r.state_root == *root => anchor = Some((h, header.digest())),
                    Some(_) => {
                        bail!("block {h} anchors a different state root for height {height}")
                    }
                    None => continue,
                },
                Some((_, parent)) if header.parent != parent => {
                    bail!("block {h} does not link to its parent")
                }
                Some((at, _)) => anchor = Some((at, header.digest())),
            }
            if let Some(fin) = b["finalization"].as_str() {
                let validators = validators_through(http, node, genesis, h)?;
                ingot_node::verify::verify_finalized_header(&validators, raw, hex::decode(fin)?)
                    .map_err(|e| anyhow!("block {h}: {e}"))?;
                let (at, _) = anchor.expect("set above");
                return Ok(Anchor {
                    anchor: at,
                    certified: h,
                });
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    bail!(
        "no finalized block within {ANCHOR_SEARCH} blocks anchors state root of height {height} after {} s",
        ANCHOR_WAIT.as_secs()
    )
}

#[derive(Args)]
pub struct BlockArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub node: String,
    /// Height, block hash, or `latest`.
    #[arg(default_value = "latest")]
    pub id: String,
    #[command(flatten)]
    pub read_as: ReadAs,
}

pub fn block(a: BlockArgs, json: bool) -> anyhow::Result<()> {
    let mut v = a
        .read_as
        .http()?
        .get(&format!("{}/v1/blocks/{}", a.node, a.id))?;
    if !json {
        if let Some(o) = v.as_object_mut() {
            o.remove("raw");
        }
    }
    print(&v, json);
    Ok(())
}
