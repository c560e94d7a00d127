//! moto's server, a real AWS API emulator, on a free loopback port, one per
//! test binary; and the resources a test needs on it (table, topic, queues).
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use signin_watch::adapters::dynamodb_store::DynamoStore;
use signin_watch::adapters::sns::SnsPublisher;
use signin_watch::app::detector::Detector;
use signin_watch::config::DetectorConfig;
use signin_watch::domain::counter::Counters;
use signin_watch::domain::notify::Notifier;
use signin_watch::lambda::handler::{Handler, InvocationSummary};

pub struct Moto {
    pub endpoint: String,
    /// The server's log: one line per request answered.
    pub log: PathBuf,
    /// The watchdog shell; it ends by itself with this process.
    _watchdog: std::process::Child,
}

/// The venv's Python (with moto and cfn-lint), or `MOTO_PYTHON`.
pub fn python() -> PathBuf {
    std::env::var_os("MOTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::repo_path(".venv/bin/python"))
}

/// True when the venv the emulator tests need is missing: the test then
/// says so loudly and passes, so that a plain `cargo test` runs the pure
/// tests on any machine. `make test` sets `SIGNIN_WATCH_REQUIRE_EMULATOR`,
/// and then a missing venv fails the test instead.
pub fn unavailable(test: &str) -> bool {
    if python().exists() {
        return false;
    }
    let why = format!(
        "{test}: no Python with moto at {} (run `make test`, which installs moto[server] into .venv, or set MOTO_PYTHON)",
        python().display()
    );
    assert!(
        std::env::var_os("SIGNIN_WATCH_REQUIRE_EMULATOR").is_none(),
        "{why}"
    );
    super::say_skipped(&why);
    true
}

/// The shared server, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let (python, launcher) = (python(), super::repo_path("tools/moto_serial.py"));
        assert!(python.exists(), "no Python with moto at {}", python.display());
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let log = std::env::temp_dir().join(format!("signin-watch-moto-{port}.log"));
        // A watchdog shell stops the server when this test process ends.
        let script = format!(
            "'{python}' '{launcher}' 127.0.0.1 {port} >'{log}' 2>&1 & m=$!; \
             while kill -0 {pid} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.3; done; kill $m 2>/dev/null",
            python = python.display(),
            launcher = launcher.display(),
            log = log.display(),
            pid = std::process::id(),
        );
        let watchdog = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start; see {}", log.display());
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto { endpoint: format!("http://127.0.0.1:{port}"), log, _watchdog: watchdog }
    })
}

impl Moto {
    /// How many requests the server has answered so far (its log's request lines).
    pub fn requests(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .map(|l| {
                // werkzeug's request lines (statuses other than 200 coloured).
                l.lines()
                    .filter(|l| l.starts_with("127.0.0.1 - - ["))
                    .count()
            })
            .unwrap_or(0)
    }
}

/// An SDK configuration pointed at moto, the way a user's local run is:
/// through the endpoint URL, with dummy credentials.
pub async fn sdk() -> SdkConfig {
    let m = moto();
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&m.endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .load()
        .await
}

/// A unique name for this test's resources.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The table as template.yaml defines it: `pk`/`sk` strings, TTL on `expires_at`.
pub async fn create_table(sdk: &SdkConfig) -> String {
    let name = unique("signin-watch");
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    ddb.create_table()
        .table_name(&name)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table");
    ddb.update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("enable TTL");
    name
}

pub struct Topic {
    pub arn: String,
}

pub async fn create_topic(sdk: &SdkConfig, fifo: bool) -> Topic {
    let sns = aws_sdk_sns::Client::new(sdk);
    let name = if fifo {
        format!("{}.fifo", unique("findings"))
    } else {
        unique("findings")
    };
    let mut req = sns.create_topic().name(name);
    if fifo {
        req = req.attributes("FifoTopic", "true");
    }
    let arn = req
        .send()
        .await
        .expect("create topic")
        .topic_arn
        .expect("topic ARN");
    Topic { arn }
}

pub struct Queue {
    pub url: String,
}

/// A new standard queue named after `prefix`; its URL.
pub async fn create_queue(sdk: &SdkConfig, prefix: &str) -> String {
    aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name(unique(prefix))
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue URL")
}

