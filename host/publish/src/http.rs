//! A public bucket's URL (a Cloudflare R2 public URL, any static file server) as a read-only
//! [`ObjectStore`] (feature `remote`): plain GETs of `<base_url>/<key>`, read no further than a
//! cap, within timeouts, retried with backoff on a connection error or a 5xx; a 404 is no
//! object. TLS is rustls on aws-lc-rs, the stack the S3 client already links.
//! Runs its requests on its own small tokio runtime, as `S3Store` does (the trait is
//! synchronous). Must not touch: what the objects mean, and which keys exist.

use std::time::Duration;

use tracing::warn;

use crate::location::is_loopback;
use crate::s3::run_on;
use crate::{Error, ObjectStore, Result, check_key};

/// A public URL and the bounds on reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// `https://host[/prefix]` (`http://` on a loopback host only), no trailing `/`.
    pub base_url: String,
    /// The largest object a `get` reads.
    pub max_get_bytes: u64,
    /// Tries of one read (at least 1).
    pub attempts: u32,
    /// The wait after the first failure, doubled after each next one up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    pub connect_timeout: Duration,
    /// The whole of one try, the body included.
    pub request_timeout: Duration,
}

/// Why one try failed, as the retry loop must tell apart.
enum Failure {
    /// Worth another try: a connection refused or lost, a timeout, a 5xx, 408 or 429.
    Transient(String),
    Final(Error),
}

/// A public bucket's URL, read-only.
pub struct HttpStore {
    client: reqwest::Client,
    base: reqwest::Url,
    settings: HttpSettings,
    runtime: Option<tokio::runtime::Runtime>,
}

impl HttpStore {
    /// Checks the URL and builds the client; contacts nothing yet.
    pub fn open(settings: HttpSettings) -> Result<Self> {
        let bad = |reason: String| Error::BadLocation { location: settings.base_url.clone(), reason };
        let base = reqwest::Url::parse(&settings.base_url).map_err(|e| bad(e.to_string()))?;
        let loopback = base.host_str().is_some_and(is_loopback);
        match base.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(bad("only https:// (or http:// on a loopback host)".into())),
        }
        if base.cannot_be_a_base() || base.query().is_some() || base.fragment().is_some() {
            return Err(bad("not a base URL for objects".into()));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            // A bucket's objects are where the key says; a redirect could downgrade to plain
            // HTTP or point anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("assay/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Store(format!("building the HTTP client: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("assay-http")
            .enable_all()
            .build()
            .map_err(|e| Error::Store(format!("starting the HTTP client's runtime: {e}")))?;
        Ok(Self { client, base, settings, runtime: Some(runtime) })
    }

    /// `<base_url>/<key>`, each part of the key percent-encoded (a key comes from a summary:
    /// outside input).
    fn url(&self, key: &str) -> Result<reqwest::Url> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| Error::Store(format!("{} is not a base URL", self.settings.base_url)))?
            .pop_if_empty()
            .extend(key.split('/'));
        Ok(url)
    }
}

impl Drop for HttpStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside async code: let it wind down alone.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl ObjectStore for HttpStore {
    fn put(&self, key: &str, _bytes: &[u8]) -> Result<()> {
        Err(Error::ReadOnly(format!("{} (a public URL is read, never written; not writing {key})", self.describe())))
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.get_at_most(key, self.settings.max_get_bytes)
    }

    /// Streams the body and stops at `limit + 1` bytes (or at a `Content-Length` past it; nor
    /// past the store's own cap): past it, [`Error::TooLarge`].
    fn get_at_most(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        check_key(key)?;
        let url = self.url(key)?;
        let limit = limit.min(self.settings.max_get_bytes);
        let (client, settings, key) = (self.client.clone(), self.settings.clone(), key.to_string());
        let runtime = self.runtime.as_ref().ok_or_else(|| Error::Store("the HTTP client's runtime stopped".into()))?;
        run_on(runtime, async move { get_retrying(&client, url, &key, limit, &settings).await })?
    }

    fn describe(&self) -> String {
        self.settings.base_url.clone()
    }
}

/// Tries a GET up to `attempts` times with a doubling backoff while it fails transiently.
async fn get_retrying(
    client: &reqwest::Client,
    url: reqwest::Url,
    key: &str,
    limit: u64,
    settings: &HttpSettings,
) -> Result<Option<Vec<u8>>> {
    let attempts = settings.attempts.max(1);
    let mut wait = settings.first_backoff;
    for attempt in 1..=attempts {
        match get_once(client, url.clone(), key, limit).await {
            Ok(found) => return Ok(found),
            Err(Failure::Final(e)) => return Err(e),
            Err(Failure::Transient(reason)) if attempt < attempts => {
                warn!(%url, attempt, retry_in_ms = wait.as_millis() as u64, error = %reason,
                    "reading the publication failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(settings.max_backoff);
            }
            Err(Failure::Transient(reason)) => {
                return Err(Error::Store(format!("getting {url}: {reason} (gave up after {attempts} tries)")));
            }
        }
    }
    unreachable!("the loop returns on its last try")
}

/// One GET: the body read up to `limit` bytes, `None` on a 404.
async fn get_once(
    client: &reqwest::Client,
    url: reqwest::Url,
    key: &str,
    limit: u64,
) -> std::result::Result<Option<Vec<u8>>, Failure> {
    let too_large = || Failure::Final(Error::TooLarge { key: key.to_string(), limit });
    let mut response = client.get(url.clone()).send().await.map_err(|e| Failure::Transient(error_chain(&e)))?;
    let status = response.status().as_u16();
    match status {
        200 => {}
        404 => return Ok(None),
        401 | 403 => return Err(Failure::Final(Error::Denied(format!("getting {url}: HTTP {status}")))),
        408 | 429 | 500.. => return Err(Failure::Transient(format!("HTTP {status}"))),
        _ => return Err(Failure::Final(Error::Store(format!("getting {url}: HTTP {status}")))),
    }
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| Failure::Transient(format!("reading the body: {}", error_chain(&e))))?
    {
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

/// An error and its causes on one line (reqwest's own message names only the outermost).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
