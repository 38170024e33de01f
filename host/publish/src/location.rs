//! Where a publication is read from, as one string an auditor or a watchtower is given: a
//! folder (`DIR`), a bucket (`s3://bucket/prefix`) or a public bucket's URL (`https://host/prefix`,
//! a Cloudflare R2 public URL), and [`open_read`], which opens it as a read-only, bounded
//! [`ObjectStore`]. The network kinds need the `remote` feature; without it they are
//! [`Error::NotBuilt`], said as such.
//! Must not touch: what the objects mean, or how any backend talks to its store.

use std::path::PathBuf;
use std::time::Duration;

use crate::{AuditFolder, Error, ObjectStore, Result};

/// A publication's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A folder laid out as the bucket would be.
    Folder(PathBuf),
    /// A bucket of an S3-compatible store (R2, AWS S3, s3s-fs), read with credentials from the
    /// AWS chain (or the variables [`ReadOptions::s3_credentials_env`] names).
    S3 { bucket: String, prefix: String },
    /// A public bucket's URL, read with plain GETs of `<base_url>/<key>`; no trailing `/`.
    Http { base_url: String },
}

/// How a location is read: where the S3 endpoint is, and the bounds on every read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// The S3 endpoint (R2: `https://<account>.r2.cloudflarestorage.com`); AWS's when `None`.
    pub s3_endpoint: Option<String>,
    /// `auto` for R2 (the default).
    pub s3_region: String,
    /// The environment variables holding the access key and the secret; the AWS chain when `None`.
    pub s3_credentials_env: Option<(String, String)>,
    /// The largest object a read accepts (past it: [`Error::TooLarge`]).
    pub max_object_bytes: u64,
    /// Tries of one read before giving up (a connection error, a timeout, a 5xx).
    pub attempts: u32,
    /// The wait after the first failed try, doubled after each next one up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    pub connect_timeout: Duration,
    /// The whole of one try, the body included.
    pub request_timeout: Duration,
}

impl Default for ReadOptions {
    /// R2's region, objects up to 1 GiB (an epoch's input), 5 tries over about 8 s.
    fn default() -> Self {
        Self {
            s3_endpoint: None,
            s3_region: "auto".into(),
            s3_credentials_env: None,
            max_object_bytes: 1 << 30,
            attempts: 5,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(4),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(300),
        }
    }
}

impl Location {
    /// `s3://bucket[/prefix]`, `https://host[/prefix]`, `http://` on a loopback host only (a
    /// test's server: anything else would be read unauthenticated over the network), or a
    /// folder for anything without `://`.
    pub fn parse(s: &str) -> Result<Location> {
        let bad = |reason: &str| Error::BadLocation { location: s.to_string(), reason: reason.to_string() };
        let Some((scheme, rest)) = s.split_once("://") else {
            if s.is_empty() {
                return Err(bad("empty"));
            }
            return Ok(Location::Folder(PathBuf::from(s)));
        };
        match scheme {
            "s3" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(bad("names no bucket (s3://bucket/prefix)"));
                }
                let prefix = prefix.trim_matches('/');
                if !prefix.is_empty() {
                    crate::check_key(prefix).map_err(|_| bad("the prefix has empty, `.` or `..` parts"))?;
                }
                Ok(Location::S3 { bucket: bucket.to_string(), prefix: prefix.to_string() })
            }
            "https" | "http" => {
                let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
                if authority.is_empty() || authority.contains('@') {
                    return Err(bad("names no host (or has user information)"));
                }
                if s.contains(['?', '#']) {
                    return Err(bad("a publication's URL has no query or fragment"));
                }
                if scheme == "http" && !is_loopback(authority) {
                    return Err(bad("plain http:// is for a server on this machine only; use https://"));
                }
                let path = path.trim_end_matches('/');
                let base_url = if path.is_empty() {
                    format!("{scheme}://{authority}")
                } else {
                    format!("{scheme}://{authority}/{path}")
                };
                Ok(Location::Http { base_url })
            }
            other => Err(bad(&format!("unknown scheme {other}:// (a folder, s3:// or https://)"))),
        }
    }

    /// Whether reading it needs the network (and the `remote` feature).
    pub fn is_remote(&self) -> bool {
        !matches!(self, Location::Folder(_))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Folder(dir) => write!(f, "{}", dir.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            Location::Http { base_url } => f.write_str(base_url),
        }
    }
}