/// The ARN of the queue at `url`.
pub async fn queue_arn(sdk: &SdkConfig, url: &str) -> String {
    aws_sdk_sqs::Client::new(sdk)
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue ARN")
}

/// A command for `binary` (one of the crate's) pointed at moto the way a
/// user's local run is: the endpoint URL, dummy credentials, one region,
/// and none of the caller's rule switches.
pub fn command(binary: &str) -> Command {
    let mut c = super::cli::command(binary);
    c.env("AWS_ENDPOINT_URL", &moto().endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

/// A queue subscribed to `topic`, raw or enveloped, with an optional filter policy.
pub async fn subscribe_queue(
    sdk: &SdkConfig,
    topic: &Topic,
    raw: bool,
    filter_policy: Option<&str>,
) -> Queue {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let fifo = topic.arn.ends_with(".fifo");
    let name = if fifo {
        format!("{}.fifo", unique("inbox"))
    } else {
        unique("inbox")
    };
    let mut req = sqs.create_queue().queue_name(&name);
    if fifo {
        req = req.attributes(QueueAttributeName::FifoQueue, "true");
    }
    let url = req
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue URL");
    let arn = queue_arn(sdk, &url).await;
    let sns = aws_sdk_sns::Client::new(sdk);
    let mut sub = sns
        .subscribe()
        .topic_arn(&topic.arn)
        .protocol("sqs")
        .endpoint(arn);
    if raw {
        sub = sub.attributes("RawMessageDelivery", "true");
    }
    if let Some(policy) = filter_policy {
        sub = sub.attributes("FilterPolicy", policy);
    }
    sub.send().await.expect("subscribe");
    Queue { url }
}

/// Every message waiting on the queue (until one receive comes back empty).
pub async fn drain(sdk: &SdkConfig, queue: &Queue) -> Vec<Message> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
        if got.is_empty() {
            return out;
        }
        for m in &got {
            if let Some(handle) = m.receipt_handle() {
                sqs.delete_message()
                    .queue_url(&queue.url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("delete");
            }
        }
        out.extend(got);
    }
}

/// A new bucket, for trail objects.
pub async fn create_bucket(sdk: &SdkConfig) -> String {
    let name = unique("trail").to_lowercase();
    signin_watch::adapters::s3::client(sdk)
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("create bucket");
    name
}

/// Puts `body` at `key`.
pub async fn put_object(sdk: &SdkConfig, bucket: &str, key: &str, body: Vec<u8>) {
    signin_watch::adapters::s3::client(sdk)
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e:?}"));
}

/// A table and a topic on moto, and handlers on them.
pub struct Env {
    pub sdk: SdkConfig,
    pub table: String,
    pub topic: Topic,
}

impl Env {
    pub async fn new(fifo: bool) -> Env {
        let sdk = sdk().await;
        let table = create_table(&sdk).await;
        let topic = create_topic(&sdk, fifo).await;
        Env { sdk, table, topic }
    }

    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(aws_sdk_dynamodb::Client::new(&self.sdk), &self.table, 90)
    }

    pub fn handler_with<N: Notifier>(&self, notifier: N) -> Handler<DynamoStore, N> {
        let c = DetectorConfig::default();
        Handler::new(Detector::new(c.rules, c.policy, self.store()), notifier)
    }

    pub fn handler(&self) -> Handler<DynamoStore, SnsPublisher> {
        self.handler_with(SnsPublisher::new(
            aws_sdk_sns::Client::new(&self.sdk),
            &self.topic.arn,
        ))
    }

    pub async fn counters(&self, group: &str) -> Counters {
        self.store()
            .counters(&format!("GROUP#{group}"))
            .await
            .expect("read")
            .expect("counter item")
            .0
    }
}

/// The handler's summary of `payload`, which must succeed.
pub async fn ok(h: &Handler<DynamoStore, impl Notifier>, payload: &[u8]) -> InvocationSummary {
    h.handle(payload).await.0.expect("handled")
}

/// The string attribute `name` of an SNS message read through SQS.
pub fn attr<'a>(m: &'a Message, name: &str) -> &'a str {
    m.message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
        .unwrap_or_else(|| panic!("attribute {name}"))
}
