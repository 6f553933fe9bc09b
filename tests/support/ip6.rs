//! IPv6 packets from the peer, as bytes on the wire: ICMPv6 messages, echo requests, and
//! a packet cut into fragments (RFC 8200 §4.5). Shared by tests/ipv6.rs and
//! tests/counters.rs.
#![allow(dead_code)]

use super::{PEER6, US6};
use std::net::Ipv6Addr;
use tuntcp::wire::{Icmpv6Message, Icmpv6Packet, Ip6Meta};

/// An ICMPv6 message from `src` to `dst` in a whole IPv6 packet.
pub fn icmp6(src: Ipv6Addr, dst: Ipv6Addr, message: Icmpv6Message<'_>) -> Vec<u8> {
    let p = Icmpv6Packet {
        src,
        dst,
        ip: Ip6Meta::default(),
        message,
    };
    let mut buf = vec![0; p.buffer_len()];
    p.emit(&mut buf).unwrap();
    buf
}

/// An echo request from the peer to us.
pub fn ping6(ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    icmp6(PEER6, US6, Icmpv6Message::EchoRequest { ident, seq, data })
}

/// `packet` (fixed header + upper layer, no extension headers) cut into fragments at
/// `cuts` (multiples of 8) with identification `ident`, in order.
pub fn fragments6(packet: &[u8], ident: u32, cuts: &[usize]) -> Vec<Vec<u8>> {
    let upper = &packet[40..];
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(upper.len());
    bounds
        .windows(2)
        .map(|w| {
            let (start, end) = (w[0], w[1]);
            let more = end < upper.len();
            let mut f = packet[..40].to_vec();
            f[6] = 44;
            let off = (start as u16) | u16::from(more);
            f.extend_from_slice(&[packet[6], 0]);
            f.extend_from_slice(&off.to_be_bytes());
            f.extend_from_slice(&ident.to_be_bytes());
            f.extend_from_slice(&upper[start..end]);
            let plen = (f.len() - 40) as u16;
            f[4..6].copy_from_slice(&plen.to_be_bytes());
            f
        })
        .collect()
}