/// Whether a URL's `host[:port]` is this machine: `localhost`, `127.x.x.x` or `[::1]`.
pub(crate) fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(host, _)| host),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks an S3 endpoint as a publication's URL is checked: `https://` anywhere, plain
/// `http://` on a loopback host only (a test's server: anything else would carry the signed
/// requests and the objects unencrypted over the network).
pub fn check_s3_endpoint(endpoint: &str) -> Result<()> {
    let bad = |reason: &str| Error::BadLocation {
        location: endpoint.to_string(),
        reason: format!("the S3 endpoint {reason}"),
    };
    let Some((scheme, rest)) = endpoint.split_once("://") else {
        return Err(bad("is not a URL (https://host)"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("names no host (or has user information)"));
    }
    match scheme {
        "https" => Ok(()),
        "http" if is_loopback(authority) => Ok(()),
        "http" => Err(bad("is plain http://, for a server on this machine only; use https://")),
        other => Err(bad(&format!("has the scheme {other}://; use https://"))),
    }
}

/// Opens `location` for reading: a folder as an [`AuditFolder`] (no links followed), a bucket as
/// an `S3Store`, a URL as an `HttpStore`; every read bounded by `options`. Writes are refused.
pub fn open_read(location: &Location, options: &ReadOptions) -> Result<Box<dyn ObjectStore>> {
    match location {
        Location::Folder(dir) => {
            if !dir.is_dir() {
                return Err(Error::Store(format!("{} is missing or not a folder", dir.display())));
            }
            Ok(Box::new(AuditFolder::new(dir, options.max_object_bytes)))
        }
        #[cfg(feature = "remote")]
        Location::S3 { bucket, prefix } => Ok(Box::new(remote::open_s3(bucket, prefix, options)?)),
        #[cfg(feature = "remote")]
        Location::Http { base_url } => Ok(Box::new(remote::open_http(base_url, options)?)),
        #[cfg(not(feature = "remote"))]
        remote => Err(Error::NotBuilt(remote.to_string())),
    }
}

#[cfg(feature = "remote")]
mod remote {
    use super::ReadOptions;
    use crate::{HttpSettings, HttpStore, ObjectStore, Result, S3Credentials, S3Settings, S3Store};

    /// A bucket opened for reading: a put is refused before anything is sent.
    pub(super) struct ReadOnlyS3(S3Store);

    impl ObjectStore for ReadOnlyS3 {
        fn put(&self, key: &str, _bytes: &[u8]) -> Result<()> {
            Err(crate::Error::ReadOnly(format!("{} (opened for reading; not writing {key})", self.0.describe())))
        }
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
            self.0.get(key)
        }
        fn get_at_most(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>> {
            self.0.get_at_most(key, limit)
        }
        fn describe(&self) -> String {
            self.0.describe()
        }
    }

    pub(super) fn open_s3(bucket: &str, prefix: &str, options: &ReadOptions) -> Result<ReadOnlyS3> {
        let credentials = match &options.s3_credentials_env {
            Some((access_key_env, secret_key_env)) => {
                S3Credentials::Env { access_key_env: access_key_env.clone(), secret_key_env: secret_key_env.clone() }
            }
            None => S3Credentials::Chain,
        };
        if let Some(endpoint) = &options.s3_endpoint {
            super::check_s3_endpoint(endpoint)?;
        }
        let mut settings = S3Settings::new(bucket, prefix, credentials);
        settings.endpoint = options.s3_endpoint.clone();
        settings.region = options.s3_region.clone();
        settings.max_get_bytes = options.max_object_bytes;
        settings.attempts = options.attempts;
        settings.first_backoff = options.first_backoff;
        settings.max_backoff = options.max_backoff;
        settings.connect_timeout = options.connect_timeout;
        settings.operation_timeout = options.request_timeout;
        Ok(ReadOnlyS3(S3Store::open(settings)?))
    }

    pub(super) fn open_http(base_url: &str, options: &ReadOptions) -> Result<HttpStore> {
        HttpStore::open(HttpSettings {
            base_url: base_url.to_string(),
            max_get_bytes: options.max_object_bytes,
            attempts: options.attempts,
            first_backoff: options.first_backoff,
            max_backoff: options.max_backoff,
            connect_timeout: options.connect_timeout,
            request_timeout: options.request_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Location) {
        assert_eq!(Location::parse(text).expect(text), expected, "{text}");
    }

    fn refused(text: &str, reason: &str) {
        let err = Location::parse(text).expect_err(text).to_string();
        assert!(err.contains(reason), "{text}: {err}");
    }

    #[test]
    fn locations_parse() {
        check("/srv/pub", Location::Folder("/srv/pub".into()));
        check("pub", Location::Folder("pub".into()));
        check("s3://assay", Location::S3 { bucket: "assay".into(), prefix: String::new() });
        check("s3://assay/", Location::S3 { bucket: "assay".into(), prefix: String::new() });
        check(
            "s3://assay/validators/alice/",
            Location::S3 { bucket: "assay".into(), prefix: "validators/alice".into() },
        );
        check("https://pub-1.r2.dev", Location::Http { base_url: "https://pub-1.r2.dev".into() });
        check("https://pub-1.r2.dev/alice/", Location::Http { base_url: "https://pub-1.r2.dev/alice".into() });
        check("http://127.0.0.1:8080/p", Location::Http { base_url: "http://127.0.0.1:8080/p".into() });
        check("http://localhost:1", Location::Http { base_url: "http://localhost:1".into() });
        check("http://[::1]:1", Location::Http { base_url: "http://[::1]:1".into() });
        refused("", "empty");
        refused("s3://", "names no bucket");
        refused("s3:///x", "names no bucket");
        refused("s3://b/a/../c", "`..`");
        refused("http://example.com/p", "this machine only");
        refused("http://127.0.0.1.example.com/p", "this machine only");
        refused("http://127.0.0.1@example.com/p", "user information");
        refused("https:///p", "names no host");
        refused("https://h/p?x=1", "no query");
        refused("ftp://h/p", "unknown scheme ftp://");
    }

    #[test]
    fn s3_endpoints_are_https_or_loopback_http() {
        for ok in [
            "https://acct.r2.cloudflarestorage.com",
            "https://s3.eu-west-1.amazonaws.com/",
            "http://127.0.0.1:9000",
            "http://localhost:9000/",
            "http://[::1]:9000",
        ] {
            check_s3_endpoint(ok).expect(ok);
        }
        for (bad, reason) in [
            ("http://minio.internal:9000", "plain http://"),
            ("http://127.0.0.1.example.com", "plain http://"),
            ("http://127.0.0.1@example.com", "user information"),
            ("ftp://example.com", "scheme ftp://"),
            ("example.com", "is not a URL"),
            ("https://", "names no host"),
        ] {
            let err = check_s3_endpoint(bad).expect_err(bad);
            assert!(matches!(&err, Error::BadLocation { location, .. } if location == bad), "{err}");
            assert!(err.to_string().contains(reason), "{bad}: {err}");
        }
    }

    #[test]
    #[cfg(feature = "remote")]
    fn a_bucket_behind_a_plain_http_endpoint_off_loopback_is_refused() {
        let options =
            ReadOptions { s3_endpoint: Some("http://minio.example.com:9000".into()), ..ReadOptions::default() };
        let location = Location::S3 { bucket: "assay".into(), prefix: String::new() };
        let err = open_read(&location, &options).err().expect("refused");
        assert!(matches!(&err, Error::BadLocation { .. }), "{err}");
        assert!(err.to_string().contains("plain http://"), "{err}");
    }

    #[test]
    fn a_folder_opens_read_only_and_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("epochs/1")).expect("mkdir");
        std::fs::write(dir.path().join("epochs/1/latest.json"), b"0123456789").expect("writes");
        let options = ReadOptions { max_object_bytes: 4, ..ReadOptions::default() };
        let store = open_read(&Location::Folder(dir.path().into()), &options).expect("opens");
        let err = store.get("epochs/1/latest.json").unwrap_err();
        assert!(matches!(&err, Error::TooLarge { limit: 4, .. }), "past the cap is typed: {err}");
        assert!(matches!(store.put("epochs/1/latest.json", b"x"), Err(Error::ReadOnly(_))));
        let missing = open_read(&Location::Folder(dir.path().join("nothing")), &options).err().expect("refused");
        assert!(missing.to_string().contains("is missing or not a folder"), "{missing}");
    }

    #[test]
    #[cfg(not(feature = "remote"))]
    fn remote_locations_say_the_build_lacks_them() {
        for text in ["s3://assay/p", "https://pub.r2.dev/p"] {
            let location = Location::parse(text).expect("parses");
            let err = open_read(&location, &ReadOptions::default()).err().expect("not built").to_string();
            assert!(err.contains("built without the `remote` feature") && err.contains(text), "{err}");
        }
    }
}
