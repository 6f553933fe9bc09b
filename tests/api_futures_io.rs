//! The futures-io flavour of the async API (feature `futures-io`, issue 19): two running
//! stacks back to back over a Unix datagram socket pair (no root), `futures`' own
//! executors on a test thread. Every test is bounded (10 s).

#[path = "support/socket_device.rs"]
mod socket_device;

use futures::executor::{block_on, LocalPool};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::task::{noop_waker, LocalSpawnExt};
use socket_device::SocketDevice;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::net::UnixDatagram;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tuntcp::api::futures_io::{TcpListener, TcpStream};
use tuntcp::api::NetStack;
use tuntcp::stack::StackConfig;

const A: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);
const BOUND: Duration = Duration::from_secs(10);

/// Stack A and stack B, each on one end of the pair.
fn two_stacks() -> (NetStack, NetStack) {
    let (a, b) = UnixDatagram::pair().unwrap();
    let start = |sock: UnixDatagram, addr, seed| {
        sock.set_nonblocking(true).unwrap();
        let cfg = StackConfig {
            addr,
            ..StackConfig::with_seed(seed)
        };
        NetStack::with_device(Box::new(SocketDevice(sock)), cfg, None, None).unwrap()
    };
    (start(a, A, 1), start(b, B, 2))
}

/// Runs `f` on its own thread; fails the test if it takes longer than 10 s.
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(BOUND).expect("finished within 10 s")
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Echoes one stream until EOF, then half-closes.
async fn echo(mut s: TcpStream) {
    let mut buf = vec![0u8; 8192];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = s.close().await;
}

#[test]
fn a_futures_io_echo_returns_a_megabyte_byte_exact_with_reader_and_writer_in_two_tasks() {
    let (a, b) = two_stacks();
    let ok = bounded(move || {
        let mut pool = LocalPool::new();
        let sp = pool.spawner();
        let l = TcpListener::bind(&a, 7, 16).unwrap();
        sp.spawn_local(async move {
            let (s, _) = l.accept().await.unwrap();
            echo(s).await;
        })
        .unwrap();
        pool.run_until(async move {
            let s = TcpStream::connect(&b, (A, 7)).await.unwrap();
            assert_eq!(s.peer_addr().unwrap(), SocketAddr::from((A, 7)));
            let data = pattern(1 << 20, 7);
            let (mut rd, mut wr) = s.split();
            let sent = data.clone();
            let writer = async move {
                wr.write_all(&sent).await.unwrap();
                wr.close().await.unwrap();
            };
            let reader = async move {
                let mut got = Vec::new();
                rd.read_to_end(&mut got).await.unwrap();
                got
            };
            let ((), got) = futures::future::join(writer, reader).await;
            got == data
        })
    });
    assert!(ok, "echoed byte-exact");
}

#[test]
fn a_hundred_concurrent_streams_on_one_thread_each_echo_their_own_bytes() {
    let (a, b) = two_stacks();
    let all = bounded(move || {
        let mut pool = LocalPool::new();
        let sp = pool.spawner();
        let l = TcpListener::bind(&a, 7, 128).unwrap();
        let sp2 = sp.clone();
        sp.spawn_local(async move {
            while let Ok((s, _)) = l.accept().await {
                sp2.spawn_local(echo(s)).unwrap();
            }
        })
        .unwrap();
        let b = std::rc::Rc::new(b);
        let clients: Vec<_> = (0..100u8)
            .map(|i| {
                let b = b.clone();
                async move {
                    let mut s = TcpStream::connect(&b, (A, 7)).await.unwrap();
                    let data = pattern(20_000, i);
                    s.write_all(&data).await.unwrap();
                    let mut got = vec![0; data.len()];
                    s.read_exact(&mut got).await.unwrap();
                    usize::from(got == data)
                }
            })
            .collect();
        pool.run_until(futures::future::join_all(clients))
            .into_iter()
            .sum::<usize>()
    });
    assert_eq!(all, 100, "every stream got its own bytes back");
}

#[test]
fn a_dropped_accept_future_loses_no_connection() {
    let (a, b) = two_stacks();
    let same = bounded(move || {
        let l = TcpListener::bind(&a, 7, 16).unwrap();
        // Polled once (nothing there: it registers its waker), then cancelled.
        {
            let waker = noop_waker();
            let mut cx = Context::from_waker(&waker);
            let fut = pin!(l.accept());
            assert!(fut.poll(&mut cx).is_pending());
        }
        let client = std::thread::spawn(move || {
            let c = block_on(TcpStream::connect(&b, (A, 7))).unwrap();
            (c.local_addr().unwrap(), c, b)
        });
        let (s, peer) = block_on(l.accept()).unwrap();
        let (c_addr, _c, _b) = client.join().unwrap();
        peer == c_addr && s.peer_addr().unwrap() == c_addr
    });
    assert!(same);
}

#[test]
fn a_dropped_connect_future_closes_its_half_open_connection() {
    let (_a, b) = two_stacks();
    bounded(move || {
        {
            // Nobody has 10.66.0.9: the SYN goes unanswered; cancelled while connecting.
            let waker = noop_waker();
            let mut cx = Context::from_waker(&waker);
            let fut = pin!(TcpStream::connect(&b, "10.66.0.9:80"));
            assert!(matches!(fut.poll(&mut cx), Poll::Pending));
        }
        while b.with_stack(|s| s.connections().count()) > 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}

#[test]
fn a_refused_connect_is_connection_refused_and_a_stop_wakes_a_waiting_read() {
    let (a, b) = two_stacks();
    bounded(move || {
        let e = block_on(TcpStream::connect(&b, (A, 9))).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        // A read waiting on an idle stream wakes with an error when the stack stops.
        let l = TcpListener::bind(&a, 7, 16).unwrap();
        let client = std::thread::spawn(move || block_on(TcpStream::connect(&b, (A, 7))));
        let (mut s, _) = block_on(l.accept()).unwrap();
        let _c = client.join().unwrap().unwrap();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            a.shutdown().unwrap();
            a
        });
        let mut buf = [0; 16];
        let r = block_on(s.read(&mut buf));
        let _a = stopper.join().unwrap();
        assert!(r.is_err(), "{r:?}");
    });
}
