//! Two connections wired back to back, no stack in between: the smallest end-to-end check
//! of the state machine (the packet-trace tests in `tests/` go through the stack).

use super::*;
use crate::time::{Duration, Instant};
use crate::wire::Segment;
use std::net::SocketAddrV4;

/// Emits and re-parses every segment so both sides see real wire bytes.
fn pump(now: Instant, from: &mut Connection, to: &mut Connection, log: &mut Vec<String>) -> usize {
    let mut n = 0;
    let mut payload = vec![0u8; 2048];
    let mut wire = vec![0u8; 4096];
    while let Some(seg) = from.poll_transmit(now, &mut payload) {
        log.push(seg.to_string());
        let len = seg.emit(&mut wire).unwrap();
        let parsed = Segment::parse(&wire[..len]).unwrap();
        to.handle_segment(now, &parsed);
        n += 1;
        assert!(n < 10_000, "runaway output");
    }
    n
}

fn pair() -> (Connection, Connection, Vec<String>) {
    let a: SocketAddrV4 = "10.0.0.1:40000".parse().unwrap();
    let b: SocketAddrV4 = "10.0.0.2:80".parse().unwrap();
    let now = Instant::ZERO;
    let mut log = Vec::new();
    let mut client = Connection::connect(now, a, b, SeqNum(1000), 0, Config::default());
    let mut payload = vec![0u8; 2048];
    let mut wire = vec![0u8; 4096];
    let syn = client.poll_transmit(now, &mut payload).unwrap();
    log.push(syn.to_string());
    let len = syn.emit(&mut wire).unwrap();
    let syn = Segment::parse(&wire[..len]).unwrap();
    let mut server = Connection::accept(now, &syn, SeqNum(0xFFFF_FF00), 0, Config::default());
    for _ in 0..3 {
        pump(now, &mut server, &mut client, &mut log);
        pump(now, &mut client, &mut server, &mut log);
    }
    (client, server, log)
}

