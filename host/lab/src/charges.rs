//! Who was charged for what over a devnet's whole run: per miner, its requests by outcome and
//! its challenges by verdict, read back from the ledger. A charge is what lowers a miner's score
//! or opens its circuit (a server error, a timeout, a bad response, a failed challenge); a
//! cancellation (the user's) and a 429 (the miner protecting itself) are not. The soak's verdict
//! is that no honest miner has any.

use std::collections::{BTreeMap, HashMap};

use assay_ledger::{Ledger, Outcome, Verdict};

/// A miner of the devnet, as the tables name it.
#[derive(Debug, Clone)]
pub struct Member {
    pub uid: u16,
    pub name: String,
    pub honest: bool,
}

/// One miner's requests by outcome and challenges by verdict.
#[derive(Debug, Clone, Default)]
pub struct Charges {
    pub outcomes: HashMap<Outcome, u64>,
    pub verdicts: HashMap<Verdict, u64>,
}

impl Charges {
    fn outcome(&self, outcome: Outcome) -> u64 {
        self.outcomes.get(&outcome).copied().unwrap_or(0)
    }

    /// What the miner was charged with, as `"3 timeout, 1 failed challenge"`; empty when nothing.
    pub fn charged(&self) -> String {
        let mut parts = Vec::new();
        for (outcome, name) in [
            (Outcome::ServerError, "server-error"),
            (Outcome::Timeout, "timeout"),
            (Outcome::BadResponse, "bad-response"),
        ] {
            let n = self.outcome(outcome);
            if n > 0 {
                parts.push(format!("{n} {name}"));
            }
        }
        let failed = self.verdicts.get(&Verdict::Fail).copied().unwrap_or(0);
        if failed > 0 {
            parts.push(format!("{failed} failed challenge{}", if failed == 1 { "" } else { "s" }));
        }
        parts.join(", ")
    }
}

/// Every miner's charges in epochs `0..=through`.
pub fn tally(ledger: &dyn Ledger, through: u64) -> BTreeMap<u16, Charges> {
    let mut out: BTreeMap<u16, Charges> = BTreeMap::new();
    for epoch in 0..=through {
        for entry in ledger.requests(epoch).unwrap_or_default() {
            *out.entry(entry.record.uid).or_default().outcomes.entry(entry.record.outcome).or_default() += 1;
        }
        for challenge in ledger.challenges(epoch).unwrap_or_default() {
            *out.entry(challenge.uid).or_default().verdicts.entry(challenge.verdict).or_default() += 1;
        }
    }
    out
}

/// The honest miners that were charged, each as `"name: what"`.
pub fn honest_charged(members: &[Member], charges: &BTreeMap<u16, Charges>) -> Vec<String> {
    members
        .iter()
        .filter(|m| m.honest)
        .filter_map(|m| {
            let what = charges.get(&m.uid)?.charged();
            (!what.is_empty()).then(|| format!("{}: {what}", m.name))
        })
        .collect()
}

/// Per miner over the whole run: requests by outcome, challenges by verdict, the last weight.
pub fn table(members: &[Member], charges: &BTreeMap<u16, Charges>, weights: &BTreeMap<u16, u16>) -> String {
    let mut lines = vec![format!(
        "{:<4} {:<18} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>7}",
        "uid", "miner", "ok", "cancel", "429", "5xx", "timeout", "bad", "pass", "fail", "void", "weight"
    )];
    for m in members {
        let c = charges.get(&m.uid).cloned().unwrap_or_default();
        let v = |verdict| c.verdicts.get(&verdict).copied().unwrap_or(0);
        lines.push(format!(
            "{:<4} {:<18} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>7}",
            m.uid,
            m.name,
            c.outcome(Outcome::Ok),
            c.outcome(Outcome::Cancelled),
            c.outcome(Outcome::RateLimited),
            c.outcome(Outcome::ServerError),
            c.outcome(Outcome::Timeout),
            c.outcome(Outcome::BadResponse),
            v(Verdict::Pass),
            v(Verdict::Fail),
            v(Verdict::Void),
            weights.get(&m.uid).map_or("-".to_string(), |w| w.to_string())
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_lowers_a_score_is_a_charge() {
        let mut c = Charges::default();
        c.outcomes.insert(Outcome::Ok, 10);
        c.outcomes.insert(Outcome::Cancelled, 3);
        c.outcomes.insert(Outcome::RateLimited, 2);
        c.verdicts.insert(Verdict::Void, 1);
        assert_eq!(c.charged(), "");
        c.outcomes.insert(Outcome::Timeout, 2);
        c.verdicts.insert(Verdict::Fail, 1);
        assert_eq!(c.charged(), "2 timeout, 1 failed challenge");
        let members = [
            Member { uid: 0, name: "honest".into(), honest: true },
            Member { uid: 1, name: "cheat".into(), honest: false },
        ];
        let charges = BTreeMap::from([(0, c.clone()), (1, c)]);
        assert_eq!(honest_charged(&members, &charges), vec!["honest: 2 timeout, 1 failed challenge".to_string()]);
    }
}
