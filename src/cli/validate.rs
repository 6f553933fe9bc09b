//! Checks of command-line values that clap's types do not catch: addresses that can never
//! work on the link, URLs, ports. Pure functions, unit-tested here.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// Parses `--host A.B.C.D[/LEN]` (default length 24; at most 30, so that the link has
/// room for both ends).
pub fn parse_host(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (
            a,
            p.parse::<u8>()
                .map_err(|_| format!("--host {s}: prefix length {p:?} is not a number"))?,
        ),
        None => (s, 24),
    };
    let addr = a
        .parse()
        .map_err(|_| format!("--host {s}: {a:?} is not an IPv4 address"))?;
    if p > 30 {
        return Err(format!(
            "--host {s}: prefix length must be 30 or shorter (two usable addresses)"
        ));
    }
    Ok((addr, p))
}

/// Refuses a stack address that can never work beside the kernel's `host/prefix`: outside
/// that subnet (the kernel would not route to it over the TUN), the kernel's own address,
/// or the subnet's network or broadcast address.
pub fn check_addrs(addr: Ipv4Addr, host: Ipv4Addr, prefix: u8) -> Result<(), String> {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    let net = u32::from(host) & mask;
    let bcast = net | !mask;
    let subnet = format!("{}/{prefix}", Ipv4Addr::from(net));
    let (h, a) = (u32::from(host), u32::from(addr));
    if h == net || h == bcast {
        let which = if h == net { "network" } else { "broadcast" };
        return Err(format!(
            "--host {host}/{prefix} is the {which} address of {subnet}: give the kernel a host address"
        ));
    }
    let why = if a & mask != net {
        format!(
            "is outside the kernel side's subnet {subnet} (--host), so nothing would route to it"
        )
    } else if a == h {
        format!("is the kernel side's own address (--host {host}/{prefix})")
    } else if a == net {
        format!("is the network address of {subnet}")
    } else if a == bcast {
        format!("is the broadcast address of {subnet}")
    } else {
        return Ok(());
    };
    Err(format!(
        "--addr {addr} {why}: pick another address in {subnet}"
    ))
}

/// Splits `http://a.b.c.d[:port]/path` or `http://[v6]:port/path` (RFC 3986 §3.2.2: an
/// IPv6 literal in brackets); the port is 1-65535 (80 if absent).
pub fn parse_url(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let port_of = |p: &str| parse_port(p).map_err(|e| format!("{url}: {e}"));
    if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url}: no ']' after the IPv6 address"))?;
        let port = match after {
            "" => 80,
            _ => match after.strip_prefix(':') {
                Some(p) => port_of(p)?,
                None => return Err(format!("{url}: {after:?} after ']' is not \":port\"")),
            },
        };
        let ip: Ipv6Addr = host
            .parse()
            .map_err(|_| format!("{url}: {host:?} is not an IPv6 address (no zone ids)"))?;
        return Ok((SocketAddr::from((ip, port)), path.to_string()));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, port_of(p)?),
        None => (hostport, 80),
    };
    let ip: Ipv4Addr = host.parse().map_err(|_| {
        format!("{url}: {host:?} is not an IPv4 address or a bracketed IPv6 one (no DNS)")
    })?;
    Ok((SocketAddr::from((ip, port)), path.to_string()))
}

fn parse_port(p: &str) -> Result<u16, String> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port {p:?} is not a number"));
    }
    match p.parse::<u64>() {
        Ok(n @ 1..=65535) => Ok(n as u16),
        _ => Err(format!("port {p} out of range 1-65535")),
    }
}

/// A positive number of seconds (fractions allowed), as curl's `--max-time`.
pub fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 1e9 => Ok(std::time::Duration::from_secs_f64(x)),
        _ => Err(format!("expected a positive number of seconds, not {s:?}")),
    }
}

/// `--rmem` / `--wmem`: one size (a fixed buffer, like `SO_RCVBUF`) or a `MIN,DEF,MAX`
/// triple as `tcp_rmem` / `tcp_wmem` read (auto-tuned), each in 4096..=64 MiB and in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufSpec {
    Fixed(usize),
    Auto([usize; 3]),
}

