//! Rewrites a V16 metadata file as V15, for tools that read only V15 (the Python `bittensor`
//! SDK 11.3 codec, used by `scripts/make-subtensor-fixtures.py` to encode the test fixtures).
//!
//! The type registry, pallets, storage, calls, events, errors and runtime APIs carry over
//! unchanged (so type ids stay the same); V16's additions (associated types, view functions,
//! deprecation notes, extension versions) are dropped. Signing needs the V15 extension types,
//! which this does not rebuild: the result is for encoding and decoding values, not for signing.
//!
//! `cargo run -p assay-subtensor --example metadata_v15 -- IN.scale OUT.scale`

use std::process::ExitCode;

use scale_info::form::PortableForm;
use scale_info::{PortableRegistry, TypeDef};
use subxt::ext::codec::{Decode, Encode};
use subxt::ext::frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed, v15, v16};

fn pallet(p: v16::PalletMetadata<PortableForm>) -> v15::PalletMetadata<PortableForm> {
    v15::PalletMetadata {
        name: p.name,
        storage: p.storage.map(|s| v15::PalletStorageMetadata {
            prefix: s.prefix,
            entries: s
                .entries
                .into_iter()
                .map(|e| v15::StorageEntryMetadata {
                    name: e.name,
                    modifier: e.modifier,
                    ty: e.ty,
                    default: e.default,
                    docs: e.docs,
                })
                .collect(),
        }),
        calls: p.calls.map(|c| v15::PalletCallMetadata { ty: c.ty }),
        event: p.event.map(|e| v15::PalletEventMetadata { ty: e.ty }),
        constants: p
            .constants
            .into_iter()
            .map(|c| v15::PalletConstantMetadata { name: c.name, ty: c.ty, value: c.value, docs: c.docs })
            .collect(),
        error: p.error.map(|e| v15::PalletErrorMetadata { ty: e.ty }),
        index: p.index,
        docs: p.docs,
    }
}

fn api(a: v16::RuntimeApiMetadata<PortableForm>) -> v15::RuntimeApiMetadata<PortableForm> {
    v15::RuntimeApiMetadata {
        name: a.name,
        methods: a
            .methods
            .into_iter()
            .map(|m| v15::RuntimeApiMethodMetadata { name: m.name, inputs: m.inputs, output: m.output, docs: m.docs })
            .collect(),
        docs: a.docs,
    }
}

/// The id of a type whose path ends in `name`, or of the unit type.
fn type_id(types: &PortableRegistry, name: &str) -> Option<u32> {
    let by_name = types.types.iter().find(|t| t.ty.path.segments.last().is_some_and(|s| s == name));
    let unit = types.types.iter().find(|t| matches!(&t.ty.type_def, TypeDef::Tuple(t) if t.fields.is_empty()));
    by_name.or(unit).map(|t| t.id)
}

fn convert(m: v16::RuntimeMetadataV16) -> Result<v15::RuntimeMetadataV15, String> {
    let unit = type_id(&m.types, "()").ok_or("no unit type in the registry")?;
    let runtime = type_id(&m.types, "Runtime").unwrap_or(unit);
    let x = m.extrinsic;
    let version = x.versions.iter().copied().filter(|v| *v <= 4).max().unwrap_or(4);
    let by_version = x.transaction_extensions_by_version.get(&0).cloned().unwrap_or_default();
    let signed_extensions = by_version
        .iter()
        .filter_map(|i| x.transaction_extensions.get(i.0 as usize))
        .map(|e| v15::SignedExtensionMetadata {
            identifier: e.identifier.clone(),
            ty: e.ty,
            additional_signed: e.implicit,
        })
        .collect();
    let extrinsic = v15::ExtrinsicMetadata {
        version,
        address_ty: x.address_ty,
        call_ty: x.call_ty,
        signature_ty: x.signature_ty,
        extra_ty: unit.into(),
        signed_extensions,
    };
    Ok(v15::RuntimeMetadataV15 {
        types: m.types,
        pallets: m.pallets.into_iter().map(pallet).collect(),
        extrinsic,
        ty: runtime.into(),
        apis: m.apis.into_iter().map(api).collect(),
        outer_enums: m.outer_enums,
        custom: m.custom,
    })
}

fn run(input: &str, output: &str) -> Result<(), String> {
    let bytes = std::fs::read(input).map_err(|e| format!("reading {input}: {e}"))?;
    let prefixed = RuntimeMetadataPrefixed::decode(&mut &bytes[..]).map_err(|e| format!("decoding {input}: {e}"))?;
    let v16 = match prefixed.1 {
        RuntimeMetadata::V16(m) => m,
        other => return Err(format!("{input} is metadata V{}, not V16", other.version())),
    };
    let v15 = RuntimeMetadataPrefixed(prefixed.0, RuntimeMetadata::V15(convert(v16)?));
    std::fs::write(output, v15.encode()).map_err(|e| format!("writing {output}: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: metadata_v15 IN.scale OUT.scale");
        return ExitCode::from(2);
    };
    match run(input, output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("metadata_v15: {e}");
            ExitCode::FAILURE
        }
    }
}
