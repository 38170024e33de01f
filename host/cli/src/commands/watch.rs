//! `assay watch --source LOCATION --validator SS58 --netuid N`: the watchtower. It follows the
//! publication's `epochs/<netuid>/latest.json`, audits every new epoch in order (the audit of
//! `watch_audit.rs`), backfills the epochs it missed, keeps its position across restarts
//! (`watch_state.rs`), and with `--set-weights` sets the newest passing epoch's weights through
//! its own chain backend (once for a backfill). A failing epoch sets nothing (the last good weights stay) and is logged as an
//! error and counted (`watch_metrics.rs`).
//!
//! An epoch is audited once the chain names its summary's hash (or a later one): before that
//! it waits. Without a chain (`--local-chain` or `--subtensor.network`) the hashes are checked
//! by their links alone.
//!
//! Exit codes with `--once`: 0 every epoch audited passed; 1 an epoch failed (or could not be
//! audited); 2 unusable input (a bad argument, an unreadable source, state or chain; a read
//! that failed during an epoch's audit, which leaves the position before that epoch); 3 no
//! failure, but the validator is silent (its `latest.json` has not moved for
//! `--silence-after`), or stalled (an epoch waited at that long: its hash not on chain, or
//! unpublished though a later summary names it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use assay_chain::{Chain, LocalChain};
use assay_epoch::audit::MAX_SUMMARY_BYTES;
use assay_epoch::{AuditOptions, ObjectStore};
use assay_keys::Hotkey;
use assay_policy_runtime::Runtime;
use assay_publish::{Location, open_read};

use super::watch_dashboard::{self, WatchBoard};
use super::watch_loop::Watcher;
use super::watch_metrics::Metrics;
use super::watch_state::{self, WatchState};
use crate::commands::WalletFlags;
use crate::{CmdResult, Exit, failed, unusable};

#[derive(clap::Args)]
pub struct Args {
    /// Where the validator publishes: a folder laid out as its bucket.
    #[arg(long, value_name = "LOCATION")]
    source: String,
    /// The validator (SS58 hotkey) whose epochs are followed: the only signer accepted.
    #[arg(long, value_name = "SS58")]
    validator: String,
    #[arg(long)]
    netuid: u16,
    /// Audit what is published now, then exit (see the exit codes).
    #[arg(long)]
    once: bool,
    /// The first epoch to audit when there is no state yet (default: the latest published).
    #[arg(long, value_name = "EPOCH")]
    from_epoch: Option<u64>,
    /// The watchtower's position, kept across restarts.
    #[arg(long, value_name = "FILE", default_value = "assay-watch.json")]
    state: PathBuf,
    /// Time between two polls of `latest.json` (e.g. `30s`, `2m`).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    interval: Duration,
    /// A validator whose `latest.json` has not moved for this long is reported silent.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    silence_after: Duration,
    /// A folder of compiled policies, so that a policy is compiled once, not once an epoch.
    #[arg(long, value_name = "DIR")]
    policy_cache: Option<PathBuf>,
    /// Serve Prometheus metrics on this address (`GET /metrics`).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
    /// Serve the web dashboard (the epochs audited, PASS/FAIL each) on this address.
    #[arg(long, value_name = "ADDR")]
    dashboard_addr: Option<std::net::SocketAddr>,
    /// On a passing epoch, set the same weights (the summary's) from this watchtower's hotkey.
    #[arg(long)]
    set_weights: bool,
    /// `version_key` of the weights set.
    #[arg(long, default_value_t = 1)]
    version_key: u64,
    /// A local chain's folder (`assay chain init`): where the validator's summary hash is read
    /// and weights are set.
    #[arg(long, value_name = "DIR", conflicts_with = "network")]
    local_chain: Option<PathBuf>,
    /// A subtensor node: finney, test, local or a ws(s):// address.
    #[arg(long = "subtensor.network", value_name = "NETWORK")]
    network: Option<String>,
    /// The watchtower's own wallet and hotkey, which sets weights (`--set-weights`).
    #[command(flatten)]
    wallet: WalletFlags,
    /// An environment variable holding the password of an encrypted hotkey.
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// How an s3:// source is reached.
    #[command(flatten)]
    remote: super::audit::RemoteFlags,
}

/// `90s`, `15m`, `2h`, `1d`, `500ms`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration (e.g. 90s, 15m, 2h)"))?;
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h, d)")),
    };
    n.checked_mul(unit_ms).map(Duration::from_millis).ok_or_else(|| format!("{text:?} is too long"))
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Opens the publication at `location` for reading (a folder, `s3://`, `https://`), bounded
/// as the auditor is.
fn open_source(location: &str, remote: &super::audit::RemoteFlags) -> anyhow::Result<Box<dyn ObjectStore>> {
    let location = Location::parse(location).map_err(|e| anyhow::anyhow!("{e}"))?;
    open_read(&location, &remote.read_options()).map_err(|e| anyhow::anyhow!("cannot read {location}: {e}"))
}

