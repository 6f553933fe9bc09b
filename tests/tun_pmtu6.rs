//! Path MTU discovery over IPv6 on a real path (root), as `tun_pmtu.rs` does for IPv4:
//! `tuntcp serve` in one namespace whose kernel forwards IPv6 to a client namespace over a
//! veth pair, with a route of MTU 1280 (IPv6's minimum) toward the client. The client's
//! SYN offers MSS 1440, our 1500-octet packets cannot be forwarded, the kernel answers
//! ICMPv6 Packet Too Big (mtu 1280, RFC 4443 §3.2), and the download must complete byte-exact
//! after the stack lowers its MSS (RFC 8201 §4). A second download starts at the cached MTU.
//!
//! Both namespaces are created and removed here; nothing leaves them. In CI (`CI=true`) a
//! missing tool or privilege fails the test.

mod support;

use support::netns::{require, Netns};
use support::tun::{assert_pattern_download, nstat_counter, wait_ipv6};

#[test]
fn tun_pmtu6_download_completes_through_a_1280_octet_hop_after_packet_too_big() {
    if require(&["curl", "sha256sum"]).is_none() {
        return;
    }
    let mut router = Netns::new("pmtu6-r");
    let client = Netns::new("pmtu6-c");
    let log = router.dir.join("serve.log");
    router.start_tuntcp("-v serve --seed 1", &log);
    // router: tun0 (fd66::1, the stack is fd66::2) and veth-r fd67::1; the route toward the
    // client (a host route: the prefix route the address brings has a lower metric)
    // carries 1280 octets at most, the veth itself 1500. No DAD: the addresses are usable
    // at once.
    router.sh(&format!(
        "ip link add veth-r type veth peer name veth-c netns {} && \
         ip -6 addr add fd67::1/64 dev veth-r nodad && ip link set veth-r up && \
         ip -6 route add fd67::2/128 dev veth-r mtu 1280 && \
         sysctl -qw net.ipv6.conf.all.forwarding=1",
        client.name
    ));
    client.sh(
        "ip -6 addr add fd67::2/64 dev veth-c nodad && ip link set veth-c up && \
         ip -6 route add default via fd67::1",
    );
    // The stack's address (and the kernel's fd66::1) in place before the first SYN.
    wait_ipv6(&router, "tun0", &log);
    let n: u64 = 2_000_000;
    let get = |what: &str| {
        assert_pattern_download(
            &client,
            &format!("http://[fd66::2]/bytes/{n}"),
            n,
            &log,
            what,
        )
    };
    get("first download");
    let too_big = nstat_counter(&router, "Icmp6InPktTooBigs");
    assert!(
        too_big >= 1,
        "the kernel sent no Packet Too Big; stack: {}\nrouter kernel: {}",
        router.sh(&format!("{} nstat -asz", env!("CARGO_BIN_EXE_tuntcp"))),
        router.sh("nstat -az 2>/dev/null | grep -iE 'icmp6|Ip6Out|Ip6InTooBig|Ip6Frag|FwdDatagrams' || true")
    );
    assert!(
        nstat_counter(&router, "TcpRetransSegs") >= 1,
        "nothing was resent"
    );
    // The second connection starts at the MTU the first one learned: no new ICMPv6.
    get("second download");
    assert_eq!(nstat_counter(&router, "Icmp6InPktTooBigs"), too_big);
}
