//! `tuntcp plot` (issue 20): the content of a time-sequence graph derived from a capture of
//! a known exchange, made here on the virtual clock (a lost segment repaired after SACKs),
//! from a LINKTYPE_RAW capture and from the same packets in Ethernet frames.

mod support;

use support::*;
use tuntcp::device::pcap::PcapWriter;
use tuntcp::plot::{render, AckPoint, Cause, DataSeg, SackMark, TimeSeq, TraceSeries};

/// Unix time of the virtual clock's zero in the capture (and the trace's start line).
const UNIX0: u64 = 1_700_000_000_000_000;

/// The stack and a capture of every packet in and out, at their virtual times.
struct Captured {
    t: Harness,
    packets: Vec<(u64, Vec<u8>)>,
    seen_out: usize,
    trace: String,
}

impl Captured {
    fn new() -> Captured {
        Captured::on(Harness::server(80))
    }
    fn on(mut t: Harness) -> Captured {
        t.stack.set_trace(true);
        Captured {
            t,
            packets: Vec::new(),
            seen_out: 0,
            trace: tuntcp::trace::start_line(UNIX0) + "\n",
        }
    }
    /// Records what the stack sent since the last call (with the times it was sent at).
    fn take_out(&mut self) {
        let n = self.t.raw_out.len() - self.seen_out;
        let times: Vec<u64> = self.t.out.iter().rev().take(n).map(|(ms, _)| *ms).collect();
        for (i, ms) in times.into_iter().rev().enumerate() {
            let pkt = self.t.raw_out[self.seen_out + i].clone();
            self.packets.push((ms, pkt));
        }
        self.seen_out = self.t.raw_out.len();
        while let Some(r) = self.t.stack.poll_trace() {
            self.trace.push_str(&r.to_json());
            self.trace.push('\n');
        }
    }
    fn send(&mut self, ms: u64, spec: Spec) {
        self.t.advance(ms);
        self.take_out();
        let b = self.t.build(&spec);
        self.packets.push((ms, b.clone()));
        self.t.send_raw(ms, &b);
        self.take_out();
    }
    fn raw_pcap(&self) -> Vec<u8> {
        let mut w = PcapWriter::new(Vec::new(), 65535).unwrap();
        for (ms, p) in &self.packets {
            w.write_packet(UNIX0 + ms * 1000, p).unwrap();
        }
        w.into_inner()
    }
    /// The same packets in Ethernet frames (LINKTYPE_ETHERNET), with an ARP frame first.
    fn ethernet_pcap(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
            if v == 0x0004_0002 {
                out.extend_from_slice(&2u16.to_le_bytes());
                out.extend_from_slice(&4u16.to_le_bytes());
            } else {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        let mut frame = |ms: u64, ethertype: u16, payload: &[u8]| {
            let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
            f.extend_from_slice(&ethertype.to_be_bytes());
            f.extend_from_slice(payload);
            let us = UNIX0 + ms * 1000;
            out.extend_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
            out.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&f);
        };
        frame(0, 0x0806, &[0u8; 28]); // ARP: skipped
        for (ms, p) in &self.packets {
            frame(*ms, 0x0800, p);
        }
        out
    }
}

/// Handshake at 0-10 ms (SACK, MSS 1000); five segments at 10 ms; the second is lost;
/// the peer ACKs the first at 20 ms and SACKs the rest at 21, 22, 23 ms; the repair is
/// ACKed 10 ms after it leaves.
fn lossy_exchange() -> (Captured, u32) {
    lossy_exchange_on(Captured::new())
}

