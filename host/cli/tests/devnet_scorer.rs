//! `assay devnet --scorer`: the flag names a scorer (constantinople by default), an unknown one
//! is a usage error, and a scorer whose component is not built fails at once, naming the file and
//! `scripts/build-plugins.sh`, before the devnet writes anything.

mod common;

use common::{assay, output};

#[test]
fn the_scorer_flag_is_documented_and_checked() {
    let (code, help, _) = output(assay().args(["devnet", "--help"]));
    assert_eq!(code, 0);
    let named = ["proof-of-inference", "consensus", "cacheon"].iter().all(|s| help.contains(s));
    assert!(help.contains("--scorer") && named, "{help}");
    assert!(help.contains("[default: constantinople]"), "{help}");
    let (code, _, stderr) = output(assay().args(["devnet", "--scorer", "bogus"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("unknown scorer \"bogus\"")
            && stderr.contains("nineteen, proof-of-inference, consensus, cacheon"),
        "{stderr}"
    );
}

#[test]
fn a_scorer_not_built_is_a_clear_error_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (plugins, out) = (dir.path().join("plugins"), dir.path().join("devnet"));
    std::fs::create_dir_all(&plugins).expect("mkdir");
    for scorer in ["nineteen", "proof-of-inference", "consensus", "cacheon", "constantinople"] {
        let (code, _, stderr) = output(
            assay()
                .args(["devnet", "--epochs", "1", "--scorer", scorer, "--plugins"])
                .arg(&plugins)
                .arg("--out")
                .arg(&out),
        );
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(&format!("{scorer}.wasm")), "{stderr}");
        assert!(stderr.contains("scripts/build-plugins.sh"), "{stderr}");
        assert!(!out.exists(), "nothing was written");
    }
}
