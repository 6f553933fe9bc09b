//! The simulated link with an impaired pipe (src/device/impair.rs behind
//! tests/support/link.rs): what the impairer is told to do reaches the receiver.

mod support;

use std::net::{Ipv4Addr, SocketAddrV4};
use support::link::{seed_from_env, Fate, Link, PipeConfig};
use tuntcp::time::{Duration, Instant};
use tuntcp::wire::{IpMeta, Packet, Segment, TcpFlags, TcpOptions};

const A: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 66, 0, 1), 5555);
const B: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 66, 0, 2), 80);
const GAP: Duration = Duration::from_micros(200);

fn segment(seq: u32) -> Vec<u8> {
    let payload = [0x5a; 100];
    let s = Segment {
        src: A.into(),
        dst: B.into(),
        seq,
        ack: 0,
        flags: TcpFlags::ACK,
        window: 65535,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &payload,
        ip: IpMeta::default(),
    };
    let mut buf = vec![0; s.buffer_len()];
    s.emit(&mut buf).expect("emit");
    buf
}

fn impaired(spec: &str) -> PipeConfig {
    PipeConfig {
        impair: Some(spec.parse().expect("impairment spec")),
        ..PipeConfig::default()
    }
}

/// Sends `n` segments (seq 0, 100, 200...) from A, one every `GAP`, and collects what
/// arrives at B in arrival order. Returns the fates and the arrivals.
fn transfer(link: &mut Link, n: u32) -> (Vec<Fate>, Vec<Vec<u8>>) {
    let mut fates = Vec::new();
    let mut got = Vec::new();
    let mut deliver = |link: &mut Link, until: Option<Instant>| {
        while let Some(t) = link
            .next_arrival()
            .filter(|&t| until.is_none_or(|u| t <= u))
        {
            got.extend(std::iter::from_fn(|| link.recv_at_b(t)));
        }
    };
    for i in 0..n {
        let now = Instant::ZERO + GAP * i;
        deliver(link, Some(now));
        fates.push(link.send_from_a(now, segment(i * 100)));
    }
    deliver(link, None);
    (fates, got)
}

#[test]
fn duplication_and_reordering_reach_the_receiver() {
    let seed = seed_from_env(11);
    let n = 2000;
    let mut link = Link::new(
        impaired("dup=10%,reorder=10%,seed=1"),
        PipeConfig::default(),
        seed,
    );
    let (fates, got) = transfer(&mut link, n);
    let st = link.a_to_b.impair_stats();
    let ctx = format!("seed {seed}, {st:?}");

    let seqs: Vec<u32> = got
        .iter()
        .map(|p| match Packet::parse(p) {
            Ok(Packet::Tcp(s)) => s.seq,
            other => panic!("{ctx}: not a clean TCP segment: {other:?}"),
        })
        .collect();
    assert_eq!(seqs.len() as u64, u64::from(n) + st.duplicated, "{ctx}");
    assert!(
        (140..=260).contains(&st.duplicated),
        "about 10% duplicated: {ctx}"
    );

    let mut times = vec![0u32; n as usize];
    for s in &seqs {
        times[(s / 100) as usize] += 1;
    }
    assert!(times.iter().all(|&k| k == 1 || k == 2), "{ctx}");
    let twice = times.iter().filter(|&&k| k == 2).count() as u64;
    assert_eq!(twice, st.duplicated, "{ctx}");

    // Late: behind a higher sequence number already received. Held copies are overtaken by
    // the packets sent in the next millisecond; only the last one or two may not be.
    let mut max = 0;
    let late = seqs
        .iter()
        .filter(|&&s| {
            let behind = s < max;
            max = max.max(s);
            behind
        })
        .count() as u64;
    let copies = seqs.len() as u64;
    assert!(
        (copies * 6 / 100..=copies * 14 / 100).contains(&st.reordered),
        "about 10% held: {ctx}"
    );
    assert!(
        late <= st.reordered && late + 2 >= st.reordered,
        "{late} late, {ctx}"
    );

    let doubled = fates
        .iter()
        .filter(|f| matches!(f, Fate::Impaired { copies: 2, .. }))
        .count() as u64;
    assert_eq!(doubled, st.duplicated, "{ctx}");
    assert!(fates
        .iter()
        .all(|f| matches!(f, Fate::Arrives(_) | Fate::Impaired { .. })));
    assert_eq!(link.b_to_a.impair_stats(), Default::default());
    assert_eq!(link.a_to_b.in_flight(), 0);
    let trace = link.render_trace();
    assert!(trace.contains(" x2") && trace.contains(" HELD"), "{trace}");
}

#[test]
fn checksums_reject_every_corrupted_copy() {
    let seed = seed_from_env(12);
    let mut link = Link::new(impaired("corrupt=20%"), PipeConfig::default(), seed);
    let (fates, got) = transfer(&mut link, 1000);
    let st = link.a_to_b.impair_stats();
    assert_eq!(got.len(), 1000);
    let rejected = got.iter().filter(|p| Packet::parse(p).is_err()).count() as u64;
    assert_eq!(rejected, st.corrupted, "seed {seed}");
    assert!((150..=250).contains(&st.corrupted), "seed {seed}, {st:?}");
    let marked = fates
        .iter()
        .filter(|f| {
            matches!(
                f,
                Fate::Impaired {
                    corrupted: true,
                    ..
                }
            )
        })
        .count() as u64;
    assert_eq!(marked, st.corrupted);
}

#[test]
fn a_noop_impairer_changes_nothing() {
    let seed = seed_from_env(13);
    let lossy = PipeConfig {
        loss: 0.1,
        ..PipeConfig::default()
    };
    let noop = PipeConfig {
        impair: Some(Default::default()),
        ..lossy.clone()
    };
    let mut plain = Link::symmetric(lossy, seed);
    let mut with = Link::symmetric(noop, seed);
    let a = transfer(&mut plain, 500);
    let b = transfer(&mut with, 500);
    assert!(
        a.0.contains(&Fate::Lost),
        "the pipe's own loss still applies"
    );
    assert_eq!(a, b, "seed {seed}");
}
