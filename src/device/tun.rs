//! The Linux TUN backend. The address, netmask, MTU and flags are set here with ioctls, so
//! no `ip` command is needed.
//!
//! Two ways to open it:
//! - plain (`offload: false`): `tun-tap` creates the device (TUNSETIFF, IFF_NO_PI); one
//!   MTU-sized packet per read/write.
//! - offload (the default): our own TUNSETIFF with IFF_VNET_HDR, then TUNSETOFFLOAD with
//!   TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6. Every packet then carries a `virtio_net_hdr`
//!   (`wire::offload`): the kernel hands us TCP super-segments of up to 64 KB with partial
//!   checksums (its TSO, which would otherwise be split at the MTU) and splits ours. tun-tap
//!   cannot pass IFF_VNET_HDR, and tun-rs would bring its own device model for ~50 lines of
//!   ioctls we already write for the address; see the README's Speed section for the numbers.

use super::Device;
use crate::wire::offload::{RxOffload, TxOffload, VnetHdr, VNET_HDR_LEN};
use std::ffi::c_int;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What to create: the device name and the kernel side of the link.
#[derive(Clone, Debug)]
pub struct TunConfig {
    /// The interface name (`tun0`).
    pub name: String,
    /// The kernel's address on the link (the stack's peer), e.g. 10.66.0.1.
    pub host_addr: Ipv4Addr,
    /// The prefix length of the link's subnet.
    pub prefix_len: u8,
    /// The kernel's IPv6 address on the link and its prefix length, e.g. `fd66::1/64`;
    /// `None` disables IPv6 on the device.
    pub host_addr6: Option<(Ipv6Addr, u8)>,
    /// The device MTU.
    pub mtu: usize,
    /// Ask for checksum and segmentation offload (IFF_VNET_HDR + TUNSETOFFLOAD); falls
    /// back to a plain device (with a warning) if the kernel refuses.
    pub offload: bool,
}

enum Handle {
    Plain(tun_tap::Iface),
    /// A /dev/net/tun descriptor opened with IFF_VNET_HDR, and the device's name.
    Vnet(OwnedFd, String),
}

/// A configured TUN device, nonblocking: one `read`/`write` per packet (with offloads, a
/// virtio-net header in front of each).
pub struct Tun {
    handle: Handle,
    mtu: usize,
}

