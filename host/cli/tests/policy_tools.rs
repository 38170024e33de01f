//! The subnet owner's tools (`assay policy pack/check/run/activate`) and the CLI's answers to
//! bad input: a clear message and exit 2, or exit 1 for a policy that fails a check.

mod common;

use std::path::Path;

use common::{HostDir, assay, plugin, run, workspace_root};

fn golden(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden").join(rel)
}

#[test]
fn pack_gives_the_component_that_build_plugins_made() {
    let core = workspace_root().join("target/wasm32-unknown-unknown/plugin/assay_plugin_constantinople.wasm");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("c.wasm");
    let (code, text) = run(assay().args(["policy", "pack"]).arg(&core).arg("--out").arg(&out));
    assert_eq!(code, 0, "{text}");
    let sums = std::fs::read_to_string(plugin("constantinople").with_file_name("SHA256SUMS")).expect("sums");
    let expected = sums.lines().find(|l| l.ends_with(" constantinople")).expect("listed").split_whitespace().next();
    assert_eq!(text.split_whitespace().next(), expected, "{text}");
    assert_eq!(std::fs::read(out).expect("written"), std::fs::read(plugin("constantinople")).expect("reads"));

    let (code, text) = run(assay().args(["policy", "pack", "/nonexistent.wasm"]));
    assert_eq!((code, text.contains("reading core module /nonexistent.wasm")), (2, true), "{text}");
}

#[test]
fn check_reports_the_world_and_refuses_wasi() {
    let (code, text) = run(assay().args(["policy", "check"]).arg(plugin("adaptive-challenger")));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("world    challenger (assay:policy@0.2.0)") && text.contains("exports  plan, judge"),
        "{text}"
    );
    assert!(text.contains("imports  assay:policy/types@0.2.0"), "{text}");

    let dir = tempfile::tempdir().expect("tempdir");
    let wasi = dir.path().join("wasi.wasm");
    let component = wat::parse_str(
        r#"(component (import "wasi:random/random@0.2.0" (instance (export "get-random-u64" (func (result u64))))))"#,
    )
    .expect("component text");
    std::fs::write(&wasi, component).expect("writes");
    let (code, text) = run(assay().args(["policy", "check"]).arg(&wasi));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("policy imports wasi:random/random@0.2.0"), "{text}");
}

#[test]
fn run_reproduces_a_published_epoch_and_refuses_bad_input() {
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(golden("epochs/1/1/summary.json")).expect("reads")).expect("json");
    let policy = golden(summary["scorer"]["key"].as_str().expect("key"));
    let (code, text) =
        run(assay().args(["policy", "run"]).arg(&policy).arg("--input").arg(golden("epochs/1/1/input.json.zst")));
    assert_eq!(code, 0, "{text}");
    let json_start = text.find('{').expect("prints JSON");
    let json_end = text.rfind('}').expect("prints JSON") + 1;
    let output: serde_json::Value = serde_json::from_str(&text[json_start..json_end]).expect("output JSON");
    assert_eq!(output["weights"], summary["output"]["weights"]);
    assert_eq!(output["scores"], summary["output"]["scores"]);

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"netuid": 1}"#).expect("writes");
    let (code, text) = run(assay().args(["policy", "run"]).arg(&policy).arg("--input").arg(&bad));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("is not a valid input: missing field"), "{text}");

    // Too little fuel: the policy fails, exit 1.
    let (code, text) = run(assay()
        .args(["policy", "run", "--fuel", "1000"])
        .arg(&policy)
        .arg("--input")
        .arg(golden("epochs/1/1/input.json.zst")));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("ran out of fuel (limit 1000)"), "{text}");
}

#[test]
fn activation_refuses_what_the_host_would_refuse() {
    let host = HostDir::new(12.0, |_| {});
    let (code, text) = host.assay(&["policy", "activate", "not-a-digest"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("expected 64 lowercase hex characters"), "{text}");
    let (code, text) = host.assay(&["policy", "activate", &"ab".repeat(32)]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("is not in the store"), "{text}");
    let text = host.ok(&["policy", "activate", &host.constantinople]);
    assert!(text.contains("is active from the next epoch boundary"), "{text}");
    let listing = host.ok(&["policy", "list"]);
    assert!(listing.lines().any(|l| l.starts_with(&host.constantinople) && l.ends_with("active")), "{listing}");
}

#[test]
fn bad_config_and_records_are_unusable_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, text) = run(assay().args(["epoch", "close", "--epoch", "0"]).current_dir(dir.path()));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("reading config assay.toml"), "{text}");
    std::fs::write(dir.path().join("assay.toml"), "netuid = \"one\"").expect("writes");
    let (code, text) = run(assay().args(["epoch", "close", "--epoch", "0"]).current_dir(dir.path()));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("parsing config"), "{text}");

    let host = HostDir::new(12.0, |_| {});
    std::fs::write(host.path().join("bad.jsonl"), "{\"epoch\":0,\"challenge\":{}}\n").expect("writes");
    let (code, text) = host.assay(&["ledger", "import", "bad.jsonl"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("bad.jsonl line 1"), "{text}");
    // No active scorer is the operator's configuration, not a failed check.
    let (code, text) = host.assay(&["epoch", "close", "--epoch", "0"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no scorer is active"), "{text}");
    let (code, text) = run(assay().args(["no-such-command"]));
    assert_eq!(code, 2, "{text}");
}
