//! `--json` and `--quiet` on the commands scripts call (`audit`, `policy`, `chain`): text lines
//! for people, one JSON object on stdout for scripts, or nothing but the exit code.
//!
//! Owns: how a command's result reaches stdout. Must not touch: exit codes (a command's result
//! decides them whatever the output mode) or stderr (logs, errors, progress bars).

use serde_json::Value;

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
    pub fn mode(self) -> Mode {
        match (self.json, self.quiet) {
            (true, _) => Mode::Json,
            (false, true) => Mode::Quiet,
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
    pub fn json(self, value: &Value) {
        if self == Mode::Json {
            outln!("{value}");
        }
    }

    /// The same result both ways: `text` for people, `value` for scripts.
    pub fn result(self, text: impl std::fmt::Display, value: &Value) {
        self.line(text);
        self.json(value);
    }
}
