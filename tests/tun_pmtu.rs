//! Path MTU discovery on a real path (root): `tuntcp serve` in one namespace whose kernel
//! forwards to a client namespace over a veth pair, with a route of MTU 1000 toward the
//! client. The client's SYN offers MSS 1460, our 1500-octet datagrams cannot be forwarded,
//! the kernel answers ICMP "fragmentation needed" (mtu 1000), and the download must
//! complete after the stack lowers its MSS. A second download starts at the cached MTU.
//!
//! Both namespaces are created and removed here; nothing leaves them. In CI (`CI=true`) a
//! missing tool or privilege fails the test.

mod support;

use support::netns::{require, Netns};
use support::tun::{assert_pattern_download, nstat_counter as counter};

#[test]
fn tun_pmtu_download_completes_through_a_1000_octet_hop_after_frag_needed() {
    if require(&["curl", "sha256sum"]).is_none() {
        return;
    }
    let mut router = Netns::new("pmtu-r");
    let client = Netns::new("pmtu-c");
    let log = router.dir.join("serve.log");
    router.start_tuntcp("-v serve --seed 1", &log);
    // router: tun0 (10.66.0.1, the stack is 10.66.0.2) and veth-r 10.67.0.1; the route
    // toward the client carries 1000 octets at most (the veth itself 1500).
    router.sh(&format!(
        "ip link add veth-r type veth peer name veth-c netns {} && \
         ip addr add 10.67.0.1/24 dev veth-r && ip link set veth-r up && \
         ip route replace 10.67.0.0/24 dev veth-r src 10.67.0.1 mtu 1000 && \
         sysctl -qw net.ipv4.ip_forward=1",
        client.name
    ));
    client.sh(
        "ip addr add 10.67.0.2/24 dev veth-c && ip link set veth-c up && \
         ip route add default via 10.67.0.1",
    );
    let n: u64 = 2_000_000;
    let get = |what: &str| {
        assert_pattern_download(
            &client,
            &format!("http://10.66.0.2/bytes/{n}"),
            n,
            &log,
            what,
        )
    };
    get("first download");
    let frag_needed = counter(&router, "IcmpInDestUnreachs");
    assert!(frag_needed >= 1, "the kernel sent no fragmentation needed");
    assert!(
        counter(&router, "TcpRetransSegs") >= 1,
        "nothing was resent"
    );
    // The second connection starts at the MTU the first one learned: no new ICMP.
    get("second download");
    assert_eq!(counter(&router, "IcmpInDestUnreachs"), frag_needed);
    let icmp_out = router.sh("nstat -az IcmpOutDestUnreachs 2>/dev/null || true");
    println!("router kernel: {icmp_out}");
}
