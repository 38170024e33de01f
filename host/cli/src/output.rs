//! `--json` and `--quiet` on the commands scripts call (`audit`, `policy`, `chain`): text lines
//! for people, one JSON object on stdout for scripts, or nothing but the exit code.
//!
//! Owns: how a command's result reaches stdout. Must not touch: exit codes (a command's result
//! decides them whatever the output mode) or stderr (logs, errors, progress bars), except that
//! `--quiet` hides the bars.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::{CmdResult, Exit};

/// Whether this process has printed its JSON result: a command that fails after printing one
/// (an audit's FAIL) gets no second object.
static PRINTED_JSON: AtomicBool = AtomicBool::new(false);

/// The output flags of a command family; global, so they go before or after the subcommand.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct OutputFlags {
    /// Print the result as one JSON object on stdout (for scripts).
    #[arg(long, global = true, conflicts_with = "quiet")]
    pub json: bool,
    /// Print nothing on stdout: the exit code says it (0 ok, 1 failed check, 2 unusable input).
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// What goes to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Text,
    Json,
    Quiet,
}

impl OutputFlags {
    /// What goes to stdout; with `--quiet`, the progress bars and spinners on stderr are hidden
    /// too (a quiet command draws nothing).
    pub fn mode(self) -> Mode {
        match (self.json, self.quiet) {
            (true, _) => Mode::Json,
            (false, true) => {
                crate::progress::hide();
                Mode::Quiet
            }
            (false, false) => Mode::Text,
        }
    }
}

impl Mode {
    /// A line for people: printed in text mode only.
    pub fn line(self, text: impl std::fmt::Display) {
        if self == Mode::Text {
            outln!("{text}");
        }
    }

    /// The result for scripts: printed in JSON mode only, one object on one line.
    pub fn json(self, value: &impl serde::Serialize) {
        if self == Mode::Json {
            // A Serialize of our own types and of JSON values cannot fail; say so if it does.
            let line = serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            PRINTED_JSON.store(true, Ordering::SeqCst);
            outln!("{line}");
        }
    }

    /// The same result both ways: `text` for people, `value` for scripts.
    pub fn result(self, text: impl std::fmt::Display, value: &impl serde::Serialize) {
        self.line(text);
        self.json(value);
    }

    /// Ends a command: where it failed before printing its result, `--json` still gets one
    /// object, `failure(verdict, error)` ("FAIL" for exit 1, "UNUSABLE" for exit 2), so that a
    /// script never reads an empty stdout. The error goes to stderr as well (main).
    pub fn finish<T: serde::Serialize>(
        self,
        result: CmdResult,
        failure: impl FnOnce(&'static str, String) -> T,
    ) -> CmdResult {
        if let Err(Exit { code, error }) = &result
            && self == Mode::Json
            && !PRINTED_JSON.load(Ordering::SeqCst)
        {
            self.json(&failure(verdict_of(*code), format!("{error:#}")));
        }
        result
    }

    /// [`Mode::finish`] with the plain failure object, `{"verdict": …, "error": …}` (policy, chain).
    pub fn finish_plain(self, result: CmdResult) -> CmdResult {
        self.finish(result, |verdict, error| serde_json::json!({ "verdict": verdict, "error": error }))
    }
}

/// The verdict of a failed command's exit code: 1 a failed check, 2 unusable input.
pub fn verdict_of(code: u8) -> &'static str {
    if code == 1 { "FAIL" } else { "UNUSABLE" }
}
