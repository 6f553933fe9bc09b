//! smoltcp 0.14 on our simulated link: an in-memory [`SimDevice`] (medium IP) and a
//! [`SmolHost`] (device + `Interface` + socket set) driven by our virtual clock.
//!
//! Shared by `tests/interop_smoltcp.rs` and `tests/loss_grid.rs`. The driver feeds what the
//! link delivered into `dev.rx`, calls [`SmolHost::poll`] and puts what it returns on the
//! link; [`SmolHost::poll_at`] says when smoltcp wants to be polled again.
//!
//! What this module does not do: own a link or a clock, or know our stack.
#![allow(dead_code)]

// The device is the benchmarks' (sim_cost, sim_conns).
#[path = "../../benches/support/sim_device.rs"]
mod sim_device;
pub use sim_device::SimDevice;

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use std::cell::Cell;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use tuntcp::time::Instant;

thread_local! {
    /// The virtual clock in milliseconds, for smoltcp's TCP timestamp generator (a plain
    /// `fn() -> u32`). Each test runs on its own thread with its own world; two smoltcp
    /// hosts in one world share the one clock.
    static VIRTUAL_MS: Cell<u64> = const { Cell::new(0) };
}

/// smoltcp's TSval source: the virtual clock set by the last [`SmolHost::poll`] on this thread.
pub fn smol_tsval() -> u32 {
    VIRTUAL_MS.with(|c| c.get() as u32)
}

pub fn smol_time(t: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(t.micros() as i64)
}

pub fn from_smol_time(t: smoltcp::time::Instant) -> Instant {
    Instant::from_micros(t.total_micros().max(0) as u64)
}

/// One smoltcp host: interface, device and sockets.
pub struct SmolHost {
    pub iface: Interface,
    pub dev: SimDevice,
    pub sockets: SocketSet<'static>,
}

impl SmolHost {
    /// A host at `addr/prefix_len` whose interface randomness comes from `seed`.
    pub fn new(addr: Ipv4Addr, prefix_len: u8, mtu: usize, seed: u64, now: Instant) -> SmolHost {
        let mut dev = SimDevice::new(mtu);
        let mut cfg = IfaceConfig::new(HardwareAddress::Ip);
        cfg.random_seed = seed;
        let mut iface = Interface::new(cfg, &mut dev, smol_time(now));
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::from(addr), prefix_len))
                .expect("one address fits");
        });
        SmolHost {
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
        }
    }

    /// A TCP socket with `buffer`-byte send and receive buffers, timestamps on the virtual
    /// clock and no congestion control (smoltcp's default unless a `socket-tcp-cubic` or
    /// `socket-tcp-reno` feature is on; we compile both in, so we say it explicitly).
    pub fn tcp_socket(&mut self, buffer: usize) -> SocketHandle {
        self.tcp_socket_with(buffer, tcp::CongestionControl::None)
    }

    /// [`SmolHost::tcp_socket`] with the given congestion controller.
    pub fn tcp_socket_with(&mut self, buffer: usize, cc: tcp::CongestionControl) -> SocketHandle {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; buffer]),
            tcp::SocketBuffer::new(vec![0; buffer]),
        );
        s.set_tsval_generator(Some(smol_tsval));
        s.set_congestion_control(cc);
        self.sockets.add(s)
    }

    pub fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }

    pub fn tcp_ref(&self, h: SocketHandle) -> &tcp::Socket<'static> {
        self.sockets.get::<tcp::Socket>(h)
    }

    /// Adds an IPv6 address (the interface then speaks both families).
    pub fn add_addr6(&mut self, addr: Ipv6Addr, prefix_len: u8) {
        self.iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::from(addr), prefix_len))
                .expect("a second address fits");
        });
    }

    /// Opens `h` from `local_port` to `remote` (either family).
    pub fn connect(&mut self, h: SocketHandle, remote: impl Into<SocketAddr>, local_port: u16) {
        let remote = remote.into();
        let SmolHost { iface, sockets, .. } = self;
        sockets
            .get_mut::<tcp::Socket>(h)
            .connect(
                iface.context(),
                (IpAddress::from(remote.ip()), remote.port()),
                local_port,
            )
            .expect("smoltcp connect");
    }

    /// Takes what the link delivered, polls at `now` and returns what smoltcp transmitted.
    pub fn poll(
        &mut self,
        now: Instant,
        delivered: impl IntoIterator<Item = Vec<u8>>,
    ) -> std::vec::Drain<'_, Vec<u8>> {
        self.dev.rx.extend(delivered);
        VIRTUAL_MS.with(|c| c.set(now.millis()));
        let SmolHost {
            iface,
            dev,
            sockets,
        } = self;
        iface.poll(smol_time(now), dev, sockets);
        self.dev.tx.drain(..)
    }

    /// When smoltcp wants to be polled next (`now` or earlier means at once).
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.iface
            .poll_at(smol_time(now), &self.sockets)
            .map(from_smol_time)
    }
}
