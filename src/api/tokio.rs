//! Async listeners and streams for tokio (feature `tokio`): `accept().await`,
//! `connect(..).await`, and `AsyncRead`/`AsyncWrite` streams.
//!
//! Each async handle wraps a nonblocking API handle and waits on readiness pairs (see
//! `ready`), registered in tokio's reactor as `tokio::net::UnixStream`s (no `unsafe`): a call that would block drains its pair, looks
//! again, and only then waits for the runtime's next byte, which wakes the task. No thread
//! per stream and no polling loop; a stream costs four file descriptors (one pair for
//! readers, one for writers, so a split stream's two tasks each get their wake-up).
//! Dropping a future (cancellation) leaves nothing behind: the futures own no state
//! beyond the handle they borrow, and a dropped `connect` future closes its half-open
//! connection like a dropped stream.
//!
//! ```no_run
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tuntcp::api::tokio::TcpListener;
//! use tuntcp::api::{NetConfig, NetStack};
//!
//! # async fn echo() -> std::io::Result<()> {
//! let net = NetStack::tun(NetConfig::default())?;
//! let listener = TcpListener::bind(&net, 7, 128)?;
//! loop {
//!     let (mut s, _) = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let mut buf = [0u8; 4096];
//!         while let Ok(n) = s.read(&mut buf).await {
//!             if n == 0 || s.write_all(&buf[..n]).await.is_err() {
//!                 break;
//!             }
//!         }
//!     });
//! }
//! # }
//! ```
//!
//! What this module does not do: run a tokio runtime (the caller's is used: one with IO
//! enabled); the `futures-io` flavour is `api::futures_io`.

use super::ready::Pair;
use super::{LocalAddr, NetStack};
use crate::runtime::Shared;
use crate::stack::Touched;
use std::future::poll_fn;
use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A readiness pair in tokio's reactor (detached from the runtime when dropped).
struct Waker {
    rx: tokio::net::UnixStream,
    /// The runtime's end, to detach it.
    tx_fd: RawFd,
    shared: Arc<Shared>,
    key: Touched,
}

impl Waker {
    /// A pair for `key`, its user end registered with the current tokio runtime.
    fn new(shared: &Arc<Shared>, key: Touched) -> io::Result<Waker> {
        let Pair { rx, tx_fd } = Pair::attach(shared, key)?;
        let rx = tokio::net::UnixStream::from_std(rx).inspect_err(|_| {
            shared.lock().remove_notifier(key, tx_fd);
        })?;
        Ok(Waker {
            rx,
            tx_fd,
            shared: shared.clone(),
            key,
        })
    }

    /// Empties the pair through tokio (its `WouldBlock` clears the reactor's readiness).
    fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!(self.rx.try_read(&mut buf), Ok(n) if n > 0) {}
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        self.shared.lock().remove_notifier(self.key, self.tx_fd);
    }
}

/// Runs `op` until it does not `WouldBlock`, waiting on `w` in between: drain, look
/// again, then wait for the runtime's next byte.
fn poll_op<R>(
    w: &Waker,
    cx: &mut Context<'_>,
    mut op: impl FnMut() -> io::Result<R>,
) -> Poll<io::Result<R>> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            r => return Poll::Ready(r),
        }
        w.drain();
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            r => return Poll::Ready(r),
        }
        ready!(w.rx.poll_read_ready(cx))?;
    }
}

/// A listener whose `accept` is a future.
pub struct TcpListener {
    inner: super::TcpListener,
    fd: Waker,
}

impl TcpListener {
    /// [`super::TcpListener::bind`], for async accepts (needs a tokio runtime with IO).
    pub fn bind(net: &NetStack, addr: impl LocalAddr, backlog: usize) -> io::Result<TcpListener> {
        TcpListener::from_std(super::TcpListener::bind(net, addr, backlog)?)
    }

