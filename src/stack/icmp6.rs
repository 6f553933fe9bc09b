//! ICMPv6 for the stack (RFC 4443): the echo server, which errors we may send and their
//! rate limit, and which TCP connection an error names.
//!
//! - [`echo_reply`]: RFC 4443 §4.2.
//! - [`may_send_error`] and [`RateLimit`]: RFC 4443 §2.4(e) and (f).
//! - [`quoted_tcp`]: the 4-tuple and sequence number an error quotes (RFC 5927), and
//!   [`action`], what TCP does about it.
//!
//! What this module does not do: count, build Neighbor Discovery or MLD, act on Packet
//! Too Big (a Path MTU hook: [`Icmp6Action::PacketTooBig`]; the PMTU logic lives with
//! IPv4's), or read a clock (time is passed in).

use super::icmp::IcmpAction;
use crate::time::{Duration, Instant};
use crate::wire::{Icmpv6Message, Icmpv6Packet, Ip6Meta, Ipv6Packet, IPPROTO_ICMPV6, IPPROTO_TCP};
use std::net::{SocketAddr, SocketAddrV6};

/// Echo reply for an echo request (RFC 4443 §4.2): same identifier, sequence number and
/// data, addresses swapped, the request's traffic class kept (ECN bits cleared). The
/// caller has checked that the request was sent to our unicast address (§4.2: the reply's
/// source is then that address).
pub fn echo_reply<'a>(req: &Icmpv6Packet<'a>, hop_limit: u8) -> Option<Icmpv6Packet<'a>> {
    let Icmpv6Message::EchoRequest { ident, seq, data } = req.message else {
        return None;
    };
    Some(Icmpv6Packet {
        src: req.dst,
        dst: req.src,
        ip: Ip6Meta {
            hop_limit,
            traffic_class: req.ip.traffic_class & !0b11,
            flow_label: 0,
        },
        message: Icmpv6Message::EchoReply { ident, seq, data },
    })
}

/// May we send an error about `ip` (RFC 4443 §2.4(e))? Not about an ICMPv6 error message
/// (e.1), nor about a packet to a multicast address (e.3, PTB and Parameter Problem code 2
/// excepted: we drop multicast before asking), nor about one whose source is not a
/// single host (e.6: unspecified, multicast). An ICMPv6 error is recognised only when
/// ICMPv6 directly follows the fixed header (a chain that failed before reaching it
/// cannot be read further).
pub fn may_send_error(ip: &Ipv6Packet<'_>) -> bool {
    if ip.dst.is_multicast() || ip.src.is_multicast() || ip.src.is_unspecified() {
        return false;
    }
    if ip.next_header == IPPROTO_ICMPV6 {
        // An empty ICMPv6 payload is malformed: say nothing. Types below 128 are errors.
        return ip.payload.first().is_some_and(|&t| t >= 128);
    }
    true
}

/// RFC 4443 §2.4(f): a token bucket on the ICMPv6 errors we originate. `BURST` may leave
/// at once, then one per `INTERVAL` (Linux: `net.ipv6.icmp.ratelimit`, 1 s per
/// destination; ours is one bucket for all destinations, a TUN has one peer).
#[derive(Clone, Debug)]
pub struct RateLimit {
    tokens: u32,
    last: Option<Instant>,
}

impl RateLimit {
    /// Errors that may leave at once (the bucket's size).
    pub const BURST: u32 = 10;
    /// One token comes back per interval.
    pub const INTERVAL: Duration = Duration::from_millis(100);

    /// A full bucket.
    pub fn new() -> RateLimit {
        RateLimit {
            tokens: Self::BURST,
            last: None,
        }
    }

    /// Takes a token if there is one (refilled by the time passed since the last call).
    pub fn allow(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let gained = now.saturating_since(last).micros() / Self::INTERVAL.micros();
            if gained > 0 {
                let gained = u32::try_from(gained).unwrap_or(u32::MAX);
                self.tokens = self.tokens.saturating_add(gained).min(Self::BURST);
                // Keep the fraction of an interval not yet turned into a token.
                self.last =
                    Some(last + Duration::from_micros(Self::INTERVAL.micros() * u64::from(gained)));
            }
        } else {
            self.last = Some(now);
        }
        if self.tokens == 0 {
            return false;
        }
        if self.tokens == Self::BURST {
            self.last = Some(now);
        }
        self.tokens -= 1;
        true
    }
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit::new()
    }
}

