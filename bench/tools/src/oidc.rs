//! OpenID Connect grants whose requests depend on earlier answers, which
//! neither oha nor `load` can send: a closed loop over `C` keep-alive
//! connections for `S` seconds (or `N` iterations).
//!
//! - `--mode code`: each iteration is `GET /oauth2/authorize` with the browser
//!   session's cookie (a first-party client, so no consent page) → 303 whose
//!   `Location` carries `code=` → `POST /oauth2/token` with
//!   `grant_type=authorization_code` → 200; the refresh tokens are written to
//!   `--out`, one a line.
//! - `--mode refresh`: the tokens of `--tokens FILE`, each used once with
//!   `grant_type=refresh_token`; the rotated token each answer carries goes to
//!   the back of the queue, so a run longer than the file chains on.
//!
//! Both take `--url http://HOST:PORT` (no path) and `--basic BASE64` (the
//! client's `id:secret`); `code` also `--client-id`, `--redirect-uri` and
//! `--cookie 'name=value'`. JSON on stdout: iterations/s and p50/p99 of each
//! step.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};

use crate::args::{percentile, Args};
use crate::load::connect;
use crate::AnyResult;

const FORM: &str = "application/x-www-form-urlencoded";

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Config {
    addr: String,
    basic: String,
    mode: String,
    authorize_path: String,
    redirect_uri: String,
    cookie: String,
}

struct Answer {
    status: u16,
    location: Option<String>,
    body: Bytes,
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> AnyResult<Answer> {
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.into_body().collect().await?.to_bytes();
    Ok(Answer {
        status,
        location,
        body,
    })
}

impl Config {
    fn token_request(&self, body: String) -> AnyResult<Request<Full<Bytes>>> {
        Ok(Request::builder()
            .method(Method::POST)
            .uri("/oauth2/token")
            .header("host", &self.addr)
            .header("authorization", format!("Basic {}", self.basic))
            .header("content-type", FORM)
            .body(Full::new(Bytes::from(body)))?)
    }

    fn authorize_request(&self) -> AnyResult<Request<Full<Bytes>>> {
        Ok(Request::builder()
            .method(Method::GET)
            .uri(&self.authorize_path)
            .header("host", &self.addr)
            .header("cookie", &self.cookie)
            .body(Full::new(Bytes::new()))?)
    }
}

/// The `code` parameter of a redirect's query, as it stands (still encoded).
fn code_of(location: &str) -> Option<&str> {
    let query = location.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("code="))
        .filter(|c| !c.is_empty())
}

fn refresh_token_of(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("refresh_token")?.as_str().map(str::to_owned)
}

#[derive(Default)]
struct Tally {
    /// Per step: latencies in ms.
    steps: BTreeMap<&'static str, Vec<f64>>,
    /// Per step and status: count.
    statuses: BTreeMap<String, u64>,
    done: u64,
    failed: u64,
    errors: u64,
    tokens: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (k, v) in other.steps {
            self.steps.entry(k).or_default().extend(v);
        }
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.done += other.done;
        self.failed += other.failed;
        self.errors += other.errors;
        self.tokens.extend(other.tokens);
    }

    fn note(&mut self, step: &'static str, t0: Instant, status: u16) {
        self.steps
            .entry(step)
            .or_default()
            .push(t0.elapsed().as_secs_f64() * 1000.0);
        *self.statuses.entry(format!("{step} {status}")).or_default() += 1;
    }
}

/// One iteration on an open connection: `Ok(true)` done, `Ok(false)` a wrong
/// answer, `Err` a broken connection.
async fn iteration(
    cfg: &Config,
    s: &mut SendRequest<Full<Bytes>>,
    queue: &Mutex<VecDeque<String>>,
    tally: &mut Tally,
) -> AnyResult<bool> {
    let started = Instant::now();
    if cfg.mode == "code" {
        let t0 = Instant::now();
        let a = send(s, cfg.authorize_request()?).await?;
        tally.note("authorize", t0, a.status);
        let Some(code) = a
            .location
            .as_deref()
            .filter(|_| a.status == 303)
            .and_then(code_of)
        else {
            return Ok(false);
        };
        let body = format!(
            "grant_type=authorization_code&code={code}&redirect_uri={}",
            enc(&cfg.redirect_uri)
        );
        let t0 = Instant::now();
        let t = send(s, cfg.token_request(body)?).await?;
        tally.note("exchange", t0, t.status);
        let Some(refresh) = refresh_token_of(&t.body).filter(|_| t.status == 200) else {
            return Ok(false);
        };
        tally.tokens.push(refresh);
    } else {
        let token = queue.lock().unwrap().pop_front();
        let Some(token) = token else {
            // Every token is in flight: wait for one to come back.
            tokio::time::sleep(Duration::from_millis(1)).await;
            return Ok(true);
        };
        let body = format!("grant_type=refresh_token&refresh_token={}", enc(&token));
        let t0 = Instant::now();
        let t = send(s, cfg.token_request(body)?).await?;
        tally.note("refresh", t0, t.status);
        let Some(next) = refresh_token_of(&t.body).filter(|_| t.status == 200) else {
            return Ok(false);
        };
        queue.lock().unwrap().push_back(next);
    }
    tally.note("iteration", started, 200);
    tally.done += 1;
    Ok(true)
}

