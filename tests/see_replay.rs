//! `tuntcp replay` (issue 20): a capture of our own stack, made here on the virtual clock
//! in the event loop's order (input, timers, apps, output), replays exactly; with another
//! seed (another ISN and TSval offset) too; a capture that differs is marked where it does.

mod support;

use support::*;
use tuntcp::apps::inloop::{InLoopConfig, Servers};
use tuntcp::device::pcap::PcapWriter;
use tuntcp::replay::{replay, Role};
use tuntcp::service::Service;
use tuntcp::stack::{Stack, StackConfig};
use tuntcp::time::Instant;
use tuntcp::wire::{Segment, TcpFlags};

/// Our stack serving HTTP in the loop's order, and every packet in and out.
struct Serve {
    stack: Stack,
    apps: Servers,
    packets: Vec<(u64, Vec<u8>)>,
    /// Builds the client's segments (its own stack is not used).
    client: Harness,
    /// What the client last heard: our sequence number after it and our TSval.
    our_next: u32,
    our_tsval: u32,
}

impl Serve {
    fn new(seed: u64) -> Serve {
        Serve::with_client(seed, Harness::server(80))
    }

    /// `client` builds the peer's segments (`Harness::server6`: an IPv6 peer).
    fn with_client(seed: u64, client: Harness) -> Serve {
        let cfg = StackConfig {
            addr: US,
            prefix_len: 24,
            mtu: 1500,
            ..StackConfig::with_seed(seed)
        };
        let mut stack = Stack::new(cfg);
        let mut apps = Servers::new(InLoopConfig::default());
        apps.start(&mut stack).unwrap();
        Serve {
            stack,
            apps,
            packets: Vec::new(),
            client,
            our_next: 0,
            our_tsval: 0,
        }
    }

    /// Timers up to `ms`, then the client's segment at `ms`, each followed by a turn.
    fn send(&mut self, ms: u64, spec: Spec) {
        let now = Instant::from_millis(ms);
        while let Some(t) = [self.stack.poll_timeout(), self.apps.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .filter(|t| *t <= now)
        {
            self.stack.handle_timeout(t);
            self.turn(t);
        }
        let b = self.client.build(&spec);
        self.packets.push((ms, b.clone()));
        self.stack.handle_packet(now, &b);
        self.turn(now);
    }

    fn turn(&mut self, now: Instant) {
        let mut touched = Vec::new();
        self.stack.take_touched(&mut touched);
        self.apps.poll(&mut self.stack, now, &touched);
        let mut buf = vec![0; 65536];
        while let Some(n) = self.stack.poll_transmit(now, &mut buf) {
            let s = seg_any(&buf[..n]).unwrap();
            let end = s.seq.wrapping_add(s.seq_len());
            if end.wrapping_sub(self.our_next) as i32 > 0 || self.our_next == 0 {
                self.our_next = end;
            }
            self.our_tsval = s.options.timestamps.map_or(0, |t| t.tsval);
            self.packets.push((now.micros() / 1000, buf[..n].to_vec()));
        }
    }

    fn pcap(&self) -> Vec<u8> {
        let mut w = PcapWriter::new(Vec::new(), 65535).unwrap();
        for (ms, p) in &self.packets {
            w.write_packet(1_700_000_000_000_000 + ms * 1000, p)
                .unwrap();
        }
        w.into_inner()
    }
}

/// A client fetches GET /bytes/20000 and closes: handshake with timestamps, SACK and
/// window scaling; ACKs every other segment 10 ms after; FIN after the response.
fn capture_of_serve(seed: u64) -> Vec<u8> {
    capture_of(Serve::new(seed))
}

/// A TCP segment over either family.
fn seg_any(b: &[u8]) -> Option<Segment<'_>> {
    match b.first()? >> 4 {
        6 => match tuntcp::wire::Packet6::parse(b).ok()? {
            tuntcp::wire::Packet6::Tcp(s) => Some(Segment::from(s)),
            _ => None,
        },
        _ => Segment::parse(b).ok(),
    }
}

/// [`capture_of_serve`] with a given server and client.
fn capture_of(mut s: Serve) -> Vec<u8> {
    let ts = |ms: u64, ecr: u32| (1000 + ms as u32, ecr);
    let (v, e) = ts(0, 0);
    s.send(
        0,
        seg().syn().seq(5000).mss(1460).ws(7).sack_perm().ts(v, e),
    );
    let req = b"GET /bytes/20000 HTTP/1.1\r\nHost: 10.66.0.2\r\n\r\n";
    let (v, e) = ts(10, s.our_tsval);
    s.send(
        10,
        seg().ack_flag().seq(5001).ack(s.our_next).win(512).ts(v, e),
    );
    s.send(
        10,
        seg()
            .psh()
            .ack_flag()
            .seq(5001)
            .ack(s.our_next)
            .win(512)
            .ts(v, e)
            .data(req),
    );
    let after_req = 5001 + req.len() as u32;
    for ms in (20..200).step_by(10) {
        let (v, e) = ts(ms, s.our_tsval);
        s.send(
            ms,
            seg()
                .ack_flag()
                .seq(after_req)
                .ack(s.our_next)
                .win(512)
                .ts(v, e),
        );
    }
    let (v, e) = ts(200, s.our_tsval);
    s.send(
        200,
        seg()
            .fin()
            .ack_flag()
            .seq(after_req)
            .ack(s.our_next)
            .win(512)
            .ts(v, e),
    );
    s.pcap()
}

