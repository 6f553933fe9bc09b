//! The stack's secrets: timestamp offsets per address pair (RFC 7323 §5.4, as Linux's
//! `secure_tcp_ts_off`), so TSvals stay monotonic across incarnations of a 4-tuple
//! (RFC 6191), and a default seed from the OS: deterministic only on request.

mod support;

use std::net::{Ipv4Addr, SocketAddrV4};
use support::*;
use tuntcp::stack::{Stack, StackConfig};
use tuntcp::wire::TcpFlags;

const SYNACK: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0);

fn peer(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(PEER, port)
}

fn tsval(s: &Owned) -> u32 {
    s.options.timestamps.expect("timestamps on").tsval
}

/// Our SYN to `to`, sent at `ms`.
#[track_caller]
fn syn_to(t: &mut Harness, ms: u64, to: SocketAddrV4) -> Owned {
    t.advance(ms);
    t.stack.connect(instant(ms), to).expect("connect");
    t.flush();
    t.expect(ms, seg().flags(TcpFlags::SYN).to(to))
}

#[test]
fn tw_reuse_new_syn_tsval_continues_the_old_connections_clock() {
    // One ephemeral port, so the second connection must reuse the TIME-WAIT tuple.
    let cfg = StackConfig {
        local_port_range: (40000, 40000),
        ..Harness::config()
    };
    let mut t = Harness::with_config(cfg);
    t.peer = peer(80).into();
    let (h, _) = t.connect(0, 9000, seg().ts(100, 0));
    t.stack.close(h);
    t.flush();
    let fin = t.expect(0, seg().flags(TcpFlags::FIN | TcpFlags::ACK));
    t.send(
        10,
        seg()
            .flags(TcpFlags::FIN | TcpFlags::ACK)
            .seq(9001)
            .ack(fin.seq + 1)
            .ts(101, tsval(&fin)),
    );
    let last = t.expect(10, seg().flags(TcpFlags::ACK));
    assert_eq!(
        t.stack.connections().next().unwrap().1.state(),
        tuntcp::tcp::State::TimeWait
    );
    // 2 s later the tuple is reused (tw_reuse): the new SYN's TSval is the old clock,
    // 1990 ms on, so the peer's PAWS and TIME-WAIT checks (RFC 6191) accept it.
    let syn = syn_to(&mut t, 2000, peer(80));
    assert_eq!(syn.src.port(), 40000);
    assert_eq!(t.stack.counters().tcp_ext_tw_recycled, 1);
    assert_eq!(
        tsval(&syn).wrapping_sub(tsval(&last)),
        1990,
        "old last TSval {}, new SYN TSval {}",
        tsval(&last),
        tsval(&syn)
    );
}

#[test]
fn ts_offset_is_per_address_pair_active_and_passive() {
    let mut t = Harness::server(80);
    let other_host = SocketAddrV4::new(Ipv4Addr::new(10, 66, 0, 3), 80);
    // Three SYNs at one instant: two to the peer host (different ports), one to another.
    let a = syn_to(&mut t, 5, peer(80));
    let b = syn_to(&mut t, 5, peer(81));
    let c = syn_to(&mut t, 5, other_host);
    assert_ne!(a.src.port(), b.src.port());
    assert_eq!(tsval(&a), tsval(&b), "same pair, same clock");
    assert_ne!(tsval(&a), tsval(&c), "another host, another offset");
    // A connection the peer host opens to us shares the pair's clock too.
    t.send(5, seg().syn().seq(1000).ts(77, 0).from(peer(6000)));
    let sa = t.expect(5, seg().flags(SYNACK).to(peer(6000)));
    assert_eq!(tsval(&sa), tsval(&a));
    // And it keeps running with time: 1 ms per millisecond (before the SYNs' 1 s RTO).
    let d = syn_to(&mut t, 1004, peer(82));
    assert_eq!(tsval(&d).wrapping_sub(tsval(&a)), 999);
}

#[test]
fn ts_offset_is_secret_per_seed() {
    let first_tsval = |seed| {
        let mut t = Harness::with_config(StackConfig {
            seed,
            ..Harness::config()
        });
        tsval(&syn_to(&mut t, 0, peer(80)))
    };
    let (a, b) = (first_tsval(7), first_tsval(8));
    assert_ne!(a, b);
    // At time 0 a TSval without an offset would be 0: the clock is not exposed.
    assert_ne!(a, 0);
    assert_eq!(a, first_tsval(7), "the same seed replays");
}

/// Our SYN-ACK's ISS for the same SYN (same 4-tuple, same instant).
fn synack_iss(cfg: StackConfig) -> u32 {
    let mut t = Harness::server_with(80, cfg);
    t.send(0, seg().syn().seq(1000));
    t.expect(0, seg().flags(SYNACK)).seq
}

#[test]
fn default_config_is_seeded_from_the_os_fixed_seed_only_on_request() {
    let fixed = || StackConfig {
        addr: US,
        ..StackConfig::with_seed(7)
    };
    assert_eq!(StackConfig::with_seed(7).seed, 7);
    assert_eq!(synack_iss(fixed()), synack_iss(fixed()));
    // Two default configs: two secrets, so the same SYN gets unrelated ISNs.
    let (d1, d2) = (StackConfig::default(), StackConfig::default());
    assert_ne!(d1.seed, d2.seed);
    assert_ne!(d1.seed, 0);
    let os = |d: StackConfig| StackConfig { addr: US, ..d };
    assert_ne!(synack_iss(os(d1)), synack_iss(os(d2)));
    // Building a stack from the default works as from a fixed seed.
    let _ = Stack::new(StackConfig::default());
}
