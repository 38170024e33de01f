//! Where epochs are published: the [`ObjectStore`] interface, the one definition of the key
//! layout ([`keys`]), and the backends: a local folder, a folder read as an auditor must
//! ([`AuditFolder`]), S3/R2 (`S3Store`, feature `s3`) and a public bucket's URL read over HTTPS
//! (`HttpStore`, feature `remote`); [`location`] opens any of them for reading from one string.
//! The network backends are features: the audit-only build links no HTTP client.
//!
//! Layout (DESIGN.md), every key relative to the store's prefix:
//! `policies/<sha256>.wasm`, `epochs/<netuid>/<epoch>/{input.json.zst,summary.json}` (and
//! `shadow-output.json` in an epoch that ran an announced scorer in shadow),
//! `epochs/<netuid>/latest.json`, `dataset/<netuid>/<epoch>/requests.jsonl.zst`.
//! Must not touch: what the objects mean (the epoch crate writes and audits them).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

mod folder;
#[cfg(feature = "remote")]
pub mod http;
pub mod location;
#[cfg(feature = "s3")]
pub mod s3;

pub use folder::AuditFolder;
#[cfg(feature = "remote")]
pub use http::{HttpSettings, HttpStore};
pub use location::{Location, ReadOptions, open_read};
#[cfg(feature = "s3")]
pub use s3::{S3Credentials, S3Settings, S3Store};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store could not be read or written (a full disk, a permission, a network error).
    #[error("object store: {0}")]
    Store(String),
    /// A key outside the layout (empty parts, `..`, a leading `/`).
    #[error("refusing object key {0:?}")]
    BadKey(String),
    /// The store refused our credentials (a wrong key, a missing permission, an HTTP 401 or
    /// 403): the operator's to fix, not worth a retry. AWS S3 answers a missing key with 403,
    /// not 404, to a reader without `s3:ListBucket`: there a missing object is `Denied`, never
    /// `Ok(None)` (grant ListBucket to tell them apart).
    #[error("object store refused the credentials: {0}")]
    Denied(String),
    /// A write-once object (a summary, an input, a policy) exists with other bytes: never replaced.
    #[error("object store: {key} already holds a different object; refusing to overwrite it")]
    Conflict { key: String },
    /// An object larger than the reader accepts.
    #[error("object store: {key} is larger than {limit} bytes")]
    TooLarge { key: String, limit: u64 },
    /// A write to a store opened for reading (a public URL, an auditor's folder).
    #[error("object store: {0} is read-only")]
    ReadOnly(String),
    /// A location that names no store (`s3://` without a bucket, an `http://` URL off loopback).
    #[error("location {location:?}: {reason}")]
    BadLocation { location: String, reason: String },
    /// A remote location (`s3://`, `https://`) in a build without the `remote` feature.
    #[error("{0}: this build reads local folders only (built without the `remote` feature)")]
    NotBuilt(String),
}

/// Checks that `key` stays inside the layout: no empty parts, no `.` or `..`, no leading `/`.
pub fn check_key(key: &str) -> Result<()> {
    let safe = !key.is_empty()
        && !key.starts_with('/')
        && key.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
    if safe { Ok(()) } else { Err(Error::BadKey(key.to_string())) }
}

/// The object keys of the layout.
pub mod keys {
    pub fn policy(sha256: &str) -> String {
        format!("policies/{sha256}.wasm")
    }
    pub fn input(netuid: u16, epoch: u64) -> String {
        format!("epochs/{netuid}/{epoch}/input.json.zst")
    }
    pub fn summary(netuid: u16, epoch: u64) -> String {
        format!("epochs/{netuid}/{epoch}/summary.json")
    }
    /// The output of the scorer run in shadow at `epoch` (a summary names it when there is one).
    pub fn shadow_output(netuid: u16, epoch: u64) -> String {
        format!("epochs/{netuid}/{epoch}/shadow-output.json")
    }
    pub fn latest(netuid: u16) -> String {
        format!("epochs/{netuid}/latest.json")
    }
    pub fn dataset(netuid: u16, epoch: u64) -> String {
        format!("dataset/{netuid}/{epoch}/requests.jsonl.zst")
    }
    /// Whether the object under `key` is written once and never replaced: everything but the
    /// `latest.json` pointers (a summary, an input or a policy rewritten would rewrite history).
    pub fn is_write_once(key: &str) -> bool {
        !(key.starts_with("epochs/") && key.ends_with("/latest.json"))
    }
}

