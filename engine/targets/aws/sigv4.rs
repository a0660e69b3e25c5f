//! SigV4 for the one request shape the data-plane client sends: `POST` to the endpoint with a
//! JSON body and the headers `content-type`, `host`, `x-amz-date`, `x-amz-target` (and
//! `x-amz-security-token` with temporary credentials).
//!
//! Why not `aws_sigv4::http_request::sign` for every call: it builds a generic canonical request
//! (a header map, every value normalised, several formatted strings) and derives the signing key
//! with four HMACs each time; at 20 messages a second that was 7 % of herd's CPU. Here the
//! canonical request is written straight into one buffer and the key is derived once a day (it
//! depends only on the secret, the date, the region and the service), with the SDK's own
//! `generate_signing_key` and `calculate_signature`. Endpoints whose path would need
//! normalising or encoding are left to the SDK's signer ([`PlainSigner::for_endpoint`] says
//! `None`), and a test checks that both give the same signature.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use sha2::{Digest, Sha256};

/// The JSON protocol's content type, sent and signed with every call.
pub(crate) const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// The headers a signed call carries besides its content type and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signature {
    pub amz_date: String,
    pub authorization: String,
    pub security_token: Option<String>,
}

/// A signing key and what it was derived for.
struct CachedKey {
    day: String,
    access_key: String,
    secret: String,
    key: Vec<u8>,
}

/// Signs calls to one endpoint.
pub(crate) struct PlainSigner {
    /// The `host` header as signed: the endpoint's host, with its port unless it is the
    /// scheme's default (which hyper leaves out of the header it sends).
    host: String,
    /// The canonical path: the endpoint's, which needs neither normalising nor encoding.
    path: String,
    region: String,
    service: &'static str,
    key: Mutex<Option<CachedKey>>,
}

impl std::fmt::Debug for PlainSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainSigner").field("host", &self.host).field("path", &self.path).finish()
    }
}

/// Whether a path needs no normalising and no encoding: `/`-separated segments of unreserved
/// characters, none of them `.` or `..`, and no empty segment but a final one.
fn plain_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else { return false };
    let segments: Vec<&str> = rest.split('/').collect();
    segments.iter().enumerate().all(|(i, s)| {
        (!s.is_empty() || i + 1 == segments.len())
            && *s != "."
            && *s != ".."
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    })
}

impl PlainSigner {
    /// A signer for `endpoint`, or `None` when its path or query needs the SDK's general
    /// signer.
    pub(crate) fn for_endpoint(endpoint: &http::Uri, region: &str, service: &'static str) -> Option<Self> {
        let host = endpoint.host()?;
        let default_port = matches!(
            (endpoint.scheme_str(), endpoint.port_u16()),
            (Some("http"), Some(80)) | (Some("https"), Some(443))
        );
        let host = match endpoint.port_u16() {
            Some(port) if !default_port => format!("{host}:{port}"),
            _ => host.to_owned(),
        };
        let path = match endpoint.path() {
            "" => "/",
            p => p,
        };
        if endpoint.query().is_some() || !plain_path(path) {
            return None;
        }
        Some(Self { host, path: path.to_owned(), region: region.to_owned(), service, key: Mutex::new(None) })
    }

