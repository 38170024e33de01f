//! A published folder read the way an auditor must read what others wrote: keys inside the
//! layout only, no symbolic link anywhere below the root (a link could point the audit at any
//! file of the auditor's machine), and no file larger than a bound (read no further than it).
//! Never writes ([`Error::ReadOnly`]).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::{Error, ObjectStore, Result, check_key};

/// A local folder of published epochs, read-only and bounded.
#[derive(Debug, Clone)]
pub struct AuditFolder {
    root: PathBuf,
    max_bytes: u64,
}

impl AuditFolder {
    /// Reads objects of at most `max_bytes` below `root` (the root itself may be a link: the
    /// auditor chose it).
    pub fn new(root: impl Into<PathBuf>, max_bytes: u64) -> Self {
        Self { root: root.into(), max_bytes }
    }

    /// The key's path, refused unless every part is a plain name and none below the root is a
    /// symbolic link; `None` when some part does not exist.
    fn path(&self, key: &str) -> Result<Option<PathBuf>> {
        check_key(key)?;
        let mut path = self.root.clone();
        for part in key.split('/') {
            path.push(part);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(Error::Store(format!("{} is a symbolic link; refusing to follow it", path.display())));
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::Store(format!("reading {}: {e}", path.display()))),
            }
        }
        Ok(Some(path))
    }
}

/// The whole file at `path` if it is a plain file of at most `max` bytes; `None` past it (read
/// no further than `max + 1` bytes, whatever the file's size says).
fn read_bounded(path: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a plain file"));
    }
    if meta.len() > max {
        return Ok(None);
    }
    // The file may grow between the check and the read: read no more than the bound.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Ok(None);
    }
    Ok(Some(bytes))
}

impl ObjectStore for AuditFolder {
    fn put(&self, key: &str, _bytes: &[u8]) -> Result<()> {
        Err(Error::ReadOnly(format!("{} (the audit reads it; it does not write {key})", self.root.display())))
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.get_at_most(key, self.max_bytes)
    }

    /// Reads no more than `limit + 1` bytes (nor past the folder's own bound): past it,
    /// [`Error::TooLarge`].
    fn get_at_most(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        let limit = limit.min(self.max_bytes);
        let Some(path) = self.path(key)? else { return Ok(None) };
        match read_bounded(&path, limit) {
            Ok(Some(bytes)) => Ok(Some(bytes)),
            Ok(None) => Err(Error::TooLarge { key: key.to_string(), limit }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Store(format!("reading {}: {e}", path.display()))),
        }
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn links_keys_and_sizes_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("pub");
        std::fs::create_dir_all(root.join("epochs/1/2")).expect("mkdir");
        std::fs::write(root.join("epochs/1/2/summary.json"), b"{}").expect("writes");
        std::fs::write(root.join("big"), vec![b' '; 100]).expect("writes");
        let folder = AuditFolder::new(&root, 10);
        assert_eq!(folder.get("epochs/1/2/summary.json").expect("reads").as_deref(), Some(&b"{}"[..]));
        assert_eq!(folder.get("epochs/1/3/summary.json").expect("reads"), None);
        let err = folder.get("big").unwrap_err();
        assert!(matches!(&err, Error::TooLarge { key, limit: 10 } if key == "big"), "{err}");
        for bad in ["../x", "/etc/passwd", "a//b", "a/./b", ""] {
            assert!(matches!(folder.get(bad), Err(Error::BadKey(_))), "{bad}");
        }
        std::os::unix::fs::symlink(root.join("epochs/1/2"), root.join("epochs/1/3")).expect("links");
        let err = folder.get("epochs/1/3/summary.json").unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
        std::os::unix::fs::symlink(root.join("epochs/1/2/summary.json"), root.join("latest")).expect("links");
        assert!(folder.get("latest").unwrap_err().to_string().contains("is a symbolic link"));
        assert!(folder.get("epochs").is_err(), "a folder is not an object");
        assert!(matches!(folder.put("x", b""), Err(Error::ReadOnly(_))));
    }

    #[test]
    fn a_bounded_get_stops_at_the_smaller_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("epochs/1")).expect("mkdir");
        std::fs::write(dir.path().join("epochs/1/latest.json"), [b' '; 100]).expect("writes");
        let folder = AuditFolder::new(dir.path(), 1 << 30);
        let got = folder.get_at_most("epochs/1/latest.json", 100).expect("at the limit reads");
        assert_eq!(got.map(|b| b.len()), Some(100));
        let err = folder.get_at_most("epochs/1/latest.json", 99).unwrap_err();
        assert!(matches!(&err, Error::TooLarge { limit: 99, .. }), "{err}");
        let small = AuditFolder::new(dir.path(), 50);
        let err = small.get_at_most("epochs/1/latest.json", 99).unwrap_err();
        assert!(matches!(&err, Error::TooLarge { limit: 50, .. }), "the folder's own bound still holds: {err}");
        assert_eq!(folder.get_at_most("epochs/1/missing.json", 99).expect("reads"), None);
        assert!(matches!(folder.get_at_most("../x", 99), Err(Error::BadKey(_))));
    }
}
