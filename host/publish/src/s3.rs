//! The S3/R2 backend of [`ObjectStore`] (feature `s3`): one bucket under a prefix, written with
//! bounded retries, write-once objects put conditionally (`If-None-Match: *`), reads capped.
//! Owns its own small tokio runtime: the trait is synchronous and the node calls it from async
//! tasks, so each call hands its request to that runtime and waits for the answer (in
//! `block_in_place` on a multi-threaded caller, so that caller's other tasks keep running).
//! Must not touch: what the objects mean, and which keys exist (`keys`).

use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use tracing::warn;

use crate::{Error, ObjectStore, Result, check_key, keys};

/// Where the store's credentials come from.
#[derive(Clone, PartialEq, Eq)]
pub enum S3Credentials {
    /// The usual AWS chain: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE` and
    /// `~/.aws/{config,credentials}`, web identity, container and instance metadata.
    Chain,
    /// The access key and the secret in these two environment variables.
    Env { access_key_env: String, secret_key_env: String },
    /// These keys, read by the caller.
    Keys { access_key: String, secret_key: String },
}

impl std::fmt::Debug for S3Credentials {
    /// Never shows a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Chain => f.write_str("Chain"),
            Self::Env { access_key_env, secret_key_env } => f
                .debug_struct("Env")
                .field("access_key_env", access_key_env)
                .field("secret_key_env", secret_key_env)
                .finish(),
            Self::Keys { access_key, .. } => {
                f.debug_struct("Keys").field("access_key", access_key).field("secret_key", &"<hidden>").finish()
            }
        }
    }
}

/// A bucket, where in it, and the bounds on talking to it.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// Prepended to every key (`validators/alice` → `validators/alice/epochs/…`); may be empty.
    pub prefix: String,
    /// The endpoint (R2: `https://<account>.r2.cloudflarestorage.com`); AWS's when `None`.
    pub endpoint: Option<String>,
    /// `auto` for R2.
    pub region: String,
    pub credentials: S3Credentials,
    /// The largest object a `get` reads.
    pub max_get_bytes: u64,
    /// Tries of one request before giving up (at least 1).
    pub attempts: u32,
    /// The wait after the first failure, doubled after each next one up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    pub connect_timeout: Duration,
    /// The whole of one try, the body included.
    pub operation_timeout: Duration,
}

impl S3Settings {
    /// R2's settings (FACTS.md) with the default bounds: 8 tries over about 25 s, reads up to 1 GiB.
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>, credentials: S3Credentials) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: prefix.into(),
            endpoint: None,
            region: "auto".into(),
            credentials,
            max_get_bytes: 1 << 30,
            attempts: 8,
            first_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(300),
        }
    }
}

/// Why one try failed, as the retry loop and the callers must tell apart.
#[derive(Debug)]
enum Failure {
    /// Worth another try: a connection lost or refused, a timeout, a 5xx, throttling.
    Transient(String),
    NotFound,
    /// A conditional put found an object already there.
    Exists,
    Final(Error),
}

/// The client and where it writes: cheap to clone into each request's task.
#[derive(Clone)]
struct Remote {
    client: Client,
    settings: S3Settings,
}

/// A bucket (S3, R2, any S3-compatible server) as an [`ObjectStore`].
pub struct S3Store {
    remote: Remote,
    runtime: Option<tokio::runtime::Runtime>,
}

impl S3Store {
    /// Builds the client (reading the credentials the settings name); contacts nothing yet.
    pub fn open(settings: S3Settings) -> Result<Self> {
        if settings.bucket.is_empty() {
            return Err(Error::Store("an S3 store needs a bucket".into()));
        }
        let credentials = match &settings.credentials {
            S3Credentials::Chain => None,
            S3Credentials::Env { access_key_env, secret_key_env } => {
                Some(credentials_from_env(access_key_env, secret_key_env)?)
            }
            S3Credentials::Keys { access_key, secret_key } => {
                Some(Credentials::new(access_key, secret_key, None, None, "assay-keys"))
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("assay-s3")
            .enable_all()
            .build()
            .map_err(|e| Error::Store(format!("starting the S3 client's runtime: {e}")))?;
        let for_config = settings.clone();
        let config = run_on(&runtime, async move { client_config(&for_config, credentials).await })?;
        Ok(Self { remote: Remote { client: Client::from_conf(config), settings }, runtime: Some(runtime) })
    }

    /// The keys under `prefix` (relative to the store's prefix), at most `max_keys` of them: more
    /// is an error rather than a partial answer.
    pub fn list(&self, prefix: &str, max_keys: usize) -> Result<Vec<String>> {
        let remote = self.remote.clone();
        let prefix = prefix.to_string();
        self.run(async move { remote.list(&prefix, max_keys).await })?
    }

    fn run<T: Send + 'static>(&self, work: impl Future<Output = T> + Send + 'static) -> Result<T> {
        let runtime = self.runtime.as_ref().ok_or_else(|| Error::Store("the S3 client's runtime stopped".into()))?;
        run_on(runtime, work)
    }
}

/// Runs `work` on `runtime` and waits for it, from sync or async code alike.
pub(crate) fn run_on<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T> {
    let (answer, answered) = mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = answer.send(work.await);
    });
    let wait = || answered.recv();
    let on_multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let received = if on_multi_thread { tokio::task::block_in_place(wait) } else { wait() };
    received.map_err(|_| Error::Store("the S3 client's runtime stopped".into()))
}

