//! `S3Store` against a real S3 server: s3s-fs on loopback, installed by the test command
//! (`scripts/test.sh`: `cargo install s3s-fs@0.14.1 --locked --features binary --root
//! target/s3s-fs`). Skipped with a reason where it is not installed, unless
//! `ASSAY_REQUIRE_S3S=1` (the test command sets it once installed).
#![cfg(feature = "s3")]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assay_publish::{Error, ObjectStore, S3Credentials, S3Settings, S3Store, keys};

const ACCESS_KEY: &str = "assay-test-access";
const SECRET_KEY: &str = "assay-test-secret";
const BUCKET: &str = "assay";

/// A running s3s-fs serving `dir`; killed on drop.
struct S3sFs {
    child: Child,
    port: u16,
}

impl S3sFs {
    fn start(binary: &Path, dir: &Path, port: u16) -> Self {
        let child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", ACCESS_KEY])
            .args(["--secret-key", SECRET_KEY])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        let server = Self { child, port };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not listen on {addr} within 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The s3s-fs binary, or `None` (with the reason printed) where the tier is not installed.
fn s3s_fs() -> Option<PathBuf> {
    let binary = std::env::var_os("ASSAY_S3S_FS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/s3s-fs/bin/s3s-fs"));
    if binary.is_file() {
        return Some(binary);
    }
    let reason = format!("s3s-fs is not installed at {} (scripts/test.sh installs it)", binary.display());
    if std::env::var_os("ASSAY_REQUIRE_S3S").is_some_and(|v| v == "1") {
        panic!("the S3 tier is required (ASSAY_REQUIRE_S3S=1) but {reason}");
    }
    eprintln!("skipping: {reason}");
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("binds").local_addr().expect("has an address").port()
}

/// A server on a fresh folder holding the test bucket.
fn server() -> Option<(S3sFs, tempfile::TempDir)> {
    let binary = s3s_fs()?;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join(BUCKET)).expect("creates the bucket");
    Some((S3sFs::start(&binary, dir.path(), free_port()), dir))
}

fn settings(server: &S3sFs, secret_key: &str) -> S3Settings {
    let credentials = S3Credentials::Keys { access_key: ACCESS_KEY.into(), secret_key: secret_key.into() };
    let mut settings = S3Settings::new(BUCKET, "validators/alice", credentials);
    settings.endpoint = Some(server.endpoint());
    settings.first_backoff = Duration::from_millis(50);
    settings.max_backoff = Duration::from_millis(400);
    settings.connect_timeout = Duration::from_secs(1);
    settings.operation_timeout = Duration::from_secs(5);
    settings
}

#[test]
fn puts_gets_and_lists_under_the_prefix() {
    let Some((server, dir)) = server() else { return };
    let store = S3Store::open(settings(&server, SECRET_KEY)).expect("opens");
    store.put(&keys::summary(1, 7), b"{\"epoch\":7}").expect("puts the summary");
    store.put(&keys::input(1, 7), b"input").expect("puts the input");
    store.put(&keys::latest(1), b"{\"epoch\":6}").expect("puts latest");
    store.put(&keys::latest(1), b"{\"epoch\":7}").expect("latest.json is replaced");

    assert_eq!(store.get(&keys::summary(1, 7)).expect("gets").as_deref(), Some(&b"{\"epoch\":7}"[..]));
    assert_eq!(store.get(&keys::latest(1)).expect("gets").as_deref(), Some(&b"{\"epoch\":7}"[..]));
    assert_eq!(store.get(&keys::summary(1, 8)).expect("gets"), None, "a missing key is None");
    let on_disk = dir.path().join(BUCKET).join("validators/alice").join(keys::summary(1, 7));
    assert_eq!(std::fs::read(on_disk).expect("the server wrote it under the prefix"), b"{\"epoch\":7}");

    let mut listed = store.list("epochs/1/", 100).expect("lists");
    listed.sort();
    assert_eq!(listed, vec![keys::input(1, 7), keys::summary(1, 7), keys::latest(1)]);
    assert!(store.list("epochs/1/", 2).is_err(), "more keys than asked for is an error, not a partial list");
    assert!(matches!(store.put("../escape", b"x"), Err(Error::BadKey(_))));
    assert_eq!(store.describe(), format!("s3://{BUCKET}/validators/alice at {}", server.endpoint()));
}

