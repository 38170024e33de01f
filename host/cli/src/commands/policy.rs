//! `assay policy …`: the subnet owner's tools.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use assay_policy_runtime::{ContractVersion, Digest, Limits, Runtime, World, inspect, pack};
use assay_policy_sdk::{EpochInput, Measurements, PlanInput};

use crate::commands::read;
use crate::output::{Mode, OutputFlags};
use crate::{CmdResult, Exit, failed, unusable};

/// `assay policy [--json|--quiet] SUBCOMMAND`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    output: OutputFlags,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Wrap a wasm32 core module into a policy component and print its sha256.
    Pack {
        /// The core module (`target/wasm32-unknown-unknown/<profile>/<crate>.wasm`).
        core: PathBuf,
        /// Where to write the component (default: beside the input, `.component.wasm`).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Validate a component: world, imports, compilation and a trial instantiation.
    Check { file: PathBuf },
    /// Run a policy on an input file and print its output as JSON.
    Run {
        file: PathBuf,
        /// Epoch input for a scorer; plan input or measurements for a challenger
        /// (JSON, or zstd-compressed JSON as published in `input.json.zst`).
        #[arg(long)]
        input: PathBuf,
        /// For a challenger: which function to call.
        #[arg(long, value_parser = ["plan", "judge"])]
        call: Option<String>,
        #[arg(long, default_value_t = Limits::default().fuel)]
        fuel: u64,
        #[arg(long, default_value_t = Limits::default().memory_bytes)]
        memory_bytes: u64,
    },
    /// Put a component into the node's policy store.
    #[cfg(feature = "node")]
    Add {
        file: PathBuf,
        #[command(flatten)]
        config: crate::commands::ConfigArg,
    },
    /// Make a stored policy the active scorer or challenger from the next epoch boundary on.
    /// A running node picks it up without a restart.
    #[cfg(feature = "node")]
    Activate {
        sha256: String,
        #[command(flatten)]
        config: crate::commands::ConfigArg,
    },
    /// Announce a stored policy in the subnet owner's commitment on chain. It is checked and put
    /// into the owner's publication (the config's [publish]) first; validators that follow the
    /// owner fetch it from there and swap it in: a challenger at the next boundary, a scorer
    /// after one epoch in shadow beside the active one. Signed by the owner's hotkey only.
    #[cfg(feature = "node")]
    Announce {
        sha256: String,
        #[arg(long, value_parser = ["scorer", "challenger"])]
        world: String,
        /// The epoch it takes effect at (default: the earliest, the epoch after next for a
        /// scorer, the next for a challenger).
        #[arg(long)]
        from_epoch: Option<u64>,
        /// The owner's wallet and hotkey (default: the config's `[wallet]`; an encrypted
        /// hotkey is decrypted with `[wallet] password_env` or a prompt).
        #[command(flatten)]
        wallet: crate::commands::WalletFlags,
        /// Overrides `[chain] network` (a subtensor chain only): finney, test, local or ws(s)://…
        #[arg(long = "subtensor.network", value_name = "NETWORK")]
        network: Option<String>,
        /// Overrides the config's `netuid`.
        #[arg(long)]
        netuid: Option<u16>,
        #[command(flatten)]
        config: crate::commands::ConfigArg,
    },
    /// List the stored policies and which are active.
    #[cfg(feature = "node")]
    List {
        #[command(flatten)]
        config: crate::commands::ConfigArg,
    },
}

fn input_bytes(path: &std::path::Path) -> Result<Vec<u8>, Exit> {
    let bytes = read(path, "input")?;
    if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        assay_epoch::canonical::decompress(&bytes, 2 << 30)
            .map_err(|e| unusable(anyhow!("decompressing {}: {e}", path.display())))
    } else {
        Ok(bytes)
    }
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], path: &std::path::Path) -> Result<T, Exit> {
    serde_json::from_slice(bytes).map_err(|e| unusable(anyhow!("{} is not a valid input: {e}", path.display())))
}

/// A policy's output: pretty JSON for people, `{"output": …}` (and what else is known) in one
/// line for scripts.
fn print_json<T: serde::Serialize>(value: &T, fuel_used: Option<u64>, mode: Mode) -> CmdResult {
    let json = serde_json::to_value(value).map_err(|e| failed(anyhow!(e)))?;
    mode.line(serde_json::to_string_pretty(&json).map_err(|e| failed(anyhow!(e)))?);
    mode.json(&serde_json::json!({ "output": json, "fuel_used": fuel_used }));
    Ok(())
}

pub fn run(args: Args) -> CmdResult {
    let mode = args.output.mode();
    mode.finish_plain(run_in(args.command, mode))
}