/// What TCP should do about an ICMPv6 error (RFC 4443 §3, RFC 9293 §3.9.2.2, RFC 5461).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icmp6Action {
    /// As for IPv4: soft, hard or ignored.
    Tcp(IcmpAction),
    /// Packet Too Big (RFC 8201): a Path MTU signal, not an error; it lowers the path MTU
    /// as IPv4's Fragmentation Needed does.
    PacketTooBig {
        /// The MTU the next hop can carry (RFC 4443 §3.2).
        mtu: u32,
    },
}

/// The policy, as Linux's `icmpv6_err_convert`: Destination Unreachable codes 1
/// (administratively prohibited), 4 (port unreachable), 5 (source address failed
/// policy) and 6 (reject route) are hard; codes 0 (no route), 2 (beyond scope), 3
/// (address unreachable) and unknown codes soft (MUST-56: they may be transient). Time
/// Exceeded and Parameter Problem are soft (MUST-56; Linux makes Parameter Problem hard,
/// we keep IPv4's rule). Hard errors abort only an opening connection (as IPv4).
pub fn action(msg: &Icmpv6Message<'_>) -> Option<Icmp6Action> {
    Some(match *msg {
        Icmpv6Message::DestUnreachable {
            code: 1 | 4..=6, ..
        } => Icmp6Action::Tcp(IcmpAction::Abort),
        Icmpv6Message::DestUnreachable { .. }
        | Icmpv6Message::TimeExceeded { .. }
        | Icmpv6Message::ParameterProblem { .. } => Icmp6Action::Tcp(IcmpAction::Soft),
        Icmpv6Message::PacketTooBig { mtu, .. } => Icmp6Action::PacketTooBig { mtu },
        _ => return None,
    })
}

/// The TCP connection an ICMPv6 error names, from its quote (IPv4's
/// [`super::icmp::QuotedTcp`] for IPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QuotedTcp6 {
    /// Quoted source: our address and port.
    pub local: SocketAddr,
    /// Quoted destination: the peer.
    pub remote: SocketAddr,
    /// The quoted segment's sequence number (checked against SND.UNA..SND.MAX, RFC 5927).
    pub seq: u32,
}

/// The TCP connection an ICMPv6 error quotes (our segment: its source is our side), with
/// its sequence number; `None` if `msg` is no error, or its quote holds no IPv6 header
/// whose extension chain leads to at least 8 bytes of TCP header in a first fragment.
pub fn quoted_tcp(msg: &Icmpv6Message<'_>) -> Option<QuotedTcp6> {
    let original = match *msg {
        Icmpv6Message::DestUnreachable { original, .. }
        | Icmpv6Message::PacketTooBig { original, .. }
        | Icmpv6Message::TimeExceeded { original, .. }
        | Icmpv6Message::ParameterProblem { original, .. } => original,
        _ => return None,
    };
    let ip = Ipv6Packet::parse_quoted(original).ok()?;
    let chain = ip.chain().ok()?;
    if chain.upper != IPPROTO_TCP || chain.fragment.is_some_and(|f| f.offset != 0) {
        return None;
    }
    let t = chain.payload.get(..8)?;
    let port = |o: usize| u16::from_be_bytes([t[o], t[o + 1]]);
    Some(QuotedTcp6 {
        local: SocketAddr::V6(SocketAddrV6::new(ip.src, port(0), 0, 0)),
        remote: SocketAddr::V6(SocketAddrV6::new(ip.dst, port(2), 0, 0)),
        seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_burst_then_one_per_interval() {
        let mut r = RateLimit::new();
        let t0 = Instant::from_millis(1000);
        for _ in 0..RateLimit::BURST {
            assert!(r.allow(t0));
        }
        assert!(!r.allow(t0));
        assert!(!r.allow(t0 + Duration::from_millis(99)));
        assert!(r.allow(t0 + Duration::from_millis(100)));
        assert!(!r.allow(t0 + Duration::from_millis(150)));
        assert!(r.allow(t0 + Duration::from_millis(200)));
        // A long silence refills the bucket, never beyond the burst.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..RateLimit::BURST {
            assert!(r.allow(later));
        }
        assert!(!r.allow(later));
    }
}
