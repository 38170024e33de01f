//! `assay config new`: writes a config by serializing the config type, so scripts never write
//! TOML by hand. `--set key=value` changes any key by its dotted path (the value is TOML: a
//! number, `true`, `"text"`, `[1, 2]`; a bare word is taken as text); the result is checked as
//! `assay run` would check it before it is written.

use std::path::PathBuf;

use anyhow::anyhow;
use assay_node::Config;

use crate::{CmdResult, failed, unusable};

#[derive(clap::Subcommand)]
pub enum Command {
    /// A node on a local chain (`chain/`) publishing to `published/`, adjusted by `--set`.
    New {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        netuid: u16,
        /// Wallets folder (default `~/.bittensor/wallets`).
        #[arg(long)]
        wallet_root: Option<PathBuf>,
        #[arg(long, default_value = "validator")]
        wallet: String,
        #[arg(long, default_value = "default")]
        hotkey: String,
        /// `key=value`, e.g. `epoch_blocks=10` or `gateway.listen="127.0.0.1:8000"`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
}

pub fn run(cmd: Command) -> CmdResult {
    let Command::New { out, netuid, wallet_root, wallet, hotkey, sets } = cmd;
    let base = Config::local(netuid, wallet_root, &wallet, &hotkey);
    let mut document: toml::Table = toml::from_str(&base.to_toml().map_err(failed)?).map_err(failed)?;
    for set in &sets {
        let (key, value) = set.split_once('=').ok_or_else(|| unusable(anyhow!("--set {set:?} is not KEY=VALUE")))?;
        assign(&mut document, key.trim(), parse_value(value.trim())).map_err(unusable)?;
    }
    let text = toml::to_string(&document).map_err(failed)?;
    let config = Config::parse_as(&text, &out.display().to_string()).map_err(unusable)?;
    config.save(&out).map_err(failed)?;
    println!("{}", out.display());
    Ok(())
}

/// A TOML value, or the text itself when it is not one.
fn parse_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

/// Sets `path` (dotted) in `table`, making the tables on the way.
fn assign(table: &mut toml::Table, path: &str, value: toml::Value) -> anyhow::Result<()> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().filter(|l| !l.is_empty()).ok_or_else(|| anyhow!("empty key in --set"))?;
    let mut at = table;
    for part in parts {
        let next = at.entry(part).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        at = next.as_table_mut().ok_or_else(|| anyhow!("{path}: {part} is not a table"))?;
    }
    at.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_reach_nested_keys_and_values_are_typed() {
        let mut t = toml::Table::new();
        assign(&mut t, "gateway.listen", parse_value("\"127.0.0.1:1\"")).expect("sets");
        assign(&mut t, "epoch_blocks", parse_value("10")).expect("sets");
        assign(&mut t, "policy.params.rate", parse_value("0.5")).expect("sets");
        assign(&mut t, "wallet.name", parse_value("bench")).expect("sets");
        assert_eq!(t["gateway"]["listen"].as_str(), Some("127.0.0.1:1"));
        assert_eq!(t["epoch_blocks"].as_integer(), Some(10));
        assert_eq!(t["policy"]["params"]["rate"].as_float(), Some(0.5));
        assert_eq!(t["wallet"]["name"].as_str(), Some("bench"));
        assert!(assign(&mut t, "epoch_blocks.x", parse_value("1")).is_err());
    }
}
