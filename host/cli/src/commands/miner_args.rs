//! The miner's flags file (`assay init miner`): every flag of `assay miner`, its default and its
//! help text as comments, taken from the command's own definition so the file cannot drift from
//! what `assay miner @miner.args` accepts.

use std::fmt::Write as _;

use crate::commands::miner::Args;

const HEADER: &str = "# miner.args: the reference miner's flags, for `assay miner @miner.args` (the first argument
# after `miner`): each line is one argument, whole, spaces included (no quoting); a line starting
# with # is ignored (remove the `# ` to set a flag). A flag given again after @miner.args on the
# command line overrides the file's (--allow adds to it; --chain-dir and --subtensor.network
# replace each other).
";

/// The flags file: `values` set the named flags; every other flag is written at its default, or
/// commented out when it has none.
pub fn flags_file(values: &[(&str, String)]) -> String {
    let command = <Args as clap::Args>::augment_args(clap::Command::new("miner"));
    let mut out = String::from(HEADER);
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let help = arg.get_long_help().or(arg.get_help()).map(ToString::to_string).unwrap_or_default();
        let default: Vec<String> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
        out.push('\n');
        for line in help.lines().filter(|l| !l.trim().is_empty()) {
            let _ = writeln!(out, "# {}", line.trim());
        }
        let given = values.iter().find(|(name, _)| *name == long).map(|(_, v)| v.clone());
        let line = match (given, arg.get_action().takes_values(), default.first()) {
            (Some(value), _, _) => format!("--{long}={value}"),
            (None, true, Some(value)) => format!("--{long}={value}"),
            (None, true, None) => {
                let name = arg.get_value_names().and_then(|n| n.first()).map_or("VALUE".into(), |n| n.to_string());
                format!("# --{long}={name}")
            }
            (None, false, _) => format!("# --{long}"),
        };
        let _ = writeln!(out, "{line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(clap::Parser)]
    struct Miner {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn the_flags_file_is_what_the_miner_command_parses() {
        let text = flags_file(&[("model", "/srv/model".into()), ("wallet.name", "m".into()), ("netuid", "7".into())]);
        let flags = text.lines().filter(|l| !l.is_empty() && !l.starts_with('#'));
        let parsed = Miner::try_parse_from(std::iter::once("miner").chain(flags));
        assert!(parsed.is_ok(), "{text}\n{:?}", parsed.err());
        let with_flags = std::iter::once("miner").chain(text.lines().filter(|l| l.starts_with("--")));
        let again = Miner::try_parse_from(with_flags.chain(["--port=9000", "--capacity=8"]));
        assert!(again.is_ok(), "a flag given again after the file overrides it: {:?}", again.err());
        for flag in ["--model=/srv/model", "--port=8091", "--capacity=4", "# --allow=SS58", "# --allow-any-signer"] {
            assert!(text.lines().any(|l| l == flag), "{flag} missing from:\n{text}");
        }
        assert!(text.contains("# Concurrent requests before answering 429"), "{text}");
    }

    #[test]
    fn the_chain_of_the_file_is_replaced_by_the_command_lines() {
        let parse = |chain: (&str, String), more: &[&str]| {
            let text = flags_file(&[("model", "/srv/model".into()), chain]);
            let flags = text.lines().filter(|l| l.starts_with("--")).map(str::to_string);
            let argv = std::iter::once("miner".to_string()).chain(flags).chain(more.iter().map(|m| m.to_string()));
            Miner::try_parse_from(argv).map(|m| m.args.chain)
        };
        let chain = parse(("chain-dir", "/srv/chain".into()), &["--chain-dir", "/other"]).expect("parses");
        assert_eq!(chain.chain_dir.as_deref(), Some(std::path::Path::new("/other")));
        let chain = parse(("chain-dir", "/srv/chain".into()), &["--subtensor.network", "test"]).expect("parses");
        assert_eq!((chain.chain_dir, chain.network.as_deref()), (None, Some("test")));
        let chain = parse(("subtensor.network", "finney".into()), &["--chain-dir", "/other"]).expect("parses");
        assert_eq!((chain.chain_dir.as_deref(), chain.network), (Some(std::path::Path::new("/other")), None));
    }
}
