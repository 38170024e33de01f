//! Precompiled components on disk, keyed by the component's digest and the engine's
//! compatibility hash, so a host restart skips compilation.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use tracing::warn;
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::{Digest, Error, Result};

#[derive(Clone)]
pub(crate) struct Cache {
    dir: PathBuf,
    engine_key: String,
}

impl Cache {
    pub fn new(dir: &Path, engine: &Engine) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("creating cache folder {}", dir.display())))?;
        // SipHash with fixed keys: stable for a given host build, which is all a cache key needs
        // (a mismatched artifact is also refused by wasmtime itself).
        #[allow(deprecated)]
        let mut hasher = std::hash::SipHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self { dir: dir.to_path_buf(), engine_key: format!("{:016x}", hasher.finish()) })
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The cached artifact, or `None` when absent or unusable (then the caller recompiles).
    pub fn load(&self, engine: &Engine, digest: &Digest) -> Option<Component> {
        let path = self.path(digest);
        if !path.exists() {
            return None;
        }
        // SAFETY: the cache folder is the host's own; only `store` below writes into it, with
        // bytes from `Component::serialize` of this engine configuration. wasmtime checks the
        // header and the engine compatibility again before using the code.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine, &path) };
        match loaded {
            Ok(component) => Some(component),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "ignoring unusable precompiled policy");
                None
            }
        }
    }

    /// Best effort: a failure to cache is logged, never fatal.
    pub fn store(&self, digest: &Digest, component: &Component) {
        let path = self.path(digest);
        let result = component.serialize().map_err(|e| std::io::Error::other(e.to_string())).and_then(|bytes| {
            let tmp = path.with_extension("cwasm.tmp");
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &path)
        });
        if let Err(e) = result {
            warn!(path = %path.display(), error = %e, "could not cache the precompiled policy");
        }
    }
}
