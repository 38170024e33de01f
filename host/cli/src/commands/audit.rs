//! `assay audit LOCATION [--validator SS58]`: rerun a published epoch, read from a folder,
//! `s3://bucket/prefix` or `https://host/prefix` (`assay_publish::location`), everything the
//! summary names fetched from the same place through the object store. LOCATION may name one
//! summary (`…/epochs/<netuid>/<epoch>/summary.json`, `…/epochs/<netuid>/latest.json`) or a
//! publication's root: every epoch there and their history (`audit_history.rs`). Exit 0 PASS,
//! 1 mismatch (a wrong signer included), 2 unusable (limits above the host maximum, objects too
//! large, links in a folder, a location this build cannot read included).

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use assay_epoch::audit::MAX_OBJECT_BYTES;
use assay_epoch::{AuditFailure, AuditOptions, ObjectStore, audit_with};
use assay_policy_runtime::Runtime;
use assay_publish::{Location, ReadOptions, open_read};

use crate::output::{Mode, OutputFlags};
use crate::{CmdResult, Exit, failed, unusable};

#[derive(clap::Args)]
pub struct Args {
    /// A publication (a folder, `s3://bucket/prefix`, `https://host/prefix`): every epoch
    /// published there and their hash chain; or one summary in it,
    /// `…/epochs/<netuid>/<epoch>/summary.json` or `…/epochs/<netuid>/latest.json`.
    location: String,
    /// The validator (SS58 hotkey) the summary must be signed by. Without it, any key the
    /// summary names is accepted: a watchtower always pins.
    #[arg(long)]
    validator: Option<String>,
    /// With a publication's root: the local chain (its folder) whose commitment must hold the
    /// validator's latest summary hash.
    #[arg(long)]
    local_chain: Option<PathBuf>,
    /// With a publication's root: the subnet whose epochs are audited (required for s3:// and
    /// https://, which are not listed; a folder's only subnet otherwise).
    #[arg(long)]
    netuid: Option<u16>,
    #[command(flatten)]
    remote: RemoteFlags,
    #[command(flatten)]
    output: OutputFlags,
}

/// How `s3://` locations are reached (R2's settings: FACTS.md).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RemoteFlags {
    /// The S3 endpoint of s3:// locations (R2: `https://<account>.r2.cloudflarestorage.com`;
    /// AWS's when absent).
    #[arg(long = "s3-endpoint", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// The S3 region (`auto` for R2).
    #[arg(long = "s3-region", value_name = "REGION", default_value = "auto")]
    pub s3_region: String,
    /// The environment variable holding the S3 access key (with --s3-secret-key-env; without
    /// both, the AWS chain: AWS_ACCESS_KEY_ID…, AWS_PROFILE, ~/.aws).
    #[arg(long = "s3-access-key-env", value_name = "VAR", requires = "s3_secret_key_env")]
    pub s3_access_key_env: Option<String>,
    /// The environment variable holding the S3 secret key.
    #[arg(long = "s3-secret-key-env", value_name = "VAR", requires = "s3_access_key_env")]
    pub s3_secret_key_env: Option<String>,
}

impl RemoteFlags {
    /// The read options of these flags, objects bounded by the auditor's maximum.
    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            s3_endpoint: self.s3_endpoint.clone(),
            s3_region: self.s3_region.clone(),
            s3_credentials_env: self.s3_access_key_env.clone().zip(self.s3_secret_key_env.clone()),
            max_object_bytes: MAX_OBJECT_BYTES,
            ..ReadOptions::default()
        }
    }
}

/// What in a publication is audited.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// The summary under this key.
    Summary(String),
    /// The summary the `latest.json` under this key names.
    Latest(String),
    /// Every epoch published, and their history.
    History,
}

/// How many trailing parts of `parts` name a summary or a `latest.json`: 4, 3, or 0.
fn key_depth(parts: &[&str]) -> usize {
    let n = parts.len();
    if n >= 4 && parts[n - 1] == "summary.json" && parts[n - 4] == "epochs" {
        4
    } else if n >= 3 && parts[n - 1] == "latest.json" && parts[n - 3] == "epochs" {
        3
    } else {
        0
    }
}

fn target_of(key: String) -> Target {
    if key.ends_with("latest.json") { Target::Latest(key) } else { Target::Summary(key) }
}

/// Splits a summary path into the folder's root and the summary's key.
fn locate(path: &Path) -> Result<(PathBuf, String), String> {
    let owned: Vec<String> = path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let parts: Vec<&str> = owned.iter().map(String::as_str).collect();
    let depth = key_depth(&parts);
    if depth == 0 {
        return Err(format!("{} is not laid out as <prefix>/epochs/<netuid>/<epoch>/summary.json", path.display()));
    }
    let mut root = path.to_path_buf();
    for _ in 0..depth {
        root.pop();
    }
    let root = if root.as_os_str().is_empty() { PathBuf::from(".") } else { root };
    Ok((root, parts[parts.len() - depth..].join("/")))
}