/// [`lossy_exchange`] on a given capture (an IPv6 peer with `Harness::server6`).
fn lossy_exchange_on(mut c: Captured) -> (Captured, u32) {
    c.send(0, seg().syn().seq(1000).mss(1000).sack_perm());
    let iss = c.t.out.back().map(|(_, o)| match o {
        support::Out::Tcp(s) => s.seq,
        _ => panic!("SYN-ACK expected"),
    });
    let iss = iss.unwrap();
    c.send(10, seg().ack_flag().seq(1001).ack(iss + 1));
    let h = c.t.stack.accept(80).expect("accepted");
    c.t.stack.send(h, &[1u8; 5000]).unwrap();
    c.t.flush();
    c.take_out();
    let d = iss + 1;
    let ack = |a: u32, sack: &[(u32, u32)]| {
        let s = seg().ack_flag().seq(1001).ack(a);
        if sack.is_empty() {
            s
        } else {
            s.sack(sack)
        }
    };
    c.send(20, ack(d + 1000, &[]));
    c.send(21, ack(d + 1000, &[(d + 2000, d + 3000)]));
    c.send(22, ack(d + 1000, &[(d + 2000, d + 4000)]));
    c.send(23, ack(d + 1000, &[(d + 2000, d + 5000)]));
    let repair = c
        .packets
        .iter()
        .rev()
        .find(|(_, p)| match p[0] >> 4 {
            6 => p.len() > 60 && p[8..24] == US6.octets(),
            _ => p.len() > 40 && p[12..16] == [10, 66, 0, 2],
        })
        .map(|(ms, _)| *ms)
        .unwrap();
    c.send(repair + 10, ack(d + 5000, &[]));
    (c, iss)
}

fn expected_graph(repair_ms: u64) -> (Vec<DataSeg>, Vec<AckPoint>, Vec<SackMark>) {
    let ms = |m: u64| m * 1000;
    let mut data: Vec<DataSeg> = (0..5)
        .map(|i| DataSeg {
            t_us: ms(10),
            start: i * 1000,
            end: (i + 1) * 1000,
            retrans: None,
        })
        .collect();
    data.push(DataSeg {
        t_us: ms(repair_ms),
        start: 1000,
        end: 2000,
        retrans: Some(Cause::Dupacks {
            dupacks: 3,
            sacked: true,
        }),
    });
    let a = |t: u64, ack: u64| AckPoint {
        t_us: ms(t),
        ack,
        win_edge: ack + 65535, // no window scaling offered by the peer
    };
    let acks = vec![
        a(10, 0),
        a(20, 1000),
        a(21, 1000),
        a(22, 1000),
        a(23, 1000),
        a(repair_ms + 10, 5000),
    ];
    let s = |t: u64, end: u64| SackMark {
        t_us: ms(t),
        start: 2000,
        end,
    };
    (data, acks, vec![s(21, 3000), s(22, 4000), s(23, 5000)])
}

#[test]
fn the_graph_of_a_repaired_loss_has_every_segment_ack_and_sack_block() {
    let (c, _) = lossy_exchange();
    let g = TimeSeq::from_pcap(&c.raw_pcap(), Some(80)).unwrap();
    assert_eq!(g.sender, c.t.us, "the stack sent the data");
    assert_eq!(g.receiver, c.t.peer);
    assert_eq!(g.t0_unix_us, UNIX0);
    assert_eq!((g.syn_us, g.fin_us), (Some(0), None));
    let repair_ms = g.data.last().unwrap().t_us / 1000;
    // RFC 6675 / RACK (RFC 8985 §6.2): the third SACK makes segment 2 lost at once.
    assert_eq!(repair_ms, 23, "{:#?}", g.data);
    let (data, acks, sacks) = expected_graph(repair_ms);
    assert_eq!(g.data, data);
    assert_eq!(g.acks, acks);
    assert_eq!(g.sacks, sacks);
    // The same packets in Ethernet frames, behind an ARP frame, give the same graph.
    let e = TimeSeq::from_pcap(&c.ethernet_pcap(), None).unwrap();
    assert_eq!(e, g);
}

