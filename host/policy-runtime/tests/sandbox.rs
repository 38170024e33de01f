//! Misbehaving and malformed components: each fails with its own clear error, and the host
//! (the same `Runtime`, the same loaded scorer) goes on working.
//!
//! Components come from scripts/build-plugins.sh (scripts/test.sh runs it first).

use std::path::PathBuf;

use assay_policy_runtime::{ContractVersion, Digest, Error, Limits, PolicyStore, Runtime, World, inspect};
use assay_policy_sdk::{EpochInput, Miner, Param};

fn plugin(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("ASSAY_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"));
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; run scripts/build-plugins.sh first (scripts/test.sh does)", path.display())
    })
}

fn input(mode: f64) -> EpochInput {
    EpochInput {
        netuid: 1,
        epoch: 3,
        block_start: 0,
        block_end: 9,
        tasks: vec![],
        miners: (0..4)
            .map(|uid| Miner { uid, hotkey: format!("hk{uid}"), stake: 0, capacities: vec![], registered_at_block: 0 })
            .collect(),
        requests: Default::default(),
        token_checks: Default::default(),
        request_values: vec![],
        challenges: Default::default(),
        commit_reveals: vec![],
        params: vec![Param { name: "mode".into(), value: mode }],
        state: vec![9, 9],
    }
}

const SMALL: Limits = Limits { fuel: 200_000_000, memory_bytes: 32 << 20, ..Limits::DEFAULT };

fn misbehave(runtime: &Runtime) -> assay_policy_runtime::Scorer {
    let bytes = plugin("misbehave");
    runtime.load_scorer(&Digest::of(&bytes), &bytes).expect("loads")
}

#[test]
fn each_misbehaviour_fails_with_its_own_error_and_the_scorer_keeps_working() {
    let runtime = Runtime::new(None).expect("engine");
    let scorer = misbehave(&runtime);
    let check = |mode: f64, expect: &dyn Fn(&Error) -> bool| {
        let err = scorer.score(&input(mode), SMALL).expect_err("misbehaves");
        assert!(expect(&err), "mode {mode}: unexpected error {err}");
        assert!(err.is_policy_fault(), "mode {mode}: {err} should be the policy's fault");
        // The same loaded scorer still works: a fresh Store per call.
        let ok = scorer.score(&input(0.0), SMALL).expect("behaves after a failure");
        assert_eq!(ok.output.weights.len(), 4);
        err.to_string()
    };
    let msg = check(1.0, &|e| matches!(e, Error::OutOfFuel { limit: 200_000_000 }));
    assert!(msg.contains("ran out of fuel"), "{msg}");
    let msg = check(2.0, &|e| matches!(e, Error::MemoryLimit { .. }));
    assert!(msg.contains("memory"), "{msg}");
    let msg = check(3.0, &|e| matches!(e, Error::Trap(_)));
    assert!(msg.contains("unreachable"), "{msg}");
    let msg = check(4.0, &|e| matches!(e, Error::InvalidOutput(_)));
    assert!(msg.contains("uid 65535, which is not in the metagraph"), "{msg}");
    let msg = check(5.0, &|e| matches!(e, Error::InvalidOutput(_)));
    assert!(msg.contains("NaN"), "{msg}");
    let msg = check(6.0, &|e| matches!(e, Error::InvalidOutput(_)));
    assert!(msg.contains("weighted twice"), "{msg}");
    let msg = check(7.0, &|e| matches!(e, Error::Refused(_)));
    assert!(msg.contains("asked to refuse"), "{msg}");
    let msg = check(8.0, &|e| matches!(e, Error::Trap(_)));
    assert!(msg.contains("stack"), "{msg}");
    let msg = check(9.0, &|e| matches!(e, Error::InvalidOutput(_)));
    assert!(msg.contains("state of 4194304 bytes is over the limit of 1048576"), "{msg}");
    let msg = check(10.0, &|e| matches!(e, Error::InvalidOutput(_)));
    assert!(msg.contains("uid 0 has 1000 components"), "{msg}");
    // A policy's own error is logged and may be published (an unscored epoch's reason): bounded.
    let msg = check(11.0, &|e| matches!(e, Error::Refused(_)));
    assert!(msg.len() < 1024 && msg.ends_with("(1048576 bytes)"), "{} bytes: {}", msg.len(), &msg[..100]);
}

#[test]
fn the_state_limit_is_the_callers() {
    let runtime = Runtime::new(None).expect("engine");
    let scorer = misbehave(&runtime);
    let roomy = Limits { state_bytes: 4 << 20, ..SMALL };
    assert_eq!(scorer.score(&input(9.0), roomy).expect("within a 4 MiB limit").output.state.len(), 4 << 20);
    let tight = Limits { state_bytes: 1, ..SMALL };
    assert!(matches!(scorer.score(&input(0.0), tight), Err(Error::InvalidOutput(_))), "a 2-byte state");
}

