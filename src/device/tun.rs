//! The Linux TUN backend: `tun-tap` creates the device (TUNSETIFF, no packet info); the
//! address, netmask, MTU and flags are set here with ioctls, so no `ip` command is needed.

use super::Device;
use std::ffi::c_int;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, RawFd};

/// What to create: the device name and the kernel side of the link.
#[derive(Clone, Debug)]
pub struct TunConfig {
    pub name: String,
    /// The kernel's address on the link (the stack's peer), e.g. 10.66.0.1.
    pub host_addr: Ipv4Addr,
    pub prefix_len: u8,
    pub mtu: usize,
}

pub struct Tun {
    iface: tun_tap::Iface,
    mtu: usize,
}

impl Tun {
    /// Creates (or attaches to) the TUN device, configures it and brings it up. Needs
    /// CAP_NET_ADMIN (root).
    pub fn open(cfg: &TunConfig) -> io::Result<Tun> {
        let iface = tun_tap::Iface::without_packet_info(&cfg.name, tun_tap::Mode::Tun)?;
        iface.set_non_blocking()?;
        // Bringing a TUN up makes the kernel send IPv6 router solicitations; we speak IPv4.
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", iface.name()),
            "1",
        );
        configure(iface.name(), cfg.host_addr, cfg.prefix_len, cfg.mtu)?;
        Ok(Tun {
            iface,
            mtu: cfg.mtu,
        })
    }

    pub fn name(&self) -> &str {
        self.iface.name()
    }
}

impl Device for Tun {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.iface.recv(buf)
    }
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        self.iface.send(packet).map(|_| ())
    }
    fn mtu(&self) -> usize {
        self.mtu
    }
    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.iface.as_raw_fd())
    }
}

const SIOCGIFFLAGS: libc::c_ulong = 0x8913;
const SIOCSIFFLAGS: libc::c_ulong = 0x8914;
const SIOCSIFADDR: libc::c_ulong = 0x8916;
const SIOCSIFNETMASK: libc::c_ulong = 0x891c;
const SIOCSIFMTU: libc::c_ulong = 0x8922;
const SIOCSIFTXQLEN: libc::c_ulong = 0x8943;

/// The kernel's queue toward us (Linux's TUN default is 500). Bursts of thousands of ACKs
/// or FINs (many connections closing at once) overflow 500 and are dropped; 10,000 holds
/// them while the event loop catches up.
const TX_QUEUE_LEN: c_int = 10_000;

/// `struct ifreq` as Linux lays it out: a 16-byte name and a 24-byte union.
#[repr(C)]
#[derive(Clone, Copy)]
struct IfReq {
    name: [u8; 16],
    data: [u8; 24],
}

impl IfReq {
    fn new(name: &str) -> io::Result<IfReq> {
        let bytes = name.as_bytes();
        if bytes.len() >= 16 || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad interface name",
            ));
        }
        let mut r = IfReq {
            name: [0; 16],
            data: [0; 24],
        };
        r.name[..bytes.len()].copy_from_slice(bytes);
        Ok(r)
    }

    /// Stores a `struct sockaddr_in` for `addr` in the union.
    fn set_sockaddr(&mut self, addr: Ipv4Addr) {
        self.data = [0; 24];
        self.data[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        self.data[4..8].copy_from_slice(&addr.octets());
    }
}

/// One ioctl on a throwaway AF_INET datagram socket.
fn ioctl(sock: c_int, req: libc::c_ulong, ifr: &mut IfReq) -> io::Result<()> {
    // SAFETY: `ifr` is a valid, properly sized `struct ifreq` for these SIOC* requests, and
    // it lives for the duration of the call.
    let rc = unsafe { libc::ioctl(sock, req as _, ifr as *mut IfReq) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sets address, netmask and MTU, then IFF_UP | IFF_RUNNING.
fn configure(name: &str, addr: Ipv4Addr, prefix_len: u8, mtu: usize) -> io::Result<()> {
    // SAFETY: plain socket(2) call; the descriptor is closed below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(io::Error::last_os_error());
    }
    let result = (|| {
        let mut ifr = IfReq::new(name)?;
        ifr.set_sockaddr(addr);
        ioctl(sock, SIOCSIFADDR, &mut ifr)?;
        let mask = if prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix_len.min(32)))
        };
        ifr.set_sockaddr(Ipv4Addr::from(mask));
        ioctl(sock, SIOCSIFNETMASK, &mut ifr)?;
        ifr.data = [0; 24];
        ifr.data[..4].copy_from_slice(&(mtu as c_int).to_ne_bytes());
        ioctl(sock, SIOCSIFMTU, &mut ifr)?;
        ifr.data = [0; 24];
        ifr.data[..4].copy_from_slice(&TX_QUEUE_LEN.to_ne_bytes());
        ioctl(sock, SIOCSIFTXQLEN, &mut ifr)?;
        ifr.data = [0; 24];
        ioctl(sock, SIOCGIFFLAGS, &mut ifr)?;
        let flags = i16::from_ne_bytes([ifr.data[0], ifr.data[1]])
            | (libc::IFF_UP | libc::IFF_RUNNING) as i16;
        ifr.data[..2].copy_from_slice(&flags.to_ne_bytes());
        ioctl(sock, SIOCSIFFLAGS, &mut ifr)
    })();
    // SAFETY: `sock` is a descriptor we own.
    unsafe { libc::close(sock) };
    result
}
