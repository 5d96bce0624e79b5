//! `ingot`: run Ingot nodes and a local consortium, manage keys and
//! certificates, send transactions and read the ledger.

mod bench;
mod bench_hot;
mod bench_plant;
mod bench_resources;
mod bench_telemetry;
mod bench_workflow;
mod client;
mod edge;
mod governance;
mod org;
mod pki;
mod read;
mod supervise;
mod up;
mod workflow;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

// glibc malloc showed up as ~12 % of a loaded validator's CPU (many small,
// short-lived buffers per transaction); mimalloc's thread-local free lists
// make those nearly free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ingot",
    version,
    about = "Ingot industrial consortium blockchain"
)]
struct Cli {
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a complete local consortium (creates it in --data if missing).
    Up {
        #[arg(long, default_value = ".ingot")]
        data: PathBuf,
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// First API port; node i listens on base + i.
        #[arg(long, default_value_t = 8080)]
        api_port: u16,
        /// First p2p port; node i listens on base + i.
        #[arg(long, default_value_t = 30300)]
        p2p_port: u16,
        /// Blocks per consensus epoch of a new consortium (default: one
        /// epoch for the whole chain). Ignored when --data already holds one.
        #[arg(long)]
        epoch_length: Option<u64>,
    },
    /// Run one node.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Key pairs.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Organisation certificate authorities.
    Ca {
        #[command(subcommand)]
        command: pki::CaCommand,
    },
    /// An organisation's material for forming a consortium with others.
    Org {
        #[command(subcommand)]
        command: org::OrgCommand,
    },
    /// Assemble and verify a genesis from organisation descriptors.
    Genesis {
        #[command(subcommand)]
        command: org::GenesisCommand,
    },
    /// Transactions.
    Tx {
        #[command(subcommand)]
        command: client::TxCommand,
    },
    /// Read a state key (optionally with a proof verified offline).
    Query(client::QueryArgs),
    /// GET any API path, signed as a member with --key/--cert (or anonymous).
    Get(read::GetArgs),
    /// Verify a telemetry reading proof offline against genesis; prints the
    /// reading and its trust (device_signed or gateway_attested).
    VerifyReading(read::VerifyReadingArgs),
    /// Show a finalized block by height, hash or `latest`.
    Block(client::BlockArgs),
    /// Re-verify a stopped node's stored chain offline (hashes, certificates,
    /// signatures, state roots by re-execution); names the first bad height.
    VerifyChain {
        /// The node's data directory (`data_dir` in its node.toml).
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        genesis: PathBuf,
        /// Where to keep the scratch state of the re-execution (default:
        /// inside the node's storage directory). Elsewhere, verification
        /// needs no free space on the node's disk.
        #[arg(long)]
        scratch: Option<PathBuf>,
    },
    /// Rebuild a stopped node's derived stores (ledger index, telemetry
    /// store) from its block archive and execution journal; a file that does
    /// not open is set aside, not deleted.
    RebuildDerived {
        /// The node's data directory (`data_dir` in its node.toml).
        #[arg(long)]
        data: PathBuf,
    },
    /// Load a running network with notary transactions and report throughput and latency.
    Bench(bench::BenchArgs),
    /// Run the edge gateway: devices publish signed readings over MQTT.
    Edge(edge::EdgeArgs),
    /// BPMN processes as contracts: validate, deploy, start, complete, show.
    Workflow {
        #[command(subcommand)]
        command: workflow::WorkflowCommand,
    },
    /// The consortium's decisions: show, inbox, proposals, propose, vote.
    Governance {
        #[command(subcommand)]
        command: governance::GovernanceCommand,
    },
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Run a validator from a TOML config.
    Run {
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Generate a key pair (PKCS#8 PEM private key; the public key is printed).
    Gen {
        #[arg(long, default_value = "ed25519")]
        scheme: String,
        #[arg(long)]
        out: PathBuf,
    },
}

fn rebuild_derived(data: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let r = ingot_node::rebuild::rebuild_derived(data)
        .map_err(|e| anyhow::anyhow!("rebuild FAILED: {e}"))?;
    if json {
        println!(
            "{}",
            serde_json::json!({"ok": true, "height": r.height, "transactions": r.transactions, "batches": r.batches, "readings": r.readings, "set_aside": r.set_aside})
        );
    } else {
        println!(
            "derived stores rebuilt to height {}: {} transactions indexed, {} telemetry batches ({} readings)",
            r.height, r.transactions, r.batches, r.readings
        );
        for f in &r.set_aside {
            println!("set aside (did not open): {f}");
        }
    }
    Ok(())
}

fn verify_chain(
    data: &std::path::Path,
    genesis: &std::path::Path,
    scratch: Option<&std::path::Path>,
    json: bool,
) -> anyhow::Result<()> {
    let genesis: ingot_types::Genesis = serde_json::from_slice(&std::fs::read(genesis)?)?;
    match ingot_node::verify::verify_chain(data, &genesis, scratch) {
        Ok(r) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ok": true, "blocks": r.blocks, "transactions": r.transactions, "certificates": r.certificates, "reexecuted": r.reexecuted, "anchored_roots_checked": r.anchored_roots_checked, "uncertified_tail": r.uncertified_tail})
                );
            } else {
                println!(
                    "chain OK: {} blocks, {} transactions, {} finalization certificates verified, {} blocks re-executed, {} anchored roots matched",
                    r.blocks, r.transactions, r.certificates, r.reexecuted, r.anchored_roots_checked
                );
                if r.uncertified_tail > 0 {
                    println!(
                        "{} stored block(s) after the last certified one not verified (no certificate yet; the node fetches them when it runs)",
                        r.uncertified_tail
                    );
                }
            }
            Ok(())
        }
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "error": e.to_string()})
                );
            }
            anyhow::bail!("chain verification FAILED: {e}")
        }
    }
}

