//! The S3 folder of one distributed run: the coordinator ships the scenario there, the workers
//! leave their progress, their callback listeners' addresses and their results there, and the
//! coordinator collects them. Layout under `s3://<bucket>/<prefix><run>/`:
//!
//! - `input/...`: the scenario and every file it reads, folders kept;
//! - `progress/segment-<i>-of-<n>.json`: a worker's last totals and, at the end, its exit code;
//! - `peers/slice-<i>.addr`: a worker's Step Functions callback listener;
//! - `slices/segment-<i>-of-<n>/...`: a worker's output folder, summary and journal included.

use std::path::{Component, Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use super::error::DistributeError;
use crate::runtime::Accounting;
use crate::targets::aws::{Timeouts, sdk_config};

/// A worker's state as it leaves it in `progress/`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerProgress {
    /// `running` while it runs; `done` once its results are all uploaded.
    pub state: String,
    /// Its totals so far.
    pub totals: Accounting,
    /// Its exit code, once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
}

/// `s3://bucket/prefix/` parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The prefix, empty or ending in `/`.
    pub prefix: String,
}

impl std::str::FromStr for S3Location {
    type Err = DistributeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix("s3://").ok_or_else(|| DistributeError::Location(s.to_owned()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        super::settings::check_bucket(bucket).map_err(|_| DistributeError::Location(s.to_owned()))?;
        let prefix = super::settings::check_prefix(prefix).map_err(|_| DistributeError::Location(s.to_owned()))?;
        Ok(Self { bucket: bucket.to_owned(), prefix })
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// The folder name of slice `i` of `n`, locally and in S3.
pub fn slice_folder(index: u32, count: u32) -> String {
    format!("segment-{index}-of-{count}")
}

/// The most bytes one object read back may have (a summary of a long run is a few MiB).
const MAX_OBJECT: i64 = 1 << 30;

/// One run's folder in S3.
#[derive(Clone)]
pub struct RunStore {
    s3: aws_sdk_s3::Client,
    at: S3Location,
}

impl RunStore {
    /// Connects with the default credential chain; `region` and `endpoint_url` as the target's.
    pub async fn connect(at: S3Location, region: Option<&str>, endpoint_url: Option<&str>) -> Self {
        let config = sdk_config(region, endpoint_url, Timeouts::default()).await;
        // An endpoint of its own (a local AWS-compatible server) does not resolve bucket names
        // as host names: address buckets in the path there.
        let path_style = endpoint_url.is_some() || config.endpoint_url().is_some();
        let s3 = aws_sdk_s3::config::Builder::from(&config).force_path_style(path_style).build();
        Self { s3: aws_sdk_s3::Client::from_conf(s3), at }
    }

    /// Where the run's folder is.
    pub fn location(&self) -> &S3Location {
        &self.at
    }

    fn key(&self, rel: &str) -> String {
        format!("{}{rel}", self.at.prefix)
    }

    fn error(&self, op: &'static str, key: &str, e: &dyn std::error::Error) -> DistributeError {
        DistributeError::S3 { op, bucket: self.at.bucket.clone(), key: key.to_owned(), message: explain_dyn(e) }
    }

    /// Checks that the bucket exists and can be reached, before anything is started.
    pub async fn check(&self) -> Result<(), DistributeError> {
        self.s3
            .head_bucket()
            .bucket(&self.at.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.error("HeadBucket", "", &e))
    }

    /// Writes `body` at `rel` under the run's folder.
    pub async fn put(&self, rel: &str, body: Vec<u8>) -> Result<(), DistributeError> {
        let key = self.key(rel);
        self.s3
            .put_object()
            .bucket(&self.at.bucket)
            .key(&key)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.error("PutObject", &key, &e))
    }

    /// Reads `rel`, or `None` when it is not there.
    pub async fn get(&self, rel: &str) -> Result<Option<Vec<u8>>, DistributeError> {
        let key = self.key(rel);
        let out = match self.s3.get_object().bucket(&self.at.bucket).key(&key).send().await {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(self.error("GetObject", &key, &e)),
        };
        if out.content_length().unwrap_or(0) > MAX_OBJECT {
            return Err(DistributeError::S3 {
                op: "GetObject",
                bucket: self.at.bucket.clone(),
                key,
                message: "larger than the 1 GiB herd reads back".into(),
            });
        }
        let bytes = out.body.collect().await.map_err(|e| self.error("GetObject", &key, &e))?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    /// Every key under `rel` (relative to the run's folder), in order.
    pub async fn list(&self, rel: &str) -> Result<Vec<String>, DistributeError> {
        let prefix = self.key(rel);
        let mut keys = Vec::new();
        let mut pages = self.s3.list_objects_v2().bucket(&self.at.bucket).prefix(&prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("ListObjectsV2", &prefix, &e))?;
            for o in page.contents() {
                if let Some(k) = o.key().and_then(|k| k.strip_prefix(&self.at.prefix)) {
                    keys.push(k.to_owned());
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Uploads every file under `dir` (hidden files and folders left out) to `rel/...`.
    pub async fn upload_dir(&self, dir: &Path, rel: &str) -> Result<usize, DistributeError> {
        let mut files = Vec::new();
        walk(dir, Path::new(""), &mut files)?;
        for f in &files {
            let path = dir.join(f);
            let body = std::fs::read(&path)
                .map_err(|e| DistributeError::File { path: path.display().to_string(), message: e.to_string() })?;
            let name = f.iter().map(|c| c.to_string_lossy()).collect::<Vec<_>>().join("/");
            self.put(&format!("{rel}/{name}"), body).await?;
        }
        Ok(files.len())
    }

    /// Downloads every key under `rel/` into `dir`, folders kept. A key that would land outside
    /// `dir` (`..`, an absolute name) is refused: the bucket may hold anything.
    pub async fn download_dir(&self, rel: &str, dir: &Path) -> Result<usize, DistributeError> {
        let rel = format!("{}/", rel.trim_end_matches('/'));
        let keys = self.list(&rel).await?;
        for key in &keys {
            let name = key.strip_prefix(&rel).unwrap_or(key);
            let local = safe_join(dir, name).ok_or_else(|| DistributeError::File {
                path: format!("{}{key}", self.at),
                message: "the key leaves its folder (`..` or an absolute name); refused".into(),
            })?;
            let body = self.get(key).await?.unwrap_or_default();
            if let Some(parent) = local.parent() {
                std::fs::create_dir_all(parent).map_err(|e| DistributeError::File {
                    path: parent.display().to_string(),
                    message: e.to_string(),
                })?;
            }
            std::fs::write(&local, body)
                .map_err(|e| DistributeError::File { path: local.display().to_string(), message: e.to_string() })?;
        }
        Ok(keys.len())
    }

    /// Leaves a worker's progress.
    pub async fn put_progress(&self, index: u32, count: u32, p: &WorkerProgress) -> Result<(), DistributeError> {
        let body = serde_json::to_vec(p).unwrap_or_default();
        self.put(&format!("progress/{}.json", slice_folder(index, count)), body).await
    }

    /// A worker's progress, when it has left any (a malformed object counts as none).
    pub async fn progress(&self, index: u32, count: u32) -> Result<Option<WorkerProgress>, DistributeError> {
        let body = self.get(&format!("progress/{}.json", slice_folder(index, count))).await?;
        Ok(body.and_then(|b| serde_json::from_slice(&b).ok()))
    }
}

/// The files under `dir/rel`, relative to `dir`; hidden ones left out.
fn walk(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<(), DistributeError> {
    let here = dir.join(rel);
    let entries = std::fs::read_dir(&here)
        .map_err(|e| DistributeError::File { path: here.display().to_string(), message: e.to_string() })?;
    let mut names: Vec<_> = entries.filter_map(Result::ok).collect();
    names.sort_by_key(std::fs::DirEntry::file_name);
    for e in names {
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = rel.join(&name);
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(dir, &path, out)?,
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
    Ok(())
}

/// `dir/name` when `name` is a plain relative path (no `..`, not absolute, not empty).
pub(crate) fn safe_join(dir: &Path, name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    let plain = !name.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    plain.then(|| dir.join(p))
}

fn explain_dyn(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_refuse() {
        let at: S3Location = "s3://herd-runs/qa/run-1/".parse().unwrap();
        assert_eq!((at.bucket.as_str(), at.prefix.as_str()), ("herd-runs", "qa/run-1/"));
        assert_eq!(at.to_string(), "s3://herd-runs/qa/run-1/");
        let bare: S3Location = "s3://herd-runs".parse().unwrap();
        assert_eq!(bare.prefix, "");
        for bad in ["herd-runs/x", "s3://H/x", "s3://herd-runs/../x", "s3:///x"] {
            assert!(bad.parse::<S3Location>().is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_that_leave_their_folder_are_refused() {
        let d = Path::new("/tmp/x");
        assert_eq!(safe_join(d, "a/b.toml"), Some(d.join("a/b.toml")));
        for bad in ["../etc/passwd", "/etc/passwd", "a/../../b", "", "./a"] {
            assert_eq!(safe_join(d, bad), None, "{bad}");
        }
    }
}
