//! `assay run --check`: the node's preflight (`assay_node::preflight`) printed one line per
//! check; exit 0 when everything is there, 1 when any check failed (the house convention: 2 is
//! unusable input, a config that cannot be read or parsed, which `assay run` refuses before).
//! Starts nothing.

use anyhow::anyhow;
use assay_node::Config;
use assay_node::preflight;

use crate::commands::runtime;
use crate::{CmdResult, failed};

pub fn run(config: &Config, config_path: &std::path::Path) -> CmdResult {
    let runtime = runtime()?;
    let findings = runtime.block_on(preflight::check(config, config_path));
    // A check that ran out of time may still hold a blocking thread (a bucket that never
    // answers): dropping the runtime would wait for it, so leave it behind.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    for finding in &findings {
        println!("{}", finding.line());
    }
    let missing = findings.iter().filter(|f| f.outcome.is_err()).count();
    if missing == 0 {
        println!("all {} checks passed: start it with `assay run --config {}`", findings.len(), config_path.display());
        return Ok(());
    }
    Err(failed(anyhow!(
        "{missing} of {} checks found something missing (the lines above say what to do)",
        findings.len()
    )))
}