/// What every backend answers, as a caller must tell apart: no object is `Ok(None)`; an object
/// past a cap is [`Error::TooLarge`]; a key outside the layout is [`Error::BadKey`]; refused
/// credentials are [`Error::Denied`] (permanent); a disk, a network or a server failing (after
/// the retries, for the network backends) is [`Error::Store`].
pub trait ObjectStore: Send + Sync {
    /// Writes the whole object; readers never see a part of it.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()>;
    /// The object, or `None` when there is none under `key`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// The object if it is at most `limit` bytes, `None` when there is none, and
    /// [`Error::TooLarge`] past the limit. Backends override it to stop reading at the limit
    /// (the default reads the whole object first).
    fn get_at_most(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        match self.get(key)? {
            Some(bytes) if bytes.len() as u64 > limit => Err(Error::TooLarge { key: key.to_string(), limit }),
            found => Ok(found),
        }
    }
    /// Where this store is, for messages (`/srv/assay`, `s3://bucket/prefix`).
    fn describe(&self) -> String;
}

/// A folder on disk. Write-once keys ([`keys::is_write_once`]) are never replaced: a put of
/// other bytes where one is is [`Error::Conflict`] (the same bytes: done), as in `S3Store`.
#[derive(Debug, Clone)]
pub struct LocalFolder {
    root: PathBuf,
}

