//! `assay devnet --epochs N --out DIR`: the whole system on loopback. The cheaters end at weight
//! zero, the faster honest miner with the most weight, and every published epoch audits PASS.

mod common;

use common::{assay, plugin, run};

#[test]
fn devnet_catches_both_cheaters_and_every_epoch_audits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("devnet");
    let plugins = plugin("constantinople").parent().expect("the plugins folder").to_path_buf();
    let (code, stdout) = run(assay()
        .args(["devnet", "--epochs", "2", "--epoch-seconds", "12", "--synthetic-per-minute", "300", "--out"])
        .arg(&out)
        .arg("--plugins")
        .arg(&plugins));
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("cheaters at weight zero: yes"), "{stdout}");
    assert!(stdout.contains("the faster honest miner has the most weight: yes"), "{stdout}");
    assert_eq!(stdout.matches(" PASS").count(), 2, "{stdout}");

    // The published epochs audit on their own, as an outsider would run it.
    for epoch in 0..2 {
        let summary = out.join(format!("published/epochs/1/{epoch}/summary.json"));
        let (code, audit) = run(assay().arg("audit").arg(&summary));
        assert_eq!(code, 0, "{audit}");
        assert!(audit.trim_end().ends_with("PASS"), "{audit}");
    }
    // The weights went on the local chain: the cheaters (uids 2 and 3) at zero.
    let (code, weights) = run(assay().args(["chain", "weights", "--dir"]).arg(out.join("chain")));
    assert_eq!(code, 0, "{weights}");
    let last = weights.lines().last().expect("weights were set");
    assert!(last.ends_with(" 2:0 3:0"), "{weights}");
    assert!(last.contains(" 0:65535 "), "{weights}");

    // A rerun into the same folder starts afresh; a folder devnet did not make is refused.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    std::fs::write(foreign.join("notes.txt"), "mine").expect("write");
    let (code, refused) = run(assay().args(["devnet", "--epochs", "1", "--out"]).arg(&foreign));
    assert_eq!(code, 2, "{refused}");
    assert!(foreign.join("notes.txt").exists(), "nothing of the user's is touched");
}
