//! `assay`: the validator and its tools.
//!
//! Owns: argument parsing and printing. Must not touch: anything else; each command is a thin
//! shell over a library crate (the node in `host/node`, the devnet and experiments in
//! `host/lab`, the audit in `host/epoch`).
//!
//! Exit codes: 0 success; 1 a check failed (an audit mismatch, a policy that misbehaved, a run
//! that failed); 2 unusable input (a missing file, bad JSON, a bad argument or config). Every
//! error is classified where it arises: [`Exit`] has no blanket conversion, so a bare `?`
//! cannot turn unusable input into a failed check.

/// `println!` with any progress bar cleared while the line is written (bars are on stderr,
/// this is stdout, and both may be the same terminal).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::progress::suspend(|| println!($($arg)*))
    };
}

mod commands;
mod logging;
mod output;
mod progress;

use std::process::ExitCode;

#[cfg(feature = "node")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "assay", version, about = "Validator host for decentralized LLM-inference networks")]
struct Cli {
    /// Log filter (tracing's EnvFilter syntax), e.g. `debug` or `assay=debug`.
    #[arg(long, global = true, env = "ASSAY_LOG", default_value = "info")]
    log: String,
    /// Log lines as text, or one JSON object per line for log shippers.
    #[arg(long, global = true, env = "ASSAY_LOG_FORMAT", value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole system on this machine: local chain, four miners (two cheating), gateway,
    /// verification, epochs published and audited.
    #[cfg(feature = "node")]
    Devnet(commands::devnet::Args),
    /// Run the validator node: epochs, scoring, publication, weights; the gateway and the
    /// verification loop when configured.
    #[cfg(feature = "node")]
    Run(commands::run::Args),
    /// Set up a validator, a miner or a subnet owner: a commented config with every key, the
    /// data folders, and the wallet when asked.
    #[cfg(feature = "node")]
    Init(commands::init::Args),
    /// Write a config file (`assay.toml`) from the config type.
    #[cfg(feature = "node")]
    #[command(subcommand)]
    Config(commands::config::Command),
    /// Close epochs by hand.
    #[cfg(feature = "node")]
    #[command(subcommand)]
    Epoch(commands::epoch::Command),
    /// Rerun a published epoch and compare it bit for bit.
    Audit(commands::audit::Args),
    /// The watchtower: follow a validator's publication, audit every epoch, and set the same
    /// weights only when the audit passes.
    #[cfg(feature = "node")]
    Watch(commands::watch::Args),
    /// Pack, check, run, store and activate policies.
    Policy(commands::policy::Args),
    /// Feed records into the ledger.
    #[cfg(feature = "node")]
    #[command(subcommand)]
    Ledger(commands::ledger::Command),
    /// Create hotkeys in the Bittensor wallet layout.
    #[command(subcommand)]
    Wallet(commands::wallet::Command),
    /// Set up and inspect the local chain.
    Chain(commands::chain::Args),
    /// Serve the reference engine as a miner (signed protocol, hidden-state commitments).
    #[cfg(feature = "node")]
    Miner(commands::miner::Args),
    /// The reference engine: hidden states, generation, tiny models, a prefill benchmark.
    #[cfg(feature = "node")]
    #[command(subcommand)]
    Engine(commands::engine::Command),
    /// Developer tools: synthetic epochs, a mock worker and a load generator, the detection
    /// experiment and the calibration.
    #[cfg(feature = "node")]
    #[command(subcommand)]
    Dev(commands::dev::Command),
}

/// An error with the exit code it should end the process with.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub error: anyhow::Error,
}

/// Unusable input: exit 2.
pub fn unusable(error: impl Into<anyhow::Error>) -> Exit {
    Exit { code: 2, error: error.into() }
}

/// A check that failed: exit 1.
pub fn failed(error: impl Into<anyhow::Error>) -> Exit {
    Exit { code: 1, error: error.into() }
}

/// A node error: unusable input or a failed run, as the node classifies it.
#[cfg(feature = "node")]
pub fn node_error(error: assay_node::Error) -> Exit {
    Exit { code: if error.is_unusable_input() { 2 } else { 1 }, error: error.into() }
}

/// A lab error: unusable input where the lab marked it so, else a failed run.
#[cfg(feature = "node")]
pub fn lab_error(error: anyhow::Error) -> Exit {
    Exit { code: if assay_lab::is_bad_input(&error) { 2 } else { 1 }, error }
}

pub type CmdResult = Result<(), Exit>;

fn main() -> ExitCode {
    let argv = match commands::argfile::expand(std::env::args_os()) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    // Devnet's terminal view moves the logs into a file once its folder exists.
    #[cfg(feature = "node")]
    let logs_may_move = matches!(cli.command, Command::Devnet(_)) && commands::devnet::terminal_view_wanted();
    #[cfg(not(feature = "node"))]
    let logs_may_move = false;
    logging::init(&cli.log, cli.log_format, logs_may_move);

    let result = match cli.command {
        #[cfg(feature = "node")]
        Command::Devnet(args) => commands::devnet::run(args),
        #[cfg(feature = "node")]
        Command::Run(args) => commands::run::run(args),
        #[cfg(feature = "node")]
        Command::Init(args) => commands::init::run(args),
        #[cfg(feature = "node")]
        Command::Config(cmd) => commands::config::run(cmd),
        #[cfg(feature = "node")]
        Command::Epoch(cmd) => commands::epoch::run(cmd),
        Command::Audit(args) => commands::audit::run(args),
        #[cfg(feature = "node")]
        Command::Watch(args) => commands::watch::run(args),
        Command::Policy(cmd) => commands::policy::run(cmd),
        #[cfg(feature = "node")]
        Command::Ledger(cmd) => commands::ledger::run(cmd),
        Command::Wallet(cmd) => commands::wallet::run(cmd),
        Command::Chain(cmd) => commands::chain::run(cmd),
        #[cfg(feature = "node")]
        Command::Engine(cmd) => commands::engine::run(cmd),
        #[cfg(feature = "node")]
        Command::Miner(args) => commands::miner::run(args),
        #[cfg(feature = "node")]
        Command::Dev(cmd) => commands::dev::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Exit { code, error }) => {
            eprintln!("error: {error:#}");
            ExitCode::from(code)
        }
    }
}
