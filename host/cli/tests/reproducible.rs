//! Plugin builds are reproducible: here and from a copy at another path give the same bytes,
//! and they are the bytes the golden epochs were scored with.

mod common;

use std::process::Command;

use common::{plugin, run, workspace_root};
use sha2::{Digest, Sha256};

#[test]
fn two_builds_from_two_paths_give_identical_plugins() {
    let script = workspace_root().join("scripts/check-reproducible.sh");
    let (code, text) = run(Command::new("bash").arg(script).env("ASSAY_BIN", env!("CARGO_BIN_EXE_assay")));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("reproducible: two builds from two paths gave identical bytes"), "{text}");
}

#[test]
fn the_golden_epochs_were_scored_by_the_plugin_this_source_builds() {
    // If this fails after a change to plugins/constantinople (or the SDK, or the toolchain), the
    // policy has a new hash: regenerate the golden epochs with scripts/make-golden-epoch.sh.
    let built = hex::encode(Sha256::digest(std::fs::read(plugin("constantinople")).expect("reads")));
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden/policies");
    let names: Vec<String> =
        std::fs::read_dir(golden).expect("lists").filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    assert_eq!(names, vec![format!("{built}.wasm")]);
}