fn flags_sent(pcap: &[u8]) -> Vec<TcpFlags> {
    flags_sent_by(pcap, US.into())
}

fn flags_sent_by(pcap: &[u8], us: std::net::IpAddr) -> Vec<TcpFlags> {
    tuntcp::device::pcap::PcapReader::new(pcap)
        .unwrap()
        .filter_map(|r| seg_any(r.unwrap().packet).map(|s| (s.src.ip(), s.flags)))
        .filter(|(ip, _)| *ip == us)
        .map(|(_, f)| f)
        .collect()
}

#[test]
fn a_capture_of_our_own_stack_replays_exactly() {
    let pcap = capture_of_serve(7);
    let sent = flags_sent(&pcap);
    assert!(
        sent.len() > 15,
        "the response took several segments: {sent:?}"
    );
    assert!(sent.iter().any(|f| f.fin()), "we closed too");
    for seed in [7, 99] {
        let cfg = StackConfig::with_seed(seed);
        let r = replay(&pcap, Some(80), Role::Server, cfg).unwrap();
        let text = r.text();
        assert_eq!(r.differences(), 0, "seed {seed}:\n{text}");
        assert_eq!(r.rows.len(), sent.len(), "{text}");
        for row in &r.rows {
            let (a, b) = (row.capture.as_ref().unwrap(), row.ours.as_ref().unwrap());
            assert_eq!(a.t_us, b.t_us, "at the same times too:\n{text}");
        }
        assert!(
            text.ends_with(&format!("{} rows, 0 differ\n", sent.len())),
            "{text}"
        );
    }
}

#[test]
fn a_segment_the_capture_lacks_is_one_marked_row() {
    let pcap = capture_of_serve(7);
    // Drop our fourth segment from the capture.
    let mut w = PcapWriter::new(Vec::new(), 65535).unwrap();
    let mut ours = 0;
    for r in tuntcp::device::pcap::PcapReader::new(&pcap).unwrap() {
        let r = r.unwrap();
        let s = Segment::parse(r.packet).unwrap();
        if s.src.ip() == US {
            ours += 1;
            if ours == 4 {
                continue;
            }
        }
        w.write_packet(r.micros, r.packet).unwrap();
    }
    let r = replay(
        &w.into_inner(),
        None,
        Role::Server,
        StackConfig::with_seed(3),
    )
    .unwrap();
    let text = r.text();
    assert_eq!(r.differences(), 1, "{text}");
    let odd: Vec<_> = r.rows.iter().filter(|r| !r.same()).collect();
    assert!(odd[0].capture.is_none() && odd[0].ours.is_some(), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with('!')).count(),
        1,
        "{text}"
    );
}

#[test]
fn a_capture_without_a_handshake_is_refused() {
    let pcap = capture_of_serve(7);
    let mut w = PcapWriter::new(Vec::new(), 65535).unwrap();
    for r in tuntcp::device::pcap::PcapReader::new(&pcap)
        .unwrap()
        .skip(2)
    {
        let r = r.unwrap();
        w.write_packet(r.micros, r.packet).unwrap();
    }
    let e = replay(
        &w.into_inner(),
        None,
        Role::Server,
        StackConfig::with_seed(1),
    )
    .unwrap_err();
    assert!(e.contains("no SYN"), "{e}");
}

#[test]
fn a_capture_of_our_own_stack_over_ipv6_replays_exactly() {
    let pcap = capture_of(Serve::with_client(7, Harness::server6(80)));
    let sent = flags_sent_by(&pcap, US6.into());
    assert!(sent.len() > 15, "the response over IPv6: {sent:?}");
    assert!(sent.iter().any(|f| f.fin()), "we closed too");
    let r = replay(&pcap, Some(80), Role::Server, StackConfig::with_seed(99)).unwrap();
    let text = r.text();
    assert_eq!(r.us, std::net::SocketAddr::from((US6, 80)), "{text}");
    assert_eq!(r.differences(), 0, "{text}");
    assert_eq!(r.rows.len(), sent.len(), "{text}");
}

#[test]
fn an_ipv6_capture_in_ethernet_or_linux_cooked_frames_replays_as_the_raw_one() {
    let raw = capture_of(Serve::with_client(7, Harness::server6(80)));
    let packets: Vec<(u64, Vec<u8>)> = tuntcp::device::pcap::PcapReader::new(&raw)
        .unwrap()
        .map(|r| r.map(|r| (r.micros, r.packet.to_vec())).unwrap())
        .collect();
    let want = replay(&raw, Some(80), Role::Server, StackConfig::with_seed(99)).unwrap();
    assert!(want.rows.len() > 15, "{}", want.text());
    for linktype in [1, 113, 276] {
        let framed = pcap_in_frames(linktype, &packets);
        let r = replay(&framed, Some(80), Role::Server, StackConfig::with_seed(99))
            .unwrap_or_else(|e| panic!("link type {linktype}: {e}"));
        assert_eq!(r.us, std::net::SocketAddr::from((US6, 80)), "{linktype}");
        assert_eq!(r.differences(), 0, "link type {linktype}: {}", r.text());
        assert_eq!(r.rows.len(), want.rows.len(), "link type {linktype}");
    }
}
