//! `assay miner @FILE`: the arguments in FILE in its place, as gcc and javac read them. Each line
//! is one argument, whole (spaces inside it kept, the line's own leading and trailing spaces
//! trimmed; no quoting); blank lines and lines starting with `#` are skipped. `assay init miner`
//! writes such a file, since the miner takes flags only.
//!
//! Only `assay miner` reads one, and only as its first argument: an `@` anywhere else (another
//! command's value, such as a prompt, or anything after `--`) is passed on as it is.

use std::ffi::OsString;
use std::io::Read as _;

use anyhow::{Context, anyhow};

/// A flags file larger than this is refused (it is a hand-edited list of flags).
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The command line with the `@FILE` that directly follows `miner` (the subcommand, after any
/// `--log` before it) replaced by FILE's arguments; every other argument as it is.
pub fn expand(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<Vec<OsString>> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    let Some(at) = miner_file_position(&args) else { return Ok(args) };
    let path = args[at].to_str().and_then(|a| a.strip_prefix('@')).unwrap_or_default().to_string();
    let read = read(&path)?.into_iter().map(OsString::from);
    args.splice(at..=at, read);
    Ok(args)
}

/// Where `assay [--log L] miner @FILE` has its `@FILE`, if it has one.
fn miner_file_position(args: &[OsString]) -> Option<usize> {
    let mut i = 1;
    // The options before the subcommand: only the global `--log`, alone or with its value.
    while let Some(arg) = args.get(i).and_then(|a| a.to_str()) {
        match arg {
            "--log" => i += 2,
            _ if arg.starts_with("--log=") => i += 1,
            _ => break,
        }
    }
    let next = args.get(i + 1).and_then(|a| a.to_str())?;
    (args.get(i).is_some_and(|a| a == "miner") && next.len() > 1 && next.starts_with('@')).then_some(i + 1)
}

fn read(path: &str) -> anyhow::Result<Vec<String>> {
    let file = std::fs::File::open(path).with_context(|| format!("reading the flags file @{path}"))?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text).with_context(|| format!("reading @{path}"))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(anyhow!("the flags file @{path} is larger than {MAX_FILE_BYTES} bytes"));
    }
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flags_file_is_spliced_in_place_without_its_comments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.args");
        std::fs::write(&path, "# a comment\n--port=1\n\n  --model=/a b/c  \n# --allow=x\n").expect("writes");
        let at = format!("@{}", path.display());
        let args = ["assay", "miner", at.as_str(), "--port=2", "@"].map(OsString::from);
        let expanded = expand(args).expect("expands");
        assert_eq!(expanded, ["assay", "miner", "--port=1", "--model=/a b/c", "--port=2", "@"].map(OsString::from));
        let args = ["assay", "--log", "debug", "miner", at.as_str()].map(OsString::from);
        assert_eq!(expand(args).expect("expands").len(), 6, "after --log");
        assert!(expand(["assay", "miner", "@/no/such/file"].map(OsString::from)).is_err());
    }

    #[test]
    fn an_at_anywhere_else_is_left_as_it_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.args");
        std::fs::write(&path, "--port=1\n").expect("writes");
        let at = format!("@{}", path.display());
        for args in [
            vec!["assay", "engine", "generate", "--prompt", at.as_str()],
            vec!["assay", "engine", "generate", "--prompt", "@x"],
            vec!["assay", "miner", "--port=2", at.as_str()],
            vec!["assay", "miner", "--", at.as_str()],
            vec!["assay", "policy", at.as_str()],
        ] {
            let args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
            assert_eq!(expand(args.clone()).expect("left"), args);
        }
    }
}