#[test]
fn a_get_past_the_cap_is_refused() {
    let Some((server, _dir)) = server() else { return };
    let mut capped = settings(&server, SECRET_KEY);
    capped.max_get_bytes = 16;
    let store = S3Store::open(capped).expect("opens");
    store.put(&keys::input(1, 1), &[7u8; 16]).expect("puts");
    store.put(&keys::input(1, 2), &[7u8; 17]).expect("puts");
    assert_eq!(store.get(&keys::input(1, 1)).expect("at the cap reads").map(|b| b.len()), Some(16));
    let err = store.get(&keys::input(1, 2)).expect_err("past the cap");
    assert!(matches!(err, Error::TooLarge { limit: 16, .. }), "{err}");
    // A caller's own bound below the store's, and one above it (the store's still holds).
    let err = store.get_at_most(&keys::input(1, 1), 15).expect_err("past the caller's bound");
    assert!(matches!(err, Error::TooLarge { limit: 15, .. }), "{err}");
    assert_eq!(store.get_at_most(&keys::input(1, 1), 16).expect("reads").map(|b| b.len()), Some(16));
    let err = store.get_at_most(&keys::input(1, 2), 1 << 20).expect_err("past the store's cap");
    assert!(matches!(err, Error::TooLarge { limit: 16, .. }), "{err}");
}

#[test]
fn a_summary_is_never_replaced_by_a_different_one() {
    let Some((server, _dir)) = server() else { return };
    let store = S3Store::open(settings(&server, SECRET_KEY)).expect("opens");
    let key = keys::summary(1, 3);
    store.put(&key, b"the signed summary").expect("puts");
    store.put(&key, b"the signed summary").expect("the same bytes again are fine (a retried publication)");
    let err = store.put(&key, b"another summary").expect_err("a different summary");
    assert!(matches!(&err, Error::Conflict { key: k } if *k == key), "{err}");
    assert_eq!(store.get(&key).expect("gets").as_deref(), Some(&b"the signed summary"[..]));
    let policy = keys::policy(&"ab".repeat(32));
    store.put(&policy, b"wasm").expect("puts a policy");
    assert!(matches!(store.put(&policy, b"other wasm"), Err(Error::Conflict { .. })), "policies are write-once");
}

#[test]
fn wrong_credentials_are_a_typed_refusal() {
    let Some((server, _dir)) = server() else { return };
    let store = S3Store::open(settings(&server, "not-the-secret")).expect("opens (nothing is contacted yet)");
    let started = Instant::now();
    let err = store.put(&keys::summary(1, 1), b"{}").expect_err("refused");
    assert!(matches!(err, Error::Denied(_)), "{err}");
    assert!(matches!(store.get(&keys::summary(1, 1)), Err(Error::Denied(_))));
    assert!(started.elapsed() < Duration::from_secs(2), "a refusal is not retried");

    let mut from_env = settings(&server, SECRET_KEY);
    from_env.credentials = S3Credentials::Env {
        access_key_env: "ASSAY_TEST_UNSET_ACCESS_KEY_7f3e".into(),
        secret_key_env: "ASSAY_TEST_UNSET_SECRET_KEY_7f3e".into(),
    };
    let err = S3Store::open(from_env).err().expect("an unset variable is refused at open");
    assert!(matches!(&err, Error::Denied(m) if m.contains("ASSAY_TEST_UNSET_ACCESS_KEY_7f3e")), "{err}");
}

#[test]
fn a_put_retries_through_a_server_restart() {
    let Some(binary) = s3s_fs() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join(BUCKET)).expect("creates the bucket");
    let port = free_port();
    let server = S3sFs::start(&binary, dir.path(), port);
    let mut patient = settings(&server, SECRET_KEY);
    patient.attempts = 30;
    let store = S3Store::open(patient).expect("opens");
    store.put(&keys::input(1, 9), b"input").expect("puts before the outage");
    drop(server);

    let publishing = std::thread::spawn(move || store.put(&keys::summary(1, 9), b"summary").map(|()| store));
    std::thread::sleep(Duration::from_millis(800));
    assert!(!publishing.is_finished(), "the put keeps retrying while the server is down");
    let _back = S3sFs::start(&binary, dir.path(), port);
    let store = publishing.join().expect("no panic").expect("the retry finishes the job");
    assert_eq!(store.get(&keys::summary(1, 9)).expect("gets").as_deref(), Some(&b"summary"[..]));
    assert_eq!(store.get(&keys::input(1, 9)).expect("gets").as_deref(), Some(&b"input"[..]));
}

#[test]
fn works_from_async_code_and_drops_there() {
    let Some((server, _dir)) = server() else { return };
    let config = settings(&server, SECRET_KEY);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let got = runtime.block_on(async move {
        tokio::spawn(async move {
            let store = S3Store::open(config).expect("opens inside a task");
            store.put(&keys::latest(2), b"{}").expect("puts from a task");
            store.get(&keys::latest(2)).expect("gets from a task")
            // The store drops here, inside the task.
        })
        .await
        .expect("the task does not panic")
    });
    assert_eq!(got.as_deref(), Some(&b"{}"[..]));
    let current = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let config = settings(&server, SECRET_KEY);
    let got = current.block_on(async move {
        let store = S3Store::open(config).expect("opens on a current-thread runtime");
        store.get(&keys::latest(2)).expect("gets")
    });
    assert_eq!(got.as_deref(), Some(&b"{}"[..]));
}
