//! Submitted extrinsics decoded against the metadata, call by call: pallet, call, every argument.

use serde_json::Value as Json;
use subxt::Metadata;
use subxt::ext::codec::{Compact, Encode};
use subxt::ext::frame_decode::extrinsics::decode_extrinsic;
use subxt::ext::scale_value::{self, Value};

use crate::node::{METADATA, hex_bytes};

/// A call as decoded: `(pallet, call, [(argument, value)])`, with its raw call data and signer.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub pallet: String,
    pub call: String,
    pub args: Vec<(String, Value<()>)>,
    pub call_data: Vec<u8>,
    /// The signer's public key (a `MultiAddress::Id`), for a signed extrinsic.
    pub signer: Option<Vec<u8>>,
}

pub fn metadata() -> Metadata {
    Metadata::decode_from(METADATA).expect("the metadata decodes")
}

/// Decodes a whole extrinsic (with its length prefix).
pub fn decode(extrinsic: &[u8]) -> Call {
    let md = metadata();
    let ext =
        decode_extrinsic(&mut &extrinsic[..], &md, md.types()).expect("the extrinsic decodes against the metadata");
    let args = ext
        .call_data()
        .map(|arg| {
            let mut bytes = &extrinsic[arg.range()];
            let value =
                scale_value::scale::decode_as_type(&mut bytes, *arg.ty(), md.types()).expect("the argument decodes");
            assert!(bytes.is_empty(), "argument {} decoded whole", arg.name());
            (arg.name().to_string(), value.remove_context())
        })
        .collect();
    let signer = ext.signature_payload().map(|s| {
        let address = &extrinsic[s.address_range()];
        assert_eq!(address[0], 0, "a MultiAddress::Id");
        address[1..].to_vec()
    });
    Call {
        pallet: ext.pallet_name().to_string(),
        call: ext.call_name().to_string(),
        args,
        call_data: extrinsic[ext.call_data_range()].to_vec(),
        signer,
    }
}

/// Decodes bare call data (as the Python SDK composes it), wrapped as an unsigned extrinsic.
pub fn decode_call_data(call_data: &[u8]) -> Call {
    let mut body = vec![4u8];
    body.extend_from_slice(call_data);
    let mut extrinsic = Compact(body.len() as u32).encode();
    extrinsic.extend_from_slice(&body);
    decode(&extrinsic)
}

/// The fixture call `name`, decoded; checked against the SDK's own decoding of it.
pub fn expected(f: &Json, name: &str) -> Call {
    let fixture = &f["calls"][name];
    let call = decode_call_data(&hex_bytes(&fixture["hex"]));
    let sdk = &fixture["decoded"];
    assert_eq!(call.pallet, sdk["call_module"].as_str().expect("module"));
    assert_eq!(call.call, sdk["call_function"].as_str().expect("function"));
    let names: Vec<&str> =
        sdk["call_args"].as_array().expect("args").iter().map(|a| a["name"].as_str().expect("name")).collect();
    assert_eq!(call.args.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), names);
    call
}

/// Asserts that `submitted` is `expected`, argument by argument, then byte for byte, signed by
/// `signer`.
pub fn assert_call(submitted: &[u8], expected: &Call, signer: &[u8; 32]) {
    let got = decode(submitted);
    assert_eq!((&got.pallet, &got.call), (&expected.pallet, &expected.call), "pallet and call");
    assert_eq!(got.args.len(), expected.args.len(), "{}: argument count", got.call);
    for ((name, value), (want_name, want)) in got.args.iter().zip(&expected.args) {
        assert_eq!(name, want_name);
        assert_eq!(value, want, "{}.{name}", got.call);
    }
    assert_eq!(got.call_data, expected.call_data, "{}: the same call data as the SDK's", got.call);
    assert_eq!(got.signer.as_deref(), Some(&signer[..]), "signed by the hotkey");
}

/// The argument `name` of a decoded call.
pub fn arg<'a>(call: &'a Call, name: &str) -> &'a Value<()> {
    &call.args.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{} has no argument {name}", call.call)).1
}
