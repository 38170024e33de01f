//! The miner's chain: where it reads the metagraph (a local chain's folder, or a subtensor node)
//! and how it announces where it serves (`--serve-axon`: `serve_axon` from its hotkey).
//! Its flags keep the Bittensor Python tools' names (`--subtensor.network`, `--netuid`,
//! `--axon.external_ip`, `--axon.external_port`) and live in this one struct.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::anyhow;
use assay_chain::{Axon, Chain, LocalChain};
use assay_keys::Hotkey;
use assay_subtensor::{Network, SubtensorChain, Timeouts};

use crate::{Exit, failed, unusable};

/// Axon protocol number announced: 4, HTTP (the Python SDK's numbering; the miner serves plain
/// HTTP).
const HTTP: u8 = 4;

#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainFlags {
    /// A local chain's folder (`assay chain init`). It and --subtensor.network replace each
    /// other: the one given last is the chain (a flags file's, overridden on the command line).
    #[arg(long, value_name = "DIR", overrides_with = "network")]
    pub chain_dir: Option<PathBuf>,
    /// A subtensor node: finney, test, local or a ws(s):// address.
    #[arg(long = "subtensor.network", value_name = "NETWORK", overrides_with = "chain_dir")]
    pub network: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub netuid: u16,
    /// Announce this miner's axon on the chain (`serve_axon`, signed by its hotkey) once it
    /// listens; a hotkey not registered on the subnet is refused before the model loads.
    #[arg(long)]
    pub serve_axon: bool,
    /// The address validators reach this miner at (default: the address it listens on).
    #[arg(long = "axon.external_ip", value_name = "IP")]
    pub external_ip: Option<IpAddr>,
    /// The port validators reach this miner at (default: the port it listens on).
    #[arg(long = "axon.external_port", value_name = "PORT")]
    pub external_port: Option<u16>,
}

impl ChainFlags {
    /// Whether the flags name a chain.
    pub fn names_a_chain(&self) -> bool {
        self.chain_dir.is_some() || self.network.is_some()
    }

    /// Refuses flags that cannot work together, before anything is loaded.
    pub fn check(&self) -> Result<(), Exit> {
        if self.serve_axon && !self.names_a_chain() {
            return Err(unusable(anyhow!("--serve-axon needs a chain: --chain-dir or --subtensor.network")));
        }
        if !self.serve_axon && (self.external_ip.is_some() || self.external_port.is_some()) {
            return Err(unusable(anyhow!("--axon.external_ip and --axon.external_port are announced by --serve-axon")));
        }
        Ok(())
    }

    /// The chain the flags name (`None`: none), signing as `hotkey` where it signs.
    pub async fn open(&self, hotkey: &Hotkey) -> Result<Option<Arc<dyn Chain>>, Exit> {
        if let Some(dir) = &self.chain_dir {
            return Ok(Some(Arc::new(LocalChain::open(dir).map_err(unusable)?)));
        }
        let Some(network) = &self.network else { return Ok(None) };
        let network: Network = network.parse().map_err(|e| unusable(anyhow!("--subtensor.network: {e}")))?;
        let chain = SubtensorChain::connect(&network, Some(hotkey.clone()), Timeouts::default())
            .await
            .map_err(|e| failed(anyhow!("connecting to {network}: {e}")))?;
        Ok(Some(Arc::new(chain)))
    }

    /// What `--serve-axon` announces for a miner listening on `listening`.
    pub fn axon(&self, listening: SocketAddr) -> Result<Axon, Exit> {
        let ip = self.external_ip.unwrap_or(listening.ip());
        if ip.is_unspecified() {
            return Err(unusable(anyhow!(
                "this miner listens on {ip}, which no validator can reach: say where it is reached with --axon.external_ip"
            )));
        }
        Ok(Axon { ip, port: self.external_port.unwrap_or(listening.port()), protocol: HTTP })
    }
}

/// The message for a hotkey that holds no uid on the subnet: what to do about it.
fn not_registered(chain: &dyn Chain, hotkey: &str, netuid: u16) -> Exit {
    unusable(anyhow!(
        "hotkey {hotkey} is not registered on subnet {netuid} of the {}: register it first \
         (on subtensor `btcli subnets register --netuid {netuid}`; on a local chain, list it in metagraph.json)",
        chain.describe()
    ))
}

