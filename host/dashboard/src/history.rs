//! The epochs a source keeps for its dashboard: the last [`MAX_EPOCHS`], each capped, one per
//! epoch number (a later view of an epoch replaces the earlier one, e.g. once audited).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::view::EpochView;

/// How many epochs a dashboard keeps.
pub const MAX_EPOCHS: usize = 256;

/// A shared, bounded history of epoch views, with a revision that moves at each change.
#[derive(Debug, Clone, Default)]
pub struct History(Arc<Mutex<Kept>>);

#[derive(Debug, Default)]
struct Kept {
    epochs: BTreeMap<u64, EpochView>,
    revision: u64,
}

impl History {
    /// Keeps `view` (capped), replacing an earlier view of its epoch and dropping the oldest
    /// epochs past [`MAX_EPOCHS`].
    pub fn record(&self, view: EpochView) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        kept.epochs.insert(view.epoch, view.bounded());
        while kept.epochs.len() > MAX_EPOCHS {
            kept.epochs.pop_first();
        }
        kept.revision += 1;
    }

    /// Changes the kept view of `epoch`, if there is one.
    pub fn update(&self, epoch: u64, f: impl FnOnce(&mut EpochView)) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(view) = kept.epochs.get_mut(&epoch) {
            let before = view.clone();
            f(view);
            if *view != before {
                kept.revision += 1;
            }
        }
    }

    /// Every kept view, oldest first.
    pub fn epochs(&self) -> Vec<EpochView> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).epochs.values().cloned().collect()
    }

    /// How many epochs are kept.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).epochs.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves whenever a view is kept or changed.
    pub fn revision(&self) -> u64 {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).revision
    }

    /// The newest kept epoch.
    pub fn last_epoch(&self) -> Option<u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).epochs.keys().next_back().copied()
    }

    /// The kept view of `epoch`.
    pub fn get(&self, epoch: u64) -> Option<EpochView> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).epochs.get(&epoch).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_epochs_one_view_each() {
        let history = History::default();
        for epoch in 0..(MAX_EPOCHS as u64 + 10) {
            history.record(EpochView { epoch, ..Default::default() });
        }
        history.record(EpochView { epoch: 300, scorer: "later".into(), ..Default::default() });
        let revision = history.revision();
        history.update(300, |v| v.summary_key = "k".into());
        assert_eq!(history.revision(), revision + 1, "a change moves the revision");
        history.update(300, |v| v.summary_key = "k".into());
        history.update(7, |v| v.summary_key = "gone".into());
        assert_eq!(history.revision(), revision + 1, "no change, no move");
        let epochs = history.epochs();
        assert_eq!(epochs.len(), MAX_EPOCHS);
        assert_eq!(epochs[0].epoch, 11, "the oldest were dropped");
        assert_eq!(history.last_epoch(), Some(300));
        let replaced = history.get(300).expect("kept");
        assert_eq!((replaced.scorer.as_str(), replaced.summary_key.as_str()), ("later", "k"));
    }
}
