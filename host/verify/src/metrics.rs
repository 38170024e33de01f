//! The verifier's Prometheus families (docs/metrics.md): challenges started and dropped,
//! verdicts by verdict and reason, reference-pass time, and the queue's depth read at scrape
//! time. A reason is the challenger's free text: a pass has no reason label (its text differs per
//! challenge); for the others the label is the text with every run of digits written `N`, cut at
//! the first `:` or at 48 bytes, and past 32 distinct labels per verdict the rest count as
//! `other`, so a policy cannot grow the label set without bound.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use assay_metrics::prometheus_client::collector::Collector;
use assay_metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use assay_metrics::prometheus_client::metrics::counter::Counter;
use assay_metrics::prometheus_client::metrics::family::Family;
use assay_metrics::prometheus_client::metrics::histogram::Histogram;
use assay_metrics::prometheus_client::registry::Registry;
use assay_policy_sdk::Verdict;
use tokio::sync::Semaphore;

/// Distinct reason labels kept per verdict; the rest are `other`.
const MAX_REASONS: usize = 32;
/// The longest reason label, in bytes.
const MAX_REASON_BYTES: usize = 48;

/// The reason labels handed out so far, per verdict.
type ReasonsByVerdict = HashMap<&'static str, HashSet<Arc<str>>>;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VerdictLabels {
    verdict: &'static str,
    reason: Arc<str>,
}

#[derive(Debug, Clone)]
pub(crate) struct VerifyMetrics {
    challenges: Counter,
    dropped: Counter,
    verdicts: Family<VerdictLabels, Counter>,
    reference_seconds: Histogram,
    reasons: Arc<Mutex<ReasonsByVerdict>>,
}

impl Default for VerifyMetrics {
    fn default() -> Self {
        Self {
            challenges: Counter::default(),
            dropped: Counter::default(),
            verdicts: Family::default(),
            reference_seconds: assay_metrics::seconds_histogram(),
            reasons: Arc::default(),
        }
    }
}

impl VerifyMetrics {
    pub fn started(&self) {
        self.challenges.inc();
    }

    pub fn dropped(&self) {
        self.dropped.inc();
    }

    pub fn reference_pass(&self, seconds: f64) {
        self.reference_seconds.observe(seconds);
    }

    pub fn verdict(&self, verdict: Verdict, reason: &str) {
        let verdict = match verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Void => "void",
        };
        let reason = self.reason_label(verdict, reason);
        self.verdicts.get_or_create(&VerdictLabels { verdict, reason }).inc();
    }

    /// The bounded label of a free-text reason under `verdict`: empty for a pass.
    fn reason_label(&self, verdict: &'static str, reason: &str) -> Arc<str> {
        if verdict == "pass" {
            return Arc::from("");
        }
        let label = normalise_reason(reason);
        let mut seen = self.reasons.lock().unwrap_or_else(|p| p.into_inner());
        let seen = seen.entry(verdict).or_default();
        if let Some(known) = seen.get(label.as_str()) {
            return known.clone();
        }
        if seen.len() >= MAX_REASONS {
            return Arc::from("other");
        }
        let label: Arc<str> = Arc::from(label);
        seen.insert(label.clone());
        label
    }

    pub fn register(&self, registry: &mut Registry, queue: Arc<Semaphore>, max_pending: usize) {
        registry.register("assay_verify_challenges", "Challenges started", self.challenges.clone());
        registry.register(
            "assay_verify_challenges_dropped",
            "Planned challenges dropped because the verification queue was full (nobody charged)",
            self.dropped.clone(),
        );
        registry.register(
            "assay_verify_verdicts",
            "Challenge verdicts by verdict (pass, fail, void) and reason (empty for pass; digits as N, cut at the first colon)",
            self.verdicts.clone(),
        );
        registry.register(
            "assay_verify_reference_pass_seconds",
            "Time of a challenge's reference pass and judgement",
            self.reference_seconds.clone(),
        );
        registry.register_collector(Box::new(QueueDepth { queue, max_pending }));
    }
}

/// A reason's label text: every run of digits becomes `N`, then the text is cut at its first `:`
/// and at 48 bytes (on a character boundary) and trimmed.
fn normalise_reason(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len().min(MAX_REASON_BYTES));
    let mut in_digits = false;
    for c in reason.chars() {
        if c == ':' {
            break;
        }
        if c.is_ascii_digit() {
            if in_digits {
                continue;
            }
            in_digits = true;
            if out.len() + 1 > MAX_REASON_BYTES {
                break;
            }
            out.push('N');
            continue;
        }
        in_digits = false;
        if out.len() + c.len_utf8() > MAX_REASON_BYTES {
            break;
        }
        out.push(c);
    }
    out.trim().to_owned()
}

