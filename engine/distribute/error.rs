//! What can go wrong in a distributed run's own plumbing (S3, ECS, the files it ships).

/// An error of the distributed run's plumbing; each names the call or file and the cause.
#[derive(Debug, thiserror::Error)]
pub enum DistributeError {
    /// An S3 call failed.
    #[error("S3 {op} s3://{bucket}/{key}: {message}")]
    S3 {
        /// The call.
        op: &'static str,
        /// The bucket.
        bucket: String,
        /// The key or prefix.
        key: String,
        /// The cause.
        message: String,
    },
    /// An ECS call failed or refused.
    #[error("ECS {op}: {message}")]
    Ecs {
        /// The call.
        op: &'static str,
        /// The cause.
        message: String,
    },
    /// A file to ship or to write could not be used.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// The cause.
        message: String,
    },
    /// An `s3://` address that is not one.
    #[error("{0:?} is not an S3 location; write s3://bucket/prefix/")]
    Location(String),
}