impl LocalFolder {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

impl ObjectStore for LocalFolder {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(key)?;
        // A name of this call alone: two writers of one key (threads or processes) never share a
        // temporary file, so neither can link or rename the other's half-written one.
        static NEXT_TMP: AtomicU64 = AtomicU64::new(0);
        let unique = NEXT_TMP.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{unique}", std::process::id()));
        let store_error = |e: std::io::Error| Error::Store(format!("writing {}: {e}", path.display()));
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut f = std::fs::File::create_new(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()
        };
        let written = write().and_then(|()| {
            if keys::is_write_once(key) {
                // A hard link is created only where nothing is: no window in which another
                // writer's object could be replaced (a rename would replace it).
                std::fs::hard_link(&tmp, &path)
            } else {
                std::fs::rename(&tmp, &path)
            }
        });
        // Whatever happened, the temporary file goes (after a rename it is already gone).
        let _ = std::fs::remove_file(&tmp);
        match written {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && keys::is_write_once(key) => {
                match std::fs::read(&path) {
                    Ok(existing) if existing == bytes => Ok(()),
                    Ok(_) => Err(Error::Conflict { key: key.to_string() }),
                    Err(e) => Err(store_error(e)),
                }
            }
            Err(e) => Err(store_error(e)),
        }
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key)?;
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Store(format!("reading {}: {e}", path.display()))),
        }
    }

    /// Reads no more than `limit + 1` bytes, whatever the file's size says.
    fn get_at_most(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        use std::io::Read;
        let path = self.path(key)?;
        let reading = |e: std::io::Error| Error::Store(format!("reading {}: {e}", path.display()));
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(reading(e)),
        };
        let mut bytes = Vec::new();
        file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(reading)?;
        if bytes.len() as u64 > limit {
            return Err(Error::TooLarge { key: key.to_string(), limit });
        }
        Ok(Some(bytes))
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_and_key_checks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalFolder::new(dir.path());
        store.put(&keys::summary(1, 2), b"{}").expect("puts");
        assert_eq!(store.get("epochs/1/2/summary.json").expect("gets").as_deref(), Some(&b"{}"[..]));
        assert_eq!(store.get("epochs/1/3/summary.json").expect("gets"), None);
        for bad in ["../x", "/etc/passwd", "a//b", "a/./b", ""] {
            assert!(store.put(bad, b"x").is_err(), "{bad}");
        }
    }

    #[test]
    fn write_once_keys_are_never_replaced_and_latest_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalFolder::new(dir.path());
        for key in [keys::summary(1, 3), keys::input(1, 3), keys::policy(&"ab".repeat(32)), keys::dataset(1, 3)] {
            store.put(&key, b"first").expect("puts");
            store.put(&key, b"first").expect("the same bytes again are fine (a retried publication)");
            let err = store.put(&key, b"second").expect_err("other bytes");
            assert!(matches!(&err, Error::Conflict { key: k } if *k == key), "{err}");
            assert_eq!(store.get(&key).expect("gets").as_deref(), Some(&b"first"[..]), "{key} kept");
        }
        store.put(&keys::latest(1), b"{\"epoch\":3}").expect("puts latest");
        store.put(&keys::latest(1), b"{\"epoch\":4}").expect("latest.json is replaced");
        assert_eq!(store.get(&keys::latest(1)).expect("gets").as_deref(), Some(&b"{\"epoch\":4}"[..]));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("epochs/1/3"))
            .expect("reads")
            .map(|e| e.expect("entry").file_name())
            .filter(|name| name.to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary file is left behind: {leftovers:?}");
    }

    fn temporary_files(dir: &Path) -> Vec<std::ffi::OsString> {
        std::fs::read_dir(dir)
            .expect("reads")
            .map(|e| e.expect("entry").file_name())
            .filter(|name| name.to_string_lossy().contains(".tmp"))
            .collect()
    }

    #[test]
    fn two_threads_writing_one_write_once_key_one_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalFolder::new(dir.path());
        // Large enough that a write is not over before the other thread starts.
        let (a, b) = (vec![b'a'; 1 << 20], vec![b'b'; 1 << 20]);
        for epoch in 0..20 {
            let key = keys::input(1, epoch);
            let barrier = std::sync::Barrier::new(2);
            let (ra, rb) = std::thread::scope(|scope| {
                let ta = scope.spawn(|| {
                    barrier.wait();
                    store.put(&key, &a)
                });
                let tb = scope.spawn(|| {
                    barrier.wait();
                    store.put(&key, &b)
                });
                (ta.join().expect("joins"), tb.join().expect("joins"))
            });
            let kept = store.get(&key).expect("gets").expect("one was written");
            let (winner, loser) = match (&ra, &rb) {
                (Ok(()), Err(e)) => (&a, e),
                (Err(e), Ok(())) => (&b, e),
                _ => panic!("epoch {epoch}: exactly one write wins: {ra:?} {rb:?}"),
            };
            assert!(matches!(loser, Error::Conflict { key: k } if *k == key), "epoch {epoch}: {loser}");
            assert!(kept == *winner, "epoch {epoch}: the winner's bytes are kept, whole");
            let leftovers = temporary_files(&dir.path().join(format!("epochs/1/{epoch}")));
            assert!(leftovers.is_empty(), "epoch {epoch}: no temporary file is left behind: {leftovers:?}");
        }
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalFolder::new(dir.path());
        // The object's path is a folder: the rename of latest.json fails after the write.
        std::fs::create_dir_all(dir.path().join("epochs/1/latest.json/x")).expect("mkdir");
        let err = store.put(&keys::latest(1), b"{}").expect_err("a folder is in the way");
        assert!(matches!(err, Error::Store(_)), "{err}");
        let leftovers = temporary_files(&dir.path().join("epochs/1"));
        assert!(leftovers.is_empty(), "no temporary file is left behind: {leftovers:?}");
    }

    #[test]
    fn a_bounded_get_stops_at_its_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalFolder::new(dir.path());
        store.put("dataset/1/2/requests.jsonl.zst", &[7; 100]).expect("puts");
        let got = store.get_at_most("dataset/1/2/requests.jsonl.zst", 100).expect("gets");
        assert_eq!(got.as_deref(), Some(&[7; 100][..]));
        let err = store.get_at_most("dataset/1/2/requests.jsonl.zst", 99).unwrap_err();
        assert!(matches!(err, Error::TooLarge { limit: 99, .. }), "{err}");
        assert_eq!(store.get_at_most("dataset/1/3/requests.jsonl.zst", 99).expect("gets"), None);
    }
}
