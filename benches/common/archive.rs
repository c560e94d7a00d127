//! The benchmarks' synthetic CloudTrail archive: deterministic, 1% sign-in
//! records, as JSON Lines and as the S3 `.json.gz` layout CloudTrail writes
//! (`AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_UNIQUE.json.gz`).
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }
}

const ACCOUNTS: [&str; 4] = [
    "111122223333",
    "444455556666",
    "777788889999",
    "123456789012",
];
const USERS: [&str; 8] = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "ci-deployer",
    "terraform",
    "jürgen",
];
const SERVICES: [(&str, &str); 8] = [
    ("ec2.amazonaws.com", "DescribeInstances"),
    ("s3.amazonaws.com", "GetObject"),
    ("iam.amazonaws.com", "GetUserPolicy"),
    ("sts.amazonaws.com", "AssumeRole"),
    ("kms.amazonaws.com", "Decrypt"),
    ("dynamodb.amazonaws.com", "GetItem"),
    ("cloudtrail.amazonaws.com", "LookupEvents"),
    ("lambda.amazonaws.com", "Invoke"),
];
const AGENTS: [&str; 4] = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.164.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/ec2.describe-instances",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213-201.855.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 exec-env/AWS_Lambda_python3.12",
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.53.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
];

/// What the generator wrote: the seed rules' detections and the records.
pub struct Expected {
    pub rule1: u64,
    pub rule2: u64,
    pub records: u64,
}

fn time(minute: u64, rng: &mut Rng) -> String {
    let s = minute * 60 + rng.below(300);
    format!(
        "2024-03-{:02}T{:02}:{:02}:{:02}Z",
        1 + (s / 86_400) % 28,
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60
    )
}

