use std::net::SocketAddrV4;
use tuntcp::wire::*;

#[test]
fn syn_round_trips_and_prints_like_tcpdump() {
    let mut options = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        ..Default::default()
    };
    options.timestamps = Some(Timestamps { tsval: 1, tsecr: 0 });
    let s = Segment {
        src: "10.0.0.1:5555".parse::<SocketAddrV4>().unwrap(),
        dst: "10.0.0.2:80".parse().unwrap(),
        seq: 100,
        ack: 201,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        window: 65535,
        urgent: 0,
        options,
        payload: b"",
        ip: IpMeta::default(),
    };
    let mut buf = vec![0; s.buffer_len()];
    assert_eq!(s.emit(&mut buf).unwrap(), 60);
    let p = Segment::parse(&buf).unwrap();
    assert_eq!(p, s);
    assert_eq!(
        p.to_string(),
        "10.0.0.1:5555 > 10.0.0.2:80 [S.] seq 100 ack 201 win 65535 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7> len 0"
    );
}
