//! Host bindings generated from `wit/policy.wit`, and their conversions to the SDK's plain types.
//!
//! The WIT file is the one the guests are built against (by path, never a copy).

pub(crate) mod scorer {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "assay:policy/scorer@0.1.0",
    });
}

pub(crate) mod challenger {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "assay:policy/challenger@0.1.0",
    });
}

mod scorer_conv {
    use super::scorer::assay::policy::types as wit;
    assay_policy_sdk::__conv_all!(scorer: wit);
}

mod challenger_conv {
    use super::challenger::assay::policy::types as wit;
    assay_policy_sdk::__conv_all!(challenger: wit);
}
