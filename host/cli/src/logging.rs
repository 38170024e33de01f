//! Where the process's logs go and in what form: `--log-format text|json` on stderr, colours
//! only when stderr is a terminal, and (for devnet's terminal view) a file instead of stderr.
//!
//! Owns: the tracing subscriber. Must not touch: what commands print on stdout.

use std::fs::File;
use std::io::{IsTerminal, Write};
#[cfg(feature = "node")]
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::fmt::MakeWriter;

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (coloured only on a terminal).
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The file logs go to once [`to_file`] was called; stderr until then.
static LOG_FILE: Mutex<Option<File>> = Mutex::new(None);

/// Sets up logging. With `may_move_to_file` (devnet's terminal view), colours stay off even on
/// a terminal, since the lines may end up in a file.
pub fn init(filter: &str, format: LogFormat, may_move_to_file: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = !may_move_to_file && std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(LogWriter).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// From now on, logs are appended to `path` instead of stderr.
#[cfg(feature = "node")]
pub fn to_file(path: &Path) -> std::io::Result<()> {
    let file = File::options().create(true).append(true).open(path)?;
    *LOG_FILE.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(file);
    Ok(())
}

/// Writes a log line to the log file, or to stderr above any progress bar.
struct LogWriter;

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut file = LOG_FILE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match file.as_mut() {
            Some(file) => file.write(buf),
            // A bar being drawn is cleared, the line written, the bar redrawn below it.
            None => crate::progress::suspend(|| std::io::stderr().write(buf)),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match LOG_FILE.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).as_mut() {
            Some(file) => file.flush(),
            None => std::io::stderr().flush(),
        }
    }
}