#[test]
fn running_out_of_fuel_is_deterministic() {
    let runtime = Runtime::new(None).expect("engine");
    let scorer = misbehave(&runtime);
    let a = scorer.score(&input(0.0), SMALL).expect("runs");
    let b = scorer.score(&input(0.0), SMALL).expect("runs");
    assert_eq!(a, b, "same output and the same fuel");
    assert!(a.fuel_used > 0);
    // With the fuel it needs it passes; with half of it, it fails, every time. (Fuel is checked
    // at function entries and loop headers, so the boundary is not a single unit.)
    let exact = Limits { fuel: a.fuel_used, ..SMALL };
    assert!(scorer.score(&input(0.0), exact).is_ok());
    let short = Limits { fuel: a.fuel_used / 2, ..SMALL };
    for _ in 0..3 {
        assert!(matches!(scorer.score(&input(0.0), short), Err(Error::OutOfFuel { .. })));
    }
}

/// A component that imports a WASI interface (written in the component text format).
const WASI_IMPORTER: &str = r#"
(component
  (import "wasi:cli/environment@0.2.0" (instance
    (export "get-arguments" (func (result (list string))))
  ))
)
"#;

/// A component of a contract version this host does not know: it imports the types interface
/// of `assay:policy@0.3.0` and exports `score`.
const UNKNOWN_VERSION: &str = r#"
(component
  (import "assay:policy/types@0.3.0" (instance))
  (core module $m (func (export "score")))
  (core instance $i (instantiate $m))
  (func $score (canon lift (core func $i "score")))
  (export "score" (func $score))
)
"#;

#[test]
fn a_component_of_an_unknown_contract_version_is_refused_at_load() {
    let bytes = wat::parse_str(UNKNOWN_VERSION).expect("valid component text");
    let err = inspect(&bytes).expect_err("refused");
    assert!(matches!(&err, Error::UnknownVersion(v) if v == "0.3.0"), "{err}");
    assert!(err.to_string().contains("runs 0.1.0 and 0.2.0"), "{err}");
    let runtime = Runtime::new(None).expect("engine");
    assert!(matches!(runtime.load_scorer(&Digest::of(&bytes), &bytes), Err(Error::UnknownVersion(_))));
}

/// A component importing the type interfaces of both versions, or none at all.
fn with_imports(imports: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
          {imports}
          (core module $m (func (export "score")))
          (core instance $i (instantiate $m))
          (func $score (canon lift (core func $i "score")))
          (export "score" (func $score)))"#
    ))
    .expect("valid component text")
}

#[test]
fn a_component_of_two_contract_versions_or_of_none_is_refused_by_name() {
    let mixed = with_imports(
        r#"(import "assay:policy/types@0.1.0" (instance)) (import "assay:policy/types@0.2.0" (instance))"#,
    );
    let err = inspect(&mixed).expect_err("refused");
    assert!(
        matches!(&err, Error::MixedVersions { first: ContractVersion::V0_1, second: ContractVersion::V0_2 }),
        "{err}"
    );
    assert!(err.to_string().contains("0.1.0 and 0.2.0"), "{err}");
    let none = with_imports("");
    let err = inspect(&none).expect_err("refused");
    assert!(matches!(&err, Error::NoContractTypes), "{err}");
    assert!(err.to_string().contains("imports no assay:policy/types interface"), "{err}");
}

#[test]
fn components_of_both_contract_versions_load_and_name_their_version() {
    let runtime = Runtime::new(None).expect("engine");
    let old = std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../cli/tests/fixtures/golden/policies/{}.wasm",
        "6553c9e1265d0388bf6297a0798d0ef1fd5059ba340db2aa03d573c098209a41"
    )))
    .expect("the golden 0.1.0 constantinople");
    let new = plugin("constantinople");
    assert_eq!(inspect(&old).expect("inspects").version, ContractVersion::V0_1);
    assert_eq!(inspect(&new).expect("inspects").version, ContractVersion::V0_2);
    let old = runtime.load_scorer(&Digest::of(&old), &old).expect("loads 0.1.0");
    let new = runtime.load_scorer(&Digest::of(&new), &new).expect("loads 0.2.0");
    assert_eq!((old.version(), new.version()), (ContractVersion::V0_1, ContractVersion::V0_2));
    // Both score the same 0.2.0 input (the 0.1.0 one through the down-conversion).
    let mut input = input(0.0);
    input.state.clear();
    let by_old = old.score(&input, SMALL).expect("0.1.0 scores").output;
    assert_eq!(by_old.scores.len(), 4);
    assert_eq!(new.score(&input, SMALL).expect("0.2.0 scores").output, by_old);
    // A published 0.1.0 input goes to a 0.1.0 scorer only.
    let published = assay_policy_sdk::v0_1::from_v0_2(&input);
    assert!(old.score_v0_1(&published, SMALL).is_ok());
    let err = new.score_v0_1(&published, SMALL).expect_err("refused");
    assert!(matches!(err, Error::VersionMismatch { .. }) && !err.is_policy_fault(), "{err}");
}

