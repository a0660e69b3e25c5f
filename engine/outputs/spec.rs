//! The serde types of the `[output]` table: where results go besides the files.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where results go besides the files.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct OutputSpec {
    /// Publish the run's metrics to CloudWatch as they are sampled.
    #[serde(default)]
    pub cloudwatch: Option<CloudWatchOutputSpec>,
}

/// CloudWatch publishing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct CloudWatchOutputSpec {
    /// Metric namespace. Default `"Webordinary/Performance"`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Region. Default: the target's, else the AWS configuration's.
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint of an AWS-compatible server. Default: the target's, else `AWS_ENDPOINT_URL`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
}