fn api_call(rng: &mut Rng, acct: &str, minute: u64) -> String {
    let (source, name) = SERVICES[rng.below(SERVICES.len() as u64) as usize];
    let user = rng.pick(&USERS);
    // Some API records mention the sign-in service without being sign-ins:
    // the prefilter lets them through and the parse turns them away.
    // About 0.3% of API records: a few of the services below, rarely.
    let rare = rng.below(40) == 0;
    let params = match name {
        "LookupEvents" if rare => r#"{"lookupAttributes":[{"attributeKey":"EventSource","attributeValue":"signin.amazonaws.com"}],"maxResults":50}"#.to_string(),
        "GetUserPolicy" => format!(r#"{{"userName":"{user}","policyName":"inline-{}"}}"#, rng.below(100)),
        _ => format!(r#"{{"resource":"arn:aws:{}:us-east-1:{acct}:thing/{}","filters":[{{"name":"tag:env","values":["prod","stage"]}}]}}"#, source.split('.').next().unwrap_or("x"), rng.uuid()),
    };
    let invoked = if name == "GetUserPolicy" && rare {
        r#","invokedBy":"signin.amazonaws.com""#
    } else {
        ""
    };
    format!(
        concat!(
            r#"{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","principalId":"AIDA{p}","arn":"arn:aws:iam::{a}:user/{u}","accountId":"{a}","accessKeyId":"AKIA{k}","userName":"{u}"{inv}}},"#,
            r#""eventTime":"{t}","eventSource":"{s}","eventName":"{n}","awsRegion":"us-east-1","sourceIPAddress":"52.{i1}.{i2}.{i3}","userAgent":"{ua}","#,
            r#""requestParameters":{params},"responseElements":null,"requestID":"{r}","eventID":"{e}","readOnly":true,"eventType":"AwsApiCall","#,
            r#""managementEvent":true,"recipientAccountId":"{a}","eventCategory":"Management","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"{host}"}}}}"#
        ),
        p = rng.below(1 << 40),
        a = acct,
        u = user,
        k = rng.below(1 << 40),
        inv = invoked,
        t = time(minute, rng),
        s = source,
        n = name,
        i1 = rng.below(256),
        i2 = rng.below(256),
        i3 = rng.below(256),
        ua = rng.pick(&AGENTS),
        params = params,
        r = rng.uuid(),
        e = rng.uuid(),
        host = source,
    )
}

fn sign_in(rng: &mut Rng, acct: &str, minute: u64, exp: &mut Expected) -> String {
    let user = rng.pick(&USERS);
    let kind = rng.below(10);
    let (identity, name, mfa, error) = match kind {
        0 => {
            exp.rule1 += 1;
            (
                format!(
                    r#"{{"type":"IAMUser","principalId":"AIDAEXAMPLE","accountId":"{acct}","accessKeyId":"","userName":"{user}"}}"#
                ),
                "ConsoleLogin",
                "Yes",
                r#""errorMessage":"Failed authentication","#,
            )
        }
        1 => (
            format!(
                r#"{{"type":"IAMUser","principalId":"AIDAEXAMPLE","accountId":"{acct}","accessKeyId":"","userName":"{user}"}}"#
            ),
            "ConsoleLogin",
            "No",
            r#""errorMessage":"Failed authentication","#,
        ),
        2 => {
            exp.rule2 += 1;
            (
                format!(
                    r#"{{"type":"FederatedUser","principalId":"{acct}:{user}","arn":"arn:aws:sts::{acct}:federated-user/{user}","accountId":"{acct}","sessionContext":{{"sessionIssuer":{{"type":"IAMUser","arn":"arn:aws:iam::{acct}:user/broker","userName":"broker"}}}}}}"#
                ),
                "GetSigninToken",
                "No",
                "",
            )
        }
        3 => (
            format!(
                r#"{{"type":"AssumedRole","principalId":"AROA:{user}","arn":"arn:aws:sts::{acct}:assumed-role/AWSReservedSSO_Admin_0123/{user}","accountId":"{acct}"}}"#
            ),
            "GetSigninToken",
            "No",
            "",
        ),
        _ => (
            format!(
                r#"{{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::{acct}:user/{user}","accountId":"{acct}","userName":"{user}"}}"#
            ),
            "ConsoleLogin",
            "Yes",
            "",
        ),
    };
    let event_type = if kind == 3 {
        "AwsApiCall"
    } else {
        "AwsConsoleSignIn"
    };
    format!(
        concat!(
            r#"{{"eventVersion":"1.09","userIdentity":{id},"eventTime":"{t}","eventSource":"signin.amazonaws.com","eventName":"{n}","#,
            r#""awsRegion":"us-east-1","sourceIPAddress":"203.0.{i1}.{i2}","userAgent":"{ua}",{err}"requestParameters":null,"#,
            r#""responseElements":{{"{n}":"Success"}},"additionalEventData":{{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"{mfa}"}},"#,
            r#""eventID":"{e}","readOnly":false,"eventType":"{et}","managementEvent":true,"recipientAccountId":"{a}","eventCategory":"Management"}}"#
        ),
        id = identity,
        t = time(minute, rng),
        n = name,
        i1 = rng.below(256),
        i2 = rng.below(256),
        ua = AGENTS[3],
        err = error,
        mfa = mfa,
        e = rng.uuid(),
        et = event_type,
        a = acct,
    )
}

/// Writes about `mb` MiB of JSON Lines and the same records as S3 files.
pub fn generate(dir: &Path, mb: u64) -> (PathBuf, PathBuf, u64, Expected) {
    let jsonl = dir.join("archive.jsonl");
    let s3 = dir.join("s3");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&jsonl).expect("create jsonl"));
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut exp = Expected {
        rule1: 0,
        rule2: 0,
        records: 0,
    };
    let target = mb << 20;
    let mut written = 0u64;
    let mut minute = 0u64;
    let mut file_no = 0u64;
    while written < target {
        let acct = rng.pick(&ACCOUNTS);
        let n = 500 + rng.below(1500);
        let mut lines = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let rec = if rng.below(100) == 0 {
                sign_in(&mut rng, acct, minute, &mut exp)
            } else {
                api_call(&mut rng, acct, minute)
            };
            lines.push(rec);
        }
        exp.records += n;
        for l in &lines {
            out.write_all(l.as_bytes()).expect("write");
            out.write_all(b"\n").expect("write");
            written += l.len() as u64 + 1;
        }
        let sub = s3.join(format!(
            "AWSLogs/{acct}/CloudTrail/us-east-1/2024/03/{:02}",
            1 + (minute / 1440) % 28
        ));
        std::fs::create_dir_all(&sub).expect("mkdir");
        // Named as CloudTrail names a delivery: the minute the file closed.
        let closed = minute + 4;
        let name = format!(
            "{acct}_CloudTrail_us-east-1_202403{:02}T{:02}{:02}Z_{file_no:016}.json.gz",
            1 + (closed / 1440) % 28,
            (closed / 60) % 24,
            closed % 60
        );
        let f = File::create(sub.join(name)).expect("create gz");
        let mut gz = GzEncoder::new(BufWriter::new(f), Compression::new(6));
        gz.write_all(br#"{"Records":["#).expect("gz");
        gz.write_all(lines.join(",").as_bytes()).expect("gz");
        gz.write_all(b"]}").expect("gz");
        gz.finish().expect("gz");
        file_no += 1;
        minute += 5;
    }
    out.flush().expect("flush");
    (jsonl, s3, written, exp)
}

/// One CloudTrail log file of about `mb` MiB of JSON at `path`, the same mix
/// as the archive: the largest object a trail is likely to hold, and more.
/// Returns the JSON's size and what it holds.
pub fn one_object(path: &Path, mb: u64) -> (u64, Expected) {
    let mut rng = Rng(0x0b1e_c7ed_5eed_0001);
    let mut exp = Expected {
        rule1: 0,
        rule2: 0,
        records: 0,
    };
    let f = File::create(path).expect("create gz");
    let mut gz = GzEncoder::new(BufWriter::new(f), Compression::new(6));
    gz.write_all(br#"{"Records":["#).expect("gz");
    let (target, mut written) = (mb << 20, 13u64);
    let mut minute = 0;
    while written < target {
        let acct = ACCOUNTS[0];
        let rec = if rng.below(100) == 0 {
            sign_in(&mut rng, acct, minute, &mut exp)
        } else {
            api_call(&mut rng, acct, minute)
        };
        if exp.records > 0 {
            gz.write_all(b",").expect("gz");
            written += 1;
        }
        gz.write_all(rec.as_bytes()).expect("gz");
        written += rec.len() as u64;
        exp.records += 1;
        // Five minutes of events, as in one delivery.
        minute = exp.records / 20_000;
    }
    gz.write_all(b"]}").expect("gz");
    gz.finish().expect("gz");
    (written + 2, exp)
}

/// Every file under `dir`, at any depth (the S3 layout's objects).
pub fn gz_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            gz_files(&p, out);
        } else {
            out.push(p);
        }
    }
}
