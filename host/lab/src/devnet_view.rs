//! What a person watching `assay devnet` sees while it runs: lines that stay (start-up
//! addresses, closed epochs, the owner's announcement) and the live table, replaced each time.
//! [`PlainView`] prints both as lines on stderr (pipes, CI, tests); a terminal front end (the
//! CLI's) redraws the table in place instead.
//!
//! Owns: the view's contract. Must not touch: terminals (no escape codes here).

use std::path::Path;
use std::sync::Arc;

/// Where the devnet shows what it does while it runs.
pub trait View: Send + Sync {
    /// The devnet's folder exists: a view may move the logs there (and say where).
    fn folder_ready(&self, _out: &Path) {}
    /// A line that stays.
    fn line(&self, text: &str);
    /// The live table (rows separated by `\n`), replacing the one shown before.
    fn table(&self, text: &str);
    /// The run is over: what comes after (the report on stdout) goes below the last table.
    fn finish(&self) {}
}

/// Lines on stderr, each table after a blank line: what pipes and tests read.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlainView;

impl View for PlainView {
    fn line(&self, text: &str) {
        eprintln!("{text}");
    }

    fn table(&self, text: &str) {
        eprintln!("\n{text}");
    }
}

/// A view shared by the devnet's tasks.
#[derive(Clone)]
pub struct SharedView(pub Arc<dyn View>);

impl Default for SharedView {
    fn default() -> Self {
        Self(Arc::new(PlainView))
    }
}

impl std::fmt::Debug for SharedView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedView")
    }
}

impl std::ops::Deref for SharedView {
    type Target = dyn View;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref()
    }
}
