//! Deferred handshakes in the API: a listener set with
//! [`TcpListener::set_defer_handshake`] hands out each client's SYN as a
//! [`PendingConnection`] before answering it, so a relay can first try the real
//! destination, then [`complete`](PendingConnection::complete) it (the SYN-ACK goes) or
//! [`refuse`](PendingConnection::refuse) it (a RST: the client's connect fails with
//! "connection refused"). See [`Stack::set_listen_defer`] for the bounds.
//!
//! What this module does not do: wait for the handshake in `complete` (the stream is in
//! SYN-RECEIVED: reads wait for data as usual, writes are queued until it is established,
//! RFC 9293 §3.10.2), or tell a pending connection that it expired (`complete` and
//! `refuse` then fail).

use super::{stopped_error, wait_for, TcpListener, TcpStream};
use crate::runtime::{Runtime, Shared};
use crate::stack::{PendingSyn, Stack, Touched};
use crate::time::Duration as TcpDuration;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A client's SYN held unanswered by a deferring listener
/// ([`TcpListener::set_defer_handshake`]): complete it or refuse it. Dropping it
/// undecided refuses it.
///
/// ```no_run
/// use tuntcp::api::{NetConfig, NetStack, TcpListener};
/// # fn upstream_answers(_: std::net::SocketAddr) -> bool { true }
/// let mut cfg = NetConfig::default();
/// cfg.stack.transparent = vec!["198.51.100.0/24".parse().unwrap()];
/// let net = NetStack::tun(cfg)?;
/// let any = TcpListener::bind_transparent(&net, 1024)?;
/// any.set_defer_handshake(Some(std::time::Duration::from_secs(10)))?;
/// let p = any.accept_pending()?;
/// if upstream_answers(p.local_addr()) {
///     let stream = p.complete()?; // the SYN-ACK goes now
/// } else {
///     p.refuse()?; // a RST: the client sees "connection refused"
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct PendingConnection {
    shared: Arc<Shared>,
    rt: Arc<Runtime>,
    syn: PendingSyn,
    decided: bool,
}

impl PendingConnection {
    /// The address and port the client asked for (its SYN's destination).
    pub fn local_addr(&self) -> SocketAddr {
        self.syn.local()
    }

    /// The client's address and port.
    pub fn peer_addr(&self) -> SocketAddr {
        self.syn.remote()
    }

    /// Answers the SYN: the SYN-ACK goes out and the stream is returned at once, in
    /// SYN-RECEIVED (reads wait for data, writes are queued until the handshake is done;
    /// a client that never completes it makes them fail with `TimedOut` after the
    /// SYN-ACK retries). `TimedOut` when the SYN expired first (it was refused then),
    /// `NotConnected` when the listener closed or the stack stopped.
    pub fn complete(mut self) -> io::Result<TcpStream> {
        self.decided = true;
        let h = {
            let mut g = self.shared.lock();
            if self.shared.stopped() {
                return Err(stopped_error());
            }
            let now = self.shared.now();
            g.complete_pending(now, self.syn)
        };
        self.shared.wake();
        let h = h.ok_or_else(gone)?;
        Ok(TcpStream::from_handle(
            self.shared.clone(),
            self.rt.clone(),
            h,
        ))
    }

    /// Refuses the SYN with a RST `<SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>` (RFC 9293
    /// §3.10.7.1): the client's connect fails with "connection refused". Errors as
    /// [`PendingConnection::complete`].
    pub fn refuse(mut self) -> io::Result<()> {
        self.decided = true;
        self.refuse_now()
    }

    fn refuse_now(&self) -> io::Result<()> {
        let done = {
            let mut g = self.shared.lock();
            if self.shared.stopped() {
                return Err(stopped_error());
            }
            g.refuse_pending(self.syn)
        };
        self.shared.wake();
        if done {
            Ok(())
        } else {
            Err(gone())
        }
    }
}

/// What `complete` and `refuse` say of a held SYN that is no longer there.
fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the pending connection expired or its listener closed",
    )
}

impl Drop for PendingConnection {
    fn drop(&mut self) {
        if !self.decided {
            let _ = self.refuse_now();
        }
    }
}

impl std::fmt::Debug for PendingConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingConnection")
            .field("local", &self.syn.local())
            .field("peer", &self.syn.remote())
            .finish()
    }
}

impl TcpListener {
    /// Deferred handshakes ([`Stack::set_listen_defer`]): with `Some(timeout)`, each new
    /// client's SYN is held without an answer and handed out by
    /// [`TcpListener::accept_pending`] instead of [`TcpListener::accept`]; one not
    /// completed or refused within `timeout` is refused (a RST). `None` turns it off.
    /// Held SYNs count against the backlog; when it is full, new SYNs are dropped (the
    /// client retries), never answered with a SYN cookie. A zero timeout is
    /// `InvalidInput`.
    pub fn set_defer_handshake(&self, timeout: Option<Duration>) -> io::Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a deferred handshake needs a timeout above 0",
            ));
        }
        let inner = &*self.inner;
        let mut g = inner.shared.lock();
        if inner.shared.stopped() {
            return Err(stopped_error());
        }
        g.set_listen_defer(inner.port, timeout.map(TcpDuration::from));
        Ok(())
    }

    /// Waits for the next held SYN (or `WouldBlock` when nonblocking and none is held) of
    /// a listener that defers its handshakes ([`TcpListener::set_defer_handshake`]).
    pub fn accept_pending(&self) -> io::Result<PendingConnection> {
        let inner = &*self.inner;
        let port = inner.port;
        let take = |s: &mut Stack| s.accept_pending(port);
        let syn = if inner.nonblocking.load(Ordering::Relaxed) {
            if inner.shared.stopped() {
                return Err(stopped_error());
            }
            let mut p = take(&mut inner.shared.lock());
            // Nothing: empty the readiness pair, then look again (see `ready`).
            if p.is_none() && inner.ready.drain() {
                p = take(&mut inner.shared.lock());
            }
            p.ok_or_else(|| io::Error::from(io::ErrorKind::WouldBlock))?
        } else {
            let key = Touched::Listener(port);
            wait_for(&inner.shared, key, None, true, |s| take(s).map(Ok))?
        };
        Ok(PendingConnection {
            shared: inner.shared.clone(),
            rt: inner._rt.clone(),
            syn,
            decided: false,
        })
    }
}
