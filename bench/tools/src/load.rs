//! HTTP/1.1 clients for requests whose bodies differ each time (registrations
//! of new usernames, logins spread over many accounts), which oha cannot send:
//! a closed loop over `C` keep-alive connections for `S` seconds, and a burst
//! of `N` requests sent at once on `N` open connections.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::args::{percentile, proc_status_kib, Args};
use crate::AnyResult;

/// What every request of a run looks like.
struct Target {
    addr: String,
    path: String,
    method: Method,
    headers: Vec<(String, String)>,
    body: Option<String>,
    content_type: String,
    modulo: u64,
    offset: u64,
}

impl Target {
    fn from_args(args: &Args) -> AnyResult<Self> {
        let url = args.required("url")?;
        let rest = url
            .strip_prefix("http://")
            .ok_or("--url must be http://HOST:PORT/PATH")?;
        let (addr, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let headers = args
            .all("header")
            .into_iter()
            .map(|h| {
                let (k, v) = h.split_once(':').ok_or("--header 'name: value'")?;
                Ok((k.trim().to_owned(), v.trim().to_owned()))
            })
            .collect::<AnyResult<Vec<_>>>()?;
        let body = args.str("body").map(str::to_owned);
        let method = match args.str("method") {
            Some(m) => m.parse()?,
            None if body.is_some() => Method::POST,
            None => Method::GET,
        };
        Ok(Self {
            addr: addr.to_owned(),
            path: path.to_owned(),
            method,
            headers,
            body,
            content_type: args
                .str("content-type")
                .unwrap_or("application/json")
                .to_owned(),
            modulo: args.num("modulo", u64::MAX)?.max(1),
            offset: args.num("offset", 0)?,
        })
    }

    fn request(&self, n: u64) -> AnyResult<Request<Full<Bytes>>> {
        let mut req = Request::builder()
            .method(self.method.clone())
            .uri(&self.path)
            .header("host", &self.addr);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        let body = match &self.body {
            Some(template) => {
                req = req.header("content-type", &self.content_type);
                template.replace("{n}", &(self.offset + n % self.modulo).to_string())
            }
            None => String::new(),
        };
        Ok(req.body(Full::new(Bytes::from(body)))?)
    }
}

pub(crate) async fn connect(addr: &str) -> AnyResult<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one request; its status and whether it carried `Retry-After`.
async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> AnyResult<(u16, bool)> {
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let retry_after = resp.headers().contains_key("retry-after");
    resp.into_body().collect().await?;
    Ok((status, retry_after))
}

#[derive(Default)]
struct Tally {
    latencies_ms: Vec<f64>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies_ms.extend(other.latencies_ms);
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.errors += other.errors;
    }

