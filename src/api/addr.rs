//! Addresses the API takes: [`LocalAddr`] for binding, std's `ToSocketAddrs` for peers,
//! and the checks both go through (either family).
//!
//! What this module does not do: name resolution of its own (std's resolver, through
//! `ToSocketAddrs`) or IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d` is an IPv6 address
//! like any other, refused as a peer by the stack).

use crate::runtime::Shared;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};

/// A local address for [`TcpListener::bind`](super::TcpListener::bind) and
/// [`TcpStream::connect_from`](super::TcpStream::connect_from): a bare
/// port (on the stack's address), or what `std::net::ToSocketAddrs` takes (`SocketAddr`,
/// `(ip, port)`, `"10.66.0.2:80"`, `"[fd66::2]:80"`...). The address must be one of the
/// stack's own (IPv4 or IPv6) or unspecified (`0.0.0.0`, `[::]`), else `AddrNotAvailable`
/// (as `EADDRNOTAVAIL`); port 0 asks for an ephemeral port.
///
/// ```
/// use tuntcp::api::LocalAddr;
/// use std::net::{Ipv4Addr, SocketAddr};
///
/// let want: SocketAddr = "0.0.0.0:80".parse().unwrap();
/// assert_eq!(80u16.local_addrs().unwrap(), vec![want]);
/// assert_eq!((Ipv4Addr::UNSPECIFIED, 80).local_addrs().unwrap(), vec![want]);
/// assert_eq!("0.0.0.0:80".local_addrs().unwrap(), vec![want]);
/// ```
pub trait LocalAddr {
    /// The candidate addresses, in order (the first that binds is used, as std does).
    fn local_addrs(&self) -> io::Result<Vec<SocketAddr>>;
}

impl LocalAddr for u16 {
    fn local_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::from((Ipv4Addr::UNSPECIFIED, *self))])
    }
}

impl<T: LocalAddr + ?Sized> LocalAddr for &T {
    fn local_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        (**self).local_addrs()
    }
}

macro_rules! local_addr_via_std {
    ($($t:ty),*) => {$(
        impl LocalAddr for $t {
            fn local_addrs(&self) -> io::Result<Vec<SocketAddr>> {
                Ok(ToSocketAddrs::to_socket_addrs(self)?.collect())
            }
        }
    )*};
}

local_addr_via_std!(
    SocketAddr,
    SocketAddrV4,
    std::net::SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (std::net::Ipv6Addr, u16),
    (&str, u16),
    (String, u16),
    str,
    String
);

impl LocalAddr for [SocketAddr] {
    fn local_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.to_vec())
    }
}

/// The first of `addrs` that `f` accepts, as std tries each resolved address in turn
/// (either family); the last error wins.
pub(super) fn each_addr<R>(
    addrs: impl IntoIterator<Item = SocketAddr>,
    mut f: impl FnMut(SocketAddr) -> io::Result<R>,
) -> io::Result<R> {
    let mut last = None;
    for a in addrs {
        match f(a) {
            Ok(r) => return Ok(r),
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

/// The stack's port for local address `a` (its own in that family, or unspecified).
pub(super) fn own_port(shared: &Shared, a: SocketAddr) -> io::Result<u16> {
    if a.ip().is_unspecified() {
        return Ok(a.port());
    }
    let g = shared.lock();
    let ours = match a.ip() {
        IpAddr::V4(_) => Some(IpAddr::V4(g.addr())),
        IpAddr::V6(_) => g.addr6().map(IpAddr::V6),
    };
    if ours != Some(a.ip()) {
        let what = ours.map_or("IPv6 is off".to_string(), |o| format!("ours is {o}"));
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("{} is not the stack's address ({what})", a.ip()),
        ));
    }
    Ok(a.port())
}

/// The stack's address in `a`'s family (`AddrNotAvailable` for IPv6 when it is off).
pub(super) fn own_ip(shared: &Shared, a: SocketAddr) -> io::Result<IpAddr> {
    let g = shared.lock();
    match a {
        SocketAddr::V4(_) => Ok(IpAddr::V4(g.addr())),
        SocketAddr::V6(_) => g.addr6().map(IpAddr::V6).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "the stack has no IPv6 address (IPv6 is off)",
            )
        }),
    }
}
