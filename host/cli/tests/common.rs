//! Helpers shared by the CLI's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assay_node::Config;

pub fn assay() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_assay"));
    cmd.env("ASSAY_LOG", "warn");
    cmd
}

/// Exit code and everything printed.
pub fn run(cmd: &mut Command) -> (i32, String) {
    let Output { status, stdout, stderr } = cmd.output().expect("runs assay");
    let text = format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    (status.code().unwrap_or(-1), text)
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("reads fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copies");
        }
    }
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A component built by `scripts/build-plugins.sh` (the test command builds them first).
pub fn plugin(name: &str) -> PathBuf {
    let dir = std::env::var_os("ASSAY_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/plugins"));
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run scripts/build-plugins.sh first (scripts/test.sh does)", path.display());
    path
}

/// A node folder: a validator wallet, a local chain of 8 synthetic miners, records for epochs
/// 0..3 in the ledger, the plugins in the policy store, and `assay.toml` built with the config
/// type and adjusted by `adjust`.
pub struct HostDir {
    pub dir: tempfile::TempDir,
    pub constantinople: String,
    pub misbehave: String,
}

impl HostDir {
    pub fn new(block_seconds: f64, adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = |cmd: &mut Command| {
            let (code, text) = run(cmd.current_dir(dir.path()));
            assert_eq!(code, 0, "{cmd:?}:\n{text}");
            text
        };
        at(assay()
            .args(["wallet", "create", "--root", "wallets", "--wallet", "v", "--hotkey", "h", "--seed"])
            .arg("07".repeat(32)));
        at(assay().args([
            "dev",
            "synth",
            "--out",
            "synth",
            "--miners",
            "8",
            "--requests",
            "200",
            "--challenges",
            "20",
            "--epochs",
            "3",
        ]));
        at(assay()
            .args(["chain", "init", "--dir", "chain", "--metagraph", "synth/metagraph.json", "--block-seconds"])
            .arg(block_seconds.to_string()));
        let mut config = Config::local(1, Some("wallets".into()), "v", "h");
        config.epoch_blocks = 10;
        adjust(&mut config);
        config.save(&dir.path().join("assay.toml")).expect("writes config");
        let add = |name: &str| {
            at(assay().args(["policy", "add"]).arg(plugin(name))).split_whitespace().next().expect("sha").to_string()
        };
        let constantinople = add("constantinople");
        let misbehave = add("misbehave");
        Self { dir, constantinople, misbehave }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn assay(&self, args: &[&str]) -> (i32, String) {
        run(assay().args(args).current_dir(self.path()))
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let (code, text) = self.assay(args);
        assert_eq!(code, 0, "assay {args:?}:\n{text}");
        text
    }
}
