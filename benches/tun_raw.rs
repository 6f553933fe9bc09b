//! Raw TUN packet rates, the ceiling any stack on a TUN works under (`scripts/bench.sh`).
//!
//! ```text
//! tun_raw write [--mtu 1500] [--count N] [--secs S]   # we write N packets, the kernel takes them
//! tun_raw read  [--mtu 1500] [--count N] [--secs S]   # the kernel sends, we read N packets
//! ```
//!
//! The device is created with our own TUN code (`tuntcp::device::tun`, the same path the
//! stack uses: tun0, kernel side 10.66.0.1/24, us 10.66.0.2), so run it inside a network
//! namespace. Packets are MTU-sized IPv4/UDP datagrams (UDP checksum 0).
//!
//! - `write`: one pre-built datagram 10.66.0.2 -> 10.66.0.1:9, written back to back. No
//!   socket listens on port 9, so the kernel runs its IPv4 and UDP input, finds no socket and
//!   drops the packet (its ICMP port-unreachable replies are rate limited to ~1000/s). The
//!   kernel's work runs in the writer's context, on the writer's CPU.
//! - `read`: a thread pinned to CPU 1 sends UDP datagrams from a kernel socket to
//!   10.66.0.2:9 (routed into the TUN) as fast as it can; the main thread, on CPU 0, reads
//!   them. Packets the TUN queue drops (full txqueue) are not counted: the rate is what we
//!   read per second. The sender uses UDP GSO (`UDP_SEGMENT`): one `send` of up to 64 KB
//!   is split into MTU-sized datagrams by the kernel on its way into the TUN, so the sender
//!   makes ~44 datagrams per system call at MTU 1500 and the reader, not the sender's
//!   per-datagram `sendmsg`, is what runs out first (with one datagram per `send` the
//!   sender topped out below what a TCP sender, whose TSO bursts are split the same way,
//!   pushes through the same TUN).
//!
//! Prints one line: `packets=N secs=T pps=R gbps=G` (G counts whole IP packets).

use std::io::ErrorKind;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tuntcp::device::tun::{Tun, TunConfig};
use tuntcp::device::Device;

struct Opts {
    mode: String,
    mtu: usize,
    count: u64,
    secs: f64,
}

fn parse_opts() -> Result<Opts, String> {
    let mut args = std::env::args().skip(1);
    let mode = args
        .next()
        .ok_or("usage: tun_raw write|read [--mtu M] [--count N] [--secs S]")?;
    if mode != "write" && mode != "read" {
        return Err(format!("unknown mode {mode}"));
    }
    let mut o = Opts {
        mode,
        mtu: 1500,
        count: 2_000_000,
        secs: 10.0,
    };
    while let Some(a) = args.next() {
        let v = args.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--mtu" => o.mtu = v.parse().map_err(|e| format!("--mtu: {e}"))?,
            "--count" => o.count = v.parse().map_err(|e| format!("--count: {e}"))?,
            "--secs" => o.secs = v.parse().map_err(|e| format!("--secs: {e}"))?,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if !(576..=65535).contains(&o.mtu) {
        return Err("--mtu must be in 576..=65535".into());
    }
    Ok(o)
}

/// Pins the calling thread to one CPU (if the machine has it).
fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET stays within it for cpu < CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// One IPv4/UDP datagram of `len` bytes from `src` to `dst`:9.
fn datagram(len: usize, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[6] = 0x40; // DF
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let mut sum: u32 = p[..20]
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p[20..22].copy_from_slice(&4444u16.to_be_bytes());
    p[22..24].copy_from_slice(&9u16.to_be_bytes());
    p[24..26].copy_from_slice(&((len - 20) as u16).to_be_bytes());
    p
}

/// Turns on UDP GSO (`UDP_SEGMENT`, Linux 4.18) with datagrams of `size` bytes; returns
/// how many datagrams one `send` carries (1 if the kernel refuses or they would not fit).
fn udp_gso(s: &UdpSocket, size: usize) -> usize {
    use std::os::fd::AsRawFd;
    // At most 64 segments (UDP_MAX_SEGMENTS) and a 64 KB datagram.
    let n = (65_507 / size).clamp(1, 64);
    if n == 1 {
        return 1;
    }
    let v = size as libc::c_int;
    // SAFETY: setsockopt reads one c_int from a live stack variable.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        n
    } else {
        1
    }
}

fn wait_readable(fd: RawFd, ms: i32) {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe {
        libc::poll(&mut pfd, 1, ms);
    }
}

fn main() {
    let o = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tun_raw: {e}");
            std::process::exit(2);
        }
    };
    let host = Ipv4Addr::new(10, 66, 0, 1);
    let us = Ipv4Addr::new(10, 66, 0, 2);
    let mut tun = match Tun::open(&TunConfig {
        name: "tun0".into(),
        host_addr: host,
        prefix_len: 24,
        host_addr6: None,
        mtu: o.mtu,
        offload: false,
    }) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tun_raw: tun0: {e} (root, in a network namespace)");
            std::process::exit(1);
        }
    };
    let deadline = Duration::from_secs_f64(o.secs);
    pin(0);
    let (packets, bytes, secs) = if o.mode == "write" {
        let p = datagram(o.mtu, us, host);
        let start = Instant::now();
        let mut n = 0u64;
        while n < o.count {
            match tun.send(&p) {
                Ok(()) => n += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => {
                    eprintln!("tun_raw: write: {e}");
                    std::process::exit(1);
                }
            }
            if n % 4096 == 0 && start.elapsed() > deadline {
                break;
            }
        }
        (n, n * o.mtu as u64, start.elapsed().as_secs_f64())
    } else {
        let stop = Arc::new(AtomicBool::new(false));
        let sender = {
            let stop = stop.clone();
            let payload = vec![0x5au8; o.mtu - 28];
            std::thread::spawn(move || {
                pin(1);
                let s = UdpSocket::bind((host, 0)).expect("bind");
                s.connect((us, 9)).expect("connect");
                let burst = udp_gso(&s, payload.len());
                let payload = payload.repeat(burst);
                while !stop.load(Ordering::Relaxed) {
                    let _ = s.send(&payload); // ENOBUFS when the queue is full: retry
                }
            })
        };
        let fd = tun.raw_fd().expect("tun fd");
        let mut buf = vec![0u8; o.mtu.max(2048)];
        let (mut n, mut bytes) = (0u64, 0u64);
        let mut start = None;
        let t0 = Instant::now();
        while n < o.count && t0.elapsed() < deadline {
            match tun.recv(&mut buf) {
                Ok(len) => {
                    // Count only the sender's datagrams (not stray kernel packets).
                    if len == o.mtu && buf[9] == 17 {
                        start.get_or_insert_with(Instant::now);
                        n += 1;
                        bytes += len as u64;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => wait_readable(fd, 100),
                Err(e) => {
                    eprintln!("tun_raw: read: {e}");
                    std::process::exit(1);
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        let _ = sender.join();
        let secs = start.map_or(0.0, |s| s.elapsed().as_secs_f64());
        (n, bytes, secs)
    };
    println!(
        "packets={packets} secs={secs:.3} pps={:.0} gbps={:.3}",
        packets as f64 / secs,
        bytes as f64 * 8.0 / secs / 1e9
    );
}