impl Tun {
    /// Creates (or attaches to) the TUN device, configures it and brings it up. Needs
    /// CAP_NET_ADMIN (root). Errors say which step failed and why (see `explain`); only a
    /// refused TUNSETOFFLOAD falls back to a plain device.
    pub fn open(cfg: &TunConfig) -> io::Result<Tun> {
        check_ifname(&cfg.name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let handle = match cfg.offload {
            true => match open_vnet(&cfg.name) {
                Ok(h) => h,
                Err(VnetError::Offload(e)) => {
                    log::warn!("TUN offloads unavailable (TUNSETOFFLOAD: {e}); using a plain TUN");
                    open_plain(&cfg.name).map_err(|e| explain(e, &cfg.name))?
                }
                Err(VnetError::Open(e)) => return Err(explain(e, &cfg.name)),
            },
            false => open_plain(&cfg.name).map_err(|e| explain(e, &cfg.name))?,
        };
        let tun = Tun {
            handle,
            mtu: cfg.mtu,
        };
        let conf = |key: &str, value: &str| {
            std::fs::write(
                format!("/proc/sys/net/ipv6/conf/{}/{key}", tun.name()),
                value,
            )
        };
        match cfg.host_addr6 {
            // No IPv6: the kernel would still send router solicitations and MLD reports.
            None => {
                let _ = conf("disable_ipv6", "1");
            }
            // The link is point to point: no router advertisements to take, and no
            // duplicate to detect (a TUN is IFF_NOARP, which skips DAD anyway).
            Some(_) => {
                let _ = conf("disable_ipv6", "0");
                let _ = conf("accept_ra", "0");
                let _ = conf("accept_dad", "0");
            }
        }
        configure(tun.name(), cfg.host_addr, cfg.prefix_len, cfg.mtu)?;
        if let Some((addr, prefix_len)) = cfg.host_addr6 {
            configure6(tun.name(), addr, prefix_len)?;
        }
        Ok(tun)
    }

    /// The interface name the kernel gave it.
    pub fn name(&self) -> &str {
        match &self.handle {
            Handle::Plain(i) => i.name(),
            Handle::Vnet(_, name) => name,
        }
    }
}

fn open_plain(name: &str) -> io::Result<Handle> {
    let iface = tun_tap::Iface::without_packet_info(name, tun_tap::Mode::Tun)?;
    iface.set_non_blocking()?;
    Ok(Handle::Plain(iface))
}

/// Why [`open_vnet`] failed: opening or creating the device (fatal), or only the offload
/// request (the caller falls back to a plain TUN).
enum VnetError {
    Open(io::Error),
    Offload(io::Error),
}

/// TUNSETIFF with IFF_VNET_HDR, then TUNSETOFFLOAD (Linux `drivers/net/tun.c`).
fn open_vnet(name: &str) -> Result<Handle, VnetError> {
    let mut ifr = IfReq::new(name).map_err(VnetError::Open)?;
    // SAFETY: a NUL-terminated path literal; the descriptor is owned below.
    let fd = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(VnetError::Open(io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let flags = (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as i16;
    ifr.data[..2].copy_from_slice(&flags.to_ne_bytes());
    ioctl(fd.as_raw_fd(), libc::TUNSETIFF as _, &mut ifr).map_err(VnetError::Open)?;
    let hdr_len = VNET_HDR_LEN as c_int;
    // SAFETY: TUNSETVNETHDRSZ and TUNSETOFFLOAD read one int (by pointer / by value).
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETVNETHDRSZ as _, &hdr_len) } < 0 {
        return Err(VnetError::Offload(io::Error::last_os_error()));
    }
    let offloads = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;
    // SAFETY: as above.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETOFFLOAD as _, offloads) } < 0 {
        return Err(VnetError::Offload(io::Error::last_os_error()));
    }
    let end = ifr.name.iter().position(|&b| b == 0).unwrap_or(16);
    let name = String::from_utf8_lossy(&ifr.name[..end]).into_owned();
    Ok(Handle::Vnet(fd, name))
}

/// Checks a device name as the kernel's `dev_valid_name` does (not empty, at most
/// IFNAMSIZ-1 = 15 bytes, not `.` or `..`, no `/`, `:` or whitespace), and refuses `%`
/// (the kernel would pick a number for it, and the name is what finds the control socket).
pub fn check_ifname(name: &str) -> Result<(), String> {
    let why = if name.is_empty() {
        "empty"
    } else if name.len() > 15 {
        "longer than 15 bytes (IFNAMSIZ - 1); the kernel would cut it short"
    } else if name == "." || name == ".." {
        "reserved"
    } else if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
    {
        "contains '/', ':', NUL or whitespace"
    } else if name.contains('%') {
        "contains '%' (a kernel name pattern; give the exact name)"
    } else {
        return Ok(());
    };
    Err(format!("bad device name {name:?}: {why}"))
}

/// True when a network device of this name exists in our network namespace.
pub fn exists(name: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::if_nametoindex(c.as_ptr()) != 0 }
}

/// True when the device `name` exists and is a TUN or TAP device (sysfs `tun_flags`).
pub fn is_tun(name: &str) -> bool {
    tun_flags(name).is_some()
}

/// True when the TUN device `name` outlives its descriptors (IFF_TUN_PERSIST, as made by
/// `ip tuntap add`); a TUN without it exists only while a process holds it open.
pub fn is_persistent(name: &str) -> bool {
    const IFF_PERSIST: u32 = 0x0800;
    tun_flags(name).is_some_and(|f| f & IFF_PERSIST != 0)
}

/// The device's TUN flags from sysfs (`0x1002`), `None` for a device that is no TUN/TAP.
fn tun_flags(name: &str) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{name}/tun_flags")).ok()?;
    u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()
}

