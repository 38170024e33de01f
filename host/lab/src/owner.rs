//! The devnet's subnet owner: registered on the local chain and marked as its owner, it
//! announces a second scorer once the chain is in epoch 1, so that every devnet run of four
//! epochs or more shows an announcement, a shadow epoch (2) and the swap (3)
//! (docs/decisions/0005-policy-announcements.md).
//!
//! The second scorer is the devnet's scorer (constantinople unless `--scorer` names another)
//! with a custom section appended that names it: the same
//! code under a new sha256 (a custom section is ignored when a component runs). It is the
//! smallest honest stand-in for an owner's new scorer: no policy is invented for the devnet, and
//! the swap still shows what any swap does, since a new scorer starts from an empty state (its
//! shadow epoch's scores differ from the active one's where the active one's carried-over
//! verification counts weigh in).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use assay_chain::{Epochs, LocalChain, Neuron};
use assay_epoch::LocalFolder;
use assay_epoch::{ObjectStore, Summary};
use assay_keys::{Hotkey, Scheme};
use assay_node::Closed;
use assay_node::announcement::Announcement;
use assay_node::owner;
use assay_policy_runtime::{Digest, Runtime, World};
use tokio::sync::watch;

/// The chain epoch in which the owner announces.
pub const ANNOUNCED_IN: u64 = 1;

/// The custom section's name and text (name and text under 128 bytes together, so its size is
/// one LEB128 byte).
const SECTION_NAME: &[u8] = b"assay-devnet";
const SECTION_TEXT: &[u8] = b"the devnet owner's announced scorer: the active scorer's code";

/// `component` with a custom section naming it the devnet owner's scorer: a new sha256, the
/// same behaviour.
pub fn second_scorer(component: &[u8]) -> Vec<u8> {
    let size = 1 + SECTION_NAME.len() + SECTION_TEXT.len();
    const { assert!(1 + SECTION_NAME.len() + SECTION_TEXT.len() < 128) };
    let mut bytes = component.to_vec();
    bytes.extend([0u8, size as u8, SECTION_NAME.len() as u8]);
    bytes.extend(SECTION_NAME);
    bytes.extend(SECTION_TEXT);
    bytes
}

/// The devnet's owner: its hotkey (saved in the devnet's wallet) and its scorer announcement.
pub struct Owner {
    pub hotkey: Hotkey,
    pub announcement: Announcement,
    /// The name of the scorer whose code the announced one is.
    scorer: String,
}

impl Owner {
    /// Creates the owner's hotkey in `out`'s wallet and puts the second scorer, checked, into
    /// its publication (`out/owner-published`), compiled into `cache` (the node's, so that the
    /// validator finds it compiled). Says what the owner will announce on `view`.
    pub fn prepare(
        out: &Path,
        cache: &Path,
        (name, scorer): (&str, &[u8]),
        view: &crate::devnet_view::SharedView,
    ) -> anyhow::Result<Self> {
        let hotkey = Hotkey::generate(Scheme::Sr25519)?;
        hotkey.save(&out.join("wallets/devnet/hotkeys/owner"))?;
        let bytes = second_scorer(scorer);
        let announcement = Announcement { world: World::Scorer, digest: Digest::of(&bytes), from_epoch: None };
        let runtime = Runtime::new(Some(cache))?;
        owner::publish(&LocalFolder::new(out.join("owner-published")), &runtime, &announcement, &bytes)?;
        view.line(&format!(
            "the subnet owner will announce scorer {} ({name} with a section naming it: the same code, a new \
             hash, starting from an empty state) in epoch {ANNOUNCED_IN}",
            short(&announcement.digest.to_string())
        ));
        Ok(Self { hotkey, announcement, scorer: name.to_owned() })
    }

    /// Scorers by name: the devnet's scorer (`active`, its digest) and the owner's.
    pub fn names(&self, active: &Digest) -> BTreeMap<String, String> {
        BTreeMap::from([
            (active.to_string(), self.scorer.clone()),
            (self.announcement.digest.to_string(), format!("{}, as the owner announced it", self.scorer)),
        ])
    }

    /// The owner's neuron: registered, serving nothing.
    pub fn neuron(&self, uid: u16) -> Neuron {
        Neuron {
            uid,
            hotkey: self.hotkey.ss58(),
            stake: 0,
            validator_permit: false,
            axon: None,
            registered_at_block: 0,
            capacities: Default::default(),
            coldkey: None,
            last_update: 0,
        }
    }

