//! `assay devnet`: the whole system on one machine (`assay_lab::devnet`), and its terminal view:
//! on a terminal, the live table is redrawn in place on stderr with the lines that stay above
//! it, and the logs go to a file in the devnet's folder; anywhere else, plain lines
//! (`assay_lab::devnet_view::PlainView`).
//!
//! Owns: the escape codes of that view. Must not touch: what the devnet shows (the lab decides).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use assay_lab::devnet::DevnetOptions;
use assay_lab::devnet_scorer::DevnetScorer;
use assay_lab::devnet_view::{PlainView, SharedView, View};

use crate::{CmdResult, lab_error};

#[derive(clap::Args)]
pub struct Args {
    /// Epochs to run before printing the table and exiting (runs until Ctrl-C when absent).
    #[arg(long)]
    epochs: Option<u64>,
    /// Where everything goes (models, chain, ledger, published epochs); a new temporary
    /// folder when absent.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seconds per epoch (one-second blocks).
    #[arg(long, default_value_t = 60)]
    epoch_seconds: u64,
    /// The validator's own requests per minute.
    #[arg(long, default_value_t = 240.0)]
    synthetic_per_minute: f64,
    /// Where the built policies are (`scripts/build-plugins.sh` writes them).
    #[arg(long, env = "ASSAY_PLUGIN_DIR", default_value = "target/plugins")]
    plugins: PathBuf,
    /// Add one hostile miner per attack of issue #10 and a stranger attacking the reference
    /// miners; fail when an honest miner was charged for anything (`scripts/soak.sh`).
    #[arg(long)]
    hostile: bool,
    /// Where the validator's web dashboard listens (a free loopback port when absent).
    #[arg(long, value_name = "ADDR")]
    dashboard_addr: Option<std::net::SocketAddr>,
    /// The scoring policy: constantinople, nineteen, proof-of-inference, consensus or cacheon (its component
    /// `<plugins>/<name>.wasm`), with the traffic it needs.
    #[arg(long, default_value = "constantinople")]
    scorer: DevnetScorer,
}

