//! The devnet's watchtower: `assay watch` run as a child process beside the validator,
//! following the devnet's publication and the validator's summary hashes on the local chain (it
//! sets no weights), and its verdict per epoch, read from its output, for the live table and the
//! final report.
//!
//! Must not touch: the watchtower's logic (the `assay watch` command owns it); this module only
//! starts it, reads what it prints and stops it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

/// The verdicts the watchtower printed, by epoch (`PASS`, `FAIL`, `UNUSABLE`), shared with
/// the live table.
#[derive(Debug, Clone, Default)]
pub struct WatchVerdicts(Arc<Mutex<BTreeMap<u64, String>>>);

impl WatchVerdicts {
    pub fn get(&self) -> BTreeMap<u64, String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn insert(&self, epoch: u64, verdict: String) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(epoch, verdict);
    }

    /// The live table's column: the last `n` epochs' verdicts, `0:pass 1:pass …`.
    pub fn column(&self, n: usize) -> String {
        let verdicts = self.get();
        let shown: Vec<String> =
            verdicts.iter().rev().take(n).rev().map(|(e, v)| format!("{e}:{}", v.to_lowercase())).collect();
        if shown.is_empty() { "-".into() } else { shown.join(" ") }
    }
}

pub struct Watchtower {
    child: Child,
    verdicts: WatchVerdicts,
}

/// What the watchtower follows.
pub struct Followed<'a> {
    /// The `assay` binary that runs `assay watch`.
    pub assay: &'a Path,
    /// The publication, as `assay watch --source` takes it.
    pub source: &'a str,
    /// How the source is reached (`--s3-endpoint …`), and the environment those flags name.
    pub source_args: &'a [String],
    pub source_env: &'a [(String, String)],
    /// The local chain whose commitment holds the validator's summary hashes; `None`: the
    /// hashes are checked by their links alone.
    pub chain_dir: Option<&'a Path>,
    pub validator: &'a str,
    pub netuid: u16,
    /// Where it keeps its position.
    pub state: PathBuf,
    /// Where it keeps the policies it compiled.
    pub policy_cache: PathBuf,
    /// Where its log goes.
    pub log: PathBuf,
}

/// `epoch N: VERDICT…` as `assay watch` prints each audited epoch.
fn parse_verdict(line: &str) -> Option<(u64, String)> {
    let rest = line.strip_prefix("epoch ")?;
    let (epoch, rest) = rest.split_once(": ")?;
    let verdict = rest.split([':', ' ']).next()?;
    if !matches!(verdict, "PASS" | "FAIL" | "UNUSABLE") {
        return None;
    }
    Some((epoch.parse().ok()?, verdict.to_string()))
}

impl Watchtower {
    /// Starts `assay watch` on `followed`, polling every second from epoch 0; its log and its
    /// output go to `followed.log`.
    pub fn start(followed: &Followed) -> anyhow::Result<Self> {
        let log = std::fs::File::create(&followed.log)
            .with_context(|| format!("creating the watchtower's log {}", followed.log.display()))?;
        // Its output (what each audit checked) goes to the log too, beside its warnings; the
        // two share one file offset, so neither overwrites the other.
        let mut echo = log.try_clone().context("sharing the watchtower's log")?;
        let mut command = Command::new(followed.assay);
        command.arg("watch");
        if let Some(dir) = followed.chain_dir {
            command.arg("--local-chain").arg(dir);
        }
        let mut child = command
            .args(["--source", followed.source, "--validator", followed.validator])
            .args(followed.source_args)
            .envs(followed.source_env.iter().map(|(k, v)| (k, v)))
            .args(["--netuid", &followed.netuid.to_string(), "--from-epoch", "0", "--interval", "1s"])
            .arg("--state")
            .arg(&followed.state)
            .arg("--policy-cache")
            .arg(&followed.policy_cache)
            .env("ASSAY_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting the watchtower ({} watch)", followed.assay.display()))?;
        let stdout = child.stdout.take().context("the watchtower's output")?;
        let verdicts = WatchVerdicts::default();
        let seen = verdicts.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = writeln!(echo, "{line}");
                if let Some((epoch, verdict)) = parse_verdict(&line) {
                    seen.insert(epoch, verdict);
                }
            }
        });
        Ok(Self { child, verdicts })
    }

    /// The verdicts, as they come.
    pub fn verdicts(&self) -> WatchVerdicts {
        self.verdicts.clone()
    }

    /// Waits until every epoch of `epochs` has a verdict, or `patience` passed; then stops the
    /// watchtower and returns its verdicts.
    pub fn finish(mut self, epochs: &[u64], patience: Duration) -> BTreeMap<u64, String> {
        let start = Instant::now();
        while start.elapsed() < patience && !epochs.iter().all(|e| self.verdicts.get().contains_key(e)) {
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.verdicts.get()
    }
}

impl Drop for Watchtower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_lines_are_read_and_others_ignored() {
        assert_eq!(parse_verdict("epoch 3: PASS"), Some((3, "PASS".into())));
        assert_eq!(parse_verdict("epoch 12: FAIL: gap: epoch 12 follows"), Some((12, "FAIL".into())));
        assert_eq!(parse_verdict("epoch 4: UNUSABLE: cannot audit: x"), Some((4, "UNUSABLE".into())));
        assert_eq!(parse_verdict("epoch 5: waiting for the chain to name its summary's hash"), None);
        assert_eq!(parse_verdict("epoch 5: not published"), None);
        assert_eq!(parse_verdict("  ok    epoch 2 follows epoch 1"), None);
        assert_eq!(parse_verdict("epoch x: PASS"), None);
        let verdicts = WatchVerdicts::default();
        assert_eq!(verdicts.column(3), "-");
        for (epoch, verdict) in [(0, "PASS"), (1, "FAIL"), (2, "PASS"), (3, "PASS")] {
            verdicts.insert(epoch, verdict.into());
        }
        assert_eq!(verdicts.column(3), "1:fail 2:pass 3:pass");
    }
}