/// Refuses a hotkey that is not registered on `netuid` (read from the metagraph), so that a
/// miner that cannot announce itself stops before loading its model.
pub async fn check_registered(chain: &dyn Chain, netuid: u16, hotkey: &str) -> Result<(), Exit> {
    let metagraph = chain.metagraph(netuid).await.map_err(|e| unusable(anyhow!("reading subnet {netuid}: {e}")))?;
    match metagraph.neurons.iter().any(|n| n.hotkey == hotkey) {
        true => Ok(()),
        false => Err(not_registered(chain, hotkey, netuid)),
    }
}

/// Announces `axon` as `hotkey`'s on `netuid`; returns the block that took it.
pub async fn announce(chain: &dyn Chain, netuid: u16, hotkey: &str, axon: &Axon) -> Result<u64, Exit> {
    match chain.serve_axon(hotkey, netuid, axon).await {
        Ok(block) => {
            tracing::info!(axon = %axon.url(), netuid, block, chain = %chain.describe(), "axon served");
            Ok(block)
        }
        Err(assay_chain::Error::NotRegistered { .. }) => Err(not_registered(chain, hotkey, netuid)),
        Err(e) => Err(failed(anyhow!("announcing the axon {} on subnet {netuid}: {e}", axon.url()))),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        chain: ChainFlags,
    }

    fn parse(flags: &[&str]) -> Result<ChainFlags, clap::Error> {
        Flags::try_parse_from(["miner"].into_iter().chain(flags.iter().copied())).map(|f| f.chain)
    }

    #[test]
    fn the_announced_axon_defaults_to_the_listening_address() {
        let listening: SocketAddr = "10.1.2.3:8091".parse().expect("address");
        let plain = parse(&["--chain-dir", "c", "--serve-axon"]).expect("parses");
        assert_eq!(plain.axon(listening).expect("an axon").url(), "http://10.1.2.3:8091");
        let external = parse(&["--subtensor.network", "local", "--serve-axon", "--axon.external_ip", "203.0.113.7"])
            .expect("parses");
        assert_eq!(external.axon(listening).expect("an axon").url(), "http://203.0.113.7:8091");
        let both = parse(&["--chain-dir", "c", "--serve-axon", "--axon.external_port", "443", "--netuid", "7"]);
        let both = both.expect("parses");
        assert_eq!((both.axon(listening).expect("an axon").port, both.netuid), (443, 7));
        assert_eq!(both.axon(listening).expect("an axon").protocol, 4);

        let anywhere: SocketAddr = "0.0.0.0:8091".parse().expect("address");
        let e = plain.axon(anywhere).expect_err("0.0.0.0 is no address to announce");
        assert!(e.error.to_string().contains("--axon.external_ip"), "{}", e.error);
        assert!(external.axon(anywhere).is_ok(), "an external address is announced whatever the bind");
    }

    #[test]
    fn flags_that_cannot_work_together_are_refused() {
        // One chain at a time: the one given last (a flags file's is overridden after it).
        let last = parse(&["--chain-dir", "c", "--subtensor.network", "local"]).expect("parses");
        assert_eq!((last.chain_dir, last.network.as_deref()), (None, Some("local")));
        let last = parse(&["--subtensor.network", "local", "--chain-dir", "c"]).expect("parses");
        assert_eq!((last.chain_dir.as_deref(), last.network), (Some(std::path::Path::new("c")), None));
        assert!(parse(&["--axon.external_ip", "not-an-ip"]).is_err());
        let no_chain = parse(&["--serve-axon"]).expect("parses");
        assert!(no_chain.check().expect_err("no chain").error.to_string().contains("--serve-axon needs a chain"));
        let not_announced = parse(&["--chain-dir", "c", "--axon.external_port", "1"]).expect("parses");
        assert_eq!(not_announced.check().expect_err("refused").code, 2);
        assert!(parse(&["--chain-dir", "c", "--serve-axon"]).expect("parses").check().is_ok());
    }
}