#[test]
fn the_trace_lines_up_with_the_capture_and_names_timer_causes() {
    let (c, _) = lossy_exchange();
    let mut g = TimeSeq::from_pcap(&c.raw_pcap(), None).unwrap();
    let s = TraceSeries::from_trace(&c.trace, &g).unwrap();
    // One record per ACK the stack processed: the handshake's and the peer's five.
    let times: Vec<u64> = s.points.iter().map(|p| p.t_us / 1000).collect();
    assert_eq!(times, vec![10, 20, 21, 22, 23, 33]);
    assert_eq!(s.points[0].cwnd, 10 * 1000);
    assert!(s.points[4].ssthresh.is_some(), "recovery set ssthresh");
    assert!(s.timers.is_empty(), "{:?}", s.timers);
    g.explain(&s);
    assert!(matches!(
        g.data.last().unwrap().retrans,
        Some(Cause::Dupacks { .. })
    ));
    // A timer just before a retransmission names it.
    let timed = TraceSeries {
        timers: vec![(23_000 - 400, "rto".into())],
        ..s.clone()
    };
    g.explain(&timed);
    assert_eq!(
        g.data.last().unwrap().retrans,
        Some(Cause::Timer(Some("rto".into())))
    );
    // A trace without its start line cannot be placed on the capture's clock.
    let headless: String = c.trace.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert!(TraceSeries::from_trace(&headless, &g).is_err());
}

#[test]
fn the_svg_draws_the_graph_and_the_trace_panels() {
    let (c, _) = lossy_exchange();
    let g = TimeSeq::from_pcap(&c.raw_pcap(), None).unwrap();
    let s = TraceSeries::from_trace(&c.trace, &g).unwrap();
    let svg = render::svg(&g, Some(&s)).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
    for text in [
        "10.66.0.2:80 &gt; 10.66.0.1:5555: 6 data segments, 1 retransmitted",
        "sender state (from the trace)",
        "RTT estimator (from the trace)",
        "SACK block",
        "\nF\n", // the mark of the fast retransmission
    ] {
        assert!(svg.contains(text), "{text} missing");
    }
    let bare = render::svg(&g, None).unwrap();
    assert!(!bare.contains("sender state"));
}

#[test]
fn a_capture_without_the_port_is_refused() {
    let (c, _) = lossy_exchange();
    let e = TimeSeq::from_pcap(&c.raw_pcap(), Some(443)).unwrap_err();
    assert!(e.contains("port 443"), "{e}");
    assert!(TimeSeq::from_pcap(b"not a pcap", None).is_err());
}

#[test]
fn an_ipv6_capture_gives_the_graph_its_ipv4_twin_gives() {
    let (c4, _) = lossy_exchange();
    let (c6, _) = lossy_exchange_on(Captured::on(Harness::server6(80)));
    assert!(c6.packets.iter().all(|(_, p)| p[0] >> 4 == 6));
    let g4 = TimeSeq::from_pcap(&c4.raw_pcap(), Some(80)).unwrap();
    let g6 = TimeSeq::from_pcap(&c6.raw_pcap(), Some(80)).unwrap();
    assert_eq!((g6.sender, g6.receiver), (c6.t.us, c6.t.peer));
    assert!(g6.sender.is_ipv6(), "{}", g6.sender);
    assert_eq!(g6.data, g4.data);
    assert_eq!(g6.acks, g4.acks);
    assert_eq!(g6.sacks, g4.sacks);
    assert_eq!(g6.data.len(), 6, "five segments and the repair");
}

#[test]
fn ipv6_in_ethernet_and_linux_cooked_frames_gives_the_raw_captures_graph() {
    let (c6, _) = lossy_exchange_on(Captured::on(Harness::server6(80)));
    let raw = TimeSeq::from_pcap(&c6.raw_pcap(), Some(80)).unwrap();
    let packets: Vec<(u64, Vec<u8>)> = c6
        .packets
        .iter()
        .map(|(ms, p)| (UNIX0 + ms * 1000, p.clone()))
        .collect();
    for linktype in [1, 113, 276] {
        let g = TimeSeq::from_pcap(&pcap_in_frames(linktype, &packets), Some(80))
            .unwrap_or_else(|e| panic!("link type {linktype}: {e}"));
        assert_eq!(g, raw, "link type {linktype}");
    }
    assert_eq!(raw.data.len(), 6, "five segments and the repair");
}