/// The watchtower's hotkey (Python's defaults: wallet `default`, hotkey `default`).
fn hotkey(args: &Args) -> anyhow::Result<Hotkey> {
    args.wallet.load_hotkey(args.password_env.as_deref(), "the watchtower's")
}

/// The chain the flags name, signing as `signer` where it signs.
fn open_chain(
    args: &Args,
    signer: Option<&Hotkey>,
    rt: &tokio::runtime::Runtime,
) -> Result<Option<Arc<dyn Chain>>, Exit> {
    if let Some(dir) = &args.local_chain {
        return Ok(Some(Arc::new(LocalChain::open(dir).map_err(unusable)?)));
    }
    let Some(network) = &args.network else { return Ok(None) };
    let network: assay_subtensor::Network =
        network.parse().map_err(|e| unusable(anyhow!("--subtensor.network: {e}")))?;
    let timeouts = assay_subtensor::Timeouts::default();
    let chain = rt
        .block_on(assay_subtensor::SubtensorChain::connect(&network, signer.cloned(), timeouts))
        .map_err(|e| unusable(anyhow!("connecting to {network}: {e}")))?;
    Ok(Some(Arc::new(chain)))
}

/// Refuses arguments that cannot work together, before anything is read.
fn check(args: &Args) -> Result<(), Exit> {
    assay_keys::decode_ss58(&args.validator).map_err(|e| unusable(anyhow!("--validator {}: {e}", args.validator)))?;
    if args.set_weights && args.local_chain.is_none() && args.network.is_none() {
        return Err(unusable(anyhow!("--set-weights needs a chain: --local-chain or --subtensor.network")));
    }
    if args.interval.is_zero() {
        return Err(unusable(anyhow!("--interval must be more than 0")));
    }
    Ok(())
}

/// The state to continue from: the file's, or a new one.
fn initial_state(args: &Args) -> Result<WatchState, Exit> {
    let loaded = watch_state::load(&args.state, args.netuid, &args.validator).map_err(unusable)?;
    Ok(loaded.unwrap_or_else(|| WatchState::new(args.netuid, &args.validator, now_ms())))
}

pub fn run(args: Args) -> CmdResult {
    check(&args)?;
    let store = open_source(&args.source, &args.remote).map_err(unusable)?;
    let signer = if args.set_weights { Some(hotkey(&args).map_err(unusable)?) } else { None };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(anyhow!("starting the async runtime: {e}")))?;
    let chain = open_chain(&args, signer.as_ref(), &rt)?;
    let state = initial_state(&args)?;
    let metrics = Arc::new(Metrics::new(now_ms));
    // Served while this function runs: dropped on the way out, the server stops.
    let _metrics_server = match args.metrics_addr {
        Some(addr) => {
            let server = metrics.serve(addr).map_err(|e| unusable(anyhow!("serving metrics on {addr}: {e}")))?;
            println!("metrics: http://{}/metrics", server.local_addr());
            Some(server)
        }
        None => None,
    };
    let board = match args.dashboard_addr {
        Some(addr) => {
            let board = Arc::new(WatchBoard::new(args.netuid, &args.validator, &store.describe()));
            let local = watch_dashboard::serve(addr, board.clone()).map_err(unusable)?;
            println!("dashboard: http://{local}/");
            Some(board)
        }
        None => None,
    };
    let runtime = Runtime::new(args.policy_cache.as_deref()).map_err(unusable)?;
    let options = AuditOptions {
        validator: Some(args.validator.clone()),
        max_summary_bytes: MAX_SUMMARY_BYTES,
        ..AuditOptions::default()
    };
    let mut watcher = Watcher {
        store: store.as_ref(),
        netuid: args.netuid,
        validator: &args.validator,
        from_epoch: args.from_epoch,
        state_path: &args.state,
        state,
        options: &options,
        runtime: &runtime,
        rt: &rt,
        chain,
        signer,
        version_key: args.version_key,
        silence_after: args.silence_after,
        metrics: &metrics,
        tally: Default::default(),
        board,
    };
    tracing::info!(source = %store.describe(), validator = %args.validator, netuid = args.netuid, "watching");
    if args.once {
        return watcher.once();
    }
    watcher.follow(args.interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_have_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        for bad in ["", "s", "1w", "-1s", "1.5s", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_source_opens_as_its_location_says() {
        let dir = tempfile::tempdir().expect("tempdir");
        let remote = super::super::audit::RemoteFlags::default();
        assert!(open_source(&dir.path().display().to_string(), &remote).is_ok());
        assert!(open_source("/nonexistent/publication", &remote).is_err());
        assert!(open_source("ftp://host/publication", &remote).is_err());
    }
}
