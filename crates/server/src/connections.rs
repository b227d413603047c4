//! The accept loop: HTTP/1.1 connections served by hyper, within limits so
//! that one client cannot starve the others (`[http]` settings).
//!
//! - At most `max_connections` open (lowered to what the open-files limit
//!   leaves room for), and at most `max_connections_per_ip` from one canonical
//!   client address (trusted proxies excepted, since they carry many clients).
//!   Past either, a new connection gets a bare 503 and is closed at once.
//! - A connection with no request in progress is watched: it must complete a
//!   request's headers within `header_read_timeout_s` of opening, or of the
//!   first byte of a later request, and may wait for its next request
//!   `idle_timeout_s`. Past either it is closed; a request being answered is
//!   never cut. (Body reads have their own timeout, in the middleware.)

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::config::Config;
use crate::net::{any_contains, canonical_peer, Network};

/// Connections refused for a limit, by `limit` (`total`, `per_ip`).
pub const REFUSED: &str = "aegis_http_connections_refused_total";
/// Connections open now.
pub const OPEN: &str = "aegis_http_connections_open";

/// File descriptors kept for everything but client connections: the database
/// pool, log and data files, the metrics listener.
const FD_RESERVE: u64 = 128;

/// What a connection over a limit reads before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\
content-length: 36\r\nretry-after: 1\r\nconnection: close\r\n\r\ntoo many connections; try again later";

/// Serves `app` on `listener` until `shutdown` resolves, then lets the requests
/// in progress finish (connections close after their current response).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let http = &config.http;
    let max = effective_max(http.max_connections, open_files_limit());
    if max < http.max_connections {
        tracing::warn!(
            configured = http.max_connections,
            max,
            "http.max_connections lowered to what the open-files limit (ulimit -n) leaves room for"
        );
    }
    let gate = Arc::new(Gate::new(
        max,
        http.max_connections_per_ip,
        config.trusted_proxies.clone(),
    ));
    let timeouts = Timeouts {
        header: Duration::from_secs(http.header_read_timeout_s),
        idle: Duration::from_secs(http.idle_timeout_s),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let (closed_tx, closed_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let peer = canonical_peer(peer);
        let ticket = match gate.admit(peer.ip()) {
            Ok(ticket) => ticket,
            Err(limit) => {
                metrics::counter!(REFUSED, "limit" => limit).increment(1);
                tracing::debug!(%peer, limit, "connection refused: over the limit");
                // Best effort, without waiting: the socket's buffer is empty.
                let _ = stream.try_write(BUSY);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            peer,
            app.clone(),
            timeouts,
            (ticket, stop_rx.clone(), closed_rx.clone()),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(closed_rx);
    closed_tx.closed().await;
    Ok(())
}

/// The per-connection timeouts.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    header: Duration,
    idle: Duration,
}

/// A failed accept: a connection that went away before it was taken is
/// nothing; anything else (out of file descriptors) pauses accepting a moment.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// One connection, from its first byte to its close.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    timeouts: Timeouts,
    (ticket, mut stop, _closed): (Ticket, watch::Receiver<bool>, watch::Receiver<()>),
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let app = app.clone();
            let busy = activity.begin();
            req.extensions_mut().insert(ConnectInfo(peer));
            async move {
                let res = app.oneshot(req.map(Body::new)).await;
                // The request counts as in progress until its response body
                // is done with (sent, or dropped with the connection).
                res.map(|res| {
                    res.map(move |body| {
                        body.map_frame(move |frame| {
                            let _in_progress = &busy;
                            frame
                        })
                    })
                })
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The watchdog below times headers; hyper's own timer is left off.
    builder.header_read_timeout(None);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut stopping = false;
    loop {
        let deadline = activity.deadline(timeouts);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            () = activity.changed.notified() => {}
            () = tokio::time::sleep_until(deadline) => {
                if let Some(why) = activity.expired(timeouts) {
                    tracing::debug!(%peer, why, "connection closed");
                    break;
                }
            }
        }
    }
    drop(ticket);
}

/// Where a connection stands, for the watchdog.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request's headers, since the instant given (the
    /// connection's opening, or a later request's first byte).
    Head(Instant),
    /// Answering `n` requests.
    Busy(usize),
    /// Waiting for the next request since the instant given.
    Idle(Instant),
}

