//! `assay audit <summary.json> [--validator SS58]`: rerun a published epoch; given a folder,
//! every epoch in it and their history (`audit_history.rs`). Exit 0 PASS, 1
//! mismatch (a wrong signer included), 2 unusable (limits above the host maximum, files too
//! large or behind symbolic links included).

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use assay_epoch::audit::MAX_OBJECT_BYTES;
use assay_epoch::{AuditFailure, AuditFolder, AuditOptions, ObjectStore, audit_with};
use assay_policy_runtime::Runtime;

use crate::{CmdResult, failed, unusable};

#[derive(clap::Args)]
pub struct Args {
    /// `<prefix>/epochs/<netuid>/<epoch>/summary.json`, `<prefix>/epochs/<netuid>/latest.json`,
    /// or `<prefix>` (a folder): every epoch published there, and their hash chain.
    summary: PathBuf,
    /// The validator (SS58 hotkey) the summary must be signed by. Without it, any key the
    /// summary names is accepted: a watchtower always pins.
    #[arg(long)]
    validator: Option<String>,
    /// With a folder: the local chain (its folder) whose commitment must hold the validator's
    /// latest summary hash.
    #[arg(long)]
    local_chain: Option<PathBuf>,
}

/// Splits a summary path into the store's root and the summary's key.
fn locate(path: &Path) -> Result<(PathBuf, String), String> {
    let parts: Vec<String> = path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let n = parts.len();
    let latest = n >= 3 && parts[n - 1] == "latest.json" && parts[n - 3] == "epochs";
    let summary = n >= 4 && parts[n - 1] == "summary.json" && parts[n - 4] == "epochs";
    let depth = if summary {
        4
    } else if latest {
        3
    } else {
        0
    };
    if depth == 0 {
        return Err(format!("{} is not laid out as <prefix>/epochs/<netuid>/<epoch>/summary.json", path.display()));
    }
    let mut root = path.to_path_buf();
    for _ in 0..depth {
        root.pop();
    }
    let root = if root.as_os_str().is_empty() { PathBuf::from(".") } else { root };
    Ok((root, parts[n - depth..].join("/")))
}

/// The most a `latest.json` pointer may hold (it names one summary: a few hundred bytes).
pub(crate) const MAX_LATEST_BYTES: usize = 64 << 10;

/// What a `latest.json` pointer names: the latest summary's key, and its epoch where it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Latest {
    pub summary: String,
    /// Read by the watchtower only (the node feature).
    #[cfg_attr(not(feature = "node"), allow(dead_code))]
    pub epoch: Option<u64>,
}

/// Parses the `latest.json` read from `key`, bounded by [`MAX_LATEST_BYTES`].
pub(crate) fn parse_latest(bytes: &[u8], key: &str) -> Result<Latest, String> {
    if bytes.len() > MAX_LATEST_BYTES {
        return Err(format!("{key} is {} bytes, larger than the auditor's maximum of {MAX_LATEST_BYTES}", bytes.len()));
    }
    let latest: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("{key}: {e}"))?;
    let summary = latest["summary"].as_str().ok_or_else(|| format!("{key} names no summary"))?;
    Ok(Latest { summary: summary.to_string(), epoch: latest["epoch"].as_u64() })
}

/// The summary key `latest.json` (at `key`) names.
fn resolve_latest(store: &dyn ObjectStore, key: &str) -> Result<String, String> {
    let bytes = store.get(key).map_err(|e| e.to_string())?.ok_or_else(|| format!("{key} is missing"))?;
    parse_latest(&bytes, key).map(|latest| latest.summary)
}

pub fn run(args: Args) -> CmdResult {
    if args.summary.is_dir() {
        return super::audit_history::run(&args.summary, args.validator, args.local_chain.as_deref());
    }
    if args.local_chain.is_some() {
        return Err(unusable(anyhow!("--local-chain checks a folder's history: give the folder, not one summary")));
    }
    let (root, mut key) = locate(&args.summary).map_err(|e| unusable(anyhow!(e)))?;
    let store = AuditFolder::new(&root, MAX_OBJECT_BYTES);
    if key.ends_with("latest.json") {
        key = resolve_latest(&store, &key).map_err(|e| unusable(anyhow!(e)))?;
    }
    let runtime = Runtime::new(None).map_err(unusable)?;
    let options = AuditOptions { validator: args.validator.clone(), ..AuditOptions::default() };
    match audit_with(&store, &key, &runtime, &options) {
        Ok(report) => {
            let s = &report.summary;
            println!("auditing netuid {} epoch {} ({})", s.netuid, s.epoch, root.join(&key).display());
            for line in &report.checked {
                println!("  ok    {line}");
            }
            for note in &report.notes {
                println!("  note  {note}");
            }
            if args.validator.is_none() {
                println!("  note  the signer is not pinned: pass --validator <SS58> to accept only that validator");
            }
            println!("PASS");
            Ok(())
        }
        Err(AuditFailure::Mismatch(m)) => {
            println!("FAIL: {m}");
            Err(failed(anyhow!("audit failed: {m}")))
        }
        Err(AuditFailure::Unusable(m)) => Err(unusable(anyhow!("cannot audit: {m}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_paths_split_into_root_and_key() {
        assert_eq!(
            locate(Path::new("/srv/pub/epochs/1/42/summary.json")),
            Ok((PathBuf::from("/srv/pub"), "epochs/1/42/summary.json".into()))
        );
        assert_eq!(locate(Path::new("epochs/1/latest.json")), Ok((PathBuf::from("."), "epochs/1/latest.json".into())));
        assert!(locate(Path::new("/tmp/summary.json")).is_err());
    }
}