#[test]
fn a_malformed_input_is_the_hosts_error_and_never_reaches_the_policy() {
    let runtime = Runtime::new(None).expect("engine");
    let scorer = misbehave(&runtime);
    let mut bad = input(0.0);
    bad.challenges.point_start.push(7);
    let err = scorer.score(&bad, SMALL).expect_err("refused");
    assert!(matches!(err, Error::MalformedInput(_)) && !err.is_policy_fault(), "{err}");
}

#[test]
fn imports_outside_the_contract_are_refused_at_load() {
    let bytes = wat::parse_str(WASI_IMPORTER).expect("valid component text");
    let err = inspect(&bytes).expect_err("refused");
    assert!(matches!(&err, Error::ForbiddenImport(name) if name == "wasi:cli/environment@0.2.0"), "{err}");
    let runtime = Runtime::new(None).expect("engine");
    assert!(matches!(runtime.load_scorer(&Digest::of(&bytes), &bytes), Err(Error::ForbiddenImport(_))));
    let dir = tempfile::tempdir().expect("tempdir");
    let store = PolicyStore::open(dir.path()).expect("store");
    assert!(matches!(store.add(&bytes), Err(Error::ForbiddenImport(_))));
    assert!(store.list().expect("lists").is_empty());
}

#[test]
fn bytes_that_do_not_match_their_name_are_refused() {
    let runtime = Runtime::new(None).expect("engine");
    let bytes = plugin("constantinople");
    let wrong = Digest::of(b"something else");
    match runtime.load_scorer(&wrong, &bytes) {
        Err(Error::DigestMismatch { expected, actual }) => {
            assert_eq!(expected, wrong);
            assert_eq!(actual, Digest::of(&bytes));
        }
        other => panic!("expected a digest mismatch, got {:?}", other.err()),
    }

    // A stored file changed on disk is refused when read back.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = PolicyStore::open(dir.path()).expect("store");
    let digest = store.add(&bytes).expect("adds");
    assert_eq!(store.list().expect("lists"), vec![digest]);
    let mut changed = bytes.clone();
    changed[100] ^= 0xff;
    std::fs::write(store.path(&digest), &changed).expect("writes");
    assert!(matches!(store.get(&digest), Err(Error::DigestMismatch { .. })));
    assert!(matches!(store.get(&Digest::of(b"absent")), Err(Error::NotFound(_))));
}

#[test]
fn non_components_and_the_wrong_world_are_refused() {
    let runtime = Runtime::new(None).expect("engine");
    for junk in [b"\0asm\x01\0\0\0".to_vec(), b"not wasm at all".to_vec(), Vec::new()] {
        assert!(runtime.load_scorer(&Digest::of(&junk), &junk).is_err());
    }
    let challenger = plugin("adaptive-challenger");
    assert_eq!(inspect(&challenger).expect("inspects").world, World::Challenger);
    let err = runtime.load_scorer(&Digest::of(&challenger), &challenger).err().expect("wrong world");
    assert!(matches!(err, Error::WrongWorld { expected: World::Scorer, actual: World::Challenger }), "{err}");
    assert!(runtime.load_challenger(&Digest::of(&challenger), &challenger).is_ok());
}

#[test]
fn the_precompiled_cache_is_used_and_survives_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = plugin("constantinople");
    let digest = Digest::of(&bytes);
    let mut input = input(0.0);
    input.state.clear(); // constantinople refuses a state blob that is not its own
    let input = |_: f64| input.clone();
    let first = Runtime::new(Some(dir.path())).expect("engine");
    let a = first.load_scorer(&digest, &bytes).expect("compiles").score(&input(0.0), SMALL).expect("runs");
    let cached: Vec<_> = std::fs::read_dir(dir.path()).expect("lists").filter_map(|e| e.ok()).collect();
    assert_eq!(cached.len(), 1, "one precompiled artifact");
    let name = cached[0].file_name().into_string().expect("utf-8");
    assert!(name.starts_with(&digest.to_string()) && name.ends_with(".cwasm"), "{name}");

    let second = Runtime::new(Some(dir.path())).expect("engine");
    let b = second.load_scorer(&digest, &bytes).expect("loads from cache").score(&input(0.0), SMALL).expect("runs");
    assert_eq!(a, b);

    // A damaged artifact is ignored and rebuilt, never trusted.
    std::fs::write(cached[0].path(), b"garbage").expect("writes");
    let third = Runtime::new(Some(dir.path())).expect("engine");
    let c = third.load_scorer(&digest, &bytes).expect("recompiles").score(&input(0.0), SMALL).expect("runs");
    assert_eq!(a, c);
    assert_ne!(std::fs::read(cached[0].path()).expect("reads"), b"garbage");
}

#[test]
fn packing_a_core_module_gives_a_contract_component() {
    let core = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/wasm32-unknown-unknown/plugin/assay_plugin_constantinople.wasm"),
    )
    .expect("core module built by scripts/build-plugins.sh");
    let component = assay_policy_runtime::pack(&core).expect("packs");
    assert_eq!(component, plugin("constantinople"), "pack is what build-plugins.sh used");
    assert_eq!(assay_policy_runtime::pack(&core).expect("packs"), component, "packing is deterministic");
    assert!(assay_policy_runtime::pack(b"not a module").is_err());
}
