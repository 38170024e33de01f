//! Where the devnet publishes: a local S3 server (s3s-fs, FACTS.md) when one is installed,
//! started on a free loopback port with its bucket's folder under the devnet's own folder and
//! stopped with the devnet; otherwise the folder `published/`, with a line saying why.
//! [`S3sFs`] also serves the tests that need a real S3 server.
//! Must not touch: the node (it is handed the store), or what is published.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use assay_node::PublishConfig;
use assay_publish::{LocalFolder, ObjectStore, S3Credentials, S3Settings, S3Store};

/// The devnet's bucket, and the keys its server accepts (a loopback server of throwaway data).
pub const BUCKET: &str = "assay";
pub const ACCESS_KEY: &str = "assay-devnet-access";
pub const SECRET_KEY: &str = "assay-devnet-secret";
/// Where the node's config says the keys are (the devnet hands the node its store directly).
const ACCESS_KEY_ENV: &str = "ASSAY_DEVNET_S3_ACCESS_KEY";
const SECRET_KEY_ENV: &str = "ASSAY_DEVNET_S3_SECRET_KEY";

/// A running s3s-fs serving the buckets in a folder; killed on drop.
pub struct S3sFs {
    child: Child,
    port: u16,
}

impl S3sFs {
    /// Starts `binary` on 127.0.0.1:`port` over `dir` (each bucket a folder in it) and waits
    /// until it listens (at most 10 s).
    pub fn start(binary: &Path, dir: &Path, port: u16) -> anyhow::Result<Self> {
        let child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", ACCESS_KEY])
            .args(["--secret-key", SECRET_KEY])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = Self { child, port };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(anyhow!("{} exited at start ({status})", binary.display()));
            }
            if Instant::now() > deadline {
                return Err(anyhow!("{} did not listen on {addr} within 10 s", binary.display()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The s3s-fs binary: `$ASSAY_S3S_FS`, else `target/s3s-fs/bin/s3s-fs` (from the working
/// folder, or beside the running `assay`'s `target/`); why not, when there is none.
pub fn s3s_fs_binary() -> Result<PathBuf, String> {
    if let Some(named) = std::env::var_os("ASSAY_S3S_FS") {
        let named = PathBuf::from(named);
        return match named.is_file() {
            true => Ok(named),
            false => Err(format!("ASSAY_S3S_FS names {}, which is not a file", named.display())),
        };
    }
    let installed = Path::new("s3s-fs/bin/s3s-fs");
    let beside_exe = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors().find(|dir| dir.file_name().is_some_and(|n| n == "target")).map(Path::to_path_buf)
    });
    [Some(PathBuf::from("target")), beside_exe]
        .into_iter()
        .flatten()
        .map(|target| target.join(installed))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            "no s3s-fs in target/s3s-fs/bin and ASSAY_S3S_FS is not set (install it: cargo install \
             s3s-fs@0.14.1 --locked --features binary --root target/s3s-fs)"
                .to_string()
        })
}

/// A free port on loopback.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Where the devnet's node publishes, and the server behind it while the devnet runs.
pub struct Publication {
    /// The node's store (and the one the devnet's own audit reads).
    pub store: Arc<dyn ObjectStore>,
    /// What `assay.toml` says about it.
    pub config: PublishConfig,
    /// Its files on disk: the bucket's folder, or `published/`.
    pub dir: PathBuf,
    /// What an auditor names: `s3://assay`, or the folder.
    pub location: String,
    /// Said at start: where, and why there.
    pub description: String,
    /// The flags a reader (`assay audit`, `assay watch`) needs besides `location`, and the
    /// environment they name (the loopback server's keys).
    pub reader_args: Vec<String>,
    pub reader_env: Vec<(String, String)>,
    /// Stopped when the publication is dropped.
    _server: Option<S3sFs>,
}

/// An s3s-fs over `<out>/s3` when one is installed and starts; else `<out>/published`.
pub fn open(out: &Path) -> Publication {
    let reason = match s3s_fs_binary() {
        Ok(binary) => match open_s3(out, &binary) {
            Ok(publication) => return publication,
            Err(e) => format!("s3s-fs did not start: {e:#}"),
        },
        Err(reason) => reason,
    };
    let dir = out.join("published");
    // There before the first epoch closes: the watchtower opens it at start.
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!(dir = %dir.display(), "creating the publication folder: {e}");
    }
    Publication {
        store: Arc::new(LocalFolder::new(&dir)),
        config: PublishConfig::Local { dir: "published".into() },
        description: format!("publishing to the folder {} ({reason})", dir.display()),
        location: dir.display().to_string(),
        dir,
        reader_args: Vec::new(),
        reader_env: Vec::new(),
        _server: None,
    }
}

fn open_s3(out: &Path, binary: &Path) -> anyhow::Result<Publication> {
    let root = out.join("s3");
    let dir = root.join(BUCKET);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let server = S3sFs::start(binary, &root, free_port()?)?;
    let credentials = S3Credentials::Keys { access_key: ACCESS_KEY.into(), secret_key: SECRET_KEY.into() };
    let mut settings = S3Settings::new(BUCKET, "", credentials);
    settings.endpoint = Some(server.endpoint());
    // A loopback server: a lost one is found out in seconds, not the default half minute.
    settings.attempts = 4;
    settings.connect_timeout = Duration::from_secs(2);
    let store = S3Store::open(settings.clone())?;
    let config = PublishConfig::S3 {
        bucket: BUCKET.into(),
        prefix: String::new(),
        endpoint: settings.endpoint.clone(),
        region: settings.region.clone(),
        access_key_env: Some(ACCESS_KEY_ENV.into()),
        secret_key_env: Some(SECRET_KEY_ENV.into()),
    };
    let description = format!(
        "publishing to s3://{BUCKET} at {} (s3s-fs, access key {ACCESS_KEY}, secret {SECRET_KEY}; its files in {})",
        server.endpoint(),
        dir.display()
    );
    let location = format!("s3://{BUCKET}");
    let reader_args = ["--s3-endpoint", &server.endpoint(), "--s3-access-key-env", ACCESS_KEY_ENV]
        .into_iter()
        .chain(["--s3-secret-key-env", SECRET_KEY_ENV])
        .map(str::to_string)
        .collect();
    let reader_env = vec![(ACCESS_KEY_ENV.into(), ACCESS_KEY.into()), (SECRET_KEY_ENV.into(), SECRET_KEY.into())];
    Ok(Publication {
        store: Arc::new(store),
        config,
        dir,
        location,
        description,
        reader_args,
        reader_env,
        _server: Some(server),
    })
}
