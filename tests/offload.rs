//! TUN offloads, sans-IO: new data leaves in TSO/GSO super-segments of whole SMSS with a
//! partial checksum the device completes; super-segments from the device (its TSO/GRO) are
//! taken whole, trusted only when the device vouched for them, and ACKed at once.

mod support;

use support::*;
use tuntcp::stack::StackConfig;
use tuntcp::wire::offload::{complete_checksum, RxOffload, VnetHdr, GSO_TCPV4};
use tuntcp::wire::{Segment, TcpFlags};

const SMSS: usize = 1460;

fn offload_server() -> Harness {
    Harness::server_with(
        80,
        StackConfig {
            offload: true,
            tcp: tuntcp::tcp::Config {
                send_buffer: 256 * 1024, // fixed: a 100 KB write fits at once
                ..Harness::config().tcp
            },
            ..Harness::config()
        },
    )
}

/// Peer SYN: MSS 1460, window scale 7 (an 8 MB window from the plain 65535), no timestamps
/// so SMSS is exactly 1460.
fn syn() -> Spec {
    seg().mss(1460).ws(7)
}

#[test]
fn tso_new_data_leaves_as_one_super_segment_of_whole_smss_with_a_partial_checksum() {
    let mut t = offload_server();
    let (h, iss) = t.establish(0, 1000, syn());
    assert_eq!(t.stack.send(h, &[7u8; 100_000]), Ok(100_000));
    let mut buf = vec![0u8; 65536];
    let (n, tx) = t
        .stack
        .poll_transmit_offload(instant(0), &mut buf)
        .expect("data to send");
    // IW10 (RFC 6928): ten segments' worth, in one super-segment the device splits.
    assert_eq!(tx.gso_size as usize, SMSS);
    assert!(tx.csum_partial);
    assert!(
        Segment::parse(&buf[..n]).is_err(),
        "a partial checksum does not verify until the device completes it"
    );
    assert!(complete_checksum(&mut buf[..n], 20, 16));
    let s = Segment::parse(&buf[..n]).expect("valid once completed");
    assert_eq!(s.payload.len(), 10 * SMSS);
    assert_eq!(s.seq, iss + 1);
    assert!(s.payload.iter().all(|&b| b == 7));
    let hdr = VnetHdr::for_tx(&buf[..n], tx);
    assert_eq!(
        (hdr.gso_type, hdr.gso_size, hdr.hdr_len),
        (GSO_TCPV4, 1460, 40)
    );
    assert_eq!((hdr.csum_start, hdr.csum_offset), (20, 16));
    assert!(t
        .stack
        .poll_transmit_offload(instant(0), &mut buf)
        .is_none());
    // OutSegs counts the pieces on the wire, as Linux counts gso_segs.
    assert_eq!(t.stack.counters().tcp_out_segs, 1 + 10);

    // One ACK for all ten: RFC 3465 ABC (L = 2) grows cwnd by 2 SMSS, and the next
    // burst is again one super-segment (the harness completes checksums like the device),
    // with PSH as Linux sets it on every GSO packet of more than one segment.
    t.send(
        at(10),
        seg()
            .ack_flag()
            .seq(1001)
            .ack(iss + 1 + 10 * SMSS as u32)
            .win(65535),
    );
    t.expect(
        at(10),
        seg()
            .flags(TcpFlags(TcpFlags::PSH.0 | TcpFlags::ACK.0))
            .seq(iss + 1 + 10 * SMSS as u32)
            .len(12 * SMSS),
    );
}

#[test]
fn tso_a_draining_write_keeps_its_short_tail_and_psh() {
    let mut t = offload_server();
    let (h, iss) = t.establish(0, 1000, syn());
    t.stack.send(h, &[1u8; 5000]).unwrap();
    t.flush();
    // 3 whole segments and a 620-byte tail: one super-segment, PSH on it (MUST-61).
    t.expect(
        at(0),
        seg()
            .flags(TcpFlags(TcpFlags::PSH.0 | TcpFlags::ACK.0))
            .seq(iss + 1)
            .len(5000),
    );
}

#[test]
fn tso_mid_stream_super_segments_end_on_a_segment_boundary() {
    let mut t = offload_server();
    let (h, iss) = t.establish(0, 1000, syn().no_ws());
    t.send(at(1), seg().ack_flag().seq(1001).ack(iss + 1).win(10_000));
    // A 10,000-byte window and plenty queued: 6 whole segments (8,760 bytes), not a
    // 1,240-byte runt piece in mid-stream.
    t.stack.send(h, &[2u8; 100_000]).unwrap();
    t.flush();
    t.expect(at(1), seg().seq(iss + 1).len(6 * SMSS));
}

#[test]
fn tso_retransmissions_are_one_smss() {
    let mut t = offload_server();
    let (h, iss) = t.establish(0, 1000, syn());
    t.stack.send(h, &[3u8; 50_000]).unwrap();
    t.flush();
    t.expect(at(0), seg().seq(iss + 1).len(10 * SMSS));
    // No ACK: the RTO (RFC 6298 §5.4) resends the first segment only, at one SMSS.
    let r = t.expect_between(200, 3000, seg().seq(iss + 1));
    assert_eq!(r.payload.len(), SMSS);
}

/// A 20-segment super-segment from the peer, with a partial checksum as the kernel's TSO
/// leaves it (CHECKSUM_PARTIAL).
fn super_segment(t: &Harness, iss: u32) -> Vec<u8> {
    let payload = vec![9u8; 20 * SMSS];
    let s = Segment {
        src: t.peer,
        dst: t.us,
        seq: 1001,
        ack: iss + 1,
        flags: TcpFlags::ACK,
        window: 65535,
        urgent: 0,
        options: Default::default(),
        payload: &payload,
        ip: Default::default(),
    };
    let mut buf = vec![0; s.buffer_len()];
    s.emit_csum_partial(&mut buf).unwrap();
    buf
}