/// Whether the table is redrawn in place: stdout and stderr both a terminal (a person watching).
pub fn terminal_view_wanted() -> bool {
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

pub fn run(args: Args) -> CmdResult {
    let view = if terminal_view_wanted() {
        SharedView(Arc::new(TerminalView::default()))
    } else {
        SharedView(Arc::new(PlainView))
    };
    assay_lab::devnet::run(DevnetOptions {
        epochs: args.epochs,
        out: args.out,
        epoch_seconds: args.epoch_seconds,
        synthetic_per_minute: args.synthetic_per_minute,
        plugins: args.plugins,
        hostile: args.hostile,
        dashboard_addr: args.dashboard_addr,
        scorer: args.scorer,
        watchtower: Some(std::env::current_exe().map_err(|e| crate::failed(anyhow::anyhow!("locating assay: {e}")))?),
        view,
    })
    .map_err(lab_error)
}

/// The table redrawn in place at the bottom of the terminal, lines that stay above it; the
/// plain view's lines instead once the logs cannot go to their file (they would tear the table).
#[derive(Default)]
struct TerminalView {
    screen: Mutex<Screen>,
    plain: AtomicBool,
}

/// What is on the terminal below the lines that stay: the table last drawn.
#[derive(Default)]
struct Screen {
    table: String,
    /// Rows the table took on the terminal (0 before the first).
    height: usize,
    /// The terminal's size (columns, rows for the table) when the table was drawn.
    size: Option<(usize, usize)>,
}

/// The bytes that replace a table `height` rows tall (just above the cursor) with `above` (lines
/// that stay) and then `table`, each row cut to `width` columns and the rows to `max_rows`, so
/// that none wraps or scrolls away and the next redraw knows the height. Returns them and the new
/// table's height. After a `resized` terminal the old rows may have wrapped or scrolled, so that
/// their height no longer says where the table starts: the whole screen is cleared instead.
fn frame(
    height: usize,
    resized: bool,
    above: &[&str],
    table: &str,
    (width, max_rows): (usize, usize),
) -> (String, usize) {
    let mut bytes = String::new();
    if height > 0 && resized {
        // To the top-left corner, then clear the whole screen.
        bytes.push_str("\x1b[H\x1b[2J");
    } else if height > 0 {
        // Up to the table's first row, then clear from there to the end of the screen.
        bytes.push_str(&format!("\x1b[{height}A\r\x1b[J"));
    }
    for line in above {
        bytes.push_str(line);
        bytes.push('\n');
    }
    let rows: Vec<&str> = table.lines().take(max_rows).collect();
    for row in &rows {
        bytes.push_str(&console::truncate_str(row, width, ""));
        bytes.push('\n');
    }
    (bytes, rows.len())
}

impl TerminalView {
    fn draw(&self, above: &[&str], table: Option<&str>) {
        let mut screen = self.screen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(table) = table {
            screen.table = table.to_string();
        }
        let (rows, columns) = console::Term::stderr().size();
        let size = (usize::from(columns.max(20)), usize::from(rows.max(4)) - 1);
        let resized = screen.size.is_some_and(|last| last != size);
        let (bytes, height) = frame(screen.height, resized, above, &screen.table, size);
        screen.height = height;
        screen.size = Some(size);
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(bytes.as_bytes()).and_then(|()| stderr.flush());
    }
}

impl View for TerminalView {
    fn folder_ready(&self, out: &Path) {
        let path = out.join(assay_lab::devnet::LOG_FILE);
        match crate::logging::to_file(&path) {
            Ok(()) => self.draw(&[&format!("logs go to {}", path.display())], None),
            Err(e) => {
                // Logs on stderr would land inside the table: plain lines from here on.
                self.plain.store(true, Ordering::SeqCst);
                self.finish();
                PlainView
                    .line(&format!("logs stay here ({}: {e}): plain lines instead of the live table", path.display()));
            }
        }
    }

    fn line(&self, text: &str) {
        if self.plain.load(Ordering::SeqCst) {
            return PlainView.line(text);
        }
        self.draw(&text.lines().collect::<Vec<_>>(), None);
    }

    fn table(&self, text: &str) {
        if self.plain.load(Ordering::SeqCst) {
            return PlainView.table(text);
        }
        self.draw(&[], Some(text));
    }

    fn finish(&self) {
        // The last table stays on screen; the report comes below it.
        let mut screen = self.screen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *screen = Screen::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE_1: &str = "epoch 1\n  uid 0  honest-fast  12\n  uid 1  honest-slow  9";
    const TABLE_2: &str = "epoch 2\n  uid 0  honest-fast  30\n  uid 1  honest-slow  21\n  watchtower by epoch: 0:pass";

    /// What a terminal shows after `bytes`: a small interpreter of the codes `frame` uses (up N
    /// rows, back to the first column, clear to the end of the screen), writing at the cursor.
    fn screen_after(bytes: &str) -> Vec<String> {
        let mut rows: Vec<String> = vec![String::new()];
        let mut at = 0;
        let mut rest = bytes;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("\x1b[") {
                let end = after.find(|c: char| c.is_ascii_alphabetic()).expect("a code ends with a letter");
                let code = if &after[..end] == "2" { "2J" } else { &after[end..=end] };
                match code {
                    "A" => at -= after[..end].parse::<usize>().expect("a count"),
                    "J" => {
                        rows.truncate(at + 1);
                        rows[at].clear();
                    }
                    // The whole screen (here: every row written) cleared.
                    "2J" => rows = vec![String::new()],
                    "H" => at = 0,
                    other => panic!("unexpected code {other}"),
                }
                rest = &after[end + 1..];
                continue;
            }
            let c = rest.chars().next().expect("a char");
            match c {
                '\n' => {
                    at += 1;
                    if at == rows.len() {
                        rows.push(String::new());
                    }
                }
                '\r' => {}
                c => rows[at].push(c),
            }
            rest = &rest[c.len_utf8()..];
        }
        rows
    }

    #[test]
    fn redrawing_leaves_what_plain_lines_show_without_the_old_tables() {
        let mut bytes = String::new();
        let (first, height) =
            frame(0, false, &["devnet in /tmp/d", "gateway at http://127.0.0.1:1/v1"], TABLE_1, (200, 50));
        bytes.push_str(&first);
        assert_eq!(height, 3);
        let (second, height) = frame(height, false, &["epoch 0 closed"], TABLE_1, (200, 50));
        bytes.push_str(&second);
        let (third, height) = frame(height, false, &[], TABLE_2, (200, 50));
        bytes.push_str(&third);
        assert_eq!(height, 4);
        let shown = screen_after(&bytes);
        // The plain view prints the same lines that stay and the same rows, minus the old tables.
        let mut plain: Vec<String> = ["devnet in /tmp/d", "gateway at http://127.0.0.1:1/v1", "epoch 0 closed"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        plain.extend(TABLE_2.lines().map(str::to_string));
        plain.push(String::new());
        assert_eq!(shown, plain);
        // Without its codes, a redraw is the table's rows as the plain view prints them.
        let rows = console::strip_ansi_codes(&third).replace('\r', "");
        assert_eq!(rows.lines().collect::<Vec<_>>(), TABLE_2.lines().collect::<Vec<_>>());
    }

    #[test]
    fn rows_are_cut_to_the_terminal_width_so_none_wraps() {
        let (bytes, height) = frame(0, false, &[], "0123456789abcdef\nshort\ncut", (10, 2));
        assert_eq!(height, 2);
        assert_eq!(bytes, "0123456789\nshort\n");
        assert!(!frame(0, false, &["a line"], "", (10, 2)).0.contains('\x1b'));
    }

    #[test]
    fn a_resized_terminal_is_cleared_and_the_table_reprinted() {
        let (first, height) = frame(0, false, &["devnet in /tmp/d"], TABLE_1, (200, 50));
        // Narrower now: the old rows may have wrapped, so the redraw does not count on their height.
        let (second, height) = frame(height, true, &["epoch 1 closed"], TABLE_2, (12, 50));
        assert!(second.starts_with("\x1b[H\x1b[2J") && !second.contains('A'), "{second:?}");
        assert_eq!(height, 4);
        let shown = screen_after(&format!("{first}{second}"));
        let mut expected = vec!["epoch 1 closed".to_string()];
        expected.extend(TABLE_2.lines().map(|row| console::truncate_str(row, 12, "").into_owned()));
        expected.push(String::new());
        assert_eq!(shown, expected);
    }

    #[test]
    fn without_its_log_file_the_terminal_view_falls_back_to_plain_lines() {
        let view = TerminalView::default();
        view.folder_ready(Path::new("/nonexistent/devnet"));
        assert!(view.plain.load(Ordering::SeqCst));
        // Nothing drawn in place from here on: no table height to move up over.
        view.table(TABLE_1);
        assert_eq!(view.screen.lock().expect("lock").height, 0);
    }
}