fn run_in(command: Command, mode: Mode) -> CmdResult {
    match command {
        Command::Pack { core, out } => pack_to(&core, out, mode),
        Command::Check { file } => check(&file, mode),
        Command::Run { file, input, call, fuel, memory_bytes } => {
            let limits = Limits { fuel, memory_bytes, ..Limits::DEFAULT };
            run_policy(&file, &input, call.as_deref(), limits, mode)
        }
        #[cfg(feature = "node")]
        Command::Add { file, config } => store::add(&file, &config, mode),
        #[cfg(feature = "node")]
        Command::Activate { sha256, config } => store::activate(&sha256, &config, mode),
        #[cfg(feature = "node")]
        Command::Announce { sha256, world, from_epoch, wallet, network, netuid, config } => {
            let overrides = assay_node::Overrides {
                wallet_name: wallet.name,
                wallet_hotkey: wallet.hotkey,
                wallet_path: wallet.path,
                subtensor_network: network,
                netuid,
            };
            store::announce(&sha256, &world, from_epoch, &overrides, &config, mode)
        }
        #[cfg(feature = "node")]
        Command::List { config } => store::list(&config, mode),
    }
}

/// `assay policy pack`: the component written beside the core module (or to `out`).
fn pack_to(core: &Path, out: Option<PathBuf>, mode: Mode) -> CmdResult {
    let bytes = read(core, "core module")?;
    let component = pack(&bytes).map_err(failed)?;
    let inspection = inspect(&component).map_err(failed)?;
    let out = out.unwrap_or_else(|| core.with_extension("component.wasm"));
    // Written beside the target and renamed, so a reader never sees half a component.
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &component)
        .and_then(|()| std::fs::rename(&tmp, &out))
        .map_err(|e| failed(anyhow!("writing {}: {e}", out.display())))?;
    eprintln!("packed a {} component ({} bytes)", inspection.world, component.len());
    let digest = Digest::of(&component);
    let json = serde_json::json!({
        "sha256": digest.to_string(), "path": out.display().to_string(),
        "world": inspection.world.to_string(), "bytes": component.len(),
    });
    mode.result(format_args!("{digest}  {}", out.display()), &json);
    Ok(())
}

/// `assay policy check`: the world, imports, compilation and a trial instantiation.
fn check(file: &Path, mode: Mode) -> CmdResult {
    let bytes = read(file, "component")?;
    let digest = Digest::of(&bytes);
    let inspection = inspect(&bytes).map_err(failed)?;
    let runtime = Runtime::new(None).map_err(failed)?;
    match inspection.world {
        World::Scorer => runtime.load_scorer(&digest, &bytes).map(|_| ()),
        World::Challenger => runtime.load_challenger(&digest, &bytes).map(|_| ()),
    }
    .map_err(failed)?;
    mode.line(format_args!("sha256   {digest}"));
    let contract = format!("assay:policy@{}", inspection.version);
    mode.line(format_args!("world    {} ({contract})", inspection.world));
    mode.line(format_args!("exports  {}", inspection.exports.join(", ")));
    mode.line(format_args!(
        "imports  {}",
        if inspection.imports.is_empty() { "none".to_string() } else { inspection.imports.join(", ") }
    ));
    mode.line(format_args!("size     {} bytes", bytes.len()));
    let json = serde_json::json!({
        "ok": true, "sha256": digest.to_string(), "world": inspection.world.to_string(),
        "contract": contract, "exports": inspection.exports,
        "imports": inspection.imports, "bytes": bytes.len(),
    });
    mode.result("OK", &json);
    Ok(())
}

/// `assay policy run`: a scorer on an epoch input, or a challenger's `call` on its input.
fn run_policy(file: &Path, input: &Path, call: Option<&str>, limits: Limits, mode: Mode) -> CmdResult {
    let bytes = read(file, "component")?;
    let digest = Digest::of(&bytes);
    let runtime = Runtime::new(None).map_err(failed)?;
    let data = input_bytes(input)?;
    let inspection = inspect(&bytes).map_err(failed)?;
    match inspection.world {
        World::Scorer => {
            // The input is of the scorer's contract version (a 0.1.0 scorer also takes a 0.2.0 one).
            let scorer = runtime.load_scorer(&digest, &bytes).map_err(failed)?;
            let run = match (inspection.version, parse::<EpochInput>(&data, input)) {
                (_, Ok(epoch_input)) => scorer.score(&epoch_input, limits),
                (ContractVersion::V0_1, Err(_)) => scorer.score_v0_1(&parse(&data, input)?, limits),
                (_, Err(e)) => return Err(e),
            }
            .map_err(failed)?;
            eprintln!("fuel used: {}", run.fuel_used);
            print_json(&run.output, Some(run.fuel_used), mode)
        }
        World::Challenger => {
            let challenger = runtime.load_challenger(&digest, &bytes).map_err(failed)?;
            match call {
                Some("plan") => {
                    let plan = challenger.plan(&parse::<PlanInput>(&data, input)?, limits).map_err(failed)?;
                    print_json(&plan, None, mode)
                }
                Some("judge") => {
                    let verdicts = challenger.judge(&parse::<Measurements>(&data, input)?, limits).map_err(failed)?;
                    print_json(&verdicts, None, mode)
                }
                _ => Err(unusable(anyhow!("this is a challenger: say --call plan or --call judge"))),
            }
        }
    }
}

