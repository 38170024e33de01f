//! What the dashboard shows, as the JSON its page reads: the overview of now and one view per
//! epoch, each with its miners' rows. Sources fill them; [`bounded`](EpochView::bounded) caps
//! what any of them may hold.

use serde::{Deserialize, Serialize};

/// The most miners one view holds (a subnet has at most a few hundred uids).
pub const MAX_MINERS: usize = 1024;
/// The most score components one miner's row holds.
pub const MAX_COMPONENTS: usize = 32;
/// The most lines of notes or announcements one view holds.
pub const MAX_LINES: usize = 32;
/// The longest text of any one field (hashes, hotkeys, keys, reasons), in characters.
pub const MAX_TEXT: usize = 256;

/// Upper bounds, in milliseconds, of the latency histogram's buckets; a last bucket holds the
/// rest. Fixed, so that histograms of different epochs and miners compare.
pub const LATENCY_BUCKETS_MS: [f64; 8] = [25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0];

/// Challenge verdicts, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictCounts {
    pub passed: u32,
    pub failed: u32,
    pub voided: u32,
}

/// A miner's request latencies (the validator's clock, whole answers): quantiles and a
/// histogram over [`LATENCY_BUCKETS_MS`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub samples: u32,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub max_ms: f64,
    /// Counts per bucket: `LATENCY_BUCKETS_MS.len() + 1` of them.
    pub buckets: Vec<u32>,
}

impl Latency {
    /// The digest of `samples_ms` (non-finite values are left out); `None` when none is left.
    pub fn of(samples_ms: &[f64]) -> Option<Self> {
        let mut sorted: Vec<f64> = samples_ms.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let quantile = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        let mut buckets = vec![0u32; LATENCY_BUCKETS_MS.len() + 1];
        for v in &sorted {
            let at = LATENCY_BUCKETS_MS.iter().position(|bound| v <= bound).unwrap_or(LATENCY_BUCKETS_MS.len());
            buckets[at] = buckets[at].saturating_add(1);
        }
        Some(Self {
            samples: u32::try_from(sorted.len()).unwrap_or(u32::MAX),
            p50_ms: quantile(0.5),
            p90_ms: quantile(0.9),
            max_ms: sorted[sorted.len() - 1],
            buckets,
        })
    }
}

/// A named score component, as the scorer returned it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    pub name: String,
    pub value: f64,
}

/// One miner in one epoch (or in the open epoch so far).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MinerRow {
    pub uid: u16,
    /// SS58 address; empty when not known.
    pub hotkey: String,
    /// The weight set for this epoch; `None` in the open epoch, or when unscored.
    pub weight: Option<u16>,
    /// Its share of all the weights set this epoch, in percent (every uid's, shown or not).
    #[serde(default)]
    pub share: Option<f64>,
    pub score: Option<f64>,
    pub components: Vec<Component>,
    pub requests: u32,
    /// Requests the miner answered well.
    pub ok: u32,
    pub verdicts: VerdictCounts,
    pub latency: Option<Latency>,
}

/// An audit of a published epoch (the watchtower's, where one ran).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    /// `PASS` or `FAIL` (or `UNUSABLE`: the publication could not be judged).
    pub verdict: String,
    pub detail: Option<String>,
}

/// One closed (or audited) epoch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochView {
    pub epoch: u64,
    /// Where its summary was published (the key in the publication).
    pub summary_key: String,
    pub summary_sha256: String,
    /// The scorer that ran it (sha256), the one in shadow beside it, the challenger.
    pub scorer: String,
    pub shadow: Option<String>,
    pub challenger: Option<String>,
    /// Why nothing was scored, when so.
    pub unscored: Option<String>,
    pub audit: Option<Audit>,
    pub miners: Vec<MinerRow>,
}

/// The policies now: the active scorer, the one in shadow, the challenger, and the owner's
/// announcements (a pending swap among them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Policies {
    pub scorer: Option<String>,
    pub shadow: Option<String>,
    pub challenger: Option<String>,
    pub announcements: Vec<String>,
}

/// What the process is doing now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// `validator` or `watchtower`.
    pub role: String,
    pub netuid: u16,
    /// The validator's hotkey (the one watched, for a watchtower).
    pub validator: String,
    /// The chain, in words.
    pub chain: String,
    pub head: Option<u64>,
    /// The open epoch.
    pub epoch: Option<u64>,
    pub chain_error: Option<String>,
    pub policies: Policies,
    /// The open epoch's miners so far (no weights yet).
    pub current: Vec<MinerRow>,
    /// The last epoch in [`Source::epochs`](crate::Source::epochs).
    pub last_epoch: Option<u64>,
    /// The history's revision ([`Source::revision`](crate::Source::revision), filled by the
    /// router): the page reloads the epochs when it moves (a new epoch, an audit noted).
    #[serde(default)]
    pub revision: u64,
    /// Closed epochs whose publication is still queued (their summary links would 404).
    #[serde(default)]
    pub queued: Vec<u64>,
    /// Anything else worth a line (queued publications, errors).
    pub notes: Vec<String>,
}

/// Joins an epoch's weights to its rows: each row's weight and share of the total of
/// `weights` (every uid's), a row added for a uid with a weight above zero not yet there (so
/// that the shares shown sum to 100%). `scored` false: no weights were set (the rows keep none).
pub fn join_weights(rows: &mut Vec<MinerRow>, weights: &[(u16, u16)], scored: bool) {
    if !scored {
        return;
    }
    for &(uid, weight) in weights {
        if weight > 0 && !rows.iter().any(|r| r.uid == uid) {
            rows.push(MinerRow { uid, ..MinerRow::default() });
        }
    }
    rows.sort_by_key(|r| r.uid);
    let total: f64 = weights.iter().map(|&(_, w)| f64::from(w)).sum();
    for row in rows.iter_mut() {
        let weight = weights.iter().find(|&&(uid, _)| uid == row.uid).map_or(0, |&(_, w)| w);
        row.weight = Some(weight);
        row.share = (total > 0.0).then(|| 100.0 * f64::from(weight) / total);
    }
}

