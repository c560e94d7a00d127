//! A minimal AWS Lambda Runtime API on loopback, enough to run the real
//! function binary: `GET .../invocation/next` hands out queued events, the
//! response and error posts are collected. Used by the binary's test and by
//! the cold-start benchmark.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const PREFIX: &str = "/2018-06-01/runtime";

/// What the function posted back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Response { request_id: String, body: String },
    Error { request_id: String, body: String },
    InitError { body: String },
}

#[derive(Default)]
struct State {
    events: VecDeque<(String, Vec<u8>)>,
    replies: Vec<Reply>,
    /// When the function first asked for an event.
    first_poll: Option<Instant>,
    next_id: u64,
}

pub struct RuntimeApi {
    pub address: String,
    state: Arc<(Mutex<State>, Condvar)>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some((method, path, body))
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\ncontent-type: application/json\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body));
}

impl RuntimeApi {
    pub fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, state));
            }
        });
        RuntimeApi { address, state }
    }

    pub fn push_event(&self, body: &[u8]) {
        let (lock, cv) = &*self.state;
        let mut s = lock.lock().unwrap();
        s.next_id += 1;
        let id = format!("req-{}", s.next_id);
        s.events.push_back((id, body.to_vec()));
        cv.notify_all();
    }

    /// Waits until `n` replies arrived (or `timeout` passed) and returns them.
    pub fn replies(&self, n: usize, timeout: Duration) -> Vec<Reply> {
        let (lock, cv) = &*self.state;
        let deadline = Instant::now() + timeout;
        let mut s = lock.lock().unwrap();
        while s.replies.len() < n && Instant::now() < deadline {
            s = cv.wait_timeout(s, Duration::from_millis(20)).unwrap().0;
        }
        s.replies.clone()
    }

    /// Waits for the function's first poll; returns when it happened.
    pub fn first_poll(&self, timeout: Duration) -> Option<Instant> {
        let (lock, cv) = &*self.state;
        let deadline = Instant::now() + timeout;
        let mut s = lock.lock().unwrap();
        while s.first_poll.is_none() && Instant::now() < deadline {
            s = cv.wait_timeout(s, Duration::from_millis(1)).unwrap().0;
        }
        s.first_poll
    }

    /// Starts `binary` as Lambda would, with this API and `env`.
    pub fn spawn(&self, binary: &str, env: &[(&str, &str)]) -> Child {
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "signin-watch")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn().expect("start the function")
    }
}

fn serve(stream: TcpStream, state: Arc<(Mutex<State>, Condvar)>) {
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    while let Some((method, path, body)) = read_request(&mut reader) {
        let (lock, cv) = &*state;
        let body = String::from_utf8_lossy(&body).into_owned();
        if method == "GET" && path == format!("{PREFIX}/invocation/next") {
            let mut s = lock.lock().unwrap();
            s.first_poll.get_or_insert_with(Instant::now);
            cv.notify_all();
            // Like a frozen sandbox: wait until there is an event.
            while s.events.is_empty() {
                s = cv.wait(s).unwrap();
            }
            let (id, event) = s.events.pop_front().expect("an event");
            drop(s);
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() + 30_000)
                .unwrap_or(0);
            respond(
                &mut writer,
                "200 OK",
                &[
                    ("lambda-runtime-aws-request-id", id),
                    ("lambda-runtime-deadline-ms", deadline.to_string()),
                    (
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:111122223333:function:signin-watch".into(),
                    ),
                    (
                        "lambda-runtime-trace-id",
                        "Root=1-00000000-000000000000000000000000".into(),
                    ),
                ],
                &event,
            );
            continue;
        }
        let reply = if let Some(rest) = path.strip_prefix(&format!("{PREFIX}/invocation/")) {
            let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
            match kind {
                "response" => Reply::Response {
                    request_id: id.into(),
                    body,
                },
                _ => Reply::Error {
                    request_id: id.into(),
                    body,
                },
            }
        } else {
            Reply::InitError { body }
        };
        lock.lock().unwrap().replies.push(reply);
        cv.notify_all();
        respond(&mut writer, "202 Accepted", &[], b"{}");
    }
}

/// Peak resident memory of a running process, in KiB (Linux).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
