//! Host bindings generated from the contract's WIT files, one module per world and version, and
//! their conversions to the SDK's plain types.
//!
//! The WIT files are the ones the guests are built against (by path, never a copy): 0.2.0 in
//! `wit/`, 0.1.0 in `wit/v0.1/`.

pub(crate) mod scorer {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "assay:policy/scorer@0.2.0",
    });
}

pub(crate) mod challenger {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "assay:policy/challenger@0.2.0",
    });
}

pub(crate) mod scorer_v0_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/v0.1",
        world: "assay:policy/scorer@0.1.0",
    });
}

pub(crate) mod challenger_v0_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/v0.1",
        world: "assay:policy/challenger@0.1.0",
    });
}

mod scorer_conv {
    use super::scorer::assay::policy::types as wit;
    use assay_policy_sdk as ours;
    assay_policy_sdk::__conv_all!(scorer: wit => ours);
}

mod challenger_conv {
    use super::challenger::assay::policy::types as wit;
    use assay_policy_sdk as ours;
    assay_policy_sdk::__conv_all!(challenger: wit => ours);
}

mod scorer_v0_1_conv {
    use super::scorer_v0_1::assay::policy::types as wit;
    use assay_policy_sdk::v0_1 as ours;
    assay_policy_sdk::__conv_all!(scorer_v0_1: wit => ours);
}

mod challenger_v0_1_conv {
    use super::challenger_v0_1::assay::policy::types as wit;
    use assay_policy_sdk as ours;
    assay_policy_sdk::__conv_all!(challenger: wit => ours);
}