/// `text` with each URL in it (a word with `://`) stripped of its userinfo (`user:pass@`), its
/// query and its fragment: where credentials of a chain endpoint would be.
pub fn redact_urls(text: &str) -> String {
    let redact = |word: &str| -> String {
        let Some(at) = word.find("://") else { return word.to_string() };
        let (scheme, rest) = word.split_at(at + 3);
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        format!("{scheme}{host}{path}")
    };
    text.split(' ').map(redact).collect::<Vec<_>>().join(" ")
}

fn cap_text(text: &mut String) {
    if let Some((at, _)) = text.char_indices().nth(MAX_TEXT) {
        text.truncate(at);
    }
}

fn cap_lines(lines: &mut Vec<String>) {
    lines.truncate(MAX_LINES);
    lines.iter_mut().for_each(cap_text);
}

fn cap_option(text: &mut Option<String>) {
    if let Some(t) = text.as_mut() {
        cap_text(t);
    }
}

impl MinerRow {
    /// The row with its components and texts capped.
    pub fn bounded(mut self) -> Self {
        cap_text(&mut self.hotkey);
        self.components.truncate(MAX_COMPONENTS);
        self.components.iter_mut().for_each(|c| cap_text(&mut c.name));
        self
    }
}

fn cap_miners(miners: &mut Vec<MinerRow>) {
    miners.truncate(MAX_MINERS);
    *miners = std::mem::take(miners).into_iter().map(MinerRow::bounded).collect();
}

impl EpochView {
    /// The view with its miners, components and texts capped.
    pub fn bounded(mut self) -> Self {
        for text in [&mut self.summary_key, &mut self.summary_sha256, &mut self.scorer] {
            cap_text(text);
        }
        for text in [&mut self.shadow, &mut self.challenger, &mut self.unscored] {
            cap_option(text);
        }
        if let Some(audit) = self.audit.as_mut() {
            cap_text(&mut audit.verdict);
            cap_option(&mut audit.detail);
        }
        cap_miners(&mut self.miners);
        self
    }
}

impl Overview {
    /// The overview with its miners, lines and texts capped.
    pub fn bounded(mut self) -> Self {
        self.chain = redact_urls(&self.chain);
        for text in [&mut self.role, &mut self.validator, &mut self.chain] {
            cap_text(text);
        }
        cap_option(&mut self.chain_error);
        let p = &mut self.policies;
        for text in [&mut p.scorer, &mut p.shadow, &mut p.challenger] {
            cap_option(text);
        }
        cap_lines(&mut p.announcements);
        cap_lines(&mut self.notes);
        cap_miners(&mut self.current);
        self.queued.truncate(crate::MAX_EPOCHS);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_quantiles_and_buckets() {
        let latency = Latency::of(&[10.0, 30.0, 30.0, 90.0, 5000.0, f64::NAN]).expect("samples");
        assert_eq!(latency.samples, 5);
        assert_eq!((latency.p50_ms, latency.max_ms), (30.0, 5000.0));
        assert_eq!(latency.buckets, vec![1, 2, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(Latency::of(&[f64::INFINITY]), None);
    }

    #[test]
    fn shares_are_of_every_uids_weight() {
        let mut rows = vec![MinerRow { uid: 3, ..MinerRow::default() }, MinerRow { uid: 1, ..MinerRow::default() }];
        // uid 0 (no axon, no row) holds half the weight: the shown rows' shares do not sum to 100.
        // uid 5 at weight 0 and with no row (the owner, say) gets none.
        join_weights(&mut rows, &[(0, 200), (1, 100), (2, 100), (5, 0)], true);
        let got: Vec<(u16, Option<u16>, Option<f64>)> = rows.iter().map(|r| (r.uid, r.weight, r.share)).collect();
        assert_eq!(
            got,
            [
                (0, Some(200), Some(50.0)),
                (1, Some(100), Some(25.0)),
                (2, Some(100), Some(25.0)),
                (3, Some(0), Some(0.0))
            ]
        );
        let mut unscored = vec![MinerRow::default()];
        join_weights(&mut unscored, &[(0, 1)], false);
        assert_eq!((unscored.len(), unscored[0].weight, unscored[0].share), (1, None, None));
    }

    #[test]
    fn chain_urls_lose_their_credentials() {
        let overview = Overview {
            chain: "subtensor at wss://user:secret@node.example:443/ws?token=abc#x".into(),
            ..Overview::default()
        };
        assert_eq!(overview.bounded().chain, "subtensor at wss://node.example:443/ws");
        for kept in ["local chain in /srv/chain", "subtensor at ws://127.0.0.1:9944", "http://a/b@c"] {
            assert_eq!(redact_urls(kept), kept);
        }
    }

    #[test]
    fn views_are_capped() {
        let row = MinerRow {
            hotkey: "h".repeat(1000),
            components: (0..100).map(|i| Component { name: format!("c{i}"), value: 1.0 }).collect(),
            ..MinerRow::default()
        };
        let view = EpochView { miners: vec![row; MAX_MINERS + 5], scorer: "é".repeat(300), ..Default::default() };
        let view = view.bounded();
        assert_eq!(view.miners.len(), MAX_MINERS);
        assert_eq!(view.miners[0].components.len(), MAX_COMPONENTS);
        assert_eq!(view.miners[0].hotkey.len(), MAX_TEXT);
        assert_eq!(view.scorer.chars().count(), MAX_TEXT);
    }
}