#[test]
fn handshake_data_and_close_between_two_connections() {
    let (mut c, mut s, mut log) = pair();
    assert_eq!(c.state(), State::Established, "{log:#?}");
    assert_eq!(s.state(), State::Established, "{log:#?}");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    while got.len() < data.len() {
        if sent < data.len() {
            sent += c.send(&data[sent..]).unwrap_or(0);
        }
        pump(now, &mut c, &mut s, &mut log);
        while let Ok(n) = s.recv(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        pump(now, &mut s, &mut c, &mut log);
        now += Duration::from_millis(50);
        c.handle_timeout(now);
        s.handle_timeout(now);
        assert!(
            now < Instant::from_secs(100),
            "stuck: {:#?}",
            &log[log.len().saturating_sub(20)..]
        );
    }
    assert_eq!(got, data);
    c.close();
    pump(now, &mut c, &mut s, &mut log);
    assert_eq!(s.state(), State::CloseWait);
    pump(now, &mut s, &mut c, &mut log);
    assert_eq!(c.state(), State::FinWait2);
    // Every byte acknowledged counted once; our FIN, acknowledged too, is no byte.
    assert_eq!(c.info(now).bytes_acked, data.len() as u64);
    s.close();
    pump(now, &mut s, &mut c, &mut log);
    pump(now, &mut c, &mut s, &mut log);
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(s.state(), State::Closed);
    c.handle_timeout(now + Duration::from_secs(60));
    assert_eq!(c.state(), State::Closed);
}

/// Like `pump`, but drops every `nth` data segment; returns (segments, saw a SACK block).
fn pump_lossy(
    now: Instant,
    from: &mut Connection,
    to: &mut Connection,
    nth: &mut u32,
) -> (usize, bool) {
    let mut n = 0;
    let mut sack = false;
    let mut payload = vec![0u8; 2048];
    let mut wire = vec![0u8; 4096];
    while let Some(seg) = from.poll_transmit(now, &mut payload) {
        sack |= !seg.options.sack.is_empty();
        let len = seg.emit(&mut wire).unwrap();
        n += 1;
        assert!(n < 10_000, "runaway output");
        if !seg.payload.is_empty() {
            *nth += 1;
            if *nth % 23 == 0 {
                continue; // lost
            }
        }
        let parsed = Segment::parse(&wire[..len]).unwrap();
        to.handle_segment(now, &parsed);
    }
    (n, sack)
}

#[test]
fn case_7_forced_iss_near_2_pow_32_with_loss_sack_and_fin_across_the_wrap() {
    let a: SocketAddrV4 = "10.0.0.1:40000".parse().unwrap();
    let b: SocketAddrV4 = "10.0.0.2:80".parse().unwrap();
    let mut now = Instant::ZERO;
    let mut c = Connection::connect(now, a, b, SeqNum(0xFFFF_F000), 0, Config::default());
    let mut payload = vec![0u8; 2048];
    let mut wire = vec![0u8; 4096];
    let syn = c.poll_transmit(now, &mut payload).unwrap();
    let len = syn.emit(&mut wire).unwrap();
    let syn = Segment::parse(&wire[..len]).unwrap();
    assert_eq!(syn.seq, 0xFFFF_F000);
    let mut s = Connection::accept(now, &syn, SeqNum(0xFFFF_FF00), 0, Config::default());
    let mut nth = 0;
    let mut sacked = false;
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let (mut c_sent, mut s_sent) = (0, 0);
    let (mut c_got, mut s_got) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 65536];
    while c_got.len() < data.len() || s_got.len() < data.len() {
        if c.state() == State::Established {
            c_sent += c.send(&data[c_sent..]).unwrap_or(0);
            s_sent += s.send(&data[s_sent..]).unwrap_or(0);
        }
        sacked |= pump_lossy(now, &mut s, &mut c, &mut nth).1;
        sacked |= pump_lossy(now, &mut c, &mut s, &mut nth).1;
        while let Ok(n) = s.recv(&mut buf) {
            assert!(n > 0);
            s_got.extend_from_slice(&buf[..n]);
        }
        while let Ok(n) = c.recv(&mut buf) {
            assert!(n > 0);
            c_got.extend_from_slice(&buf[..n]);
        }
        now += Duration::from_millis(10);
        c.handle_timeout(now);
        s.handle_timeout(now);
        assert!(
            now < Instant::from_secs(600),
            "stuck at {} / {}",
            c_got.len(),
            s_got.len()
        );
    }
    assert!(c_got == data && s_got == data);
    assert!(
        c.snd_nxt().0 < 0x8000_0000 && s.snd_nxt().0 < 0x8000_0000,
        "both wrapped"
    );
    assert!(
        c.stats().retrans_segs > 0 && s.stats().retrans_segs > 0,
        "losses were repaired"
    );
    assert!(sacked, "SACK blocks were sent across the wrap");
    c.close();
    s.close();
    // Both closed at once: FINs cross (lossy too), both sides pass TIME-WAIT (60 s).
    for _ in 0..250 {
        pump_lossy(now, &mut c, &mut s, &mut nth);
        pump_lossy(now, &mut s, &mut c, &mut nth);
        now += Duration::from_millis(300);
        c.handle_timeout(now);
        s.handle_timeout(now);
    }
    assert_eq!(c.state(), State::Closed);
    assert_eq!(s.state(), State::Closed);
}

#[test]
fn a_closed_connection_does_not_process_segments() {
    // RFC 9293 §3.10.7.1: a CLOSED connection has no TCB to process a segment with (the
    // stack answers for its tuple): an in-window SYN draws no challenge ACK and moves no
    // counter but segs_in.
    let (mut c, s, _log) = pair();
    let now = Instant::ZERO;
    c.abort();
    assert_eq!(c.state(), State::Closed);
    let mut buf = [0u8; 64];
    assert!(c.poll_transmit(now, &mut buf).unwrap().flags.rst());
    let before = c.stats();
    let syn = Segment {
        src: "10.0.0.2:80".parse().unwrap(),
        dst: "10.0.0.1:40000".parse().unwrap(),
        seq: c.rcv_nxt().0,
        ack: s.rcv_nxt().0,
        flags: crate::wire::TcpFlags::SYN,
        window: 1000,
        urgent: 0,
        options: crate::wire::TcpOptions::default(),
        payload: &[],
        ip: crate::wire::IpMeta::default(),
    };
    c.handle_segment(now, &syn);
    assert!(c.poll_transmit(now, &mut buf).is_none());
    assert_eq!(c.state(), State::Closed);
    let after = c.stats();
    assert_eq!(after.segs_in, before.segs_in + 1);
    assert_eq!(after.syn_challenges, before.syn_challenges);
}
