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

/// Exit code, stdout and stderr, apart.
pub fn output(cmd: &mut Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = cmd.output().expect("runs assay");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("utf-8");
    (status.code().unwrap_or(-1), text(stdout), text(stderr))
}

/// The golden validator's seed (scripts/make-golden-epoch.sh): public, so tests can re-sign.
pub const GOLDEN_SEED: &str = "676f6c64656e2d76616c696461746f722d6b65792d666f722d74657374732121";

/// A sr25519 hotkey from its seed in hex.
pub fn key_from(seed_hex: &str) -> assay_keys::Hotkey {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(seed_hex, &mut seed).expect("hex");
    assay_keys::Hotkey::from_seed(assay_keys::Scheme::Sr25519, seed).expect("key")
}

/// The golden epochs' validator key (tests/fixtures/golden).
pub fn golden_key() -> assay_keys::Hotkey {
    key_from(GOLDEN_SEED)
}

/// The golden epochs' validator, as their summaries name it (SS58).
pub fn golden_validator() -> String {
    golden_key().ss58()
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

/// The s3s-fs binary, or `None` (with the reason printed) where the S3 tier is not installed;
/// a panic instead when `ASSAY_REQUIRE_S3S=1` (the test command sets it once installed).
pub fn s3s_fs() -> Option<PathBuf> {
    let reason = match assay_lab::publication::s3s_fs_binary() {
        Ok(binary) => return Some(binary),
        Err(reason) => reason,
    };
    if std::env::var_os("ASSAY_REQUIRE_S3S").is_some_and(|v| v == "1") {
        panic!("the S3 tier is required (ASSAY_REQUIRE_S3S=1) but {reason}");
    }
    eprintln!("skipping: {reason}");
    None
}

/// `assay` with the devnet's S3 keys in the AWS chain's variables (no profile, no instance
/// metadata).
pub fn assay_with_s3_keys() -> Command {
    let mut cmd = assay();
    cmd.env("AWS_ACCESS_KEY_ID", assay_lab::publication::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", assay_lab::publication::SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    cmd
}

/// A static file server of a folder on 127.0.0.1:0 (GET only; 404 for anything not a file);
/// stops on drop.
pub struct FileServer {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FileServer {
    pub fn start(root: &Path) -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let port = listener.local_addr().expect("address").port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (stopping, root) = (stop.clone(), root.to_path_buf());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(stream) = stream {
                    let root = root.clone();
                    std::thread::spawn(move || serve_file(stream, &root));
                }
            }
        });
        Self { port, stop, thread: Some(thread) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_file(mut stream: std::net::TcpStream, root: &Path) {
    use std::io::{BufRead, Write};
    let mut reader = std::io::BufReader::new(stream.try_clone().expect("clones"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = request_line.split(' ').nth(1).unwrap_or("/");
    let safe = path.split('/').all(|part| part != ".." && !part.contains('%'));
    let file = root.join(path.trim_start_matches('/'));
    let body = if safe && file.is_file() { std::fs::read(&file).ok() } else { None };
    let _ = match body {
        Some(body) => stream
            .write_all(
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes(),
            )
            .and_then(|()| stream.write_all(&body)),
        None => stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
}

/// `method path` on `addr` over a fresh connection (no body, `connection: close`): the status
/// line and the body; `None` when nothing came back.
pub fn http(addr: &str, method: &str, path: &str) -> Option<(String, String)> {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr).ok()?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(5))).ok()?;
    write!(tcp, "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").ok()?;
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

/// `GET path` on `addr`: the body of a 200 answer.
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    let (status, body) = http(addr, "GET", path)?;
    status.starts_with("HTTP/1.1 200").then_some(body)
}

/// A child process killed (and waited for) when the test ends, passing or not.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