pub fn parse_buf(s: &str) -> Result<BufSpec, String> {
    let parts: Vec<&str> = s.split([',', ' ']).filter(|p| !p.is_empty()).collect();
    let mut v = [0usize; 3];
    if !(parts.len() == 1 || parts.len() == 3) {
        return Err(format!("expected BYTES or MIN,DEF,MAX, not {s:?}"));
    }
    for (i, p) in parts.iter().enumerate() {
        let n: usize = p.parse().map_err(|_| format!("not a byte count: {p:?}"))?;
        if !(4096..=64 << 20).contains(&n) {
            return Err(format!("{n} is outside 4096..=67108864"));
        }
        v[i] = n;
    }
    if parts.len() == 1 {
        return Ok(BufSpec::Fixed(v[0]));
    }
    if !(v[0] <= v[1] && v[1] <= v[2]) {
        return Err(format!("expected MIN <= DEF <= MAX, not {s:?}"));
    }
    Ok(BufSpec::Auto(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn stack_addresses_that_can_never_work_are_refused_with_a_reason() {
        let host = ip("10.66.0.1");
        assert_eq!(check_addrs(ip("10.66.0.2"), host, 24), Ok(()));
        assert_eq!(check_addrs(ip("10.66.0.254"), host, 24), Ok(()));
        assert_eq!(check_addrs(ip("10.66.0.2"), host, 30), Ok(()));
        for (addr, prefix, why) in [
            (
                "10.67.0.2",
                24,
                "outside the kernel side's subnet 10.66.0.0/24",
            ),
            (
                "10.66.0.5",
                30,
                "outside the kernel side's subnet 10.66.0.0/30",
            ),
            ("10.66.0.1", 24, "the kernel side's own address"),
            ("10.66.0.0", 24, "the network address of 10.66.0.0/24"),
            ("10.66.0.255", 24, "the broadcast address of 10.66.0.0/24"),
            ("10.66.0.3", 30, "the broadcast address of 10.66.0.0/30"),
        ] {
            let e = check_addrs(ip(addr), host, prefix).unwrap_err();
            assert!(e.contains(why) && e.contains(addr), "{addr}/{prefix}: {e}");
        }
        let e = check_addrs(ip("10.66.0.2"), ip("10.66.0.255"), 24).unwrap_err();
        assert!(e.contains("broadcast address"), "{e}");
    }

    #[test]
    fn host_prefixes_parse_with_reasons() {
        assert_eq!(parse_host("10.66.0.1/24"), Ok((ip("10.66.0.1"), 24)));
        assert_eq!(parse_host("10.9.0.1"), Ok((ip("10.9.0.1"), 24)));
        assert!(parse_host("10.66.0.1/31")
            .unwrap_err()
            .contains("30 or shorter"));
        assert!(parse_host("10.66.0.1/x")
            .unwrap_err()
            .contains("not a number"));
        assert!(parse_host("ten/24").unwrap_err().contains("not an IPv4"));
    }

    #[test]
    fn url_ports_out_of_range_or_zero_are_refused_in_words() {
        let (a, p) = parse_url("http://10.66.0.1:8000/big.bin").unwrap();
        assert_eq!(
            (a.to_string(), p.as_str()),
            ("10.66.0.1:8000".into(), "/big.bin")
        );
        let (a, p) = parse_url("http://10.66.0.1").unwrap();
        assert_eq!((a.port(), p.as_str()), (80, "/"));
        let (a, p) = parse_url("http://[fd66::1]:8000/x?y").unwrap();
        assert_eq!(
            (a.to_string(), p.as_str()),
            ("[fd66::1]:8000".into(), "/x?y")
        );
        let (a, p) = parse_url("http://[fd66::1]").unwrap();
        assert_eq!((a.to_string(), p.as_str()), ("[fd66::1]:80".into(), "/"));
        for (url, why) in [
            ("http://1.2.3.4:99999/", "port 99999 out of range 1-65535"),
            ("http://1.2.3.4:0/", "port 0 out of range 1-65535"),
            ("http://1.2.3.4:99999999999999999999999/", "out of range"),
            ("http://1.2.3.4:/", "port \"\" is not a number"),
            ("http://1.2.3.4:-1/", "not a number"),
            ("http://example.com/", "no DNS"),
            ("https://1.2.3.4/", "only http://"),
            ("http://fd66::1/", "bracketed IPv6"),
            ("http://[fd66::1/", "no ']'"),
            ("http://[fd66::1]8000/", "is not \":port\""),
            ("http://[fd66::1]:0/", "port 0 out of range"),
            ("http://[10.66.0.1]/", "not an IPv6 address"),
            ("http://[fe80::1%25tun0]/", "not an IPv6 address"),
        ] {
            let e = parse_url(url).unwrap_err();
            assert!(e.contains(why), "{url}: {e}");
        }
    }

    #[test]
    fn seconds_are_positive() {
        assert_eq!(
            parse_seconds("2.5"),
            Ok(std::time::Duration::from_millis(2500))
        );
        for bad in ["0", "-1", "x", "NaN", "inf"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn buffer_sizes_fixed_or_a_triple() {
        assert_eq!(parse_buf("262144"), Ok(BufSpec::Fixed(262144)));
        assert_eq!(
            parse_buf("4096,131072,6291456"),
            Ok(BufSpec::Auto([4096, 131072, 6291456]))
        );
        assert_eq!(
            parse_buf("4096 16384 4194304"),
            Ok(BufSpec::Auto([4096, 16384, 4194304]))
        );
        assert!(parse_buf("4096,131072").is_err());
        assert!(parse_buf("8192,4096,65536").is_err(), "out of order");
        assert!(parse_buf("1024").is_err(), "below 4096");
        assert!(parse_buf("1k").is_err());
    }
}
