//! `assay policy announce`: the subnet owner's hotkey writes the announcement into its
//! commitment on the local chain (the other world's field kept) after putting the policy into
//! its publication; anyone else, a named epoch too early or the wrong world is refused (exit 2).

mod common;

use common::{HostDir, run};

#[test]
fn the_owner_announces_a_scorer_and_a_challenger_and_no_one_else_can() {
    let host = HostDir::new(12.0, |_| {});
    let created = host.ok(&["wallet", "create", "--root", "wallets", "--wallet", "owner", "--hotkey", "default"]);
    let owner = created.lines().next().expect("the owner's SS58 (stdout comes first)").trim().to_string();
    // The owner registers (uid 8) and owns the subnet.
    let path = host.path().join("chain/metagraph.json");
    let mut metagraph: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("reads")).expect("json");
    metagraph["neurons"].as_array_mut().expect("neurons").push(serde_json::json!({ "uid": 8, "hotkey": owner }));
    metagraph["owner_hotkey"] = owner.clone().into();
    std::fs::write(&path, serde_json::to_vec(&metagraph).expect("json")).expect("writes");
    let (code, text) = run(common::assay()
        .args(["policy", "add"])
        .arg(common::plugin("adaptive-challenger"))
        .current_dir(host.path()));
    assert_eq!(code, 0, "{text}");
    let challenger = text.split_whitespace().next().expect("sha").to_string();

    let as_owner = ["--wallet", "owner", "--hotkey", "default"];
    let scorer_args = ["policy", "announce", &host.constantinople, "--world", "scorer"];
    let text = host.ok(&[&scorer_args[..], &as_owner[..]].concat());
    assert!(text.contains(&format!("scorer {} announced on subnet 1", host.constantinople)), "{text}");
    let text = host.ok(&[
        "policy",
        "announce",
        &challenger,
        "--world",
        "challenger",
        "--from-epoch",
        "3",
        "--wallet",
        "owner",
        "--hotkey",
        "default",
    ]);
    let scorer_field = format!("assay-policy:scorer:sha256:{}", host.constantinople);
    let challenger_field = format!("assay-policy:challenger:sha256:{challenger}:from-epoch:3");
    assert!(text.contains(&format!("  {scorer_field}\n  {challenger_field}\n")), "{text}");

    // What the local chain holds: the last commitment carries both fields, scorer first.
    let log = std::fs::read_to_string(host.path().join("chain/commitments.jsonl")).expect("reads");
    let last: serde_json::Value = serde_json::from_str(log.lines().last().expect("a line")).expect("json");
    assert_eq!(last["hotkey"], owner.as_str());
    assert_eq!(last["fields"], serde_json::json!([scorer_field, challenger_field]));
    for sha in [&host.constantinople, &challenger] {
        assert!(host.path().join(format!("published/policies/{sha}.wasm")).exists(), "published for validators");
    }

    let refusals: [(&[&str], &str); 4] = [
        (&scorer_args, "is not the owner of subnet 1"),
        (&[&scorer_args[..], &["--from-epoch", "1"], &as_owner[..]].concat(), "at epoch 2 at the earliest"),
        (
            &["policy", "announce", &challenger, "--world", "scorer", "--wallet", "owner", "--hotkey", "default"],
            "cannot be announced as a scorer",
        ),
        (&["policy", "announce", "ABC", "--world", "scorer"], "64 lowercase hex"),
    ];
    for (args, words) in refusals {
        let (code, text) = host.assay(args);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(text.contains(words), "{args:?}: {text}");
    }
    assert_eq!(
        std::fs::read_to_string(host.path().join("chain/commitments.jsonl")).expect("reads"),
        log,
        "nothing more"
    );
}
