//! Policies on disk, named by digest: `<dir>/<sha256>.wasm`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Digest, Error, Result, inspect};

#[derive(Debug, Clone)]
pub struct PolicyStore {
    dir: PathBuf,
}

impl PolicyStore {
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating policy folder {}", dir.display())))?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{digest}.wasm"))
    }

    /// Stores a component after checking that it is one of the contract's worlds with no
    /// forbidden imports. Idempotent; the write is atomic and synced.
    pub fn add(&self, bytes: &[u8]) -> Result<Digest> {
        inspect(bytes)?;
        let digest = Digest::of(bytes);
        let path = self.path(&digest);
        if !path.exists() {
            write_atomic(&path, bytes)?;
        }
        Ok(digest)
    }

    /// The component's bytes, refused unless they hash to `digest`.
    pub fn get(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.path(digest);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound(*digest)),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()))(e)),
        };
        digest.verify(&bytes)?;
        Ok(bytes)
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).exists()
    }

    /// Every stored digest, sorted.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let entries = std::fs::read_dir(&self.dir).map_err(Error::io(format!("listing {}", self.dir.display())))?;
        let mut out: Vec<Digest> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".wasm")?.parse().ok())
            .collect();
        out.sort();
        Ok(out)
    }
}

/// Writes to a temporary file beside `path`, syncs it, then renames: a reader sees the old
/// file or the whole new one, never a part.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(Error::io(format!("writing {}", path.display())))
}