impl Drop for S3Store {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside async code: let it wind down alone.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl ObjectStore for S3Store {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        check_key(key)?;
        let remote = self.remote.clone();
        let (key, bytes) = (key.to_string(), bytes.to_vec());
        self.run(async move { remote.put(&key, bytes).await })?
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        check_key(key)?;
        let remote = self.remote.clone();
        let key = key.to_string();
        let limit = self.remote.settings.max_get_bytes;
        self.run(async move { remote.get(&key, limit).await })?
    }

    fn get_at_most(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        check_key(key)?;
        let remote = self.remote.clone();
        let key = key.to_string();
        let limit = limit.min(self.remote.settings.max_get_bytes);
        self.run(async move { remote.get(&key, limit).await })?
    }

    fn describe(&self) -> String {
        let s = &self.remote.settings;
        let at = s.endpoint.as_deref().map(|e| format!(" at {e}")).unwrap_or_default();
        match s.prefix.trim_matches('/') {
            "" => format!("s3://{}{at}", s.bucket),
            prefix => format!("s3://{}/{prefix}{at}", s.bucket),
        }
    }
}

fn credentials_from_env(access_key_env: &str, secret_key_env: &str) -> Result<Credentials> {
    let read = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::Denied(format!("the environment variable {name} is not set")))
    };
    Ok(Credentials::new(read(access_key_env)?, read(secret_key_env)?, None, None, "assay-env"))
}

/// R2's settings (FACTS.md): path-style addressing, checksums only where required. Retries are
/// ours (`Remote::retrying`), so the SDK's are off.
async fn client_config(settings: &S3Settings, credentials: Option<Credentials>) -> aws_sdk_s3::Config {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(settings.connect_timeout)
        .operation_timeout(settings.operation_timeout)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(settings.region.clone()))
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts);
    if let Some(credentials) = credentials {
        loader = loader.credentials_provider(credentials);
    }
    if let Some(endpoint) = &settings.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    let shared = loader.load().await;
    aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build()
}

/// Sorts an SDK error into what the retry loop and the callers act on.
fn classify<E>(err: SdkError<E>, what: &str) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().unwrap_or_default().to_string();
    let detail = format!("{what}: {}", DisplayErrorContext(&err));
    let denied = matches!(code.as_str(), "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch");
    match err {
        SdkError::ServiceError(_) => match status {
            _ if denied => Failure::Final(Error::Denied(detail)),
            Some(401 | 403) => Failure::Final(Error::Denied(detail)),
            // A missing bucket is a wrong setting, not a missing object: never `Ok(None)`.
            Some(404) if code == "NoSuchBucket" => Failure::Final(Error::Store(detail)),
            Some(404) => Failure::NotFound,
            Some(412) => Failure::Exists,
            Some(408 | 429 | 500..) => Failure::Transient(detail),
            _ => Failure::Final(Error::Store(detail)),
        },
        SdkError::ConstructionFailure(_) => Failure::Final(Error::Store(detail)),
        // Dispatch failures (refused, reset), timeouts, a response cut short: the server or the
        // path to it, not the request.
        _ => Failure::Transient(detail),
    }
}

impl Remote {
    fn full_key(&self, key: &str) -> String {
        match self.settings.prefix.trim_matches('/') {
            "" => key.to_string(),
            prefix => format!("{prefix}/{key}"),
        }
    }

    /// Tries `once` up to `attempts` times with a doubling backoff while it fails transiently.
    async fn retrying<T, F, Fut>(&self, what: &str, mut once: F) -> std::result::Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, Failure>>,
    {
        let attempts = self.settings.attempts.max(1);
        let mut wait = self.settings.first_backoff;
        for attempt in 1..=attempts {
            match once().await {
                Err(Failure::Transient(reason)) if attempt < attempts => {
                    warn!(what, attempt, retry_in_ms = wait.as_millis() as u64, error = %reason,
                        "the object store failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.settings.max_backoff);
                }
                Err(Failure::Transient(reason)) => {
                    return Err(Failure::Final(Error::Store(format!("{reason} (gave up after {attempts} tries)"))));
                }
                other => return other,
            }
        }
        unreachable!("the loop returns on its last try")
    }

    /// Puts `bytes` under `key`; a write-once key already holding the same bytes is done, one
    /// holding others is a [`Error::Conflict`].
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        let full = self.full_key(key);
        let write_once = keys::is_write_once(key);
        let what = format!("putting s3://{}/{full}", self.settings.bucket);
        let put = self
            .retrying(&what, || async {
                let mut request = self
                    .client
                    .put_object()
                    .bucket(&self.settings.bucket)
                    .key(&full)
                    .body(ByteStream::from(bytes.clone()));
                if write_once {
                    request = request.if_none_match("*");
                }
                request.send().await.map(|_| ()).map_err(|e| classify(e, &what))
            })
            .await;
        match put {
            Ok(()) => Ok(()),
            // Also where our own earlier try went through but its answer was lost.
            Err(Failure::Exists) => match self.get(key, bytes.len() as u64).await {
                Ok(Some(existing)) if existing == bytes => Ok(()),
                Ok(_) | Err(Error::TooLarge { .. }) => Err(Error::Conflict { key: key.to_string() }),
                Err(e) => Err(e),
            },
            Err(failure) => Err(into_error(failure, &what)),
        }
    }

