//! Every counter `tuntcp nstat` prints can move: scenarios on scripted peers (each on a
//! fresh stack, at explicit virtual times) drive each one above zero, and each scenario
//! checks the counters it is about. A counter no scenario can move is a counter that
//! should not be printed (see `src/stack/stats.rs`).

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use support::ip6::*;
use support::*;
use tuntcp::stack::stats::Counters;
use tuntcp::time::Duration;
use tuntcp::wire::{IcmpMessage, IcmpPacket, Icmpv6Message, TcpFlags};

/// Runs one scenario on its own stack and checks that each of `names` ended above zero.
#[track_caller]
fn scenario(
    totals: &mut BTreeMap<&'static str, u64>,
    names: &[&str],
    h: Harness,
    f: impl FnOnce(&mut Harness),
) {
    let mut h = h;
    f(&mut h);
    let c = h.stack.counters();
    let zero: Vec<&&str> = names.iter().filter(|n| c.get(n) == Some(0)).collect();
    for n in names {
        assert!(c.get(n).is_some(), "{n} is not a counter");
    }
    if !zero.is_empty() {
        h.fail(&format!("still zero: {zero:?}\n{}", nstat_lines(&c)));
    }
    for (n, v) in c.iter() {
        *totals.entry(n).or_default() += v;
    }
}