/// The node's policy store and its active settings (the ledger): not in the auditor's build.
#[cfg(feature = "node")]
mod store {
    use std::path::Path;

    use anyhow::anyhow;
    use assay_ledger::{Ledger, SqliteLedger};
    use assay_node::announcement::{Announcement, parse_world};
    use assay_node::owner;
    use assay_node::slots::{ACTIVE_CHALLENGER, ACTIVE_SCORER};
    use assay_policy_runtime::{Digest, PolicyStore, Runtime, World, inspect};

    use crate::commands::{ConfigArg, read, runtime};
    use crate::output::Mode;
    use crate::{CmdResult, failed, node_error, unusable};

    pub fn add(file: &Path, config: &ConfigArg, mode: Mode) -> CmdResult {
        let config = config.load()?;
        let bytes = read(file, "component")?;
        let digest = PolicyStore::open(config.policy_dir()).map_err(unusable)?.add(&bytes).map_err(unusable)?;
        let json = serde_json::json!({ "sha256": digest.to_string(), "path": file.display().to_string() });
        mode.result(format_args!("{digest}  {}", file.display()), &json);
        Ok(())
    }

    pub fn activate(sha256: &str, config: &ConfigArg, mode: Mode) -> CmdResult {
        let config = config.load()?;
        let digest: Digest = sha256.parse().map_err(unusable)?;
        let store = PolicyStore::open(config.policy_dir()).map_err(unusable)?;
        let bytes = store.get(&digest).map_err(|e| unusable(anyhow!("{e} (add it with `assay policy add`)")))?;
        // Refuse now what the node would refuse at the boundary.
        let runtime = Runtime::new(Some(&config.cache_dir())).map_err(failed)?;
        let world = inspect(&bytes).map_err(failed)?.world;
        let key = match world {
            World::Scorer => runtime.load_scorer(&digest, &bytes).map(|_| ACTIVE_SCORER),
            World::Challenger => runtime.load_challenger(&digest, &bytes).map(|_| ACTIVE_CHALLENGER),
        }
        .map_err(failed)?;
        let ledger = SqliteLedger::open(&config.ledger_path()).map_err(unusable)?;
        ledger.set_setting(key, &digest.to_string()).map_err(failed)?;
        let json = serde_json::json!({ "world": world.to_string(), "sha256": digest.to_string(), "active_from": "next epoch boundary" });
        mode.result(format_args!("{world} {digest} is active from the next epoch boundary"), &json);
        Ok(())
    }

    /// `assay policy announce`: the owner's commitment names the policy for its world.
    pub fn announce(
        sha256: &str,
        world: &str,
        from_epoch: Option<u64>,
        overrides: &assay_node::Overrides,
        config: &ConfigArg,
        mode: Mode,
    ) -> CmdResult {
        let mut config = config.load()?;
        config.apply_overrides(overrides).map_err(unusable)?;
        let announcement = Announcement {
            world: parse_world(world).map_err(unusable)?,
            digest: sha256.parse().map_err(unusable)?,
            from_epoch,
        };
        let path = config.hotkey_path();
        let owner =
            config.wallet.load_hotkey().map_err(|e| unusable(anyhow!("the owner's hotkey {}: {e}", path.display())))?;
        let held = runtime()?.block_on(owner::announce(&config, &owner, &announcement)).map_err(node_error)?;
        mode.line(format_args!(
            "{world} {} announced on subnet {} at block {} by {}",
            announcement.digest,
            config.netuid,
            held.block,
            owner.ss58()
        ));
        mode.line("the owner's commitment now holds:");
        for field in &held.fields {
            mode.line(format_args!("  {field}"));
        }
        mode.json(&serde_json::json!({
            "world": world, "sha256": announcement.digest.to_string(), "netuid": config.netuid,
            "block": held.block, "owner": owner.ss58(), "fields": held.fields,
        }));
        Ok(())
    }

    pub fn list(config: &ConfigArg, mode: Mode) -> CmdResult {
        let config = config.load()?;
        let store = PolicyStore::open(config.policy_dir()).map_err(unusable)?;
        let ledger = SqliteLedger::open(&config.ledger_path()).map_err(unusable)?;
        let active =
            [ledger.setting(ACTIVE_SCORER).map_err(failed)?, ledger.setting(ACTIVE_CHALLENGER).map_err(failed)?];
        let mut policies = Vec::new();
        for digest in store.list().map_err(failed)? {
            let bytes = store.get(&digest).map_err(failed)?;
            let world = inspect(&bytes).map(|i| i.world.to_string()).unwrap_or_else(|e| format!("invalid ({e})"));
            let is_active = active.iter().flatten().any(|a| *a == digest.to_string());
            let mark = if is_active { "active" } else { "" };
            mode.line(format_args!("{digest}  {world:<10} {:>8} bytes  {mark}", bytes.len()));
            policies.push(serde_json::json!({
                "sha256": digest.to_string(), "world": world, "bytes": bytes.len(), "active": is_active,
            }));
        }
        mode.json(&serde_json::json!({ "policies": policies }));
        Ok(())
    }
}
