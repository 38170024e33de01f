//! The verifier's Prometheus families (docs/metrics.md): challenges started and dropped,
//! verdicts by verdict and reason, reference-pass time, and the queue's depth read at scrape
//! time. A reason is the challenger's free text: its label is the text before the first `:`,
//! cut to 48 bytes, and past 32 distinct reasons the rest count as `other`, so a policy cannot
//! grow the label set without bound.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use assay_metrics::prometheus_client::collector::Collector;
use assay_metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use assay_metrics::prometheus_client::metrics::counter::Counter;
use assay_metrics::prometheus_client::metrics::family::Family;
use assay_metrics::prometheus_client::metrics::histogram::Histogram;
use assay_metrics::prometheus_client::registry::Registry;
use assay_policy_sdk::Verdict;
use tokio::sync::Semaphore;

/// Distinct reason labels kept; the rest are `other`.
const MAX_REASONS: usize = 32;
/// The longest reason label, in bytes.
const MAX_REASON_BYTES: usize = 48;

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
    reasons: Arc<Mutex<HashSet<Arc<str>>>>,
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
        let reason = self.reason_label(reason);
        self.verdicts.get_or_create(&VerdictLabels { verdict, reason }).inc();
    }

    /// The bounded label of a free-text reason.
    fn reason_label(&self, reason: &str) -> Arc<str> {
        let head = reason.split(':').next().unwrap_or_default().trim();
        let mut end = head.len().min(MAX_REASON_BYTES);
        while !head.is_char_boundary(end) {
            end -= 1;
        }
        let head = &head[..end];
        let mut seen = self.reasons.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = seen.get(head) {
            return known.clone();
        }
        if seen.len() >= MAX_REASONS {
            return Arc::from("other");
        }
        let label: Arc<str> = Arc::from(head);
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
            "Challenge verdicts by verdict (pass, fail, void) and reason (the text before its first colon)",
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

    #[test]
    fn reasons_are_cut_and_bounded() {
        let metrics = VerifyMetrics::default();
        assert_eq!(&*metrics.reason_label("layer 3 too far: 0.12 > 0.05"), "layer 3 too far");
        assert_eq!(metrics.reason_label(&"é".repeat(40)).len(), 48);
        for i in 0..100 {
            metrics.verdict(Verdict::Fail, &format!("reason {i}: detail"));
        }
        assert_eq!(metrics.reasons.lock().expect("lock").len(), MAX_REASONS);
        assert_eq!(&*metrics.reason_label("reason 99"), "other");
        assert_eq!(&*metrics.reason_label("reason 3"), "reason 3");
    }
}
