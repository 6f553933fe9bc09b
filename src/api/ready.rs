//! Readiness for an outside event loop: API handles implement `mio::event::Source`.
//!
//! Registering a handle creates a Unix socket pair: the runtime keeps one end and writes a
//! byte to it whenever the handle's connection or listener is touched (data, FIN, RST, an
//! ACK that freed send space, a connection in the accept queue) and when the stack stops;
//! the user's `mio::Poll` watches the other end, edge-triggered. Each event may mean
//! readable or writable: the handle reports both interests registered, and a call that
//! finds nothing to do returns `WouldBlock` after draining the pair, so the next change
//! gives a new edge (mio's contract: spurious events are possible, and readiness lasts
//! until an operation returns `WouldBlock`).
//!
//! What this module does not do: level-triggered readiness, or make a blocking handle
//! nonblocking (call `set_nonblocking(true)` as with mio's own types).

use super::{TcpListener, TcpStream};
use crate::runtime::Shared;
use crate::stack::Touched;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io::{self, Read as _};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;

/// One readiness pair: the user's end, and the raw fd of the runtime's end (to remove it).
pub(super) struct Pair {
    pub(super) rx: UnixStream,
    pub(super) tx_fd: RawFd,
}

impl Pair {
    /// A pair the runtime writes to whenever `key` is touched.
    pub(super) fn attach(shared: &Shared, key: Touched) -> io::Result<Pair> {
        let (r, w) = UnixStream::pair()?;
        r.set_nonblocking(true)?;
        w.set_nonblocking(true)?;
        let tx_fd = w.as_raw_fd();
        shared.lock().set_notifier(key, w);
        Ok(Pair { rx: r, tx_fd })
    }

    /// Stops the runtime's writes (the handle stays).
    pub(super) fn detach(&self, shared: &Shared, key: Touched) {
        shared.lock().remove_notifier(key, self.tx_fd);
    }

    /// Empties the pair (before the last look at the handle's state), so a change after
    /// that look writes into an empty pair: a new edge.
    pub(super) fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.rx).read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// A handle's mio registration, if any.
#[derive(Default)]
pub(super) struct Readiness {
    pair: Mutex<Option<Pair>>,
}

impl Readiness {
    fn pair(&self) -> std::sync::MutexGuard<'_, Option<Pair>> {
        self.pair.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn register(
        &self,
        shared: &Shared,
        key: Touched,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        let mut pair = self.pair();
        if pair.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "already registered (use reregister)",
            ));
        }
        let p = Pair::attach(shared, key)?;
        if let Err(e) = registry.register(&mut SourceFd(&p.rx.as_raw_fd()), token, interests) {
            p.detach(shared, key);
            return Err(e);
        }
        *pair = Some(p);
        Ok(())
    }

    pub(super) fn reregister(
        &self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self.pair().as_ref() {
            Some(p) => registry.reregister(&mut SourceFd(&p.rx.as_raw_fd()), token, interests),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "not registered")),
        }
    }

    pub(super) fn deregister(
        &self,
        shared: &Shared,
        key: Touched,
        registry: &Registry,
    ) -> io::Result<()> {
        let Some(p) = self.pair().take() else {
            return Err(io::Error::new(io::ErrorKind::NotFound, "not registered"));
        };
        p.detach(shared, key);
        registry.deregister(&mut SourceFd(&p.rx.as_raw_fd()))
    }

    /// Drains the registered pair, if any; whether there was one.
    pub(super) fn drain(&self) -> bool {
        match self.pair().as_ref() {
            Some(p) => {
                p.drain();
                true
            }
            None => false,
        }
    }
}

/// `mio::event::Source` for an API handle: its `inner` holds the `Readiness` and the
/// runtime, `$key` (from `$inner`) names what the runtime reports touched.
macro_rules! event_source {
    ($handle:ty, |$inner:ident| $key:expr) => {
        impl mio::event::Source for $handle {
            fn register(
                &mut self,
                registry: &mio::Registry,
                token: mio::Token,
                interests: mio::Interest,
            ) -> io::Result<()> {
                let $inner = &self.inner;
                let key = $key;
                $inner
                    .ready
                    .register(&$inner.shared, key, registry, token, interests)
            }

            fn reregister(
                &mut self,
                registry: &mio::Registry,
                token: mio::Token,
                interests: mio::Interest,
            ) -> io::Result<()> {
                self.inner.ready.reregister(registry, token, interests)
            }

            fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
                let $inner = &self.inner;
                let key = $key;
                $inner.ready.deregister(&$inner.shared, key, registry)
            }
        }
    };
}

event_source!(TcpListener, |inner| Touched::Listener(inner.port));
event_source!(TcpStream, |inner| Touched::Conn(inner.h));
