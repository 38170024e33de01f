//! `assay chain encrypt-weights`: the commit it prints opens with drand quicknet's signature of
//! its round, to the weights normalized as the Python SDK normalizes them; bad input exits 2.
//! `assay chain decrypt-weights` opens the Python package's commits and refuses another round's.

mod common;

use assay_subtensor::{WeightsPayload, decrypt_payload};
use common::{assay, run, workspace_root};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = workspace_root().join("host/subtensor/tests/fixtures/drand").join(name);
    serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("JSON")
}

fn encrypt_weights(round: &str, hotkey: &str, uids: &str, weights: &str) -> (i32, String) {
    run(assay().args([
        "chain",
        "encrypt-weights",
        "--round",
        round,
        "--hotkey-ss58",
        hotkey,
        "--uids",
        uids,
        "--weights",
        weights,
        "--version-key",
        "7",
    ]))
}

fn decrypt_weights(commit: &str, signature: &str) -> (i32, String) {
    run(assay().args(["chain", "decrypt-weights", "--commit", commit, "--signature", signature]))
}

fn u16s(v: &Value) -> Vec<u16> {
    v.as_array().expect("array").iter().map(|x| u16::try_from(x.as_u64().expect("int")).expect("u16")).collect()
}

#[test]
fn the_printed_commit_opens_with_the_rounds_signature() {
    let commits = fixture("python-commits.json");
    let signature = hex::decode(commits["signature"].as_str().expect("hex")).expect("hex");
    let hotkey: [u8; 32] =
        hex::decode(commits["payload"]["hotkey"].as_str().expect("hex")).expect("hex").try_into().expect("32 bytes");
    let ss58 = commits["payload"]["hotkey_ss58"].as_str().expect("ss58");
    // The Python SDK's normalization of these same weights.
    let normalized = fixture("normalize.json")["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == "issue_example")
        .expect("the issue's example")["expected"]
        .clone();

    let (code, text) = encrypt_weights("1000", ss58, "1,2,3", "0.5,0.25,1");
    assert_eq!(code, 0, "{text}");
    let commit = hex::decode(text.trim()).expect("only hex on stdout");
    let payload = decrypt_payload(&commit, &signature).expect("round 1000's signature opens it");
    let expected =
        WeightsPayload { hotkey, uids: u16s(&normalized["uids"]), values: u16s(&normalized["values"]), version_key: 7 };
    assert_eq!(payload, expected);
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let ss58 = fixture("python-commits.json")["payload"]["hotkey_ss58"].as_str().expect("ss58").to_string();
    let cases: [(&str, [&str; 4], &str); 7] = [
        ("unequal lists", ["1000", "1,2,3", "0.5,1", &ss58], "equal length"),
        ("a negative weight", ["1000", "1,2", "-0.5,1", &ss58], "non-negative"),
        ("a NaN weight", ["1000", "1,2", "nan,1", &ss58], "non-negative"),
        ("all zero", ["1000", "1,2", "0,0", &ss58], "all weights are zero"),
        ("a repeated uid", ["1000", "4,4", "1,2", &ss58], "more than once"),
        ("round zero", ["0", "1", "1", &ss58], "rounds start at 1"),
        ("a bad address", ["1000", "1", "1", "5Notanaddress"], "5Notanaddress"),
    ];
    for (what, [round, uids, weights, hotkey], reason) in cases {
        let (code, text) = encrypt_weights(round, hotkey, uids, weights);
        assert_eq!(code, 2, "{what}: {text}");
        assert!(text.contains(reason), "{what}: {text}");
    }
    let (code, text) = run(assay().args(["chain", "encrypt-weights", "--round", "1", "--uids", "1,x"]));
    assert_eq!(code, 2, "a uid that is not a number: {text}");
}

#[test]
fn decrypt_weights_opens_the_python_packages_commit_and_refuses_another_round() {
    let commits = fixture("python-commits.json");
    let signature = commits["signature"].as_str().expect("hex");
    let (code, text) = decrypt_weights(commits["get_encrypted_commit_v2"].as_str().expect("hex"), signature);
    assert_eq!(code, 0, "{text}");
    let opened: Value = serde_json::from_str(text.trim()).expect("JSON");
    let p = &commits["payload"];
    assert_eq!(opened["hotkey"], p["hotkey_ss58"]);
    assert_eq!((&opened["uids"], &opened["values"]), (&p["uids"], &p["values"]));
    assert_eq!(opened["version_key"], p["version_key"]);

    let (code, text) = encrypt_weights("1001", p["hotkey_ss58"].as_str().expect("ss58"), "1", "1");
    assert_eq!(code, 0, "{text}");
    let (code, text) = decrypt_weights(text.trim(), signature);
    assert_eq!(code, 1, "round 1000's signature on a round-1001 commit: {text}");
    assert!(text.contains("does not open"), "{text}");
    let (code, text) = decrypt_weights("zz", signature);
    assert_eq!(code, 2, "{text}");
}
