//! `assay chain …`: the local file-backed chain, and (with the node) the commit-reveal v4 commit
//! of some weights, printed offline so anyone can check one.

use std::path::PathBuf;

use anyhow::anyhow;
use assay_chain::{LocalChain, Metagraph};

use crate::commands::read;
use crate::output::{Mode, OutputFlags};
use crate::{CmdResult, failed, unusable};

/// `assay chain [--json|--quiet] SUBCOMMAND`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    output: OutputFlags,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a local chain in DIR from a metagraph JSON file.
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// `{"netuid": N, "neurons": [{"uid": 0, "hotkey": "5…", "stake": 0, …}]}`
        #[arg(long)]
        metagraph: PathBuf,
        #[arg(long, default_value_t = 12.0)]
        block_seconds: f64,
    },
    /// Print the weights log of a local chain.
    Weights {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print, as hex, the commit-reveal v4 commit of some weights for drand quicknet round R: the
    /// `commit` bytes of `commit_timelocked_weights` (weights normalized as the Python SDK does,
    /// SCALE-encoded, timelock-encrypted; random, so each run differs). See docs/chain.md.
    #[cfg(feature = "node")]
    EncryptWeights(commit_reveal::Args),
    /// Decrypt a commit-reveal v4 commit with drand's signature of its round and print the
    /// weights it holds, as JSON (exit 1 when the signature does not open it).
    #[cfg(feature = "node")]
    DecryptWeights(commit_reveal::DecryptArgs),
}

pub fn run(args: Args) -> CmdResult {
    let mode = args.output.mode();
    mode.finish_plain(run_in(args.command, mode))
}

fn run_in(command: Command, mode: Mode) -> CmdResult {
    match command {
        Command::Init { dir, metagraph, block_seconds } => {
            if !block_seconds.is_finite() || block_seconds <= 0.0 {
                return Err(unusable(anyhow!("--block-seconds must be positive")));
            }
            if dir.join("genesis.json").exists() {
                return Err(unusable(anyhow!("{} already holds a chain", dir.display())));
            }
            let bytes = read(&metagraph, "metagraph")?;
            let metagraph: Metagraph =
                serde_json::from_slice(&bytes).map_err(|e| unusable(anyhow!("{}: {e}", metagraph.display())))?;
            LocalChain::create(&dir, &metagraph, block_seconds).map_err(failed)?;
            let text = format!(
                "local chain for netuid {} with {} neurons in {}",
                metagraph.netuid,
                metagraph.neurons.len(),
                dir.display()
            );
            let json = serde_json::json!({
                "netuid": metagraph.netuid, "neurons": metagraph.neurons.len(), "dir": dir.display().to_string(),
            });
            mode.result(text, &json);
            Ok(())
        }
        Command::Weights { dir } => {
            let chain = LocalChain::open(&dir).map_err(unusable)?;
            let mut entries = Vec::new();
            for entry in chain.weights_log().map_err(failed)? {
                let pairs: Vec<String> =
                    entry.call.uids.iter().zip(&entry.call.weights).map(|(u, w)| format!("{u}:{w}")).collect();
                mode.line(format_args!("block {:>8}  {}  {}", entry.block, entry.validator, pairs.join(" ")));
                entries.push(serde_json::json!({
                    "block": entry.block, "validator": entry.validator,
                    "uids": entry.call.uids, "weights": entry.call.weights,
                }));
            }
            mode.json(&serde_json::json!({ "weights": entries }));
            Ok(())
        }
        #[cfg(feature = "node")]
        Command::EncryptWeights(args) => commit_reveal::encrypt(args, mode),
        #[cfg(feature = "node")]
        Command::DecryptWeights(args) => commit_reveal::decrypt(args, mode),
    }
}

#[cfg(feature = "node")]
mod commit_reveal {
    use anyhow::anyhow;
    use assay_subtensor::{
        MAX_COMMIT_BYTES, TimelockError, WeightsPayload, convert_weights_and_uids_for_emit, decrypt_payload,
        encrypt_for_round,
    };

    use crate::output::Mode;
    use crate::{CmdResult, failed, unusable};

