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
    let mut client = Connection::connect(now, a, b, SeqNum(1000), Config::default());
    let mut payload = vec![0u8; 2048];
    let mut wire = vec![0u8; 4096];
    let syn = client.poll_transmit(now, &mut payload).unwrap();
    log.push(syn.to_string());
    let len = syn.emit(&mut wire).unwrap();
    let syn = Segment::parse(&wire[..len]).unwrap();
    let mut server = Connection::accept(now, &syn, SeqNum(0xFFFF_FF00), Config::default());
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
    s.close();
    pump(now, &mut s, &mut c, &mut log);
    pump(now, &mut c, &mut s, &mut log);
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(s.state(), State::Closed);
    c.handle_timeout(now + Duration::from_secs(60));
    assert_eq!(c.state(), State::Closed);
}