/// Says what failed when opening or creating the TUN device, and what to do.
fn explain(e: io::Error, name: &str) -> io::Error {
    let msg = match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENODEV) => {
            "/dev/net/tun is missing (`modprobe tun`; in a container, pass the device in)".into()
        }
        Some(libc::EPERM) | Some(libc::EACCES) => {
            format!("creating TUN device {name}: {e}: root or CAP_NET_ADMIN needed")
        }
        Some(libc::EBUSY) => format!(
            "TUN device {name} is in use by another process (another `tuntcp serve`?): \
             stop it or pick another --tun"
        ),
        Some(libc::EINVAL) if exists(name) && !is_tun(name) => {
            format!("{name} exists and is not a TUN device: pick another --tun")
        }
        Some(libc::EINVAL) => format!(
            "creating TUN device {name}: {e} (an existing TUN/TAP device with other flags?)"
        ),
        _ => format!("creating TUN device {name}: {e}"),
    };
    io::Error::new(e.kind(), msg)
}

fn cvt(n: isize) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

impl Device for Tun {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_offload(buf).map(|(n, _)| n)
    }
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        self.send_offload(packet, TxOffload::default())
    }
    fn recv_offload(&mut self, buf: &mut [u8]) -> io::Result<(usize, RxOffload)> {
        let fd = match &self.handle {
            Handle::Plain(i) => return Ok((i.recv(buf)?, RxOffload::default())),
            Handle::Vnet(fd, _) => fd.as_raw_fd(),
        };
        let mut hdr = [0u8; VNET_HDR_LEN];
        let iov = [
            libc::iovec {
                iov_base: hdr.as_mut_ptr().cast(),
                iov_len: hdr.len(),
            },
            libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            },
        ];
        // SAFETY: both iovecs point into live, writable buffers of the stated lengths.
        let n = cvt(unsafe { libc::readv(fd, iov.as_ptr(), 2) })?;
        let rx = VnetHdr::parse(&hdr).map(|h| h.rx()).unwrap_or_default();
        Ok((n.saturating_sub(VNET_HDR_LEN), rx))
    }
    fn send_offload(&mut self, packet: &[u8], tx: TxOffload) -> io::Result<()> {
        self.send_parts(packet, &[], tx)
    }
    fn send_parts(&mut self, head: &[u8], payload: &[u8], tx: TxOffload) -> io::Result<()> {
        let (fd, vnet) = match &self.handle {
            Handle::Plain(i) if payload.is_empty() => return i.send(head).map(|_| ()),
            Handle::Plain(i) => (i.as_raw_fd(), false),
            Handle::Vnet(fd, _) => (fd.as_raw_fd(), true),
        };
        // The virtio header reads only the IP and TCP headers, which are all in `head`.
        let hdr = VnetHdr::for_tx(head, tx).to_bytes();
        let parts: [&[u8]; 3] = [&hdr, head, payload];
        let iov = parts.map(|p| libc::iovec {
            iov_base: p.as_ptr() as *mut _,
            iov_len: p.len(),
        });
        let iov = if vnet { &iov[..] } else { &iov[1..] };
        let iov = if payload.is_empty() {
            &iov[..iov.len() - 1]
        } else {
            iov
        };
        // SAFETY: the iovecs point into live buffers of the stated lengths; writev only
        // reads them.
        cvt(unsafe { libc::writev(fd, iov.as_ptr(), iov.len() as c_int) }).map(|_| ())
    }
    fn offload(&self) -> bool {
        matches!(self.handle, Handle::Vnet(..))
    }
    fn mtu(&self) -> usize {
        self.mtu
    }
    fn raw_fd(&self) -> Option<RawFd> {
        Some(match &self.handle {
            Handle::Plain(i) => i.as_raw_fd(),
            Handle::Vnet(fd, _) => fd.as_raw_fd(),
        })
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
                format!("bad device name {name:?}"),
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
    let step = |what: &'static str| {
        move |e: io::Error| io::Error::new(e.kind(), format!("configuring {name}: {what}: {e}"))
    };
    let result = (|| {
        let mut ifr = IfReq::new(name)?;
        ifr.set_sockaddr(addr);
        ioctl(sock, SIOCSIFADDR, &mut ifr).map_err(step("setting the address"))?;
        let mask = if prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix_len.min(32)))
        };
        ifr.set_sockaddr(Ipv4Addr::from(mask));
        ioctl(sock, SIOCSIFNETMASK, &mut ifr).map_err(step("setting the netmask"))?;
        ifr.data = [0; 24];
        ifr.data[..4].copy_from_slice(&(mtu as c_int).to_ne_bytes());
        ioctl(sock, SIOCSIFMTU, &mut ifr).map_err(step("setting the MTU"))?;
        ifr.data = [0; 24];
        ifr.data[..4].copy_from_slice(&TX_QUEUE_LEN.to_ne_bytes());
        ioctl(sock, SIOCSIFTXQLEN, &mut ifr).map_err(step("setting the queue length"))?;
        ifr.data = [0; 24];
        ioctl(sock, SIOCGIFFLAGS, &mut ifr).map_err(step("reading the flags"))?;
        let flags = i16::from_ne_bytes([ifr.data[0], ifr.data[1]])
            | (libc::IFF_UP | libc::IFF_RUNNING) as i16;
        ifr.data[..2].copy_from_slice(&flags.to_ne_bytes());
        ioctl(sock, SIOCSIFFLAGS, &mut ifr).map_err(step("bringing it up"))
    })();
    // SAFETY: `sock` is a descriptor we own.
    unsafe { libc::close(sock) };
    result
}

