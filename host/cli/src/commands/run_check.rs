//! `assay run --check`: the node's preflight (`assay_node::preflight`) printed one line per
//! check; exit 0 when everything is there, 2 when anything is missing. Starts nothing.

use anyhow::anyhow;
use assay_node::Config;
use assay_node::preflight;

use crate::commands::runtime;
use crate::{CmdResult, unusable};

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
    Err(unusable(anyhow!(
        "{missing} of {} checks found something missing (the lines above say what to do)",
        findings.len()
    )))
}
