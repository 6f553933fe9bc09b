//! Addresses the API takes: [`LocalAddr`] for binding, std's `ToSocketAddrs` for peers,
//! and the IPv4-only checks both go through.
//!
//! What this module does not do: IPv6 (refused with `Unsupported` until the IPv6 layer
//! lands) or name resolution of its own (std's resolver, through `ToSocketAddrs`).

use crate::runtime::Shared;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};

/// What an IPv6 address gets until the IPv6 layer lands.
pub(super) fn ipv6_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "IPv6 is not supported yet: tuntcp speaks IPv4 only",
    )
}

/// A local address for [`TcpListener::bind`](super::TcpListener::bind) and
/// [`TcpStream::connect_from`](super::TcpStream::connect_from): a bare
/// port (on the stack's address), or what `std::net::ToSocketAddrs` takes (`SocketAddr`,
/// `(ip, port)`, `"10.66.0.2:80"`...). The address must be the stack's own or unspecified
/// (`0.0.0.0`), else `AddrNotAvailable` (as `EADDRNOTAVAIL`); port 0 asks for an
/// ephemeral port. IPv6 addresses are refused with `Unsupported` until IPv6 lands.
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

/// The first of `addrs` that `f` accepts, as std tries each resolved address in turn:
/// IPv6 ones are skipped (an error only if nothing else is left); the last error wins.
pub(super) fn each_v4<R>(
    addrs: impl IntoIterator<Item = SocketAddr>,
    mut f: impl FnMut(SocketAddrV4) -> io::Result<R>,
) -> io::Result<R> {
    let mut last = None;
    for a in addrs {
        match a {
            SocketAddr::V4(a) => match f(a) {
                Ok(r) => return Ok(r),
                Err(e) => last = Some(e),
            },
            SocketAddr::V6(_) => last = last.or_else(|| Some(ipv6_error())),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

/// The stack's port for local address `a` (its own or the unspecified address).
pub(super) fn own_port(shared: &Shared, a: SocketAddrV4) -> io::Result<u16> {
    let ours = shared.lock().addr();
    if !a.ip().is_unspecified() && *a.ip() != ours {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("{} is not the stack's address ({ours})", a.ip()),
        ));
    }
    Ok(a.port())
}
