//! `@FILE` on the command line: the arguments in FILE, one per line, in its place (`#` lines and
//! blank lines skipped), as gcc and javac read them. `assay init miner` writes such a file for
//! `assay miner @miner.args`, since the miner takes flags only.

use std::ffi::OsString;
use std::io::Read as _;

use anyhow::{Context, anyhow};

/// A flags file larger than this is refused (it is a hand-edited list of flags).
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The command line with every `@FILE` argument replaced by FILE's arguments.
pub fn expand(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<Vec<OsString>> {
    let mut expanded = Vec::new();
    for arg in args {
        match arg.to_str().and_then(|a| a.strip_prefix('@')).filter(|path| !path.is_empty()) {
            Some(path) => expanded.extend(read(path)?.into_iter().map(OsString::from)),
            None => expanded.push(arg),
        }
    }
    Ok(expanded)
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
        assert!(expand([OsString::from("@/no/such/file")]).is_err());
    }
}
