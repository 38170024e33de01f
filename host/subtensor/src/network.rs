//! Which subtensor node to talk to: the `network` setting, as the Python tools spell it.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// The public finney entry point, the test network's, and a node on this machine.
pub const FINNEY_URL: &str = "wss://entrypoint-finney.opentensor.ai:443";
pub const TEST_URL: &str = "wss://test.finney.opentensor.ai:443";
pub const LOCAL_URL: &str = "ws://127.0.0.1:9944";

/// A subtensor network: a known name or a node's WebSocket address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    Finney,
    Test,
    Local,
    Url(String),
}

impl Network {
    /// The WebSocket address of the node.
    pub fn url(&self) -> &str {
        match self {
            Network::Finney => FINNEY_URL,
            Network::Test => TEST_URL,
            Network::Local => LOCAL_URL,
            Network::Url(url) => url,
        }
    }
}

impl FromStr for Network {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "finney" => Ok(Network::Finney),
            "test" => Ok(Network::Test),
            "local" => Ok(Network::Local),
            url if (url.starts_with("ws://") || url.starts_with("wss://")) && url.len() > "wss://".len() => {
                Ok(Network::Url(url.to_string()))
            }
            other => Err(Error::UnknownNetwork(other.to_string())),
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Network::Finney => write!(f, "finney ({FINNEY_URL})"),
            Network::Test => write!(f, "test ({TEST_URL})"),
            Network::Local => write!(f, "local ({LOCAL_URL})"),
            Network::Url(url) => f.write_str(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses() {
        let parse = |s: &str| s.parse::<Network>();
        assert_eq!(parse("finney").expect("known").url(), FINNEY_URL);
        assert_eq!(parse("test").expect("known").url(), TEST_URL);
        assert_eq!(parse("local").expect("known").url(), LOCAL_URL);
        assert_eq!(parse("ws://10.0.0.2:9944").expect("an address"), Network::Url("ws://10.0.0.2:9944".into()));
        assert_eq!(parse("wss://node.example:443").expect("an address").url(), "wss://node.example:443");
        for bad in ["mainnet", "http://127.0.0.1:9944", "ws://", "", "Finney"] {
            assert!(matches!(parse(bad), Err(Error::UnknownNetwork(_))), "{bad} refused");
        }
        assert_eq!(Network::Finney.to_string(), format!("finney ({FINNEY_URL})"));
    }
}