    /// Signs a call of `target` (`AmazonSQS.SendMessage`) with `body`, made at `time`.
    pub(crate) fn sign(&self, credentials: &Credentials, target: &str, body: &[u8], time: SystemTime) -> Signature {
        // `2026-11-29T06:30:57Z` without its separators, as SigV4 writes it.
        let amz_date: String =
            humantime::format_rfc3339_seconds(time).to_string().chars().filter(|c| !matches!(c, '-' | ':')).collect();
        let day = &amz_date[..8];
        let token = credentials.session_token();
        let signed_headers = if token.is_some() {
            "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        } else {
            "content-type;host;x-amz-date;x-amz-target"
        };
        let mut canonical = String::with_capacity(320 + token.map_or(0, str::len));
        // Writing to a String cannot fail.
        let _ = write!(
            canonical,
            "POST\n{}\n\ncontent-type:{CONTENT_TYPE}\nhost:{}\nx-amz-date:{amz_date}\n",
            self.path, self.host
        );
        if let Some(token) = token {
            let _ = writeln!(canonical, "x-amz-security-token:{}", token.trim());
        }
        let _ = write!(canonical, "x-amz-target:{target}\n\n{signed_headers}\n{}", hex::encode(Sha256::digest(body)));
        let scope = format!("{day}/{}/{}/aws4_request", self.region, self.service);
        let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(&canonical)));
        let signature = {
            let mut cached = self.key.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let fresh = cached.as_ref().is_some_and(|k| {
                k.day == day
                    && k.access_key == credentials.access_key_id()
                    && k.secret == credentials.secret_access_key()
            });
            if !fresh {
                let key = generate_signing_key(credentials.secret_access_key(), time, &self.region, self.service);
                *cached = Some(CachedKey {
                    day: day.to_owned(),
                    access_key: credentials.access_key_id().to_owned(),
                    secret: credentials.secret_access_key().to_owned(),
                    key: key.as_ref().to_vec(),
                });
            }
            let key = cached.as_ref().map_or(&[][..], |k| k.key.as_slice());
            calculate_signature(key, to_sign.as_bytes())
        };
        Signature {
            authorization: format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                credentials.access_key_id()
            ),
            amz_date,
            security_token: token.map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_smithy_runtime_api::client::identity::Identity;

    use super::*;

    /// The SDK's signer on the same request: the headers it would add.
    fn sdk_signature(
        endpoint: &str,
        credentials: &Credentials,
        target: &str,
        body: &[u8],
        time: SystemTime,
    ) -> Signature {
        let identity: Identity = credentials.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("sqs")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .expect("signing parameters")
            .into();
        let headers = [("content-type", CONTENT_TYPE), ("x-amz-target", target)];
        let signable = SignableRequest::new("POST", endpoint, headers.into_iter(), SignableBody::Bytes(body))
            .expect("a signable request");
        let (instructions, _) = sign(signable, &params).expect("signed").into_parts();
        let mut request = http::Request::builder().uri(endpoint).body(()).expect("a request");
        instructions.apply_to_request_http1x(&mut request);
        let header = |name: &str| request.headers().get(name).map(|v| v.to_str().expect("ASCII").to_owned());
        Signature {
            amz_date: header("x-amz-date").expect("a date"),
            authorization: header("authorization").expect("an authorization"),
            security_token: header("x-amz-security-token"),
        }
    }

    #[test]
    fn signs_as_the_sdk_does_with_and_without_a_session_token_and_across_days() {
        let long_term = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None, "test");
        let session = Credentials::new("ASIAEXAMPLE", "secret", Some("FwoGZXIvYXdzE//token==".into()), None, "test");
        let body = br#"{"QueueUrl":"https://sqs.eu-west-1.amazonaws.com/1/q","MessageBody":"{\"a\": 1}"}"#;
        let noon = UNIX_EPOCH + Duration::from_secs(1_764_417_600);
        for endpoint in
            ["https://sqs.eu-west-1.amazonaws.com", "http://127.0.0.1:4566/", "https://example.com:443/sqs/v1"]
        {
            let uri: http::Uri = endpoint.parse().expect("a URL");
            let signer = PlainSigner::for_endpoint(&uri, "eu-west-1", "sqs").expect("a plain endpoint");
            // The same key serves many calls within a day, and a new one is derived the next.
            for (credentials, time) in [
                (&long_term, noon),
                (&long_term, noon + Duration::from_secs(7)),
                (&session, noon + Duration::from_secs(9)),
                (&session, noon + Duration::from_secs(86_400)),
            ] {
                assert_eq!(
                    signer.sign(credentials, "AmazonSQS.SendMessage", body, time),
                    sdk_signature(endpoint, credentials, "AmazonSQS.SendMessage", body, time),
                    "{endpoint} at {time:?}"
                );
            }
        }
    }

    #[test]
    fn endpoints_that_need_normalising_or_encoding_are_left_to_the_sdk() {
        for endpoint in ["http://h/a/../b", "http://h/a%20b", "http://h/?x=1", "http://h//a", "http://h/./a"] {
            let uri: http::Uri = endpoint.parse().expect("a URL");
            assert!(PlainSigner::for_endpoint(&uri, "us-east-1", "sqs").is_none(), "{endpoint}");
        }
        let uri: http::Uri = "http://localhost:80/".parse().expect("a URL");
        assert_eq!(PlainSigner::for_endpoint(&uri, "us-east-1", "sqs").expect("plain").host, "localhost");
    }
}
