//! The async API (feature `tokio`, issue 19): two running stacks back to back over a Unix
//! datagram socket pair (no root), tokio's current-thread runtime on the test's thread.
//! Every wait is bounded (10 s).

#[path = "support/socket_device.rs"]
mod socket_device;

use socket_device::SocketDevice;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use tuntcp::api::tokio::{TcpListener, TcpStream};
use tuntcp::api::NetStack;
use tuntcp::stack::StackConfig;

const A: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const A6: Ipv6Addr = Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);
const BOUND: Duration = Duration::from_secs(10);

/// Stack A and stack B, each on one end of the pair.
fn two_stacks() -> (NetStack, NetStack) {
    let (a, b) = UnixDatagram::pair().unwrap();
    let start = |sock: UnixDatagram, addr, addr6, seed| {
        sock.set_nonblocking(true).unwrap();
        let cfg = StackConfig {
            addr,
            addr6,
            ..StackConfig::with_seed(seed)
        };
        NetStack::with_device(Box::new(SocketDevice(sock)), cfg, None, None).unwrap()
    };
    // B keeps the default IPv6 address (fd66::2).
    (
        start(a, A, Some(A6), 1),
        start(b, B, StackConfig::default().addr6, 2),
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Echoes every connection on `l` (one task each).
async fn echo_server(l: TcpListener) {
    loop {
        let Ok((mut s, _)) = l.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn an_async_echo_returns_a_megabyte_byte_exact_with_reader_and_writer_in_two_tasks() {
    let (a, b) = two_stacks();
    rt().block_on(async {
        let l = TcpListener::bind(&a, 7, 16).unwrap();
        tokio::spawn(echo_server(l));
        let s = timeout(BOUND, TcpStream::connect(&b, (A, 7)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.peer_addr().unwrap(), SocketAddr::from((A, 7)));
        let data = pattern(1 << 20, 7);
        // Split: the writer and the reader wait in different tasks at once.
        let (mut rd, mut wr) = tokio::io::split(s);
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            wr.write_all(&sent).await.unwrap();
            wr.shutdown().await.unwrap();
            wr
        });
        let mut got = Vec::new();
        timeout(BOUND, rd.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.len(), data.len());
        assert!(got == data, "echoed byte-exact");
        drop(writer.await.unwrap());
    });
}

#[test]
fn a_hundred_concurrent_streams_on_one_thread_each_echo_their_own_bytes() {
    let (a, b) = two_stacks();
    rt().block_on(async {
        tokio::spawn(echo_server(TcpListener::bind(&a, 7, 128).unwrap()));
        let b = std::sync::Arc::new(b);
        let mut set = tokio::task::JoinSet::new();
        for i in 0..100u8 {
            let b = b.clone();
            set.spawn(async move {
                let mut s = TcpStream::connect(&b, (A, 7)).await.unwrap();
                let data = pattern(20_000, i);
                s.write_all(&data).await.unwrap();
                let mut got = vec![0; data.len()];
                s.read_exact(&mut got).await.unwrap();
                got == data
            });
        }
        let all = timeout(BOUND, async {
            let mut ok = 0;
            while let Some(r) = set.join_next().await {
                ok += usize::from(r.unwrap());
            }
            ok
        })
        .await
        .unwrap();
        assert_eq!(all, 100, "every stream got its own bytes back");
    });
}

#[test]
fn a_dropped_accept_future_loses_no_connection() {
    let (a, b) = two_stacks();
    rt().block_on(async {
        let l = TcpListener::bind(&a, 7, 16).unwrap();
        // Cancelled while waiting: nothing had arrived.
        assert!(timeout(Duration::from_millis(50), l.accept())
            .await
            .is_err());
        let client = tokio::spawn(async move {
            let s = TcpStream::connect(&b, (A, 7)).await.unwrap();
            (s, b)
        });
        let (s, peer) = timeout(BOUND, l.accept()).await.unwrap().unwrap();
        let (c, _b) = client.await.unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
    });
}

#[test]
fn a_dropped_connect_future_closes_its_half_open_connection() {
    let (_a, b) = two_stacks();
    rt().block_on(async {
        // Nobody has 10.66.0.9: the SYN goes unanswered.
        let r = timeout(
            Duration::from_millis(50),
            TcpStream::connect(&b, "10.66.0.9:80"),
        )
        .await;
        assert!(r.is_err(), "still connecting when cancelled");
        let t0 = std::time::Instant::now();
        while b.with_stack(|s| s.connections().count()) > 0 {
            assert!(t0.elapsed() < BOUND, "the half-open connection stayed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
}

#[test]
fn async_connect_reports_refused_as_std_kinds_in_both_families() {
    let (_a, b) = two_stacks();
    rt().block_on(async {
        let Err(e) = timeout(BOUND, TcpStream::connect(&b, (A, 9)))
            .await
            .unwrap()
        else {
            panic!("nobody listens on 9")
        };
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
        let Err(e) = timeout(BOUND, TcpStream::connect(&b, (A6, 9)))
            .await
            .unwrap()
        else {
            panic!("nobody listens on [fd66::1]:9")
        };
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
        let Err(e) = TcpStream::connect(&b, "[::1]:80").await else {
            panic!("no loopback on the link")
        };
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    });
}

#[test]
fn an_async_echo_over_ipv6_on_a_listener_bound_to_the_unspecified_ipv6_address() {
    let (a, b) = two_stacks();
    rt().block_on(async {
        let l = TcpListener::bind(&a, "[::]:7", 16).unwrap();
        assert_eq!(l.local_addr().unwrap(), SocketAddr::from((A6, 7)));
        tokio::spawn(echo_server(l));
        let mut s = timeout(BOUND, TcpStream::connect(&b, "[fd66::1]:7"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.peer_addr().unwrap(), SocketAddr::from((A6, 7)));
        assert_eq!(s.local_addr().unwrap().ip(), b.local_addr6().unwrap());
        let data = pattern(100_000, 6);
        s.write_all(&data).await.unwrap();
        s.shutdown().await.unwrap();
        let mut got = Vec::new();
        timeout(BOUND, s.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert!(got == data, "echoed byte-exact over IPv6");
    });
}

#[test]
fn an_async_transparent_listener_accepts_any_destination_in_its_prefix() {
    let (a, b) = UnixDatagram::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    let cfg_a = StackConfig {
        addr: A,
        transparent: vec!["198.51.100.0/24".parse().unwrap()],
        ..StackConfig::with_seed(1)
    };
    let a = NetStack::with_device(Box::new(SocketDevice(a)), cfg_a, None, None).unwrap();
    let cfg_b = StackConfig {
        addr: B,
        ..StackConfig::with_seed(2)
    };
    let b = NetStack::with_device(Box::new(SocketDevice(b)), cfg_b, None, None).unwrap();
    rt().block_on(async {
        let l = TcpListener::bind_transparent(&a, 16).unwrap();
        let dst = std::net::SocketAddr::from((Ipv4Addr::new(198, 51, 100, 7), 443));
        let (client, accepted) = tokio::join!(
            timeout(BOUND, TcpStream::connect(&b, dst)),
            timeout(BOUND, l.accept())
        );
        let mut client = client.unwrap().unwrap();
        let (mut s, peer) = accepted.unwrap().unwrap();
        assert_eq!(s.local_addr().unwrap(), dst);
        assert_eq!(peer, client.local_addr().unwrap());
        client.write_all(b"hello").await.unwrap();
        let mut buf = [0; 5];
        timeout(BOUND, s.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf, b"hello");
    });
}

#[test]
fn an_async_deferring_listener_refuses_then_completes_held_syns() {
    let (a, b) = UnixDatagram::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    let cfg_a = StackConfig {
        addr: A,
        transparent: vec!["198.51.100.0/24".parse().unwrap()],
        ..StackConfig::with_seed(1)
    };
    let a = NetStack::with_device(Box::new(SocketDevice(a)), cfg_a, None, None).unwrap();
    let cfg_b = StackConfig {
        addr: B,
        ..StackConfig::with_seed(2)
    };
    let b = NetStack::with_device(Box::new(SocketDevice(b)), cfg_b, None, None).unwrap();
    rt().block_on(async {
        let l = TcpListener::bind_transparent(&a, 16).unwrap();
        l.set_defer_handshake(Some(Duration::from_secs(30)))
            .unwrap();
        // Refused: the client's connect fails as refused.
        let closed = std::net::SocketAddr::from((Ipv4Addr::new(198, 51, 100, 7), 8001));
        let (client, pending) =
            tokio::join!(timeout(BOUND, TcpStream::connect(&b, closed)), async {
                let p = timeout(BOUND, l.accept_pending()).await.unwrap().unwrap();
                assert_eq!(p.local_addr(), closed);
                p.refuse().unwrap();
            });
        let () = pending;
        match client.unwrap() {
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused),
            Ok(_) => panic!("connected through a refused SYN"),
        }
        // Completed: the handshake finishes, data flows.
        let open = std::net::SocketAddr::from((Ipv4Addr::new(198, 51, 100, 7), 443));
        let (client, accepted) =
            tokio::join!(timeout(BOUND, TcpStream::connect(&b, open)), async {
                let p = timeout(BOUND, l.accept_pending()).await.unwrap().unwrap();
                TcpStream::from_std(p.complete().unwrap()).unwrap()
            });
        let mut client = client.unwrap().unwrap();
        let mut s = accepted;
        assert_eq!(s.local_addr().unwrap(), open);
        client.write_all(b"hello").await.unwrap();
        let mut buf = [0; 5];
        timeout(BOUND, s.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf, b"hello");
    });
}