    fn ok(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| (200..300).contains(*s))
            .map(|(_, n)| n)
            .sum()
    }

    fn statuses_json(&self) -> serde_json::Value {
        self.statuses
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

fn runtime() -> AnyResult<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn load_main(args: &Args) -> AnyResult<()> {
    let target = Arc::new(Target::from_args(args)?);
    let concurrency: usize = args.num("concurrency", 8)?;
    let seconds: f64 = args.num("seconds", 10.0)?;
    let max_requests: u64 = args.num("requests", u64::MAX)?;
    runtime()?.block_on(async move {
        let counter = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let deadline = started + Duration::from_secs_f64(seconds);
        // A request still unanswered this long after the deadline is abandoned.
        let hard_stop = deadline + Duration::from_secs(30);
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let (target, counter) = (target.clone(), counter.clone());
                tokio::spawn(async move {
                    let mut tally = Tally::default();
                    let mut sender = None;
                    while Instant::now() < deadline {
                        let s = match sender.as_mut() {
                            Some(s) => s,
                            None => match connect(&target.addr).await {
                                Ok(s) => sender.insert(s),
                                Err(_) => {
                                    tally.errors += 1;
                                    tokio::time::sleep(Duration::from_millis(10)).await;
                                    continue;
                                }
                            },
                        };
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        if n >= max_requests {
                            break;
                        }
                        let Ok(req) = target.request(n) else {
                            tally.errors += 1;
                            break;
                        };
                        let t0 = Instant::now();
                        let left = hard_stop.saturating_duration_since(t0);
                        match tokio::time::timeout(left, send(s, req)).await {
                            Ok(Ok((status, _))) => {
                                tally.latencies_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                                *tally.statuses.entry(status).or_default() += 1;
                            }
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
        tally.latencies_ms.sort_by(f64::total_cmp);
        let l = &tally.latencies_ms;
        let out = serde_json::json!({
            "concurrency": concurrency,
            "seconds": elapsed,
            "requests": l.len(),
            "ok": tally.ok(),
            "rps": tally.ok() as f64 / elapsed,
            "p50_ms": percentile(l, 50.0),
            "p99_ms": percentile(l, 99.0),
            "max_ms": l.last().copied().unwrap_or(f64::NAN),
            "statuses": tally.statuses_json(),
            "errors": tally.errors,
            "next": counter.load(Ordering::Relaxed).min(max_requests),
        });
        println!("{out}");
        Ok(())
    })
}

pub fn burst_main(args: &Args) -> AnyResult<()> {
    let target = Arc::new(Target::from_args(args)?);
    let count: usize = args.num("count", 1000)?;
    let pid: Option<u32> = args.str("pid").map(str::parse).transpose()?;

    // The server's RSS, sampled every 2 ms from before the burst to its end.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = pid.map(|pid| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(proc_status_kib(pid, "VmRSS:").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    });

    let result = runtime()?.block_on(async move {
        let barrier = Arc::new(tokio::sync::Barrier::new(count + 1));
        let tasks: Vec<_> = (0..count)
            .map(|i| {
                let (target, barrier) = (target.clone(), barrier.clone());
                tokio::spawn(async move {
                    let mut sender = None;
                    for _ in 0..50 {
                        match connect(&target.addr).await {
                            Ok(s) => {
                                sender = Some(s);
                                break;
                            }
                            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                        }
                    }
                    barrier.wait().await;
                    let (Some(mut s), Ok(req)) = (sender, target.request(i as u64)) else {
                        return None;
                    };
                    let t0 = Instant::now();
                    match tokio::time::timeout(Duration::from_secs(120), send(&mut s, req)).await {
                        Ok(Ok((status, retry_after))) => {
                            Some((status, retry_after, t0.elapsed().as_secs_f64() * 1000.0))
                        }
                        _ => None,
                    }
                })
            })
            .collect();
        barrier.wait().await;
        let started = Instant::now();
        let mut tally = Tally::default();
        let (mut rejected, mut rejected_with_retry_after) = (0u64, 0u64);
        for task in tasks {
            match task.await? {
                Some((status, retry_after, ms)) => {
                    *tally.statuses.entry(status).or_default() += 1;
                    tally.latencies_ms.push(ms);
                    if status == 503 {
                        rejected += 1;
                        rejected_with_retry_after += u64::from(retry_after);
                    }
                }
                None => tally.errors += 1,
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        tally.latencies_ms.sort_by(f64::total_cmp);
        AnyResult::Ok((tally, rejected, rejected_with_retry_after, elapsed))
    });
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.and_then(|s| s.join().ok());
    let (tally, rejected, rejected_with_retry_after, elapsed) = result?;
    let ok = tally.ok();
    let other = tally.latencies_ms.len() as u64 - ok - rejected;
    let out = serde_json::json!({
        "count": count,
        "seconds": elapsed,
        "ok": ok,
        "rejected_503": rejected,
        "rejected_503_with_retry_after": rejected_with_retry_after,
        "other": other,
        "errors": tally.errors,
        "statuses": tally.statuses_json(),
        "p50_ms": percentile(&tally.latencies_ms, 50.0),
        "max_ms": tally.latencies_ms.last().copied().unwrap_or(f64::NAN),
        "peak_rss_kib_sampled": peak,
    });
    println!("{out}");
    Ok(())
}