    /// The object under `key`, read up to `limit` bytes.
    async fn get(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        let full = self.full_key(key);
        let what = format!("getting s3://{}/{full}", self.settings.bucket);
        let got = self.retrying(&what, || self.get_once(&full, &what, limit)).await;
        match got {
            Ok(bytes) => Ok(Some(bytes)),
            Err(Failure::NotFound) => Ok(None),
            Err(failure) => Err(into_error(failure, &what)),
        }
    }

    async fn get_once(&self, full: &str, what: &str, limit: u64) -> std::result::Result<Vec<u8>, Failure> {
        let too_large = || Failure::Final(Error::TooLarge { key: full.to_string(), limit });
        let answer = self
            .client
            .get_object()
            .bucket(&self.settings.bucket)
            .key(full)
            .send()
            .await
            .map_err(|e| classify(e, what))?;
        if answer.content_length().is_some_and(|len| u64::try_from(len).map_or(true, |len| len > limit)) {
            return Err(too_large());
        }
        let mut body = answer.body;
        let mut bytes = Vec::new();
        while let Some(chunk) =
            body.try_next().await.map_err(|e| Failure::Transient(format!("{what}: reading the body: {e}")))?
        {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    async fn list(&self, prefix: &str, max_keys: usize) -> Result<Vec<String>> {
        let full = self.full_key(prefix);
        let strip = self.full_key("");
        let what = format!("listing s3://{}/{full}", self.settings.bucket);
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .retrying(&what, || async {
                    let request = self.client.list_objects_v2().bucket(&self.settings.bucket).prefix(&full);
                    request.set_continuation_token(token.clone()).send().await.map_err(|e| classify(e, &what))
                })
                .await
                .map_err(|f| into_error(f, &what))?;
            for object in page.contents() {
                let key = object.key().unwrap_or_default();
                found.push(key.strip_prefix(strip.as_str()).unwrap_or(key).to_string());
            }
            if found.len() > max_keys {
                return Err(Error::Store(format!("{what}: more than {max_keys} keys")));
            }
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() || page.is_truncated() != Some(true) {
                return Ok(found);
            }
        }
    }
}

fn into_error(failure: Failure, what: &str) -> Error {
    match failure {
        Failure::Final(e) => e,
        Failure::Transient(reason) => Error::Store(reason),
        Failure::NotFound => Error::Store(format!("{what}: not found")),
        Failure::Exists => Error::Store(format!("{what}: an object is already there")),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::config::http::HttpResponse;
    use aws_sdk_s3::error::{ErrorMetadata, SdkError};
    use aws_sdk_s3::operation::get_object::GetObjectError;
    use aws_sdk_s3::primitives::SdkBody;

    use super::*;

    fn answer(status: u16, code: &str) -> Failure {
        let error = GetObjectError::generic(ErrorMetadata::builder().code(code).build());
        let response = HttpResponse::new(status.try_into().expect("a status"), SdkBody::empty());
        classify(SdkError::service_error(error, response), "getting s3://b/k")
    }

    #[test]
    fn answers_are_sorted_as_callers_must_tell_them_apart() {
        assert!(matches!(answer(404, "NoSuchKey"), Failure::NotFound));
        // s3s-fs answers NoSuchKey for a missing bucket too: only a unit test sees this one.
        assert!(matches!(answer(404, "NoSuchBucket"), Failure::Final(Error::Store(m)) if m.contains("NoSuchBucket")));
        // AWS S3's answer to a missing key without s3:ListBucket: a refusal, not no object.
        assert!(matches!(answer(403, "AccessDenied"), Failure::Final(Error::Denied(_))));
        assert!(matches!(answer(400, "InvalidAccessKeyId"), Failure::Final(Error::Denied(_))));
        assert!(matches!(answer(503, "SlowDown"), Failure::Transient(_)));
        assert!(matches!(answer(412, "PreconditionFailed"), Failure::Exists));
        assert!(matches!(answer(400, "InvalidArgument"), Failure::Final(Error::Store(_))));
    }
}