/// Output piped into a reader that stops early (`ingot block ... | head`)
/// ends the command quietly, as a Unix tool's would, instead of a panic
/// and a backtrace from `println!`. SIGPIPE itself stays ignored: the node
/// and HTTP clients must see a closed socket as an error, not die of it.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(141); // 128 + SIGPIPE, what a shell reports
        }
        default(info);
    }));
}

fn main() {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,commonware=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let json = cli.json;
    let result = match cli.command {
        Command::Up {
            data,
            validators,
            api_port,
            p2p_port,
            epoch_length,
        } => up::run(&data, validators, api_port, p2p_port, epoch_length),
        Command::Node {
            command: NodeCommand::Run { config },
        } => ingot_node::config::NodeConfig::load(&config).and_then(ingot_node::run::run),
        Command::Keys {
            command: KeysCommand::Gen { scheme, out },
        } => pki::keys_gen(&scheme, &out, json),
        Command::Ca { command } => pki::ca(command, json),
        Command::Org { command } => org::org(command, json),
        Command::Genesis { command } => org::genesis(command, json),
        Command::Tx { command } => client::tx(command, json),
        Command::Query(args) => client::query(args, json),
        Command::Get(args) => read::get(args, json),
        Command::VerifyReading(args) => read::verify_reading(args, json),
        Command::Block(args) => client::block(args, json),
        Command::Bench(args) => bench::run(args, json),
        Command::Edge(args) => edge::run(args),
        Command::Workflow { command } => workflow::run(command, json),
        Command::Governance { command } => governance::run(command, json),
        Command::VerifyChain {
            data,
            genesis,
            scratch,
        } => verify_chain(&data, &genesis, scratch.as_deref(), json),
        Command::RebuildDerived { data } => rebuild_derived(&data, json),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    /// clap checks argument definitions only when a command is built: two
    /// arguments with one id (`query`'s state key and a `--key` flag) made
    /// `ingot query` panic at start. Check every subcommand here.
    #[test]
    fn command_line_definitions_are_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