/// Splits a remote location's `/`-separated path into its root path and what it names.
fn split_path(path: &str) -> (String, Target) {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match key_depth(&parts) {
        0 => (parts.join("/"), Target::History),
        depth => {
            let (root, key) = parts.split_at(parts.len() - depth);
            (root.join("/"), target_of(key.join("/")))
        }
    }
}

/// The publication's root and what in it is audited.
fn split(location: Location) -> Result<(Location, Target), String> {
    Ok(match location {
        Location::Folder(path) if path.is_dir() => (Location::Folder(path), Target::History),
        Location::Folder(path) => {
            let (root, key) = locate(&path)?;
            (Location::Folder(root), target_of(key))
        }
        Location::S3 { bucket, prefix } => {
            let (prefix, target) = split_path(&prefix);
            (Location::S3 { bucket, prefix }, target)
        }
        Location::Http { base_url } => {
            let (scheme, rest) = base_url.split_once("://").unwrap_or(("https", base_url.as_str()));
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let (path, target) = split_path(path);
            let root = if path.is_empty() {
                format!("{scheme}://{authority}")
            } else {
                format!("{scheme}://{authority}/{path}")
            };
            (Location::Http { base_url: root }, target)
        }
    })
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
pub(crate) fn resolve_latest(store: &dyn ObjectStore, key: &str) -> Result<String, String> {
    let bytes = store
        .get_at_most(key, MAX_LATEST_BYTES as u64)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{key} is missing"))?;
    parse_latest(&bytes, key).map(|latest| latest.summary)
}

/// Opens `location` for reading; a build without remote locations says so.
pub(crate) fn open(location: &Location, remote: &RemoteFlags) -> Result<Box<dyn ObjectStore>, Exit> {
    open_read(location, &remote.read_options()).map_err(|e| unusable(anyhow!("cannot audit: {e}")))
}

/// The one object `audit --json` prints, whatever the verdict: always these fields, in this
/// order (README), `null` or empty where they do not apply, so that scripts read one shape.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct AuditJson {
    /// "PASS", "FAIL" (exit 1) or "UNUSABLE" (exit 2).
    verdict: &'static str,
    /// The summary, or the publication's root, audited (as given where it was not understood).
    location: String,
    netuid: Option<u16>,
    /// Every epoch the audit covered.
    epochs: Vec<u64>,
    /// The epoch a FAIL is about, where the mismatch names one; `null` unless FAIL.
    failed_epoch: Option<u64>,
    mismatches: Vec<String>,
    /// What was checked and held (before the failure, for a FAIL).
    checked: Vec<String>,
    /// What was not checked, and why (e.g. "the chain was not read: …").
    notes: Vec<String>,
    /// Why the audit could not be run (UNUSABLE); `null` otherwise.
    error: Option<String>,
}

impl AuditJson {
    /// The audit of `epochs` of `netuid` in `location`, its verdict still to be set.
    pub fn new(location: impl Into<String>, netuid: Option<u16>, epochs: Vec<u64>) -> Self {
        Self { location: location.into(), netuid, epochs, ..Self::default() }
    }

    pub fn pass(self, checked: Vec<String>, notes: Vec<String>) -> Self {
        Self { verdict: "PASS", checked, notes, ..self }
    }

    /// A FAIL on `mismatch`, about `failed_epoch` where known, after `checked` held.
    pub fn fail(self, failed_epoch: Option<u64>, mismatch: String, checked: Vec<String>, notes: Vec<String>) -> Self {
        Self { verdict: "FAIL", failed_epoch, mismatches: vec![mismatch], checked, notes, ..self }
    }

    /// An audit that ended on `error` before a verdict ("UNUSABLE", or "FAIL" for exit 1).
    pub fn error(self, verdict: &'static str, error: String) -> Self {
        Self { verdict, error: Some(error), ..self }
    }
}

pub fn run(args: Args) -> CmdResult {
    let mode = args.output.mode();
    let (location, netuid) = (args.location.clone(), args.netuid);
    let result = run_in(args, mode);
    // Scripts get an object whatever happened; the error itself goes to stderr too.
    mode.finish(result, |verdict, error| AuditJson::new(location, netuid, Vec::new()).error(verdict, error))
}

