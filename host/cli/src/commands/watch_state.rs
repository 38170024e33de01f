//! The watchtower's position, kept across restarts (`--state FILE`): how far it has looked, the
//! last epoch it audited with its summary's sha256 (so that the history link continues from
//! it), and when the publication's `latest.json` last moved. Written whole and atomically (a
//! temporary file, synced, renamed), so a watchtower killed mid-write finds the old one.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The most a state file may hold (a few hundred bytes, and the weights not set yet: a few
/// bytes a uid).
const MAX_STATE_BYTES: u64 = 1 << 20;

/// An audit's verdict on one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Rerun bit for bit, signed by the validator, linked to its history and to the chain.
    Pass,
    /// The publication differs from what it claims: nothing is set.
    Fail,
    /// It could not be audited (an object missing or unreadable): nothing is set.
    Unusable,
}

/// The last epoch audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audited {
    pub epoch: u64,
    pub verdict: Verdict,
    /// The sha256 of its summary file when the summary was the validator's own (signed by it),
    /// whatever the verdict: the next epoch must name it. `None` when the summary could not
    /// be trusted at all; the next epoch's link is then not checked.
    pub summary_sha256: Option<String>,
}

/// The weights of the newest passing epoch, not set yet: a backfill sets them once it has
/// caught up (not once an epoch), and a chain that refused them is asked again at the next poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingWeights {
    pub epoch: u64,
    pub uids: Vec<u16>,
    pub weights: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchState {
    pub netuid: u16,
    pub validator: String,
    /// Every epoch up to this one was looked at (audited, or found unpublished).
    pub examined_through: Option<u64>,
    pub last_audited: Option<Audited>,
    /// The sha256 of the `latest.json` last seen, and when (Unix ms) it was first seen.
    pub latest_sha256: Option<String>,
    pub latest_moved_unix_ms: u64,
    /// With `--set-weights`: the newest passing epoch's weights, until they are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_weights: Option<PendingWeights>,
    /// The newest epoch whose hash the chain confirmed (its audit compared the chain's hash and
    /// the links back to the epoch before passed): weights are set for no later epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_checked_through: Option<u64>,
    /// The epoch the position waits at (unpublished though a later summary names it, or its
    /// hash not on chain yet), and since when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalled: Option<Stalled>,
}

/// The epoch the position waits at: not published though a later summary names it as its
/// previous one (neither passed over nor blamed on its successor), or its hash not on chain
/// yet; reported after `--silence-after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stalled {
    pub epoch: u64,
    pub since_unix_ms: u64,
}

impl WatchState {
    pub fn new(netuid: u16, validator: &str, now_ms: u64) -> Self {
        Self {
            netuid,
            validator: validator.to_string(),
            examined_through: None,
            last_audited: None,
            latest_sha256: None,
            latest_moved_unix_ms: now_ms,
            pending_weights: None,
            chain_checked_through: None,
            stalled: None,
        }
    }

    /// The link the next audited epoch must continue: the last audited epoch and its
    /// summary's sha256, when that summary was the validator's own.
    pub fn anchor(&self) -> Option<(u64, &str)> {
        let last = self.last_audited.as_ref()?;
        Some((last.epoch, last.summary_sha256.as_deref()?))
    }

    /// Notes the `latest.json` seen now; returns whether it moved since last seen.
    pub fn saw_latest(&mut self, sha256: &str, now_ms: u64) -> bool {
        if self.latest_sha256.as_deref() == Some(sha256) {
            return false;
        }
        self.latest_sha256 = Some(sha256.to_string());
        self.latest_moved_unix_ms = now_ms;
        true
    }
}

/// The state in `path`, or `None` when there is none yet; one written for another validator
/// or subnet is refused (its position means nothing here).
pub fn load(path: &Path, netuid: u16, validator: &str) -> anyhow::Result<Option<WatchState>> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading the state file {}", path.display())),
    };
    if meta.len() > MAX_STATE_BYTES {
        bail!("the state file {} is {} bytes, more than {MAX_STATE_BYTES}", path.display(), meta.len());
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading the state file {}", path.display()))?;
    let state: WatchState = serde_json::from_slice(&bytes)
        .with_context(|| format!("the state file {} is not a watch state", path.display()))?;
    if state.netuid != netuid || state.validator != validator {
        bail!(
            "the state file {} follows validator {} on subnet {}, not {validator} on subnet {netuid}: give another --state",
            path.display(),
            state.validator,
            state.netuid
        );
    }
    Ok(Some(state))
}

/// Writes `state` to `path` atomically: a temporary file, synced, renamed over it, and the
/// folder synced so that the rename survives a crash; the temporary file is removed on error.
pub fn save(path: &Path, state: &WatchState) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing the state file {}", path.display()));
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing the folder of the state file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_round_trips_and_refuses_another_validator() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        assert_eq!(load(&path, 1, "5Val").expect("reads"), None);
        let mut state = WatchState::new(1, "5Val", 10);
        assert!(state.saw_latest("aa", 20));
        assert!(!state.saw_latest("aa", 30), "the same latest.json did not move");
        assert_eq!(state.latest_moved_unix_ms, 20);
        state.examined_through = Some(4);
        state.last_audited = Some(Audited { epoch: 3, verdict: Verdict::Pass, summary_sha256: Some("ab".into()) });
        save(&path, &state).expect("writes");
        let read = load(&path, 1, "5Val").expect("reads").expect("a state");
        assert_eq!(read, state);
        assert_eq!(read.anchor(), Some((3, "ab")));
        let refused = load(&path, 1, "5Other").expect_err("another validator");
        assert!(refused.to_string().contains("follows validator 5Val"), "{refused}");
        std::fs::write(&path, "{").expect("writes");
        assert!(load(&path, 1, "5Val").is_err());
    }

    #[test]
    fn a_failed_save_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        // The state path is a folder: the rename over it fails.
        let path = dir.path().join("state.json");
        std::fs::create_dir(&path).expect("a folder");
        std::fs::write(path.join("inside"), "x").expect("not empty");
        assert!(save(&path, &WatchState::new(1, "5Val", 0)).is_err());
        let left: Vec<_> =
            std::fs::read_dir(dir.path()).expect("lists").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("state.json")], "a temporary file left behind");
    }
}