/// A connection's phase, shared by its reader, its service and its watchdog.
struct Activity {
    phase: Mutex<Phase>,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            phase: Mutex::new(Phase::Head(Instant::now())),
            changed: Notify::new(),
        }
    }

    /// Bytes arrived: on an idle connection, a request has begun.
    fn read_some(&self) {
        let mut phase = self.phase.lock();
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Head(Instant::now());
            self.changed.notify_one();
        }
    }

    /// A request's headers are in; it is in progress until the guard drops.
    fn begin(self: &Arc<Self>) -> InProgress {
        let mut phase = self.phase.lock();
        *phase = match *phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        };
        InProgress(self.clone())
    }

    fn deadline(&self, t: Timeouts) -> Instant {
        match *self.phase.lock() {
            Phase::Head(at) => at + t.header,
            Phase::Idle(at) => at + t.idle,
            Phase::Busy(_) => Instant::now() + t.idle,
        }
    }

    /// Why the connection is to be closed now, if it is.
    fn expired(&self, t: Timeouts) -> Option<&'static str> {
        let now = Instant::now();
        match *self.phase.lock() {
            Phase::Head(at) if now >= at + t.header => Some("headers not read in time"),
            Phase::Idle(at) if now >= at + t.idle => Some("idle"),
            _ => None,
        }
    }
}

/// One request in progress on a connection.
struct InProgress(Arc<Activity>);

impl Drop for InProgress {
    fn drop(&mut self) {
        let mut phase = self.0.phase.lock();
        *phase = match *phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        };
        self.0.changed.notify_one();
    }
}

/// The socket, telling [`Activity`] when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Counts open connections, in all and by client address.
struct Gate {
    max: usize,
    per_ip: usize,
    /// Addresses the per-address limit does not apply to (trusted proxies).
    exempt: Vec<Network>,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// One admitted connection; it is counted until this drops.
struct Ticket {
    gate: Arc<Gate>,
    ip: Option<IpAddr>,
}

impl Gate {
    fn new(max: usize, per_ip: usize, exempt: Vec<Network>) -> Self {
        Self {
            max,
            per_ip,
            exempt,
            open: Mutex::new(Open::default()),
        }
    }

    /// Admits a connection from `ip` (canonical), or names the limit it is over.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, &'static str> {
        let mut open = self.open.lock();
        if open.total >= self.max {
            return Err("total");
        }
        let counted = !any_contains(&self.exempt, ip);
        if counted {
            let n = open.by_ip.entry(ip).or_insert(0);
            if *n >= self.per_ip {
                return Err("per_ip");
            }
            *n += 1;
        }
        open.total += 1;
        metrics::gauge!(OPEN).increment(1.0);
        Ok(Ticket {
            gate: self.clone(),
            ip: counted.then_some(ip),
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.gate.open.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(ip) = self.ip {
            if let Some(n) = open.by_ip.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.by_ip.remove(&ip);
                }
            }
        }
        metrics::gauge!(OPEN).decrement(1.0);
    }
}

/// The connection limit in force: the configured one, lowered to leave
/// [`FD_RESERVE`] descriptors of the open-files limit for everything else.
fn effective_max(configured: usize, open_files: Option<u64>) -> usize {
    match open_files {
        Some(limit) => {
            let room = usize::try_from(limit.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
            configured.min(room.max(1))
        }
        None => configured,
    }
}

/// The soft open-files limit (`ulimit -n`), where the system tells it.
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_gate_counts_in_all_and_by_address() {
        let trusted = vec!["10.0.0.1".parse().unwrap()];
        let gate = Arc::new(Gate::new(4, 2, trusted));
        let a1 = gate.admit(ip("192.0.2.1")).unwrap();
        let _a2 = gate.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(gate.admit(ip("192.0.2.1")).err(), Some("per_ip"));
        // Another address is not held up by the first.
        let _b = gate.admit(ip("192.0.2.2")).unwrap();
        // A trusted proxy is not limited per address, only in all.
        let _p = gate.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(gate.admit(ip("10.0.0.1")).err(), Some("total"));
        assert_eq!(gate.admit(ip("192.0.2.3")).err(), Some("total"));
        // A closed connection makes room.
        drop(a1);
        let _a3 = gate.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(gate.open.lock().by_ip.get(&ip("192.0.2.1")), Some(&2));
    }

    #[test]
    fn the_open_files_limit_caps_connections() {
        assert_eq!(effective_max(10_000, None), 10_000);
        assert_eq!(
            effective_max(10_000, Some(1024)),
            1024 - FD_RESERVE as usize
        );
        assert_eq!(effective_max(10_000, Some(1_048_576)), 10_000);
        assert_eq!(effective_max(10_000, Some(10)), 1);
    }

    #[test]
    fn the_open_files_limit_is_read() {
        if cfg!(target_os = "linux") {
            assert!(open_files_limit().is_some_and(|n| n > 0));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_times_each_phase() {
        let t = Timeouts {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        };
        let a = Arc::new(Activity::new());
        assert_eq!(a.deadline(t), Instant::now() + t.header);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(a.expired(t).is_some());
        // A request in progress is never timed out here.
        let busy = a.begin();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(a.expired(t).is_none());
        drop(busy);
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(a.expired(t).is_none());
        // The next request's first byte starts the header clock.
        a.read_some();
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(a.expired(t), Some("headers not read in time"));
        let _busy = a.begin();
        assert!(a.expired(t).is_none());
    }
}