    /// Once the chain is in epoch [`ANNOUNCED_IN`], the owner's commitment names the second
    /// scorer (unless the run stops first). By the chain's clock, not the node's progress: a
    /// validator that lags still runs the shadow epoch at the same epoch as any other.
    pub fn announce_in_epoch_1(
        self,
        runtime: &tokio::runtime::Runtime,
        chain_dir: &Path,
        epochs: Epochs,
        view: crate::devnet_view::SharedView,
        mut stopped: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        let chain_dir = chain_dir.to_path_buf();
        runtime.spawn(async move {
            let chain = LocalChain::open(&chain_dir)?;
            while epochs.of_block(chain.block_now()) < ANNOUNCED_IN {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = stopped.wait_for(|s| *s) => return Ok(()),
                }
            }
            let held = owner::commit(&chain, 1, &self.hotkey.ss58(), None, &self.announcement, epochs)
                .await
                .context("the owner's announcement")?;
            view.line(&format!(
                "the subnet owner announces scorer {} at block {} (epoch {}): one epoch in shadow, then the swap",
                short(&self.announcement.digest.to_string()),
                held.block,
                epochs.of_block(held.block)
            ));
            Ok(())
        })
    }
}

/// The first 12 hex digits of a digest.
pub fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

/// A closed epoch as the devnet shows it: its summary and the scorers the summary names.
pub fn closed_line(closed: &Closed, names: &BTreeMap<String, String>) -> String {
    let name = |sha: &str| names.get(sha).cloned().unwrap_or_else(|| short(sha).to_string());
    let s = &closed.summary;
    let shadow = s.shadow.as_ref().map(|sh| format!(", in shadow: {}", name(&sh.scorer.sha256)));
    format!(
        "epoch {} closed: {} (scorer {}{})",
        s.epoch,
        closed.summary_key,
        name(&s.scorer.sha256),
        shadow.unwrap_or_default()
    )
}

/// One line per published epoch: the scorer that ran it and the one in shadow beside it, by
/// name where `names` has one, as the signed summaries say.
pub fn scorers_by_epoch(store: &dyn ObjectStore, keys: &[String], names: &BTreeMap<String, String>) -> Vec<String> {
    let name = |sha: &str| names.get(sha).cloned().unwrap_or_else(|| short(sha).to_string());
    keys.iter()
        .filter_map(|key| Summary::parse_and_verify(&store.get(key).ok()??).ok())
        .map(|s| {
            let shadow = s.shadow.as_ref().map(|sh| format!("   in shadow: {}", name(&sh.scorer.sha256)));
            format!("  epoch {:<4} {}{}", s.epoch, name(&s.scorer.sha256), shadow.unwrap_or_default())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constantinople() -> Vec<u8> {
        let path = std::env::var_os("ASSAY_PLUGIN_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"))
            .join("constantinople.wasm");
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// A view that keeps the lines it is shown.
    #[derive(Default)]
    struct Lines(std::sync::Mutex<Vec<String>>);

    impl crate::devnet_view::View for Lines {
        fn line(&self, text: &str) {
            self.0.lock().expect("lock").push(text.to_string());
        }

        fn table(&self, _: &str) {}
    }

    #[test]
    fn the_owner_says_what_it_will_announce_on_the_view() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lines = std::sync::Arc::new(Lines::default());
        let view = crate::devnet_view::SharedView(lines.clone());
        let owner = Owner::prepare(dir.path(), &dir.path().join("cache"), ("constantinople", &constantinople()), &view)
            .expect("prepares");
        let shown = lines.0.lock().expect("lock").clone();
        let digest = owner.announcement.digest.to_string();
        let digest = short(&digest);
        assert!(
            shown.iter().any(|l| l.starts_with(&format!("the subnet owner will announce scorer {digest}"))),
            "{shown:?}"
        );
    }

    #[test]
    fn the_second_scorer_is_constantinople_under_another_hash() {
        let constantinople = constantinople();
        let second = second_scorer(&constantinople);
        assert_ne!(Digest::of(&second), Digest::of(&constantinople));
        let inspection = assay_policy_runtime::inspect(&second).expect("still a component");
        assert_eq!(inspection.world, World::Scorer);
        assert_eq!(second.len(), constantinople.len() + 3 + SECTION_NAME.len() + SECTION_TEXT.len());
    }
}