#[derive(Debug)]
struct QueueDepth {
    queue: Arc<Semaphore>,
    max_pending: usize,
}

impl Collector for QueueDepth {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let depth = self.max_pending.saturating_sub(self.queue.available_permits());
        assay_metrics::gauge(
            &mut encoder,
            "assay_verify_queue_depth",
            "Challenges planned and not yet recorded",
            depth as f64,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reason shapes copied from plugins/adaptive-challenger/src/judge.rs.
    fn challenger_reason(i: usize) -> Vec<(Verdict, String)> {
        let (layer, pos, n) = (i % 40, i * 7, 16 + i);
        vec![
            (Verdict::Pass, format!("{} points within thresholds, {n} tokens consistent", i % 9)),
            (Verdict::Void, format!("layer {layer} is past the model's {}", 28 + i % 5)),
            (Verdict::Fail, format!("non-finite hidden state at layer {layer} position {pos}")),
            (
                Verdict::Fail,
                format!(
                    "hidden state at layer {layer} position {pos}: rel-l2 {:.3e} (threshold {:.3e}), cosine {:.4}",
                    0.01 * i as f64,
                    0.002,
                    0.99
                ),
            ),
            (
                Verdict::Void,
                format!(
                    "precision disagreement at layer {layer} position {pos}: rel-l2 {:.3e} (threshold {:.3e})",
                    0.003, 0.002
                ),
            ),
            (
                Verdict::Void,
                format!(
                    "lone outlier at layer {layer} position {pos}: rel-l2 {:.3e} (threshold {:.3e}), cosine {:.4}; \
                     every other point within its threshold (honest drift has a heavy tail)",
                    0.005, 0.002, 0.99
                ),
            ),
            (
                Verdict::Fail,
                format!(
                    "hidden states are {:.2}× the honest error over {n} points (limit {:.2}×)",
                    2.5 + i as f64,
                    2.0
                ),
            ),
            (Verdict::Fail, format!("{} of {n} greedy tokens are not the reference's choice (allowed {})", i % 7, 1)),
            (Verdict::Fail, format!("a sampled token has log-prob {:.2} under the reference", -20.0 - i as f64)),
            (Verdict::Fail, format!("{} of {n} sampled tokens are below {} nats", i % 5, -10.0)),
            (Verdict::Fail, "opening missed its window".to_owned()),
        ]
    }

    #[test]
    fn challenger_reasons_keep_few_labels() {
        let metrics = VerifyMetrics::default();
        for i in 0..1000 {
            for (verdict, reason) in challenger_reason(i) {
                metrics.verdict(verdict, &reason);
            }
        }
        let seen = metrics.reasons.lock().expect("lock");
        assert!(!seen.contains_key("pass"), "a pass keeps no reason label");
        let mut labels: Vec<&str> = seen.values().flatten().map(|l| &**l).collect();
        labels.sort_unstable();
        assert_eq!(
            labels,
            [
                "N of N greedy tokens are not the reference's cho",
                "N of N sampled tokens are below -N nats",
                "a sampled token has log-prob -N.N under the refe",
                "hidden state at layer N position N",
                "hidden states are N.N× the honest error over N",
                "layer N is past the model's N",
                "lone outlier at layer N position N",
                "non-finite hidden state at layer N position N",
                "opening missed its window",
                "precision disagreement at layer N position N",
            ]
        );
        drop(seen);
        let mut registry = Registry::default();
        metrics.register(&mut registry, Arc::new(Semaphore::new(1)), 1);
        let text = assay_metrics::encode(&registry);
        assert!(text.contains(r#"verdict="pass",reason="""#), "{text}");
    }

    #[test]
    fn reasons_are_cut_and_bounded() {
        let metrics = VerifyMetrics::default();
        assert_eq!(&*metrics.reason_label("fail", "layer 3 too far: 0.12 > 0.05"), "layer N too far");
        assert_eq!(normalise_reason("layer 12 and 345"), "layer N and N");
        assert_eq!(metrics.reason_label("fail", &"é".repeat(40)).len(), 48);
        for i in 0..100 {
            metrics.verdict(Verdict::Fail, &format!("reason {}: detail", "x".repeat(i)));
        }
        assert_eq!(metrics.reasons.lock().expect("lock")["fail"].len(), MAX_REASONS);
        assert_eq!(&*metrics.reason_label("fail", &format!("reason {}", "x".repeat(99))), "other");
        assert_eq!(&*metrics.reason_label("fail", "reason xxx"), "reason xxx");
        // The cap is per verdict: voids still get their own labels.
        assert_eq!(&*metrics.reason_label("void", "nothing was measured"), "nothing was measured");
    }
}
