//! Start-to-ready time: spawn the command, poll `URL` every millisecond until
//! it answers 200, then stop the process with SIGTERM and wait for it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::args::{percentile, Args};
use crate::AnyResult;

/// One `GET` over a fresh connection; true on a 200.
fn ok(addr: &SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && &head[9..12] == b"200"
}

fn stop(child: &mut std::process::Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub fn main(args: &Args) -> AnyResult<()> {
    let url = args.required("url")?;
    let rest = url.strip_prefix("http://").ok_or("--url must be http://")?;
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr: SocketAddr = addr.parse()?;
    let path = if path.is_empty() { "/" } else { path };
    let runs: usize = args.num("runs", 5)?;
    let timeout = Duration::from_secs_f64(args.num("timeout", 30.0)?);
    let (program, rest) = args
        .rest
        .split_first()
        .ok_or("-- COMMAND ARGS... is required")?;

    if ok(&addr, path) {
        return Err(format!("{addr} already answers before the start").into());
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = Instant::now();
        let mut child = Command::new(program)
            .args(rest)
            .stdout(Stdio::null())
            .spawn()?;
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(format!("{program} exited before it was ready: {status}").into());
            }
            if ok(&addr, path) {
                break;
            }
            if t0.elapsed() > timeout {
                stop(&mut child);
                return Err(format!("{program} not ready after {timeout:?}").into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        stop(&mut child);
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let out = serde_json::json!({
        "runs_ms": times,
        "median_ms": percentile(&sorted, 50.0),
        "min_ms": sorted[0],
        "max_ms": sorted[sorted.len() - 1],
    });
    println!("{out}");
    Ok(())
}