pub fn main(args: &Args) -> AnyResult<()> {
    let url = args.required("url")?;
    let addr = url
        .strip_prefix("http://")
        .ok_or("--url must be http://HOST:PORT")?
        .trim_end_matches('/')
        .to_owned();
    let mode = args.required("mode")?.to_owned();
    let redirect_uri = args.str("redirect-uri").unwrap_or("").to_owned();
    let authorize_path = format!(
        "/oauth2/authorize?client_id={}&redirect_uri={}&response_type=code&scope={}&state=s",
        enc(args.str("client-id").unwrap_or("")),
        enc(&redirect_uri),
        enc(args.str("scope").unwrap_or("openid offline_access")),
    );
    let mut queue = VecDeque::new();
    match mode.as_str() {
        "code" => {}
        "refresh" => {
            let file = std::fs::read_to_string(args.required("tokens")?)?;
            queue.extend(file.lines().filter(|l| !l.is_empty()).map(str::to_owned));
            if queue.is_empty() {
                return Err("--tokens: no token in the file".into());
            }
        }
        other => return Err(format!("--mode {other}: code or refresh").into()),
    }
    let initial_tokens = queue.len();
    let cfg = Arc::new(Config {
        addr,
        basic: args.required("basic")?.to_owned(),
        mode,
        authorize_path,
        redirect_uri,
        cookie: args.str("cookie").unwrap_or("").to_owned(),
    });
    let queue = Arc::new(Mutex::new(queue));
    let concurrency: usize = args.num("concurrency", 16)?;
    let seconds: f64 = args.num("seconds", 10.0)?;
    let max: u64 = args.num("requests", u64::MAX)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let counter = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let deadline = started + Duration::from_secs_f64(seconds);
        let hard_stop = deadline + Duration::from_secs(30);
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let (cfg, queue, counter) = (cfg.clone(), queue.clone(), counter.clone());
                tokio::spawn(async move {
                    let mut tally = Tally::default();
                    let mut sender = None;
                    while Instant::now() < deadline {
                        let s = match sender.as_mut() {
                            Some(s) => s,
                            None => match connect(&cfg.addr).await {
                                Ok(s) => sender.insert(s),
                                Err(_) => {
                                    tally.errors += 1;
                                    tokio::time::sleep(Duration::from_millis(10)).await;
                                    continue;
                                }
                            },
                        };
                        if counter.fetch_add(1, Ordering::Relaxed) >= max {
                            break;
                        }
                        let left = hard_stop.saturating_duration_since(Instant::now());
                        match tokio::time::timeout(left, iteration(&cfg, s, &queue, &mut tally))
                            .await
                        {
                            Ok(Ok(true)) => {}
                            Ok(Ok(false)) => tally.failed += 1,
                            _ => {
                                tally.errors += 1;
                                sender = None;
                            }
                        }
                    }
                    tally
                })
            })
            .collect();
        let mut tally = Tally::default();
        for task in tasks {
            tally.merge(task.await?);
        }
        let elapsed = started.elapsed().as_secs_f64();
        if let Some(out) = args.str("out") {
            std::fs::write(out, tally.tokens.join("\n") + "\n")?;
        }
        let mut steps = serde_json::Map::new();
        for (name, mut l) in std::mem::take(&mut tally.steps) {
            l.sort_by(f64::total_cmp);
            steps.insert(
                name.to_owned(),
                serde_json::json!({
                    "count": l.len(),
                    "per_s": l.len() as f64 / elapsed,
                    "p50_ms": percentile(&l, 50.0),
                    "p99_ms": percentile(&l, 99.0),
                    "max_ms": l.last().copied().unwrap_or(f64::NAN),
                }),
            );
        }
        let out = serde_json::json!({
            "mode": cfg.mode,
            "concurrency": concurrency,
            "seconds": elapsed,
            "done": tally.done,
            "rps": tally.done as f64 / elapsed,
            "failed": tally.failed,
            "errors": tally.errors,
            "statuses": tally.statuses,
            "steps": steps,
            "tokens_in": initial_tokens,
            "tokens_out": tally.tokens.len(),
        });
        println!("{out}");
        AnyResult::Ok(())
    })
}
