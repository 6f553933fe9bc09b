//! The receiver's ACKs on the real event loop (no root): the device is one end of a Unix
//! datagram socket pair, and the test plays the peer with hand-built packets on the other.
//! Issue 21: the loop reads up to 256 packets before it sends anything, and a batch of
//! out-of-order segments drew one ACK. Bounded: every wait has a 10 s deadline.

#[path = "support/socket_device.rs"]
mod socket_device;

use socket_device::SocketDevice;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;
use tuntcp::runtime::Runtime;
use tuntcp::stack::{Stack, StackConfig};
use tuntcp::wire::{IpMeta, Segment, TcpFlags, TcpOptions};

const PEER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const US: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);

/// A segment from the stack: seq, ack, flags and SACK blocks.
type Got = (u32, u32, TcpFlags, Vec<(u32, u32)>);

struct Peer {
    sock: UnixDatagram,
    us: SocketAddrV4,
    me: SocketAddrV4,
}

impl Peer {
    fn send(&self, seq: u32, ack: u32, flags: TcpFlags, options: TcpOptions, payload: &[u8]) {
        let s = Segment {
            src: self.me.into(),
            dst: self.us.into(),
            seq,
            ack,
            flags,
            window: 65535,
            urgent: 0,
            options,
            payload,
            ip: IpMeta::default(),
        };
        let mut buf = vec![0; s.buffer_len()];
        s.emit(&mut buf).expect("emit");
        self.sock.send(&buf).expect("send");
    }

    /// The next TCP segment from the stack, or `None` after `wait` of silence.
    fn recv(&self, wait: Duration) -> Option<Got> {
        self.sock.set_read_timeout(Some(wait)).unwrap();
        let mut buf = vec![0; 65536];
        let n = match self.sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(e) => panic!("recv: {e}"),
        };
        let s = Segment::parse(&buf[..n]).expect("a TCP segment");
        let sack = s
            .options
            .sack
            .as_slice()
            .iter()
            .map(|b| (b.left, b.right))
            .collect();
        Some((s.seq, s.ack, s.flags, sack))
    }
}

#[test]
fn a_batch_of_out_of_order_segments_read_in_one_loop_pass_draws_one_ack_each() {
    let (dev, test_end) = UnixDatagram::pair().unwrap();
    dev.set_nonblocking(true).unwrap();
    let mut stack = Stack::new(StackConfig {
        addr: US,
        seed: 5,
        ..StackConfig::default()
    });
    stack.listen(80, 16).unwrap();
    let rt = Runtime::start(stack, Box::new(SocketDevice(dev)), None, None).unwrap();
    let peer = Peer {
        sock: test_end,
        us: SocketAddrV4::new(US, 80),
        me: SocketAddrV4::new(PEER, 5555),
    };
    let wait = Duration::from_secs(10);

    // Handshake, SACK permitted, no timestamps (so the blocks are the only options).
    let syn_opts = TcpOptions {
        mss: Some(1460),
        sack_permitted: true,
        ..TcpOptions::default()
    };
    peer.send(1000, 0, TcpFlags::SYN, syn_opts, &[]);
    let (iss, ack, flags, _) = peer.recv(wait).expect("SYN-ACK");
    assert_eq!((ack, flags), (1001, TcpFlags::SYN | TcpFlags::ACK));
    peer.send(1001, iss + 1, TcpFlags::ACK, TcpOptions::default(), &[]);

    // Three out-of-order segments (1001..1101 missing), queued while the loop cannot take
    // the stack's lock: it reads all three in one pass before it polls for output.
    {
        let _held = rt.shared().lock();
        for seq in [1101, 1301, 1501] {
            peer.send(
                seq,
                iss + 1,
                TcpFlags::ACK,
                TcpOptions::default(),
                &[7; 100],
            );
        }
        std::thread::sleep(Duration::from_millis(50)); // the loop wakes and waits on the lock
    }
    let want = [
        vec![(1101, 1201)],
        vec![(1301, 1401), (1101, 1201)],
        vec![(1501, 1601), (1301, 1401), (1101, 1201)],
    ];
    for blocks in want {
        let (_, ack, flags, sack) = peer.recv(wait).expect("an ACK per segment");
        assert_eq!((ack, flags), (1001, TcpFlags::ACK));
        assert_eq!(sack, blocks);
    }
    assert_eq!(
        peer.recv(Duration::from_millis(300)),
        None,
        "one ACK per out-of-order segment, no more"
    );
    rt.stop().unwrap();
}
