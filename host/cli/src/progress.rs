//! Progress bars (indicatif) for commands that run longer than a few seconds: drawn on stderr
//! when it is a terminal, hidden otherwise, never on stdout. Log lines go above them
//! ([`suspend`]).
//!
//! Owns: every bar the process draws. Must not touch: what commands print. Library crates report
//! progress through callbacks (e.g. `assay_lab::detect::Progress`); this module turns those
//! into bars.

use std::io::IsTerminal;
use std::sync::LazyLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

/// Every bar of the process, so that log lines can be written above them.
static BARS: LazyLock<MultiProgress> = LazyLock::new(|| {
    let target =
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    MultiProgress::with_draw_target(target)
});

/// Draws no bar nor spinner from here on (`--quiet`: nothing but the exit code).
pub fn hide() {
    BARS.set_draw_target(ProgressDrawTarget::hidden());
}

/// Runs `write` with the bars cleared, then redraws them.
pub fn suspend<R>(write: impl FnOnce() -> R) -> R {
    BARS.suspend(write)
}

/// A bar of `total` steps, `what` before it (e.g. "auditing epochs").
pub fn bar(total: u64, what: &str) -> ProgressBar {
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed}, ~{eta} left)")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = ProgressBar::new(total).with_style(style).with_message(what.to_string());
    // Dropped (an early return included), it goes.
    let bar = BARS.add(bar.with_finish(ProgressFinish::AndClear));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A spinner for a step of unknown length (e.g. "loading the model").
#[cfg(feature = "node")]
pub fn spinner(what: &str) -> ProgressBar {
    let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let spinner = ProgressBar::new_spinner().with_style(style).with_message(what.to_string());
    let spinner = BARS.add(spinner.with_finish(ProgressFinish::AndClear));
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}

/// Runs `step` under a spinner saying `what`; the spinner goes when it ends.
#[cfg(feature = "node")]
pub fn while_running<R>(what: &str, step: impl FnOnce() -> R) -> R {
    let spinner = spinner(what);
    let result = step();
    spinner.finish_and_clear();
    result
}

/// A library's progress by phases (`assay_epoch::history::Progress`, which the lab's detection
/// experiment reuses) as one bar per phase.
#[derive(Default)]
pub struct PhaseBars {
    current: std::sync::Mutex<Option<ProgressBar>>,
}

impl PhaseBars {
    fn current(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn start(&self, what: &str, total: u64) {
        *self.current() = Some(bar(total, what));
    }

    fn inc(&self) {
        if let Some(bar) = self.current().as_ref() {
            bar.inc(1);
        }
    }

    fn end(&self) {
        if let Some(bar) = self.current().take() {
            bar.finish_and_clear();
        }
    }
}

impl assay_epoch::history::Progress for PhaseBars {
    fn phase(&self, what: &str, total: u64) {
        self.start(what, total);
    }

    fn step(&self) {
        self.inc();
    }

    fn done(&self) {
        self.end();
    }
}