fn run_in(args: Args, mode: Mode) -> CmdResult {
    let location = Location::parse(&args.location).map_err(|e| unusable(anyhow!(e)))?;
    let (root, target) = split(location).map_err(|e| unusable(anyhow!(e)))?;
    let store = open(&root, &args.remote)?;
    let mut key = match target {
        Target::History => {
            let history = super::audit_history::HistoryArgs {
                root: &root,
                validator: args.validator,
                local_chain: args.local_chain.as_deref(),
                netuid: args.netuid,
            };
            return super::audit_history::run(store.as_ref(), history, mode);
        }
        Target::Summary(key) | Target::Latest(key) => key,
    };
    if args.local_chain.is_some() {
        return Err(unusable(anyhow!("--local-chain checks a publication's history: give its root, not one summary")));
    }
    if key.ends_with("latest.json") {
        key = resolve_latest(store.as_ref(), &key).map_err(|e| unusable(anyhow!(e)))?;
    }
    let runtime = Runtime::new(None).map_err(unusable)?;
    let options = AuditOptions { validator: args.validator.clone(), ..AuditOptions::default() };
    let location = format!("{}/{key}", display_root(&root));
    let (netuid, epoch) = ids_of_key(&key).unzip();
    let json = AuditJson::new(location.clone(), netuid, epoch.into_iter().collect());
    match audit_with(store.as_ref(), &key, &runtime, &options) {
        Ok(report) => {
            let s = &report.summary;
            mode.line(format_args!("auditing netuid {} epoch {} ({location})", s.netuid, s.epoch));
            let mut notes = report.notes.clone();
            if args.validator.is_none() {
                notes.push("the signer is not pinned: pass --validator <SS58> to accept only that validator".into());
            }
            for line in &report.checked {
                mode.line(format_args!("  ok    {line}"));
            }
            for note in &notes {
                mode.line(format_args!("  note  {note}"));
            }
            let json = AuditJson { netuid: Some(s.netuid), epochs: vec![s.epoch], ..json };
            mode.result("PASS", &json.pass(report.checked, notes));
            Ok(())
        }
        Err(AuditFailure::Mismatch(m)) => {
            mode.result(format_args!("FAIL: {m}"), &json.fail(epoch, m.clone(), Vec::new(), Vec::new()));
            Err(failed(anyhow!("audit failed: {m}")))
        }
        Err(AuditFailure::Unusable(m)) => Err(unusable(anyhow!("cannot audit: {m}"))),
    }
}

/// The netuid and epoch a summary key (`epochs/<netuid>/<epoch>/summary.json`) names.
fn ids_of_key(key: &str) -> Option<(u16, u64)> {
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        [.., "epochs", netuid, epoch, "summary.json"] => Some((netuid.parse().ok()?, epoch.parse().ok()?)),
        _ => None,
    }
}

/// A publication's root as messages show it (a folder without a trailing `/`).
pub(crate) fn display_root(root: &Location) -> String {
    match root {
        Location::Folder(dir) => dir.display().to_string().trim_end_matches('/').to_string(),
        other => other.to_string(),
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

    #[test]
    fn the_netuid_and_epoch_of_a_summary_key() {
        assert_eq!(ids_of_key("epochs/1/42/summary.json"), Some((1, 42)));
        assert_eq!(ids_of_key("v/epochs/2/7/summary.json"), Some((2, 7)));
        assert_eq!(ids_of_key("epochs/1/latest.json"), None);
        assert_eq!(ids_of_key("epochs/1/x/summary.json"), None);
        assert_eq!(ids_of_key("epochs/x/1/summary.json"), None);
    }

    fn check(location: &str, root: &str, target: Target) {
        let (at, what) = split(Location::parse(location).expect("parses")).expect("splits");
        assert_eq!((at.to_string(), what), (root.to_string(), target), "{location}");
    }

    #[test]
    fn remote_locations_split_into_root_and_target() {
        check("s3://assay", "s3://assay", Target::History);
        check("s3://assay/v/alice/", "s3://assay/v/alice", Target::History);
        check("s3://assay/epochs/1/7/summary.json", "s3://assay", Target::Summary("epochs/1/7/summary.json".into()));
        check("s3://assay/v/epochs/1/latest.json", "s3://assay/v", Target::Latest("epochs/1/latest.json".into()));
        check("https://pub.r2.dev", "https://pub.r2.dev", Target::History);
        check(
            "https://pub.r2.dev/v/epochs/2/9/summary.json",
            "https://pub.r2.dev/v",
            Target::Summary("epochs/2/9/summary.json".into()),
        );
        check(
            "http://127.0.0.1:9/epochs/1/latest.json",
            "http://127.0.0.1:9",
            Target::Latest("epochs/1/latest.json".into()),
        );
    }
}
