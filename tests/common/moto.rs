//! A real AWS-compatible server for the AWS tests: moto's server from PyPI, on 127.0.0.1.
//! `.ci/run` starts one and sets `HERD_MOTO_ENDPOINT`; otherwise the first test that needs it
//! starts one on a free port, with a watchdog that stops it when the test process exits.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn answers(endpoint: &str) -> bool {
    let hostport = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let Ok(mut s) = TcpStream::connect(hostport) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET /moto-api/ HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && buf.starts_with(b"HTTP/1."))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// The endpoint of a running moto server, starting one if needed.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(e) = std::env::var("HERD_MOTO_ENDPOINT")
            && answers(&e)
        {
            return e;
        }
        let port = free_port();
        let me = std::process::id();
        // The watchdog shell outlives nothing: it stops moto once this test process is gone.
        let script = format!(
            "python3 -m moto.server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
             while kill -0 {me} 2>/dev/null; do sleep 1; done; kill $m"
        );
        #[expect(
            clippy::zombie_processes,
            reason = "the watchdog shell lives as long as this test process; init reaps it"
        )]
        let _watchdog = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh starts moto (pip install 'moto[server]==5.2.5'; tests/run.sh does)");
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while !answers(&endpoint) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto did not answer on {endpoint}; is moto[server] installed? (tests/run.sh installs it)"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        endpoint
    })
}

/// A moto server of the caller's own, started with `env` (settings that would disturb other
/// tests on the shared one, such as `INITIAL_NO_AUTH_ACTION_COUNT`); it stops when the test
/// process exits.
pub fn private_server(env: &[(&str, &str)]) -> String {
    let port = free_port();
    let me = std::process::id();
    let script = format!(
        "python3 -m moto.server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
         while kill -0 {me} 2>/dev/null; do sleep 1; done; kill $m"
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    #[expect(clippy::zombie_processes, reason = "the watchdog shell lives as long as this test process; init reaps it")]
    let _watchdog = cmd.spawn().expect("sh starts moto");
    let endpoint = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while !answers(&endpoint) {
        assert!(started.elapsed() < Duration::from_secs(60), "moto did not answer on {endpoint}");
        std::thread::sleep(Duration::from_millis(200));
    }
    endpoint
}

/// Environment for a herd or worker process talking to moto.
pub fn env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint().to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        // A server error fails fast instead of being retried.
        ("HERD_AWS_MAX_ATTEMPTS", "1".into()),
    ]
}

/// The SDK's configuration for a plain client of the moto server (the tests' own calls).
pub async fn sdk_config() -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await
}

/// The reference worker built beside the test binary (`cargo test` builds the examples).
pub fn worker() -> std::path::PathBuf {
    // target/debug/deps/<test>-<hash> -> target/debug/examples/worker
    let exe = std::env::current_exe().expect("test binary path");
    let path =
        exe.parent().and_then(std::path::Path::parent).map(|d| d.join("examples").join("worker")).expect("target dir");
    assert!(path.exists(), "{} is missing; `cargo test` builds it (cargo build --examples)", path.display());
    path
}

/// Runs herd in `dir` with moto's environment.
pub fn herd(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    herd_command(dir, args).output().expect("herd runs")
}

/// herd with `args` in `dir`, pointed at the shared server, to start or run.
pub fn herd_command(dir: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_herd"));
    cmd.args(args).current_dir(dir);
    for (k, v) in env() {
        cmd.env(k, v);
    }
    cmd
}

/// Output bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Deletes every queue and table whose name starts with `prefix` (what a run that could not
/// clean up after itself left behind).
pub fn delete_queues_with_prefix(prefix: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let config = sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let urls = sqs.list_queues().queue_name_prefix(prefix).send().await.ok().and_then(|o| o.queue_urls);
        for url in urls.unwrap_or_default() {
            let _ = sqs.delete_queue().queue_url(url).send().await;
        }
        let ddb = aws_sdk_dynamodb::Client::new(&config);
        let tables = ddb.list_tables().send().await.ok().and_then(|o| o.table_names);
        for t in tables.unwrap_or_default().into_iter().filter(|t| t.starts_with(prefix)) {
            let _ = ddb.delete_table().table_name(t).send().await;
        }
    });
}

/// Creates the ownership table with hash key `key` (whatever exists is left as it is).
pub fn create_ownership_table(key: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let ddb = aws_sdk_dynamodb::Client::new(&sdk_config().await);
        let _ = ddb
            .create_table()
            .table_name("webordinary-container-ownership")
            .attribute_definitions(
                aws_sdk_dynamodb::types::AttributeDefinition::builder()
                    .attribute_name(key)
                    .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                    .build()
                    .expect("attribute"),
            )
            .key_schema(
                aws_sdk_dynamodb::types::KeySchemaElement::builder()
                    .attribute_name(key)
                    .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                    .build()
                    .expect("key"),
            )
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
            .send()
            .await;
    });
}

/// Writes an ownership row: `pair` is owned by `container`.
pub fn put_owner(pair: &str, container: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let ddb = aws_sdk_dynamodb::Client::new(&sdk_config().await);
        ddb.put_item()
            .table_name("webordinary-container-ownership")
            .item("projectKey", aws_sdk_dynamodb::types::AttributeValue::S(pair.to_owned()))
            .item("containerId", aws_sdk_dynamodb::types::AttributeValue::S(container.to_owned()))
            .send()
            .await
            .expect("PutItem");
    });
}
