//! `assay devnet --scorer cacheon`'s competition table: per miner and for the baseline, the
//! epoch's competition requests and their medians by the validator's clock (time to first
//! token; tokens per second end to end, as the cacheon policy measures them).
//!
//! Also the devnet's cacheon check ([`check`]).
//!
//! Must not touch: the run itself, or scoring (the table only shows what the policy read).

use assay_ledger::{Outcome, RequestEntry, RequestKind};
use assay_policy_sdk::NO_MINER;

use crate::charges::Member;

/// The median of `values` (sorted here); `None` when empty.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// One line: requests, `ok` ones, median time to first token and tokens per second.
fn line(name: &str, uid: u16, rows: &[&RequestEntry]) -> String {
    let ok: Vec<_> =
        rows.iter().filter(|e| e.record.outcome == Outcome::Ok && e.record.completion_tokens > 0).collect();
    let ttft = median(ok.iter().map(|e| e.record.ttft_ms).collect());
    let tps = median(
        ok.iter()
            .filter(|e| e.record.total_ms > 0.0)
            .map(|e| f64::from(e.record.completion_tokens) * 1000.0 / e.record.total_ms)
            .collect(),
    );
    let shown = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    format!("           {uid:<5} {name:<18} {:>8} {:>5} {:>16} {:>14}", rows.len(), ok.len(), shown(ttft), shown(tps))
}

/// The competition's rows of `epoch` in `requests`: the baseline's, then each member's.
pub fn timings(epoch: u64, requests: &[RequestEntry], members: &[Member]) -> String {
    let mut lines = vec![
        format!("competition of epoch {epoch} (the validator's clock, medians of ok requests)"),
        format!(
            "           {:<5} {:<18} {:>8} {:>5} {:>16} {:>14}",
            "uid", "server", "requests", "ok", "ttft ms", "tokens/s"
        ),
    ];
    let baseline: Vec<&RequestEntry> = requests.iter().filter(|e| e.record.kind == RequestKind::Baseline).collect();
    lines.push(line("baseline", NO_MINER, &baseline));
    for member in members {
        let mine: Vec<&RequestEntry> =
            requests.iter().filter(|e| e.record.uid == member.uid && e.record.kind == RequestKind::Synthetic).collect();
        lines.push(line(&member.name, member.uid, &mine));
    }
    lines.join("\n")
}

/// Whether the competition worked (`--scorer cacheon`): the epoch has baseline rows, and the
/// honest fast miner (faster than the baseline by construction) was paid.
pub fn check(requests: &[RequestEntry], honest_fast_weight: u16) -> Result<(), String> {
    if !requests.iter().any(|e| e.record.kind == RequestKind::Baseline) {
        return Err("the competition recorded no baseline rows in the last closed epoch".into());
    }
    if honest_fast_weight == 0 {
        return Err("the honest fast miner, faster than the baseline, ended at weight zero under cacheon".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: RequestKind) -> RequestEntry {
        let record = assay_ledger::RequestRow {
            id: 1,
            uid: NO_MINER,
            kind,
            outcome: Outcome::Ok,
            greedy: true,
            prompt_tokens: 10,
            completion_tokens: 10,
            ttft_ms: 1.0,
            total_ms: 2.0,
            reported_ttft_ms: None,
            reported_tps: None,
            quality: None,
            started_ms: 0,
        };
        RequestEntry { task: "chat".into(), record, values: Vec::new(), content: None }
    }

    #[test]
    fn the_cacheon_check_needs_baseline_rows_and_a_paid_fast_miner() {
        let baseline = [row(RequestKind::Baseline)];
        assert!(check(&baseline, 1).is_ok());
        assert!(check(&baseline, 0).expect_err("unpaid").contains("weight zero"));
        assert!(check(&[row(RequestKind::Synthetic)], 5).expect_err("no baseline").contains("no baseline"));
        assert!(check(&[], 5).is_err());
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        // (2 + 3) / 2 = 2.5
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }
}