    /// [`super::TcpListener::bind_transparent`]: connections to any address inside the
    /// stack's transparent prefixes, for async accepts.
    pub fn bind_transparent(net: &NetStack, backlog: usize) -> io::Result<TcpListener> {
        TcpListener::from_std(super::TcpListener::bind_transparent(net, backlog)?)
    }

    /// Wraps a blocking listener (made nonblocking here).
    pub fn from_std(l: super::TcpListener) -> io::Result<TcpListener> {
        l.set_nonblocking(true)?;
        let key = Touched::Listener(l.inner.port);
        let fd = Waker::new(&l.inner.shared, key)?;
        Ok(TcpListener { inner: l, fd })
    }

    /// The next established connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, peer) = poll_fn(|cx| poll_op(&self.fd, cx, || self.inner.accept())).await?;
        Ok((TcpStream::from_std(s)?, peer))
    }

    /// The stack's address and the port listened on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// [`super::TcpListener::set_only_v6`] (`IPV6_V6ONLY`).
    pub fn set_only_v6(&self, only_v6: bool) -> io::Result<()> {
        self.inner.set_only_v6(only_v6)
    }

    /// [`super::TcpListener::only_v6`].
    pub fn only_v6(&self) -> io::Result<bool> {
        self.inner.only_v6()
    }

    /// [`super::TcpListener::set_defer_handshake`]: hold SYNs for
    /// [`TcpListener::accept_pending`].
    pub fn set_defer_handshake(&self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        self.inner.set_defer_handshake(timeout)
    }

    /// The next held SYN of a deferring listener; complete it with
    /// `TcpStream::from_std(pending.complete()?)` (neither call waits) or refuse it.
    pub async fn accept_pending(&self) -> io::Result<super::PendingConnection> {
        poll_fn(|cx| poll_op(&self.fd, cx, || self.inner.accept_pending())).await
    }
}

/// A TCP connection as tokio's `AsyncRead` + `AsyncWrite`.
pub struct TcpStream {
    inner: super::TcpStream,
    read: Waker,
    write: Waker,
}

impl TcpStream {
    /// Active open to `addr` (each address in turn, either family, as std):
    /// the future completes when the handshake does. Dropping it closes the attempt.
    pub async fn connect(net: &NetStack, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            match TcpStream::connect_one(net, a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "could not resolve to any addresses",
            )
        }))
    }

    async fn connect_one(net: &NetStack, addr: SocketAddr) -> io::Result<TcpStream> {
        let s = TcpStream::from_std(super::TcpStream::open_start(net, None, addr)?)?;
        let h = s.inner.inner.h;
        poll_fn(|cx| {
            poll_op(&s.write, cx, || {
                let shared = s.inner.shared();
                if shared.stopped() {
                    return Err(super::stopped_error());
                }
                let r = super::handshake(&mut shared.lock().stack, h);
                r.unwrap_or_else(|| Err(io::ErrorKind::WouldBlock.into()))
            })
        })
        .await?;
        Ok(s)
    }

    /// Wraps a blocking stream (made nonblocking here).
    pub fn from_std(s: super::TcpStream) -> io::Result<TcpStream> {
        s.set_nonblocking(true)?;
        let key = Touched::Conn(s.inner.h);
        let read = Waker::new(&s.inner.shared, key)?;
        let write = Waker::new(&s.inner.shared, key)?;
        Ok(TcpStream {
            inner: s,
            read,
            write,
        })
    }

    /// The blocking handle underneath (for its options: `set_nodelay`, `set_linger`...).
    pub fn get_ref(&self) -> &super::TcpStream {
        &self.inner
    }

    /// The peer's address and port.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The stack's address and this connection's port.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let s = &this.inner;
        let n = ready!(poll_op(&this.read, cx, || (&*s).read(buf.initialize_unfilled())))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let s = &this.inner;
        poll_op(&this.write, cx, || (&*s).write(data))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Half-close: a FIN after the queued data.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.inner.shutdown(Shutdown::Write))
    }
}
