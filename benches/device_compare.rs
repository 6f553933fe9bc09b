//! Our offloading TUN (`device::tun`, IFF_VNET_HDR, super-segments kept whole) against the
//! `tun-rs` crate's offload model (IFF_VNET_HDR too, but it splits the kernel's
//! super-segments into MTU-sized packets on read, `recv_multiple`, and coalesces ours on
//! write, `send_multiple` with its GRO table), under the same stack and the same servers:
//! HTTP on port 80 (`GET /zeros/N`) and discard on port 9, both on the socket API.
//!
//! ```text
//! device_compare ours|tunrs [--mtu 1500]     # run in a network namespace (tun0, 10.66.0.2)
//! ```
//!
//! Built only with `--features tunrs` (scripts/bench.sh, group `device`): the decision
//! between our ioctls and tun-rs is recorded in the README with these numbers.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use tun_rs::{GROTable, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};
use tuntcp::api::{NetStack, TcpListener};
use tuntcp::apps::{http, simple};
use tuntcp::device::tun::{Tun, TunConfig};
use tuntcp::device::Device;
use tuntcp::stack::StackConfig;

const HOST: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const US: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);

/// tun-rs with offloads, used the way its documentation shows: batches of MTU-sized
/// packets both ways.
struct TunRs {
    dev: tun_rs::SyncDevice,
    mtu: usize,
    /// recv_multiple's scratch for one whole (super-)packet, and the split results.
    orig: Vec<u8>,
    rx: Vec<Vec<u8>>,
    rx_sizes: Vec<usize>,
    rx_n: usize,
    rx_next: usize,
    /// Packets written since the last flush, each with VIRTIO_NET_HDR_LEN of headroom.
    tx: Vec<Vec<u8>>,
    tx_spare: Vec<Vec<u8>>,
    gro: GROTable,
}

impl TunRs {
    fn open(mtu: usize) -> io::Result<TunRs> {
        let dev = tun_rs::DeviceBuilder::new()
            .name("tun0")
            .ipv4(HOST, 24, None)
            .mtu(mtu as u16)
            .offload(true)
            .build_sync()?;
        dev.set_nonblocking(true)?;
        let _ = std::fs::write("/proc/sys/net/ipv6/conf/tun0/disable_ipv6", "1");
        Ok(TunRs {
            dev,
            mtu,
            orig: vec![0; VIRTIO_NET_HDR_LEN + 65535],
            rx: vec![vec![0; 65535]; IDEAL_BATCH_SIZE],
            rx_sizes: vec![0; IDEAL_BATCH_SIZE],
            rx_n: 0,
            rx_next: 0,
            tx: Vec::new(),
            tx_spare: Vec::new(),
            gro: GROTable::default(),
        })
    }
}

impl Device for TunRs {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.rx_next == self.rx_n {
            self.rx_n =
                self.dev
                    .recv_multiple(&mut self.orig, &mut self.rx, &mut self.rx_sizes, 0)?;
            self.rx_next = 0;
        }
        let i = self.rx_next;
        self.rx_next += 1;
        let n = self.rx_sizes[i].min(buf.len());
        buf[..n].copy_from_slice(&self.rx[i][..n]);
        Ok(n)
    }
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        let mut b = self.tx_spare.pop().unwrap_or_default();
        b.clear();
        b.resize(VIRTIO_NET_HDR_LEN, 0);
        b.extend_from_slice(packet);
        self.tx.push(b);
        if self.tx.len() >= IDEAL_BATCH_SIZE {
            self.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.tx.is_empty() {
            return Ok(());
        }
        let r = self
            .dev
            .send_multiple(&mut self.gro, &mut self.tx, VIRTIO_NET_HDR_LEN);
        self.tx_spare.append(&mut self.tx);
        r.map(|_| ())
    }
    fn mtu(&self) -> usize {
        self.mtu
    }
    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.dev.as_raw_fd())
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_default();
    let mut mtu = 1500;
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--mtu", Some(v)) => mtu = v.parse().expect("--mtu"),
            _ => {
                eprintln!("usage: device_compare ours|tunrs [--mtu 1500]");
                std::process::exit(2);
            }
        }
    }
    let dev: Box<dyn Device> = match kind.as_str() {
        "ours" => Box::new(
            Tun::open(&TunConfig {
                name: "tun0".into(),
                host_addr: HOST,
                prefix_len: 24,
                host_addr6: None, // IPv4 only, as tun-rs's side
                mtu,
                offload: true,
            })
            .expect("tun0 (root, in a namespace)"),
        ),
        "tunrs" => Box::new(TunRs::open(mtu).expect("tun0 via tun-rs (root, in a namespace)")),
        _ => {
            eprintln!("usage: device_compare ours|tunrs [--mtu 1500]");
            std::process::exit(2);
        }
    };
    let cfg = StackConfig {
        addr: US,
        mtu,
        seed: 1,
        ..StackConfig::default()
    };
    let net = NetStack::with_device(dev, cfg, None, None).expect("stack");
    let web = TcpListener::bind(&net, 80, 128).expect("port 80");
    let sink = TcpListener::bind(&net, 9, 128).expect("port 9");
    eprintln!(
        "device_compare: {kind}, mtu {mtu}, offload {}",
        net.with_stack(|s| s.config().offload)
    );
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for mut s in sink.incoming().flatten() {
                std::thread::spawn(move || drop(simple::discard(&mut s)));
            }
        });
        for mut s in web.incoming().flatten() {
            std::thread::spawn(move || {
                let info = http::ConnInfo {
                    local: s.local_addr().unwrap_or(SocketAddr::from((US, 80))),
                    peer: s.peer_addr().unwrap_or(SocketAddr::from((HOST, 0))),
                    stack: "tuntcp device_compare",
                };
                let _ = http::serve_connection(&mut s, &info, &http::HttpConfig::default());
            });
        }
    });
}