fn nstat_lines(c: &Counters) -> String {
    c.iter()
        .map(|(n, v)| format!("{n} {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Recomputes the IPv4 header checksum of a 20-byte header.
fn fix_ip_checksum(p: &mut [u8]) {
    p[10..12].copy_from_slice(&[0, 0]);
    let s = tuntcp::wire::checksum_finish(tuntcp::wire::checksum_add(0, &p[..20]));
    p[10..12].copy_from_slice(&s.to_be_bytes());
}

/// An IPv4 fragment of `raw`'s payload: `payload` at byte `offset`, datagram `ident`.
fn fragment(raw: &[u8], ident: u16, payload: &[u8], offset: u16, more: bool) -> Vec<u8> {
    let mut p = raw[..20].to_vec();
    p.extend_from_slice(payload);
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[4..6].copy_from_slice(&ident.to_be_bytes());
    let flags_off = (offset / 8) | if more { 0x2000 } else { 0 };
    p[6..8].copy_from_slice(&flags_off.to_be_bytes());
    fix_ip_checksum(&mut p);
    p
}

#[test]
fn every_counter_nstat_prints_is_driven_above_zero_by_some_scenario() {
    let mut totals = BTreeMap::new();

    scenario(
        &mut totals,
        &[
            "IpInReceives",
            "IpInHdrErrors",
            "IpExtInCsumErrors",
            "IpExtInTruncatedPkts",
            "IpInAddrErrors",
            "IpExtInBcastPkts",
            "IpExtInMcastPkts",
            "IpInUnknownProtos",
            "IcmpOutDestUnreachs",
            "IcmpOutMsgs",
            "IpInDelivers",
            "TcpInSegs",
            "TcpInErrs",
            "TcpInCsumErrors",
            "TcpOutRsts",
            "TcpOutSegs",
            "IpOutRequests",
            "IpExtInOctets",
            "IpExtOutOctets",
        ],
        Harness::server(80),
        |h| {
            let good = h.build(&seg().syn().seq(1000));
            let mut bad_version = good.clone();
            bad_version[0] = 0x65;
            h.send_raw(at(0), &bad_version);
            let mut bad_sum = good.clone();
            bad_sum[10] ^= 0xff;
            h.send_raw(at(1), &bad_sum);
            h.send_raw(at(2), &good[..good.len() - 4]); // shorter than its total length
            let elsewhere = |a: [u8; 4]| seg().syn().seq(1).to(SocketAddrV4::new(a.into(), 80));
            h.send(at(3), elsewhere([10, 66, 0, 9]));
            h.send(at(4), elsewhere([10, 66, 0, 255]));
            h.send(at(5), elsewhere([224, 0, 0, 1]));
            assert!(h.drain().is_empty(), "nothing answers these");
            // UDP: a protocol we do not run is answered Protocol Unreachable.
            let mut udp = good.clone();
            udp[9] = 17;
            fix_ip_checksum(&mut udp);
            h.send_raw(at(6), &udp);
            let reply = IcmpPacket::parse(h.raw_out.last().expect("an ICMP error")).unwrap();
            assert!(
                matches!(reply.message, IcmpMessage::DestUnreachable { code: 2, .. }),
                "{reply:?}"
            );
            h.drain();
            let mut bad_tcp = h.build(&seg().syn().seq(1000).data(b"x"));
            let n = bad_tcp.len();
            bad_tcp[n - 1] ^= 0xff;
            h.send_raw(at(7), &bad_tcp);
            h.send(at(8), seg().syn().seq(1).to(SocketAddrV4::new(US, 81)));
            h.expect(at(8), seg().flags(TcpFlags::RST | TcpFlags::ACK).ack(2));
        },
    );

    scenario(
        &mut totals,
        &[
            "IcmpInMsgs",
            "IcmpInErrors",
            "IcmpInCsumErrors",
            "IcmpInDestUnreachs",
            "IcmpInTimeExcds",
            "IcmpInParmProbs",
            "IcmpInSrcQuenchs",
            "IcmpInRedirects",
            "IcmpInEchos",
            "IcmpInEchoReps",
            "IcmpOutEchoReps",
        ],
        Harness::with_config(Harness::config()),
        |h| {
            let quoted = h.build(&seg().from(SocketAddrV4::new(US, 80)).to(h.peer))[..28].to_vec();
            let q = &quoted[..];
            let echo = |ident| IcmpMessage::EchoRequest {
                ident,
                seq: 1,
                data: b"ping",
            };
            h.send_raw(at(0), &icmp_packet(echo(1)));
            assert_eq!(h.raw_out.len(), 1, "the echo is answered");
            let mut bad = icmp_packet(echo(2));
            let n = bad.len();
            bad[n - 1] ^= 0xff;
            h.send_raw(at(1), &bad);
            for (i, m) in [
                IcmpMessage::EchoReply {
                    ident: 1,
                    seq: 1,
                    data: b"",
                },
                IcmpMessage::DestUnreachable {
                    code: 3,
                    next_hop_mtu: 0,
                    original: q,
                },
                IcmpMessage::TimeExceeded {
                    code: 0,
                    original: q,
                },
                IcmpMessage::ParameterProblem {
                    pointer: 0,
                    original: q,
                },
                IcmpMessage::SourceQuench { original: q },
                IcmpMessage::Other {
                    icmp_type: 5,
                    code: 1,
                    rest: [10, 66, 0, 254],
                    data: q,
                },
            ]
            .into_iter()
            .enumerate()
            {
                h.send_raw(at(2 + i as u64), &icmp_packet(m));
            }
        },
    );

    scenario(
        &mut totals,
        &[
            "IpReasmReqds",
            "IpReasmOKs",
            "IpReasmFails",
            "IpReasmTimeout",
            "IpExtReasmOverlaps",
            "IcmpOutTimeExcds",
        ],
        Harness::server(80),
        |h| {
            let raw = h.build(&seg().syn().seq(1000).mss(1460).data(&[0xab; 40]));
            let (first, second) = raw[20..].split_at(16);
            h.send_raw(at(0), &fragment(&raw, 1, second, 16, false));
            h.send_raw(at(1), &fragment(&raw, 1, first, 0, true));
            h.expect(at(1), seg().flags(TcpFlags::SYN | TcpFlags::ACK).ack(1001));
            // Overlapping fragments kill the datagram.
            h.send_raw(at(2), &fragment(&raw, 2, first, 0, true));
            h.send_raw(at(3), &fragment(&raw, 2, &raw[28..44], 8, true));
            // Fragment 0 alone: Time Exceeded after the 30 s reassembly timeout.
            h.send_raw(at(4), &fragment(&raw, 3, first, 0, true));
            h.advance(at(31_000));
        },
    );

    scenario(
        &mut totals,
        &[
            "TcpActiveOpens",
            "TcpPassiveOpens",
            "TcpAttemptFails",
            "TcpEstabResets",
            "TcpRetransSegs",
            "TcpExtTCPSynRetrans",
            "TcpExtTCPTimeouts",
            "TcpExtEmbryonicRsts",
        ],
        Harness::server(80),
        |h| {
            // An active open nobody answers: the SYN goes again after the 1 s initial RTO,
            // then the peer refuses.
            h.stack.connect(instant(0), h.peer).unwrap();
            h.flush();
            let syn = h.expect(at(0), seg().flags(TcpFlags::SYN));
            h.expect(at(1000), seg().flags(TcpFlags::SYN).seq(syn.seq));
            h.send(
                at(1010),
                seg()
                    .rst()
                    .ack_flag()
                    .ack(syn.seq + 1)
                    .to(syn.src)
                    .from(h.peer),
            );
            // A passive open reset in SYN-RECEIVED.
            h.peer = SocketAddrV4::new(PEER, 6010).into();
            h.send(at(1020), seg().syn().seq(5000));
            h.expect(at(1020), seg().flags(TcpFlags::SYN | TcpFlags::ACK));
            h.send(at(1030), seg().rst().seq(5001));
            // An established connection reset by the peer.
            h.peer = SocketAddrV4::new(PEER, 6011).into();
            let (_c, _) = h.establish(at(1040), 7000, seg());
            h.send(at(1050), seg().rst().seq(7001));
        },
    );

    scenario(
        &mut totals,
        &[
            "TcpExtSyncookiesSent",
            "TcpExtSyncookiesRecv",
            "TcpExtSyncookiesFailed",
            "TcpExtListenOverflows",
            "TcpExtListenDrops",
        ],
        Harness::with_config(Harness::config()),
        |h| {
            h.stack.listen(90, 1).unwrap();
            h.us = SocketAddrV4::new(US, 90).into();
            // A: half-open; the SYN queue (1) is now full.
            h.peer = SocketAddrV4::new(PEER, 6020).into();
            h.send(at(0), seg().syn().seq(100));
            let sa_a = h.expect(at(0), seg().flags(TcpFlags::SYN | TcpFlags::ACK));
            // B: answered with a cookie, which its ACK brings back.
            h.peer = SocketAddrV4::new(PEER, 6021).into();
            h.send(at(1), seg().syn().seq(200));
            let sa_b = h.expect(at(1), seg().flags(TcpFlags::SYN | TcpFlags::ACK));
            h.send(at(2), seg().seq(201).ack(sa_b.seq.wrapping_add(1)));
            // C: an ACK with a cookie we never sent.
            h.peer = SocketAddrV4::new(PEER, 6022).into();
            h.send(at(3), seg().seq(301).ack(12345));
            h.expect(at(3), seg().flags(TcpFlags::RST).seq(12345));
            // A completes: the accept queue holds 2 > backlog 1; D's SYN overflows it.
            h.peer = SocketAddrV4::new(PEER, 6020).into();
            h.send(at(4), seg().seq(101).ack(sa_a.seq + 1));
            h.peer = SocketAddrV4::new(PEER, 6023).into();
            h.send(at(5), seg().syn().seq(400));
            h.expect_nothing_until(at(6));
        },
    );

    scenario(
        &mut totals,
        &["TcpExtTCPAckCompressed"],
        Harness::server(80),
        |h| {
            // Four segments above a hole: three ACKs at once, the fourth's held 1 ms (SACK
            // compression, tests/sack_compression.rs), then sent: none merged away...
            let (_c, iss) = h.establish_rtt(at(0), 20, 1000, seg().sack_perm());
            for k in 1..=5u32 {
                let d = seg().ack_flag().seq(1001 + 100 * k).ack(iss + 1);
                h.send(at(30), d.data(&[7; 100]));
            }
            assert_eq!(h.drain().len(), 3);
            // ...but the fifth's was held with it: one ACK carries both.
            h.advance(at(31));
            assert_eq!(h.drain().len(), 1);
        },
    );

    scenario(
        &mut totals,
        &[
            "TcpCurrEstab",
            "TcpExtTCPOrigDataSent",
            "TcpExtTCPSackRecovery",
            "TcpExtTCPFastRetrans",
            "TcpExtDelayedACKs",
            "TcpExtTCPRcvCoalesce",
            "TcpExtTCPOFOQueue",
            "TcpExtPAWSEstab",
            "TcpExtTCPChallengeACK",
            "TcpExtTCPSYNChallenge",
        ],
        // No quick ACKs at the start, so the first data gets a delayed ACK.
        Harness::server_with(80, {
            let mut cfg = Harness::config();
            cfg.tcp.quick_acks = 0;
            cfg
        }),
        |h| {
            // A 10 ms RTT, so the tail loss probe (2 * SRTT) does not beat the SACKs.
            let (c, iss) = h.establish_rtt(at(0), 10, 1000, seg().mss(1460).sack_perm().ts(100, 0));
            let smss = 1448; // 1460 less the timestamp option
            h.stack.send(c, &vec![7u8; 10 * smss]).unwrap();
            h.flush();
            let sent = h.drain();
            assert_eq!(sent.len(), 10, "an initial window of 10 segments");
            // Segment 0 is lost; SACKs for 1..=3 trigger SACK recovery (RACK: the reordering
            // window is zero once 3 segments are SACKed).
            let una = iss + 1;
            let s = |k: u32| una + k * smss as u32;
            for k in 2..=4 {
                h.send(
                    at(20),
                    seg().seq(1001).ack(una).ts(101, 0).sack(&[(s(1), s(k))]),
                );
            }
            h.expect(at(20), seg().seq(una).len(smss));
            h.send(at(25), seg().seq(1001).ack(s(10)).ts(102, 0));
            // Data from the peer: a delayed ACK, a coalesced segment, an out-of-order one.
            let p = 1001u32;
            h.send(at(30), seg().seq(p).ack(s(10)).ts(103, 0).data(&[1; 100]));
            h.expect(at(70), seg().flags(TcpFlags::ACK).ack(p + 100)); // 40 ms delayed ACK
            h.send(
                at(80),
                seg().seq(p + 100).ack(s(10)).ts(104, 0).data(&[2; 100]),
            );
            h.send(
                at(90),
                seg().seq(p + 300).ack(s(10)).ts(105, 0).data(&[3; 100]),
            );
            h.expect(at(90), seg().ack(p + 200).sack(&[(p + 300, p + 400)]));
            // An old timestamp (PAWS), an in-window RST and a SYN: ACKs, nothing more.
            h.send(
                at(100),
                seg().seq(p + 200).ack(s(10)).ts(50, 0).data(&[4; 10]),
            );
            h.expect(at(100), seg().flags(TcpFlags::ACK).ack(p + 200));
            h.send(at(110), seg().rst().seq(p + 1000));
            h.expect(at(110), seg().flags(TcpFlags::ACK).ack(p + 200));
            h.send(at(120), seg().syn().seq(p + 200).ts(106, 0));
            h.expect(at(120), seg().flags(TcpFlags::ACK).ack(p + 200));
            assert_eq!(h.stack.counters().tcp_curr_estab, 1);
        },
    );

    scenario(
        &mut totals,
        &["TcpExtTCPACKSkippedSeq", "TcpExtTCPACKSkippedPAWS"],
        Harness::server(80),
        |h| {
            let (_c, iss) = h.establish(at(0), 1000, seg().ts(100, 0));
            h.send(at(1), seg().seq(1001).ack(iss + 1).ts(101, 0));
            // Pure ACKs outside the window, then with an old timestamp: the first of each
            // kind is answered, the second within 500 ms is not (tcp_invalid_ratelimit).
            h.send(at(10), seg().seq(900_000).ack(iss + 1).ts(102, 0));
            h.expect(at(10), seg().flags(TcpFlags::ACK).ack(1001));
            h.send(at(20), seg().seq(900_000).ack(iss + 1).ts(102, 0));
            h.send(at(30), seg().seq(1001).ack(iss + 1).ts(50, 0));
            h.expect_nothing_until(at(600));
            h.send(at(600), seg().seq(1001).ack(iss + 1).ts(50, 0));
            h.expect(at(600), seg().flags(TcpFlags::ACK).ack(1001));
            h.send(at(610), seg().seq(1001).ack(iss + 1).ts(50, 0));
            h.expect_nothing_until(at(700));
        },
    );

    scenario(
        &mut totals,
        &["TcpExtTCPRenoRecovery", "TcpExtTCPFastRetrans"],
        Harness::server(80),
        |h| {
            let (c, iss) = h.establish(at(0), 1000, seg().mss(1460));
            h.stack.send(c, &vec![7u8; 10 * 1460]).unwrap();
            h.flush();
            assert_eq!(h.drain().len(), 10);
            for _ in 0..3 {
                h.send(at(10), seg().seq(1001).ack(iss + 1));
            }
            h.expect(at(10), seg().seq(iss + 1).len(1460));
        },
    );

    let mut short_r2 = Harness::config();
    short_r2.tcp.retries2 = 2;
    scenario(
        &mut totals,
        &[
            "TcpExtTCPAbortOnTimeout",
            "TcpExtTCPAbortOnClose",
            "TcpExtTCPAbortOnData",
            "TcpExtTCPKeepAlive",
            "TcpExtTCPZeroWindowDrop",
        ],
        Harness::server_with(80, short_r2),
        |h| {
            // Data never acknowledged: R2 (2 retransmissions here) gives up.
            h.peer = SocketAddrV4::new(PEER, 6030).into();
            let (c, _) = h.establish(at(0), 1000, seg());
            h.stack.send(c, b"hello").unwrap();
            h.advance(at(60_000));
            assert_eq!(
                h.stack.recv(c, &mut [0; 8]),
                Err(tuntcp::tcp::Error::TimedOut)
            );
            h.drain();
            // close() with unread data resets.
            h.peer = SocketAddrV4::new(PEER, 6031).into();
            let (c, iss) = h.establish(at(60_000), 2000, seg());
            h.send(at(60_010), seg().seq(2001).ack(iss + 1).data(b"unread"));
            h.stack.close(c);
            h.flush();
            assert!(h.drain().iter().any(|s| s.flags.rst()));
            // Data after close() resets.
            h.peer = SocketAddrV4::new(PEER, 6032).into();
            let (c, iss) = h.establish(at(60_020), 3000, seg());
            h.stack.close(c);
            h.flush();
            h.send(at(60_030), seg().seq(3001).ack(iss + 2).data(b"late"));
            assert!(h.drain().iter().any(|s| s.flags.rst()));
            // An idle connection with keep-alive on is probed.
            h.peer = SocketAddrV4::new(PEER, 6033).into();
            let (c, iss) = h.establish(at(60_040), 4000, seg());
            h.stack.with_connection(c, |k| {
                k.set_keepalive(true);
                k.set_keepalive_times(Duration::from_secs(1), Duration::from_secs(1), 3);
            });
            h.flush();
            h.expect(at(61_040), seg().flags(TcpFlags::ACK).seq(iss));
            // A full receive buffer: data at RCV.NXT is dropped.
            h.peer = SocketAddrV4::new(PEER, 6034).into();
            let (c, iss) = h.establish(at(61_050), 5000, seg());
            h.stack.with_connection(c, |k| k.set_recv_buffer(1000));
            h.send(at(61_060), seg().seq(5001).ack(iss + 1).data(&[1; 1000]));
            h.send(at(61_070), seg().seq(6001).ack(iss + 1).data(&[2; 100]));
        },
    );

    let mut one_bucket = Harness::config();
    one_bucket.max_tw_buckets = 1;
    scenario(
        &mut totals,
        &["TcpExtTW", "TcpExtTWRecycled", "TcpExtTCPTimeWaitOverflow"],
        Harness::server_with(80, one_bucket),
        |h| {
            // We close first and the peer's FIN puts us in TIME-WAIT.
            let to_time_wait = |h: &mut Harness, port: u16, ms: u64| {
                h.peer = SocketAddrV4::new(PEER, port).into();
                let (c, iss) = h.establish(at(ms), 1000, seg().ts(100, 0));
                h.stack.close(c);
                h.flush();
                h.expect(at(ms), seg().flags(TcpFlags::FIN | TcpFlags::ACK));
                h.send(
                    at(ms + 1),
                    seg().fin().ack_flag().seq(1001).ack(iss + 2).ts(101, 0),
                );
                h.expect(at(ms + 1), seg().flags(TcpFlags::ACK).ack(1002));
            };
            to_time_wait(h, 6040, 0);
            // A new SYN with a newer timestamp takes the tuple over (RFC 6191).
            h.send(at(10), seg().syn().seq(90_000).ts(200, 0));
            h.expect(at(10), seg().flags(TcpFlags::SYN | TcpFlags::ACK));
            to_time_wait(h, 6041, 20);
            to_time_wait(h, 6042, 30); // one bucket, already taken
            h.advance(at(61_000)); // 2 MSL
        },
    );

    scenario(
        &mut totals,
        &["TcpExtPruneCalled", "TcpExtOfoPruned", "TcpExtTCPOFODrop"],
        Harness::server(80),
        |h| {
            // A 1,000-byte buffer is charged up to 2,000 (Linux sk_rcvbuf), 257 per
            // one-byte range: the eighth range is dropped, a lower one prunes the highest.
            let (c, iss) = h.establish(at(0), 1000, seg().mss(1460).sack_perm());
            h.stack.with_connection(c, |k| k.set_recv_buffer(1000));
            for k in 1..=8u32 {
                h.send(at(10), seg().seq(1001 + 10 * k).ack(iss + 1).data(b"x"));
            }
            h.send(at(20), seg().seq(1006).ack(iss + 1).data(b"y"));
        },
    );

    let mut tight = Harness::config();
    tight.tcp_mem = [1, 1, 2]; // pages: pressure above 4 KiB, hard limit above 8 KiB
    tight.max_orphans = 0;
    scenario(
        &mut totals,
        &[
            "TcpExtTCPMemoryPressures",
            "TcpExtTCPRcvQDrop",
            "TcpExtTCPAbortOnMemory",
        ],
        Harness::server_with(80, tight),
        |h| {
            // Unread data past the hard limit: the segments after it are dropped.
            let (_c, iss) = h.establish(at(0), 1000, seg().mss(1460));
            for k in 0..8u32 {
                h.send(
                    at(10),
                    seg().seq(1001 + 1448 * k).ack(iss + 1).data(&[1; 1448]),
                );
            }
            h.drain();
            // An orphan over max_orphans (0) is reset at close.
            h.peer = SocketAddrV4::new(PEER, 6050).into();
            let (c, _) = h.establish(at(20), 2000, seg().mss(1460));
            h.stack.close(c);
            h.flush();
            h.expect(at(20), seg().flags(TcpFlags::RST | TcpFlags::ACK));
        },
    );

    scenario(
        &mut totals,
        &["TcpExtTCPLossProbes", "TcpExtTCPLossProbeRecovery"],
        Harness::server(80),
        |h| {
            // RACK-TLP (RFC 8985): the last segment is lost; the probe at the PTO (capped by
            // the RTO at 240 ms) repairs it; an ACK beyond the probe shows the loss was real.
            let (c, iss) = h.establish_rtt(at(0), 20, 1000, seg().mss(1000).sack_perm());
            let d = iss + 1;
            h.stack.send(c, &[1; 10_000]).unwrap();
            h.flush();
            h.drain();
            h.send(at(40), seg().seq(1001).ack(d + 9000));
            h.expect(at(240), seg().seq(d + 9000).len(1000));
            h.send(at(260), seg().seq(1001).ack(d + 10_000));
            h.stack.send(c, &[2; 1000]).unwrap();
            h.flush();
            h.send(at(280), seg().seq(1001).ack(d + 11_000));
        },
    );

    scenario(
        &mut totals,
        &["TcpExtTCPLostRetransmit"],
        Harness::server(80),
        |h| {
            // RACK: segment 2's fast retransmission is lost too; data sent after it and
            // SACKed an RTT later shows it (RFC 8985 §6.2).
            let (c, iss) = h.establish_rtt(at(0), 20, 1000, seg().mss(1000).sack_perm());
            let d = iss + 1;
            h.stack.send(c, &[1; 20_000]).unwrap();
            h.flush();
            h.drain();
            h.send(
                at(40),
                seg()
                    .seq(1001)
                    .ack(d + 1000)
                    .sack(&[(d + 2000, d + 10_000)]),
            );
            let out = h.drain();
            assert_eq!(out[0].seq, d + 1000, "fast retransmission first");
            let top = out.last().map(|s| s.seq + s.payload.len() as u32).unwrap();
            h.send(
                at(60),
                seg().seq(1001).ack(d + 1000).sack(&[(d + 2000, top)]),
            );
            h.expect(at(60), seg().seq(d + 1000).len(1000));
        },
    );

    scenario(
        &mut totals,
        &["TcpExtTCPDSACKOldSent", "TcpExtTCPDSACKOfoSent"],
        {
            let mut cfg = Harness::config();
            cfg.tcp.quick_acks = 0; // delayed ACKs from the start, as the trace expects
            Harness::server_with(80, cfg)
        },
        |h| {
            // RFC 2883: data received twice, below RCV.NXT and held out of order.
            let (_, iss) = h.establish(at(0), 1000, seg().sack_perm());
            let a = iss + 1;
            h.send(at(10), seg().seq(1001).ack(a).data(&[1; 100]));
            h.send(at(20), seg().seq(1001).ack(a).data(&[1; 100]));
            h.expect(at(20), seg().ack(1101).sack(&[(1001, 1101)]));
            h.send(at(30), seg().seq(1201).ack(a).data(&[2; 100]));
            h.send(at(30), seg().seq(1201).ack(a).data(&[2; 100]));
            h.expect(at(30), seg().ack(1101).sack(&[(1201, 1301)]));
            h.expect(at(30), seg().ack(1101).sack(&[(1201, 1301), (1201, 1301)]));
        },
    );

    scenario(
        &mut totals,
        &["TcpExtTCPSpuriousRTOs", "TcpExtTCPLossUndo"],
        Harness::server(80),
        |h| {
            // F-RTO (RFC 5682 §3): the path stalls past the RTO (262 ms, after the loss
            // probe at 62 ms); the ACKs that follow acknowledge data never resent.
            let (c, iss) = h.establish_rtt(at(0), 20, 1000, seg().mss(1000).sack_perm());
            let d = iss + 1;
            h.stack.send(c, &[1; 30_000]).unwrap();
            h.advance(at(262));
            h.drain();
            h.send(at(270), seg().seq(1001).ack(d + 1000));
            h.send(at(275), seg().seq(1001).ack(d + 2000));
        },
    );

    scenario(
        &mut totals,
        &["TcpExtTCPDSACKUndo", "TcpExtTCPFullUndo"],
        Harness::server(80),
        |h| {
            // Fast recovery resends a segment that was only late: undone by the timestamp
            // echo of the ACK ending recovery (RFC 3522), and on a second connection by
            // the D-SACK of its copy (RFC 3708).
            let syn = seg().mss(1012).sack_perm().ts(100, 0);
            let (c, iss) = h.establish_rtt(at(0), 20, 1000, syn);
            let d = iss + 1;
            h.stack.send(c, &[1; 10_000]).unwrap();
            h.flush();
            let ts0 = h.drain()[0].options.timestamps.unwrap().tsval;
            let sack = [(d + 2000, d + 10_000)];
            h.send(
                at(40),
                seg().seq(1001).ack(d + 1000).ts(200, ts0).sack(&sack),
            );
            h.send(at(45), seg().seq(1001).ack(d + 10_000).ts(201, ts0));
            h.drain();
            h.peer = SocketAddrV4::new(PEER, 6060).into();
            let (c, iss) = h.establish_rtt(at(100), 20, 1000, seg().mss(1000).sack_perm());
            let d = iss + 1;
            h.stack.send(c, &[1; 10_000]).unwrap();
            h.flush();
            h.drain();
            let sack = [(d + 2000, d + 10_000)];
            h.send(at(140), seg().seq(1001).ack(d + 1000).sack(&sack));
            h.send(at(145), seg().seq(1001).ack(d + 10_000));
            h.send(
                at(160),
                seg()
                    .seq(1001)
                    .ack(d + 10_000)
                    .sack(&[(d + 1000, d + 2000)]),
            );
        },
    );

    scenario(
        &mut totals,
        &["TcpExtTCPSackRecoveryFail", "TcpExtTCPRenoRecoveryFail"],
        Harness::server(80),
        |h| {
            // The RTO fires during fast recovery, with SACK and (second connection) without.
            let (c, iss) = h.establish_rtt(at(0), 20, 1000, seg().mss(1000).sack_perm());
            let d = iss + 1;
            h.stack.send(c, &[1; 10_000]).unwrap();
            h.flush();
            h.drain();
            h.send(
                at(40),
                seg()
                    .seq(1001)
                    .ack(d + 1000)
                    .sack(&[(d + 2000, d + 10_000)]),
            );
            h.advance(at(300));
            h.drain();
            h.peer = SocketAddrV4::new(PEER, 6061).into();
            let (c, iss) = h.establish_rtt(at(400), 20, 1000, seg().mss(1000));
            let d = iss + 1;
            h.stack.send(c, &[1; 10_000]).unwrap();
            h.flush();
            h.drain();
            // Segment 2 is lost: an ACK, then three duplicates (RFC 5681 §3.2).
            for k in 0..4 {
                h.send(at(440 + k), seg().seq(1001).ack(d + 1000));
            }
            h.advance(at(1000));
        },
    );

    scenario(&mut totals, &["IpOutDiscards"], Harness::server(80), |h| {
        let (c, _) = h.establish(at(0), 1000, seg());
        h.stack.send(c, &[1; 100]).unwrap();
        let mut small = [0u8; 60];
        assert_eq!(h.stack.poll_transmit(instant(0), &mut small), None);
    });

    scenario(
        &mut totals,
        &["TcpExtOutOfWindowIcmps"],
        Harness::server(80),
        |h| {
            let (c, iss) = h.establish(at(0), 1000, seg());
            h.stack.send(c, &[1; 100]).unwrap();
            h.flush();
            let mut q = h.raw_out.last().unwrap()[..28].to_vec();
            q[24..28].copy_from_slice(&iss.wrapping_sub(1000).to_be_bytes());
            h.send_raw(
                at(1),
                &icmp_packet(IcmpMessage::DestUnreachable {
                    code: 4,
                    next_hop_mtu: 576,
                    original: &q,
                }),
            );
            assert_eq!(h.stack.connection(c).unwrap().path_mtu(), 1500);
        },
    );

    let mut probing = Harness::config();
    probing.tcp.mtu_probing = 2;
    probing.tcp.initial_cwnd = 11;
    scenario(
        &mut totals,
        &["TcpExtTCPMTUPSuccess", "TcpExtTCPMTUPFail"],
        Harness::with_config(probing),
        |h| {
            let (c, _) = h.connect(at(0), 5000, seg().mss(1460));
            h.stack.send(c, &[3; 60_000]).unwrap();
            let end = |v: &[Owned]| v.iter().map(|s| s.seq + s.payload.len() as u32).max();
            let first = h.drain();
            assert_eq!(first[0].payload.len(), 1242, "a probe");
            h.send(at(10), seg().seq(5001).ack(end(&first).unwrap()));
            let second = h.drain();
            assert_eq!(second[0].payload.len(), 1351, "the next probe");
            for i in 0..3 {
                h.send(at(20 + i), seg().seq(5001).ack(second[0].seq));
            }
        },
    );

    // ---- IPv6 (Linux /proc/net/snmp6) ----
    scenario(
        &mut totals,
        &[
            "Ip6InReceives",
            "Ip6InOctets",
            "Ip6InHdrErrors",
            "Ip6InTruncatedPkts",
            "Ip6InAddrErrors",
            "Ip6InMcastPkts",
            "Ip6InUnknownProtos",
            "Ip6InDelivers",
            "Ip6OutRequests",
            "Ip6OutOctets",
            "Icmp6InMsgs",
            "Icmp6InEchos",
            "Icmp6OutMsgs",
            "Icmp6OutEchoReplies",
            "Icmp6OutParmProblems",
        ],
        Harness::server6(80),
        v6_input_checks,
    );

    scenario(
        &mut totals,
        &[
            "Icmp6InErrors",
            "Icmp6InCsumErrors",
            "Icmp6InDestUnreachs",
            "Icmp6InPktTooBigs",
            "Icmp6InTimeExcds",
            "Icmp6InParmProblems",
            "Icmp6InEchoReplies",
        ],
        Harness::server6(80),
        |h| {
            let quote = ping6(1, 1, &[0; 8]);
            let errors = [
                Icmpv6Message::DestUnreachable {
                    code: 4,
                    original: &quote,
                },
                Icmpv6Message::PacketTooBig {
                    mtu: 1280,
                    original: &quote,
                },
                Icmpv6Message::TimeExceeded {
                    code: 0,
                    original: &quote,
                },
                Icmpv6Message::ParameterProblem {
                    code: 0,
                    pointer: 0,
                    original: &quote,
                },
                Icmpv6Message::EchoReply {
                    ident: 1,
                    seq: 1,
                    data: b"pong",
                },
            ];
            for (i, m) in errors.into_iter().enumerate() {
                h.send_raw(at(i as u64), &icmp6(PEER6, US6, m));
            }
            let mut bad = ping6(2, 2, b"ping");
            *bad.last_mut().unwrap() ^= 0xff;
            h.send_raw(at(10), &bad);
            h.flush();
            assert!(
                h.raw_out.is_empty(),
                "no reply to a bad checksum or an error"
            );
        },
    );

    let mut off6 = Harness::config();
    off6.addr6 = None;
    scenario(
        &mut totals,
        &["Ip6InDiscards"],
        Harness::with_config(off6),
        |h| h.send_raw(at(0), &ping6(3, 3, b"x")),
    );

    scenario(
        &mut totals,
        &[
            "Ip6ReasmReqds",
            "Ip6ReasmOKs",
            "Ip6ReasmFails",
            "Ip6ReasmTimeout",
            "Icmp6OutTimeExcds",
        ],
        Harness::server6(80),
        |h| {
            for f in fragments6(&ping6(4, 1, &[5; 300]), 1, &[96]) {
                h.send_raw(at(0), &f);
            }
            // Fragment 0 alone: given up after 60 s with Time Exceeded (RFC 8200 §4.5).
            h.send_raw(at(1), &fragments6(&ping6(4, 2, &[6; 300]), 2, &[96])[0]);
            h.advance(61_000);
        },
    );

    scenario(
        &mut totals,
        &["Ip6OutDiscards"],
        Harness::server6(80),
        |h| {
            let (c, _) = h.establish(at(0), 1000, seg().mss(1440));
            h.stack.send(c, &[1; 100]).unwrap();
            let mut small = [0u8; 80];
            assert_eq!(h.stack.poll_transmit(instant(0), &mut small), None);
        },
    );

    scenario(
        &mut totals,
        &[
            "IpExtInNoECTPkts",
            "IpExtInECT1Pkts",
            "IpExtInECT0Pkts",
            "IpExtInCEPkts",
            "TcpExtTCPDeliveredCE",
        ],
        Harness::server(80),
        |h| {
            // An ECN-setup SYN (RFC 3168 §6.1.1), then data with each codepoint; our data
            // acknowledged with ECE.
            let ece_cwr = TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR;
            h.send(at(0), seg().flags(ece_cwr).seq(1000).mss(1000));
            let sa = TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE;
            let iss = h.expect(at(0), seg().flags(sa)).seq;
            h.send(at(1), seg().ack_flag().seq(1001).ack(iss + 1));
            let c = h.stack.accept(80).expect("accepted");
            for (i, ecn) in [1u8, 2, 3].into_iter().enumerate() {
                let mut s = seg().seq(1001 + 10 * i as u32).ack(iss + 1).data(&[1; 10]);
                s.ip = Some(tuntcp::wire::IpMeta {
                    tos: ecn,
                    ..Default::default()
                });
                h.send(at(10 + i as u64), s);
            }
            h.stack.send(c, &[1; 1000]).unwrap();
            h.drain();
            let ece = TcpFlags::ACK | TcpFlags::ECE;
            h.send(at(20), seg().flags(ece).seq(1031).ack(iss + 1001));
        },
    );

    scenario(
        &mut totals,
        &[
            "Ip6InNoECTPkts",
            "Ip6InECT1Pkts",
            "Ip6InECT0Pkts",
            "Ip6InCEPkts",
        ],
        Harness::server6(80),
        |h| {
            let syn = h.build(&seg().syn().seq(1000));
            for (ms, ecn) in [(0, 0u8), (1, 1), (2, 2), (3, 3)] {
                let mut p = syn.clone();
                p[1] = (p[1] & 0xcf) | (ecn << 4); // Traffic Class's ECN bits
                h.send_raw(at(ms), &p);
            }
        },
    );

    scenario(
        &mut totals,
        &["TcpExtTCPSACKReneging"],
        Harness::server(80),
        |h| {
            // Segments 2-3 SACKed, then an ACK that stops at them: a timeout finding them
            // still at SND.UNA forgets the SACKs (RFC 2018 §8).
            let (c, iss) = h.establish(at(0), 1000, seg().sack_perm().mss(1000));
            let d = iss + 1;
            h.stack.send(c, &[1; 5000]).unwrap();
            h.flush();
            h.send(at(1), seg().seq(1001).ack(d).sack(&[(d + 1000, d + 3000)]));
            h.send(at(2), seg().seq(1001).ack(d + 1000));
            h.advance(1000);
        },
    );

    let missing: Vec<&str> = Counters::NAMES
        .iter()
        .copied()
        .filter(|n| totals.get(n).copied().unwrap_or(0) == 0)
        .collect();
    assert!(
        missing.is_empty(),
        "counters no scenario moved (count them or stop printing them): {missing:?}"
    );
}

// ---- IPv6 helpers and exact counts ----

/// Eight IPv6 packets in, each meeting one check of `ip6_rcv_core` / `ip6_input_finish`.
fn v6_input_checks(h: &mut Harness) {
    let ping = ping6(7, 1, b"hello");
    h.send_raw(at(0), &ping[..20]); // shorter than the fixed header
    h.send_raw(at(0), &ping[..ping.len() - 1]); // shorter than its Payload Length
    let to = |dst: &str| {
        let mut p = ping.clone();
        let a: std::net::Ipv6Addr = dst.parse().unwrap();
        p[24..40].copy_from_slice(&a.octets());
        p
    };
    let (other, mcast) = (to("fd66::9"), to("ff02::1"));
    h.send_raw(at(0), &other); // not ours
    h.send_raw(at(0), &mcast); // multicast: not ours either
    let mut src = ping.clone();
    src[8..24].copy_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    h.send_raw(at(0), &src); // a loopback source
    let mut udp = ping.clone();
    udp[6] = 17; // UDP: Parameter Problem code 1 (RFC 4443 §3.4)
    h.send_raw(at(0), &udp);
    h.send_raw(at(1), &ping); // answered
    h.drain(); // the Parameter Problem and the Echo Reply (kept in raw_out)
}

#[test]
fn ipv6_packets_count_in_ip6_and_icmp6_as_linux_snmp6_and_not_in_ip() {
    let mut h = Harness::server6(80);
    v6_input_checks(&mut h);
    let (c, iss) = h.establish(at(10), 1000, seg().mss(1440));
    h.send(at(20), seg().ack_flag().seq(1001).ack(iss + 1).data(b"abc"));
    h.stack.close(c);
    h.flush();
    let n = h.stack.counters();
    let get = |name| n.get(name).unwrap();
    let want = [
        ("Ip6InReceives", 7 + 3), // and SYN, ACK, data
        ("Ip6InHdrErrors", 2),    // the short header, the loopback source
        ("Ip6InTruncatedPkts", 1),
        ("Ip6InAddrErrors", 2),
        ("Ip6InMcastPkts", 1),
        ("Ip6InUnknownProtos", 1),
        ("Ip6InDelivers", 1 + 3), // the ping and the three segments
        ("Icmp6InMsgs", 1),
        ("Icmp6InEchos", 1),
        ("Icmp6OutMsgs", 2),
        ("Icmp6OutParmProblems", 1),
        ("Icmp6OutEchoReplies", 1),
        // Parameter Problem, Echo Reply, SYN-ACK, the ACK of the data, RST (unread data).
        ("Ip6OutRequests", h.raw_out.len() as u64),
        ("IpInReceives", 0),
        ("IpOutRequests", 0),
        ("IcmpOutMsgs", 0),
        ("TcpInSegs", 3),
    ];
    let got: Vec<_> = want.iter().map(|&(k, _)| (k, get(k))).collect();
    assert_eq!(got, want.to_vec(), "{:?}", h.trace);
    assert_eq!(h.raw_out.len(), 5, "{:?}", h.trace);
    let octets: usize = h.raw_out.iter().map(|p| p.len()).sum();
    assert_eq!(get("Ip6OutOctets"), octets as u64);
}