/// `struct in6_ifreq` (linux/ipv6.h): what SIOCSIFADDR takes on an AF_INET6 socket.
#[repr(C)]
struct In6IfReq {
    addr: [u8; 16],
    prefix_len: u32,
    ifindex: c_int,
}

/// Adds the kernel's IPv6 address and prefix to the device (as `ip -6 addr add`), which
/// also routes the prefix over it.
fn configure6(name: &str, addr: Ipv6Addr, prefix_len: u8) -> io::Result<()> {
    let step = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("configuring {name}: setting the IPv6 address {addr}/{prefix_len}: {e}"),
        )
    };
    let cname =
        std::ffi::CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `cname` is a valid NUL-terminated string for the duration of the call.
    let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if ifindex == 0 {
        return Err(step(io::Error::last_os_error()));
    }
    // SAFETY: plain socket(2) call; the descriptor is closed below.
    let sock = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(step(io::Error::last_os_error()));
    }
    let mut req = In6IfReq {
        addr: addr.octets(),
        prefix_len: u32::from(prefix_len.min(128)),
        ifindex: ifindex as c_int,
    };
    // SAFETY: `req` is a valid `struct in6_ifreq` that lives for the duration of the call;
    // `sock` is a descriptor we own, closed right after.
    let rc = unsafe { libc::ioctl(sock, SIOCSIFADDR as _, &mut req as *mut In6IfReq) };
    let result = if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    };
    // SAFETY: `sock` is a descriptor we own.
    unsafe { libc::close(sock) };
    match result {
        // The address is there already (a reused device): fine.
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        r => r.map_err(step),
    }
}

#[cfg(test)]
mod tests {
    use super::check_ifname;

    #[test]
    fn device_names_follow_the_kernels_dev_valid_name() {
        for ok in ["tun0", "a", "tuntcp-ns-12345", "x.y", "t_1"] {
            assert_eq!(check_ifname(ok), Ok(()), "{ok}");
        }
        assert_eq!("tuntcp-ns-12345".len(), 15);
        for (bad, why) in [
            ("", "empty"),
            ("tuntcp-ns-123456", "longer than 15"),
            (".", "reserved"),
            ("..", "reserved"),
            ("a/b", "'/'"),
            ("a:1", "':'"),
            ("a b", "whitespace"),
            ("a\tb", "whitespace"),
            ("tun%d", "'%'"),
        ] {
            let e = check_ifname(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }
}
