//! `TcpListener::bind_transparent` over a running `NetStack` without root (the device is a
//! Unix datagram socket pair, a client stack on the test's end): a connection to an address
//! inside the prefix is accepted with that address as `local_addr`, and carries data.

#[path = "support/api_peer.rs"]
mod api_peer;
#[path = "support/socket_device.rs"]
mod socket_device;

use api_peer::{Client, CLIENT, SERVER};
use socket_device::SocketDevice;
use std::io::{Read, Write};
use std::net::{SocketAddr, SocketAddrV4};
use std::os::unix::net::UnixDatagram;
use tuntcp::api::{NetStack, TcpListener};
use tuntcp::stack::{Stack, StackConfig};
use tuntcp::tcp::State;

fn setup() -> (NetStack, Client) {
    let (dev, test_end) = UnixDatagram::pair().unwrap();
    dev.set_nonblocking(true).unwrap();
    test_end.set_nonblocking(true).unwrap();
    let net = NetStack::with_device(
        Box::new(SocketDevice(dev)),
        StackConfig {
            addr: SERVER,
            seed: 3,
            transparent: vec!["198.51.100.0/24".parse().unwrap()],
            ..StackConfig::default()
        },
        None,
        None,
    )
    .unwrap();
    let client = Client {
        stack: Stack::new(StackConfig {
            addr: CLIENT,
            seed: 4,
            ..StackConfig::default()
        }),
        sock: test_end,
        start: std::time::Instant::now(),
        buf: vec![0; 65536],
        rsts: Vec::new(),
    };
    (net, client)
}

#[test]
fn bind_transparent_accepts_any_destination_as_local_addr() {
    let (net, mut client) = setup();
    let l = TcpListener::bind_transparent(&net, 16).unwrap();
    assert_eq!(
        TcpListener::bind_transparent(&net, 16).unwrap_err().kind(),
        std::io::ErrorKind::AddrInUse
    );
    let dst = SocketAddrV4::new("198.51.100.7".parse().unwrap(), 443);
    let (stream, h) = std::thread::scope(|s| {
        let t = s.spawn(|| l.accept().map(|(s, _)| s));
        let now = client.now();
        let h = client.stack.connect(now, dst).unwrap();
        client.pump_until("the accept", |_| t.is_finished());
        (t.join().unwrap().expect("accept"), h)
    });
    assert_eq!(stream.local_addr().unwrap(), SocketAddr::V4(dst));
    assert_eq!(
        client.stack.connection(h).map(|c| c.state()),
        Some(State::Established)
    );
    // Data both ways.
    client.stack.send(h, b"ping").unwrap();
    let mut buf = [0; 4];
    api_peer::run(&mut client, || (&stream).read_exact(&mut buf)).unwrap();
    assert_eq!(&buf, b"ping");
    (&stream).write_all(b"pong").unwrap();
    let mut got = Vec::new();
    client.pump_until("the answer", |c| {
        let mut b = [0; 16];
        if let Ok(n) = c.stack.recv(h, &mut b) {
            got.extend_from_slice(&b[..n]);
        }
        got.len() >= 4
    });
    assert_eq!(got, b"pong");
}

#[test]
fn deferred_handshake_completes_or_refuses_through_the_api() {
    let (net, mut client) = setup();
    let l = TcpListener::bind_transparent(&net, 16).unwrap();
    l.set_defer_handshake(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    // Refused: the client's connect fails as refused, having seen no SYN-ACK.
    let refused = SocketAddrV4::new("198.51.100.7".parse().unwrap(), 8001);
    let now = client.now();
    let h = client.stack.connect(now, refused).unwrap();
    let p = api_peer::run(&mut client, || l.accept_pending()).unwrap();
    assert_eq!(p.local_addr(), SocketAddr::V4(refused));
    assert_eq!(p.peer_addr(), client.stack.connection(h).unwrap().local());
    assert_eq!(
        client.stack.connection(h).map(|c| c.state()),
        Some(State::SynSent)
    );
    p.refuse().unwrap();
    client.pump_until("the refusal", |c| c.error(h).is_some());
    assert_eq!(client.error(h), Some(tuntcp::tcp::Error::Refused));
    // Completed: the handshake finishes and data flows.
    let ok = SocketAddrV4::new("198.51.100.8".parse().unwrap(), 443);
    let now = client.now();
    let h = client.stack.connect(now, ok).unwrap();
    let p = api_peer::run(&mut client, || l.accept_pending()).unwrap();
    let stream = p.complete().unwrap();
    assert_eq!(stream.local_addr().unwrap(), SocketAddr::V4(ok));
    client.pump_until("the handshake", |c| {
        c.stack.connection(h).map(|c| c.state()) == Some(State::Established)
    });
    client.stack.send(h, b"ping").unwrap();
    let mut buf = [0; 4];
    api_peer::run(&mut client, || (&stream).read_exact(&mut buf)).unwrap();
    assert_eq!(&buf, b"ping");
    // Dropped undecided: refused too.
    let now = client.now();
    let h = client.stack.connect(now, refused).unwrap();
    drop(api_peer::run(&mut client, || l.accept_pending()).unwrap());
    client.pump_until("the refusal", |c| c.error(h).is_some());
    assert_eq!(client.error(h), Some(tuntcp::tcp::Error::Refused));
    // A zero timeout is refused like std's zero timeouts.
    assert!(l
        .set_defer_handshake(Some(std::time::Duration::ZERO))
        .is_err());
}
