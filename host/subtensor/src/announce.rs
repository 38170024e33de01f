//! What a hotkey announces on chain: its axon (`SubtensorModule.serve_axon`, call 4) and its
//! commitment (`Commitments.set_commitment`: Raw text fields, read back from `CommitmentOf`).
//! A hotkey not registered on the subnet (`Uids`) is refused before anything is signed.

use std::net::IpAddr;

use assay_chain::{Axon, Commitment, Error, Result, check_commitment_fields};
use assay_keys::decode_ss58;
use subxt::dynamic::Value;
use subxt::ext::scale_decode::DecodeAsType;
use subxt::ext::scale_value::{ValueDef, Variant};
use subxt::utils::AccountId32;

use crate::client::{AtBlock, SubtensorChain};

/// The axon version announced (the Python SDK's `ServeAxon` default).
const AXON_VERSION: u32 = 1;

/// `CommitmentOf`'s `Registration`, as far as assay reads it.
#[derive(Debug, DecodeAsType)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
struct Registration {
    block: u32,
    /// `CommitmentInfo { fields: BoundedVec<Data> }`, read as a value: the `Data` enum's
    /// variants (`Raw0`…`Raw128`, hashes…) differ between runtimes.
    info: Value,
}

/// `(ip as u128, ip_type)` as `serve_axon` takes them.
pub(crate) fn ip_parts(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 4),
        IpAddr::V6(v6) => (u128::from(v6), 6),
    }
}

/// A Raw `Data` field: variant `Raw{n}` holding the n bytes (n ≤ 128).
fn raw_field(text: &str) -> Value {
    Value::unnamed_variant(format!("Raw{}", text.len()), [Value::from_bytes(text.as_bytes())])
}

/// The text of a `Data` field: a Raw one's bytes as UTF-8; `None` for other kinds (hashes,
/// timelocked data) and for bytes that are not text.
fn field_text(field: &Value) -> Option<String> {
    let ValueDef::Variant(Variant { name, values }) = &field.value else { return None };
    name.strip_prefix("Raw")?.parse::<u8>().ok()?;
    let bytes: Option<Vec<u8>> = values.values().flat_map(byte_values).collect();
    String::from_utf8(bytes?).ok()
}

/// The `Data` fields in a commitment's info: the first variants met going down.
fn data_fields(v: &Value) -> Vec<&Value> {
    match &v.value {
        ValueDef::Variant(_) => vec![v],
        ValueDef::Composite(c) => c.values().flat_map(data_fields).collect(),
        _ => Vec::new(),
    }
}

/// The bytes of a value that is a byte or a sequence of bytes.
fn byte_values(v: &Value) -> Vec<Option<u8>> {
    match &v.value {
        ValueDef::Composite(c) => c.values().flat_map(byte_values).collect(),
        ValueDef::Primitive(p) => vec![p.as_u128().and_then(|n| u8::try_from(n).ok())],
        _ => vec![None],
    }
}

impl SubtensorChain {
    /// `hotkey`'s account, refused with `NotRegistered` unless it has a uid on `netuid`.
    async fn registered(&self, at: &AtBlock, netuid: u16, hotkey: &str) -> Result<[u8; 32]> {
        let account = decode_ss58(hotkey).map_err(|e| Error::Refused(format!("hotkey {hotkey}: {e}")))?;
        let uid: Option<u16> = self.read(at, "SubtensorModule", "Uids", (netuid, AccountId32(account))).await?;
        match uid {
            Some(_) => Ok(account),
            None => Err(Error::NotRegistered { hotkey: hotkey.to_string(), netuid }),
        }
    }

    pub(crate) async fn announce_axon(&self, hotkey: &str, netuid: u16, axon: &Axon) -> Result<u64> {
        let signer = self.signer_for(hotkey)?;
        let at = self
            .bounded("checking the registration", async {
                let at = self.at_head().await?;
                self.registered(&at, netuid, hotkey).await?;
                Ok(at)
            })
            .await?;
        let (ip, ip_type) = ip_parts(axon.ip);
        let args = (netuid, AXON_VERSION, ip, axon.port, ip_type, axon.protocol, 0u8, 0u8);
        self.submit(at, signer, subxt::dynamic::tx("SubtensorModule", "serve_axon", args)).await
    }

    pub(crate) async fn commit_fields(&self, hotkey: &str, netuid: u16, fields: &[String]) -> Result<u64> {
        check_commitment_fields(fields)?;
        let signer = self.signer_for(hotkey)?;
        let at = self
            .bounded("checking the registration", async {
                let at = self.at_head().await?;
                self.registered(&at, netuid, hotkey).await?;
                Ok(at)
            })
            .await?;
        let info = Value::named_composite([("fields", Value::unnamed_composite(fields.iter().map(|f| raw_field(f))))]);
        self.submit(at, signer, subxt::dynamic::tx("Commitments", "set_commitment", (netuid, info))).await
    }

    pub(crate) async fn read_commitment(&self, netuid: u16, hotkey: &str) -> Result<Option<Commitment>> {
        let account = decode_ss58(hotkey).map_err(|e| Error::Refused(format!("hotkey {hotkey}: {e}")))?;
        let at = self.at_head().await?;
        let registration: Option<Registration> =
            self.read(&at, "Commitments", "CommitmentOf", (netuid, AccountId32(account))).await?;
        Ok(registration.map(|r| Commitment {
            block: u64::from(r.block),
            fields: data_fields(&r.info).into_iter().filter_map(field_text).collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_fields_round_trip_as_values() {
        let v = raw_field("assay");
        assert_eq!(field_text(&v).as_deref(), Some("assay"));
        let hashed = Value::unnamed_variant("Sha256", [Value::from_bytes([0u8; 32])]);
        assert_eq!(field_text(&hashed), None, "only Raw fields are text");
        let not_text = Value::unnamed_variant("Raw2", [Value::from_bytes([0xff, 0xfe])]);
        assert_eq!(field_text(&not_text), None);
        let info = Value::named_composite([("fields", Value::unnamed_composite([raw_field("a"), raw_field("bc")]))]);
        let texts: Vec<String> = data_fields(&info).into_iter().filter_map(field_text).collect();
        assert_eq!(texts, ["a", "bc"]);
        assert_eq!(ip_parts("10.0.0.1".parse().expect("ip")), (0x0a00_0001, 4));
        let info = Value::named_composite([("fields", Value::unnamed_composite([raw_field("a"), raw_field("bc")]))]);
        let texts: Vec<String> = data_fields(&info).into_iter().filter_map(field_text).collect();
        assert_eq!(texts, ["a", "bc"]);
        assert_eq!(ip_parts("::1".parse().expect("ip")), (1, 6));
    }
}
