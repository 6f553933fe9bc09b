//! Async listeners and streams for any executor (feature `futures-io`): `accept().await`,
//! `connect(..).await`, and `futures_io::AsyncRead`/`AsyncWrite` streams (async-std, smol,
//! `futures::executor`, or tokio through a compat layer).
//!
//! No reactor is needed: a call that would block hands the task's `Waker` to the runtime
//! (under the stack lock, then looks once more), and the runtime wakes it at the next
//! change of that connection or listener (data, FIN, RST, an ACK that freed send space, a
//! connection or held SYN for the listener) or when the stack stops. No thread per stream,
//! no polling loop, no file descriptor: the tokio flavour's readiness pairs exist for
//! tokio's reactor, which this one does without. A stream keeps one waker for its reader
//! and one for its writer (a task that polls again replaces its own), so a split stream's
//! two tasks each get their wake-up. Dropping a future (cancellation) leaves at most that
//! one waker, replaced or dropped at the next change; a dropped handle forgets its own.
//!
//! ```no_run
//! use futures::io::{AsyncReadExt, AsyncWriteExt};
//! use tuntcp::api::futures_io::TcpListener;
//! use tuntcp::api::{NetConfig, NetStack};
//!
//! async fn echo(listener: TcpListener) -> std::io::Result<()> {
//!     loop {
//!         let (mut s, _) = listener.accept().await?;
//!         let mut buf = [0u8; 4096];
//!         while let Ok(n) = s.read(&mut buf).await {
//!             if n == 0 || s.write_all(&buf[..n]).await.is_err() {
//!                 break;
//!             }
//!         }
//!     }
//! }
//!
//! let net = NetStack::tun(NetConfig::default())?;
//! futures::executor::block_on(echo(TcpListener::bind(&net, 7, 128)?))?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Wakers are woken under the stack's lock (as a condition variable is notified): a waker
//! that polls its task inline, rather than scheduling it, would deadlock. `futures`, tokio,
//! async-std and smol wakers all schedule.
//!
//! What this module does not do: run an executor, or spawn anything.

use super::{LocalAddr, NetStack, PendingConnection};
use crate::runtime::Shared;
use crate::stack::Touched;
use std::future::poll_fn;
use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Names a waiting handle among the wakers of one key (see `Inner::set_task_waker`).
static NEXT_SLOT: AtomicU64 = AtomicU64::new(1);

/// One waiter's place: its key and slot, forgotten when dropped.
struct Waiter {
    shared: Arc<Shared>,
    key: Touched,
    slot: u64,
}

impl Waiter {
    fn new(shared: &Arc<Shared>, key: Touched) -> Waiter {
        Waiter {
            shared: shared.clone(),
            key,
            slot: NEXT_SLOT.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Runs `op`; on `WouldBlock` registers the task's waker, then looks once more (a
    /// change between the two looks wakes the waker or is seen by the second).
    fn poll<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            r => return Poll::Ready(r),
        }
        self.shared
            .lock()
            .set_task_waker(self.key, self.slot, cx.waker());
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            r => Poll::Ready(r),
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.shared.lock().remove_task_waker(self.key, self.slot);
    }
}

/// A listener whose `accept` is a future.
pub struct TcpListener {
    inner: super::TcpListener,
    waiter: Waiter,
}

impl TcpListener {
    /// [`super::TcpListener::bind`], for async accepts.
    pub fn bind(net: &NetStack, addr: impl LocalAddr, backlog: usize) -> io::Result<TcpListener> {
        TcpListener::from_std(super::TcpListener::bind(net, addr, backlog)?)
    }

    /// [`super::TcpListener::bind_transparent`], for async accepts.
    pub fn bind_transparent(net: &NetStack, backlog: usize) -> io::Result<TcpListener> {
        TcpListener::from_std(super::TcpListener::bind_transparent(net, backlog)?)
    }

    /// Wraps a blocking listener (made nonblocking here).
    pub fn from_std(l: super::TcpListener) -> io::Result<TcpListener> {
        l.set_nonblocking(true)?;
        let waiter = Waiter::new(&l.inner.shared, Touched::Listener(l.inner.port));
        Ok(TcpListener { inner: l, waiter })
    }

    /// The next established connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, peer) = poll_fn(|cx| self.waiter.poll(cx, || self.inner.accept())).await?;
        Ok((TcpStream::from_std(s)?, peer))
    }

    /// The next held SYN of a deferring listener
    /// ([`super::TcpListener::set_defer_handshake`]); complete it with
    /// `TcpStream::from_std(pending.complete()?)` (neither call waits) or refuse it.
    pub async fn accept_pending(&self) -> io::Result<PendingConnection> {
        poll_fn(|cx| self.waiter.poll(cx, || self.inner.accept_pending())).await
    }

    /// The blocking listener underneath (for its options).
    pub fn get_ref(&self) -> &super::TcpListener {
        &self.inner
    }

    /// The stack's address and the port listened on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A TCP connection as futures-io's `AsyncRead` + `AsyncWrite`.
pub struct TcpStream {
    inner: super::TcpStream,
    read: Waiter,
    write: Waiter,
}

impl TcpStream {
    /// Active open to `addr` (each address in turn, either family, as std): the future
    /// completes when the handshake does. Dropping it closes the attempt.
    pub async fn connect(net: &NetStack, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            let s = TcpStream::from_std(super::TcpStream::open_start(net, None, a)?)?;
            let h = s.inner.inner.h;
            let done = poll_fn(|cx| {
                s.write.poll(cx, || {
                    let shared = s.inner.shared();
                    if shared.stopped() {
                        return Err(super::stopped_error());
                    }
                    let r = super::handshake(&mut shared.lock().stack, h);
                    r.unwrap_or_else(|| Err(io::ErrorKind::WouldBlock.into()))
                })
            })
            .await;
            match done {
                Ok(()) => return Ok(s),
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

    /// Wraps a blocking stream (made nonblocking here).
    pub fn from_std(s: super::TcpStream) -> io::Result<TcpStream> {
        s.set_nonblocking(true)?;
        let key = Touched::Conn(s.inner.h);
        let read = Waiter::new(&s.inner.shared, key);
        let write = Waiter::new(&s.inner.shared, key);
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

    /// The local address and port (for a transparent listener's stream, the destination
    /// the client asked for).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl futures_io::AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let s = &this.inner;
        this.read.poll(cx, || (&*s).read(buf))
    }
}

impl futures_io::AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let s = &this.inner;
        this.write.poll(cx, || (&*s).write(data))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Half-close: a FIN after the queued data (the stream closes when dropped).
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.inner.shutdown(Shutdown::Write))
    }
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}
