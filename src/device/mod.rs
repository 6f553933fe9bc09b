//! `device`: where packets come from and go to. The only module with `unsafe` (the TUN
//! ioctls in `tun.rs`).
//!
//! A [`Device`] moves whole IPv4 packets: the TUN backend ([`tun::Tun`]), the pcap
//! recorder ([`pcap::PcapWriter`]) that the runtime feeds with every packet in and out, and
//! seeded impairment for one direction ([`impair::Impairer`]: loss, delay, reordering...).
//! What this module does not do: parse packets (that is `wire`) or keep time (`runtime`).

#![allow(unsafe_code)]

pub mod impair;
pub mod pcap;
pub mod tun;

use crate::wire::offload::{RxOffload, TxOffload};
use std::io;
use std::os::fd::RawFd;

/// A link that carries IPv4 packets. `recv` returns `WouldBlock` when nothing is queued.
pub trait Device: Send {
    /// Reads one packet into `buf` (`WouldBlock` when none is waiting).
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes one packet (`WouldBlock` when the device queue is full: the packet is dropped).
    fn send(&mut self, packet: &[u8]) -> io::Result<()>;
    /// True when the device completes partial checksums, splits super-segments and may
    /// hand us super-segments (see `wire::offload`).
    fn offload(&self) -> bool {
        false
    }
    /// `recv` with what the device says about the packet.
    fn recv_offload(&mut self, buf: &mut [u8]) -> io::Result<(usize, RxOffload)> {
        Ok((self.recv(buf)?, RxOffload::default()))
    }
    /// `send` with how the device must finish the packet (only when `offload()`).
    fn send_offload(&mut self, packet: &[u8], tx: TxOffload) -> io::Result<()> {
        debug_assert_eq!(tx, TxOffload::default(), "device without offloads");
        self.send(packet)
    }
    /// `send_offload` of one packet given as its headers and its payload (a gather write,
    /// [`crate::stack::Stack::poll_transmit_gather`]). This default joins them in a new
    /// buffer; devices with a descriptor write both with one `writev`.
    fn send_parts(&mut self, head: &[u8], payload: &[u8], tx: TxOffload) -> io::Result<()> {
        if payload.is_empty() {
            return self.send_offload(head, tx);
        }
        let mut packet = Vec::with_capacity(head.len() + payload.len());
        packet.extend_from_slice(head);
        packet.extend_from_slice(payload);
        self.send_offload(&packet, tx)
    }
    /// Writes out anything `send` batched (called once per event-loop turn).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// The device's MTU.
    fn mtu(&self) -> usize;
    /// A file descriptor the event loop can wait on, if the device has one.
    fn raw_fd(&self) -> Option<RawFd>;
}