#[test]
fn gro_a_trusted_super_segment_is_taken_whole_and_acked_at_once() {
    let mut t = offload_server();
    let (h, iss) = t.establish(0, 1000, syn());
    let pkt = super_segment(&t, iss);
    t.advance(at(5));
    t.stack
        .handle_packet_offload(instant(5), &pkt, RxOffload { csum_trusted: true });
    t.flush();
    // RFC 5681 §4.2: it holds 20 full-sized segments, so no delayed ACK.
    t.expect(
        at(5),
        seg().flags(TcpFlags::ACK).ack(1001 + 20 * SMSS as u32),
    );
    assert_eq!(t.read_all(h), vec![9u8; 20 * SMSS]);
    assert_eq!(t.stack.counters().tcp_in_csum_errors, 0);
}

#[test]
fn must_3_a_partial_checksum_the_device_did_not_vouch_for_is_rejected() {
    let mut t = offload_server();
    let (h, iss) = t.establish(0, 1000, syn());
    let pkt = super_segment(&t, iss);
    t.advance(at(5));
    t.stack
        .handle_packet_offload(instant(5), &pkt, RxOffload::default());
    t.expect_nothing_until(at(500));
    assert_eq!(t.stack.counters().tcp_in_csum_errors, 1);
    assert!(t.read_all(h).is_empty());
}

#[test]
fn a_partial_checksum_completed_equals_the_full_one() {
    for len in [0usize, 1, 7, 1459, 1460, 4097, 65000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        let s = Segment {
            src: "10.66.0.2:80".parse().unwrap(),
            dst: "10.66.0.1:40000".parse().unwrap(),
            seq: 0xfffff000,
            ack: 12345,
            flags: TcpFlags::ACK,
            window: 512,
            urgent: 0,
            options: Default::default(),
            payload: &payload,
            ip: Default::default(),
        };
        let mut full = vec![0; s.buffer_len()];
        let mut partial = full.clone();
        s.emit(&mut full).unwrap();
        s.emit_csum_partial(&mut partial).unwrap();
        assert_ne!(
            full, partial,
            "len {len}: the field differs before completion"
        );
        assert!(complete_checksum(&mut partial, 20, 16));
        assert_eq!(full, partial, "len {len}");
    }
}

/// Drains `t` with `poll_transmit_gather`, joining headers and payload as `writev` does.
fn drain_gathered(t: &mut Harness, now: u64) -> Vec<(Vec<u8>, tuntcp::wire::offload::TxOffload)> {
    let mut head = vec![0u8; 65536];
    let mut out = Vec::new();
    while let Some(o) = t.stack.poll_transmit_gather(instant(now), &mut head) {
        out.push(([o.head, o.payload].concat(), o.tx));
    }
    out
}

fn drain_copied(t: &mut Harness, now: u64) -> Vec<(Vec<u8>, tuntcp::wire::offload::TxOffload)> {
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::new();
    while let Some((n, tx)) = t.stack.poll_transmit_offload(instant(now), &mut buf) {
        out.push((buf[..n].to_vec(), tx));
    }
    out
}

#[test]
fn a_gather_write_carries_the_bytes_of_a_copied_one_also_across_the_send_ring_wrap() {
    // Two identical servers; one drained by gather writes, one by copies. A 256 KiB send
    // buffer filled, partly acknowledged and refilled wraps the ring, so some payloads
    // straddle its end (the stack copies those into its scratch buffer either way).
    let (mut a, mut b) = (offload_server(), offload_server());
    let (ha, iss) = a.establish(0, 1000, syn());
    let (hb, iss_b) = b.establish(0, 1000, syn());
    assert_eq!(iss, iss_b, "same seed, same ISS");
    let data: Vec<u8> = (0..600_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let (mut sent_a, mut sent_b, mut acked) = (0, 0, 0usize);
    let mut packets = 0;
    for round in 0..40u64 {
        sent_a += a.stack.send(ha, &data[sent_a..]).unwrap_or(0);
        sent_b += b.stack.send(hb, &data[sent_b..]).unwrap_or(0);
        assert_eq!(sent_a, sent_b);
        let (ga, cb) = (drain_gathered(&mut a, round), drain_copied(&mut b, round));
        assert_eq!(ga, cb, "round {round}");
        packets += ga.len();
        for (p, _) in &ga {
            let mut p = p.clone();
            assert!(complete_checksum(&mut p, 20, 16));
            let s = Segment::parse(&p).expect("valid once completed");
            let off = s.seq.wrapping_sub(iss + 1) as usize;
            assert_eq!(
                s.payload,
                &data[off..off + s.payload.len()],
                "round {round}"
            );
            acked = acked.max(off + s.payload.len());
        }
        // Acknowledge what went out, in two steps so the ring's front moves unevenly.
        for ack in [acked / 2, acked] {
            for t in [&mut a, &mut b] {
                let spec = seg()
                    .ack_flag()
                    .seq(1001)
                    .ack(iss + 1 + ack as u32)
                    .win(65535);
                let bytes = t.build(&spec);
                t.stack.handle_packet(instant(round * 10 + 5), &bytes);
            }
        }
    }
    assert!(
        acked > 300_000,
        "more than the 256 KiB buffer went through: {acked}"
    );
    assert!(packets > 10, "{packets}");
}