    #[derive(clap::Args)]
    pub struct Args {
        /// The drand quicknet round whose signature will open the commit.
        #[arg(long)]
        round: u64,
        /// The committing hotkey (the chain takes a commit only from that hotkey).
        #[arg(long)]
        hotkey_ss58: String,
        /// Uids, comma-separated: 1,2,3.
        #[arg(long, value_delimiter = ',', required = true)]
        uids: Vec<u16>,
        /// Weights, comma-separated, one per uid: relative (max-upscaled to 65535, rounded).
        #[arg(long, value_delimiter = ',', required = true, allow_hyphen_values = true)]
        weights: Vec<f64>,
        /// The subnet's `WeightsVersionKey`.
        #[arg(long)]
        version_key: u64,
    }

    pub fn encrypt(args: Args, mode: Mode) -> CmdResult {
        if args.round == 0 {
            return Err(unusable(anyhow!("--round: drand rounds start at 1")));
        }
        let hotkey = assay_keys::decode_ss58(&args.hotkey_ss58).map_err(unusable)?;
        if let Some(uid) = first_duplicate(&args.uids) {
            // The SDK's SetWeights refuses these too: the chain would keep only one of them.
            return Err(unusable(anyhow!("--uids: uid {uid} appears more than once")));
        }
        let (uids, values) = convert_weights_and_uids_for_emit(&args.uids, &args.weights).map_err(unusable)?;
        if uids.is_empty() {
            return Err(unusable(anyhow!("--weights: all weights are zero, nothing to commit")));
        }
        let payload = WeightsPayload { hotkey, uids, values, version_key: args.version_key };
        let commit = encrypt_for_round(&payload, args.round, &mut rand::rngs::OsRng).map_err(|e| match e {
            TimelockError::CommitTooLarge { .. } => unusable(e),
            other => failed(other),
        })?;
        let pairs: Vec<String> = payload.uids.iter().zip(&payload.values).map(|(u, v)| format!("{u}:{v}")).collect();
        tracing::info!("commit of {} weights for drand round {}: {}", pairs.len(), args.round, pairs.join(" "));
        let json = serde_json::json!({
            "commit": hex::encode(&commit), "round": args.round,
            "uids": payload.uids, "values": payload.values, "version_key": payload.version_key,
        });
        mode.result(hex::encode(&commit), &json);
        Ok(())
    }

    #[derive(clap::Args)]
    pub struct DecryptArgs {
        /// The commit, hex (the `commit` argument of `commit_timelocked_weights`).
        #[arg(long)]
        commit: String,
        /// Drand quicknet's signature of the commit's round, hex (48 bytes; drand's `signature`).
        #[arg(long)]
        signature: String,
    }

    pub fn decrypt(args: DecryptArgs, mode: Mode) -> CmdResult {
        // Two hex digits a byte: a longer commit cannot be one the chain holds.
        if args.commit.len() > 2 * (MAX_COMMIT_BYTES + 1) {
            return Err(unusable(anyhow!("--commit: longer than the chain's {MAX_COMMIT_BYTES} bytes")));
        }
        let hex_arg = |name: &str, text: &str| {
            hex::decode(text.trim_start_matches("0x")).map_err(|e| unusable(anyhow!("--{name}: not hex: {e}")))
        };
        let commit = hex_arg("commit", &args.commit)?;
        let signature = hex_arg("signature", &args.signature)?;
        let payload = decrypt_payload(&commit, &signature).map_err(|e| match e {
            TimelockError::WrongSignature | TimelockError::Decryption(_) | TimelockError::MalformedPayload(_) => {
                failed(e)
            }
            other => unusable(other),
        })?;
        let json = serde_json::json!({
            "hotkey": assay_keys::encode_ss58(&payload.hotkey),
            "uids": payload.uids,
            "values": payload.values,
            "version_key": payload.version_key,
        });
        // Already one JSON object: the same for people and scripts.
        mode.result(&json, &json);
        Ok(())
    }

    fn first_duplicate(uids: &[u16]) -> Option<u16> {
        let mut seen = std::collections::HashSet::with_capacity(uids.len());
        uids.iter().copied().find(|uid| !seen.insert(*uid))
    }
}
