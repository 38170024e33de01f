//! `assay run`: the validator node, with its gateway (`[gateway]`) and verification loop
//! (`[verify]`) when the config has them.

use std::sync::Arc;
use std::time::Duration;

use assay_node::{Config, Node, Overrides, RunOptions};
use tokio::sync::watch;

use crate::commands::{ConfigArg, WalletFlags, runtime};
use crate::{CmdResult, Exit, node_error, unusable};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Overrides the config's `[wallet]`.
    #[command(flatten)]
    wallet: WalletFlags,
    /// Overrides `[chain] network` (a subtensor chain only): finney, test, local or ws(s)://…
    #[arg(long = "subtensor.network", value_name = "NETWORK")]
    network: Option<String>,
    /// Overrides the config's `netuid`.
    #[arg(long)]
    netuid: Option<u16>,
    /// Exit after closing this many epochs (for tests and demos).
    #[arg(long)]
    epochs: Option<u64>,
    /// How often to look at the chain, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    tick_ms: u64,
    /// Check the config and what it names (wallet, chain, publication, model, policies, listen
    /// addresses), print one line per check, and exit: 0 when all pass, 1 when any
    /// fails (2: the config cannot be read or parsed).
    #[arg(long)]
    check: bool,
}

impl Args {
    /// What the command line sets over the config, under the Python tools' names.
    fn overrides(&self) -> Overrides {
        Overrides {
            wallet_name: self.wallet.name.clone(),
            wallet_hotkey: self.wallet.hotkey.clone(),
            wallet_path: self.wallet.path.clone(),
            subtensor_network: self.network.clone(),
            netuid: self.netuid,
        }
    }

    /// The config file with the command line's overrides.
    fn config(&self) -> Result<Config, Exit> {
        let mut config = self.config.load()?;
        config.apply_overrides(&self.overrides()).map_err(unusable)?;
        Ok(config)
    }
}

pub fn run(args: Args) -> CmdResult {
    let config = args.config()?;
    if args.check {
        return crate::commands::run_check::run(&config, &args.config.config);
    }
    let runtime = runtime()?;
    let dashboard = config.dashboard.clone();
    let model = config.verify.as_ref().map(|verify| verify.model.clone());
    let mut node = runtime.block_on(Node::open(config)).map_err(node_error)?;
    let (stop, stopped) = watch::channel(false);
    if let Some(dashboard) = dashboard {
        let listener = runtime.block_on(assay_dashboard::bind(&dashboard.listen)).map_err(unusable)?;
        let addr = listener.local_addr().map_err(unusable)?;
        tracing::info!(address = %format!("http://{addr}/"), "dashboard");
        let limits = assay_dashboard::Limits::default();
        runtime.spawn(assay_dashboard::serve(listener, Arc::new(node.dashboard()), limits, stopped.clone()));
    }
    assay_lab::stop_on_ctrl_c(&runtime, stop);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let starting = starting_spinner(&node, model, done.clone());
    let options = RunOptions { tick: Duration::from_millis(args.tick_ms.max(10)), stop_after: args.epochs };
    let result = runtime
        .block_on(node.run(options, stopped, &mut |closed| {
            let weights: Vec<String> =
                closed.summary.output.weights.iter().map(|w| format!("{}:{}", w.uid, w.weight)).collect();
            tracing::info!(epoch = closed.summary.epoch, summary = %closed.summary_key,
                scorer = %closed.summary.scorer.sha256, weights = %weights.join(" "), "epoch closed");
        }))
        .map_err(node_error);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = starting.join();
    result
}

/// A spinner on the terminal while the node starts its services (loading the reference model
/// takes minutes for a 7B model): gone once its status says they are up, or once `run` returned
/// (`done`), whichever comes first.
fn starting_spinner(
    node: &Node,
    model: Option<std::path::PathBuf>,
    done: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let status = node.status();
    let what = match model {
        Some(model) => format!("starting: loading the reference model from {}", model.display()),
        None => "starting".to_string(),
    };
    std::thread::spawn(move || {
        let spinner = crate::progress::spinner(&what);
        while !status.get().services_started && !done.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
        }
        spinner.finish_and_clear();
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::Parser;

    use super::*;

    #[derive(clap::Parser)]
    struct Run {
        #[command(flatten)]
        args: Args,
    }

    fn parse(flags: &[&str]) -> Args {
        Run::try_parse_from(std::iter::once("run").chain(flags.iter().copied())).expect("parses").args
    }

    #[test]
    fn the_python_tools_flags_override_the_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("assay.toml");
        Config::local(1, Some("wallets".into()), "v", "h").save(&path).expect("writes");
        let path_text = path.to_str().expect("a text path");

        let args = parse(&["-c", path_text]);
        let config = args.config().expect("loads");
        assert_eq!((config.netuid, config.wallet.name.as_str(), config.wallet.hotkey.as_str()), (1, "v", "h"));
        assert_eq!(config.wallet.root, Some(dir.path().join("wallets")), "the file's, relative to it");

        let args = parse(&[
            "-c",
            path_text,
            "--wallet.name",
            "owner",
            "--wallet.hotkey=validator",
            "--wallet.path",
            "/srv/wallets",
            "--netuid",
            "7",
        ]);
        let config = args.config().expect("loads");
        assert_eq!(
            (config.netuid, config.wallet.name.as_str(), config.wallet.hotkey.as_str()),
            (7, "owner", "validator")
        );
        assert_eq!(config.wallet.root, Some(PathBuf::from("/srv/wallets")));
        assert_eq!(config.wallet.wallet().hotkey_path(), PathBuf::from("/srv/wallets/owner/hotkeys/validator"));

        let args = parse(&["-c", path_text, "--subtensor.network", "finney"]);
        assert_eq!(args.overrides().subtensor_network.as_deref(), Some("finney"));
        let err = args.config().expect_err("a local chain has no network").error.to_string();
        assert!(err.contains(r#"--subtensor.network needs [chain] kind = "subtensor""#), "{err}");
    }

    #[test]
    fn a_tilde_in_the_wallet_path_is_the_home_folder() {
        let home = std::env::var("HOME").expect("HOME is set for tests");
        let args = parse(&["--wallet.path=~/wallets"]);
        assert_eq!(args.wallet.path, Some(PathBuf::from(home).join("wallets")));
        assert_eq!(parse(&["--wallet.path=a~b"]).wallet.path, Some(PathBuf::from("a~b")));
        assert!(Run::try_parse_from(["run", "--netuid", "70000"]).is_err(), "a netuid is a u16");
    }
}
