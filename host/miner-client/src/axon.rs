//! Which axon addresses the validator talks to. A miner announces its own address, so without a
//! check it could point the validator's signed requests at the validator's own machine or its
//! private network. Public IP addresses over `http`/`https` only, unless the config allows
//! private ones (a devnet on one machine).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an axon was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AxonError {
    #[error("axon {0:?} is not an http(s) URL with a host")]
    Malformed(String),
    #[error("axon {axon:?} is a {kind} address")]
    NotPublic { axon: String, kind: &'static str },
    #[error("axon {0:?} names a host, not an IP address")]
    HostName(String),
}

/// Checks `axon` (`http://ip:port`) against the policy.
pub fn check_axon(axon: &str, allow_private: bool) -> Result<(), AxonError> {
    let url = reqwest::Url::parse(axon).map_err(|_| AxonError::Malformed(axon.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some() {
        return Err(AxonError::Malformed(axon.to_string()));
    }
    let Some(host) = url.host_str() else { return Err(AxonError::Malformed(axon.to_string())) };
    if allow_private {
        return Ok(());
    }
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let Ok(ip) = bare.parse::<IpAddr>() else { return Err(AxonError::HostName(axon.to_string())) };
    match not_public(ip) {
        Some(kind) => Err(AxonError::NotPublic { axon: axon.to_string(), kind }),
        None => Ok(()),
    }
}

/// What kind of non-public address `ip` is, if it is one.
fn not_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => not_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => not_public_v4(v4),
            None => not_public_v6(v6),
        },
    }
}

fn not_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(match () {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        _ if ip.is_link_local() => "link-local",
        _ if ip.is_unspecified() || a == 0 => "unspecified",
        _ if ip.is_broadcast() || ip.is_multicast() || a >= 240 => "broadcast, multicast or reserved",
        _ if a == 100 && (64..128).contains(&b) => "shared (carrier-grade NAT)",
        _ if ip.is_documentation() => "documentation",
        _ => return None,
    })
}

fn not_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(match () {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        _ if first & 0xfe00 == 0xfc00 => "private (unique local)",
        _ if first & 0xffc0 == 0xfe80 => "link-local",
        _ if ip.is_multicast() => "multicast",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_ip_addresses_pass_unless_private_ones_are_allowed() {
        for public in ["http://8.8.8.8:8091", "https://1.2.3.4", "http://[2001:4860::8888]:80"] {
            assert_eq!(check_axon(public, false), Ok(()), "{public}");
        }
        for (axon, kind) in [
            ("http://127.0.0.1:8091", "loopback"),
            ("http://10.0.0.5:1", "private"),
            ("http://172.16.3.4:1", "private"),
            ("http://192.168.1.1:1", "private"),
            ("http://169.254.169.254/latest", "link-local"),
            ("http://0.0.0.0:1", "unspecified"),
            ("http://100.64.0.1:1", "shared (carrier-grade NAT)"),
            ("http://[::1]:1", "loopback"),
            ("http://[fd00::1]:1", "private (unique local)"),
            ("http://[fe80::1]:1", "link-local"),
            ("http://[::ffff:127.0.0.1]:1", "loopback"),
        ] {
            assert_eq!(check_axon(axon, false), Err(AxonError::NotPublic { axon: axon.into(), kind }), "{axon}");
            assert_eq!(check_axon(axon, true), Ok(()), "{axon} allowed");
        }
        assert!(matches!(check_axon("http://localhost:1", false), Err(AxonError::HostName(_))));
        assert!(matches!(check_axon("http://miner.example:1", false), Err(AxonError::HostName(_))));
        assert_eq!(check_axon("http://localhost:1", true), Ok(()));
        for malformed in ["ftp://8.8.8.8", "8.8.8.8:80", "http://user:pw@8.8.8.8", "not a url"] {
            assert!(matches!(check_axon(malformed, true), Err(AxonError::Malformed(_))), "{malformed}");
        }
    }
}
