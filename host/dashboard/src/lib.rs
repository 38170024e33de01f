//! The operator's web dashboard (`[dashboard] listen` of `assay run`, `assay watch
//! --dashboard-addr`): a read-only HTTP server of embedded pages (HTML, CSS, JavaScript that
//! draws its own SVG charts; nothing fetched from elsewhere) and JSON views of a [`Source`].
//!
//! Owns: the views' types ([`view`]), the bounded epoch history sources keep ([`History`]), the
//! router ([`app`]) and its bounded accept loop ([`serve`]).
//! Must not touch: the node, the ledger, the chain or the watchtower: each process fills the
//! views through [`Source`]; nothing here can change anything (GET only, no secrets).

mod error;
mod history;
mod router;
mod serve;
pub mod view;

pub use error::{Error, Result};
pub use history::{History, MAX_EPOCHS};
pub use router::{CHART_EPOCHS, KEPT_SUMMARIES, MAX_SUMMARY_BYTES, SUMMARY_READS, app};
pub use serve::{Limits, bind, serve};
pub use view::{Audit, EpochView, Latency, MinerRow, Overview, Policies, VerdictCounts};

/// What a process shows on its dashboard. Called from a blocking thread, at most once per
/// request; an answer should be cheap (the page polls every two seconds).
pub trait Source: Send + Sync + 'static {
    /// What the process is doing now, with the open epoch's miners so far.
    fn overview(&self) -> Overview;
    /// The closed (or audited) epochs kept, oldest first, at most [`MAX_EPOCHS`].
    fn epochs(&self) -> Vec<EpochView>;
    /// A number that moves whenever [`epochs`](Self::epochs) changes (an epoch kept, an audit
    /// noted): [`History::revision`]. The router serialises the epochs again only then.
    fn revision(&self) -> u64;
    /// One kept epoch.
    fn epoch(&self, epoch: u64) -> Option<EpochView> {
        self.epochs().into_iter().find(|v| v.epoch == epoch)
    }
    /// The signed summary of `epoch` as published, for the page's links; `None` when this
    /// source has none for it.
    fn summary(&self, epoch: u64) -> Option<Vec<u8>> {
        let _ = epoch;
        None
    }
}
