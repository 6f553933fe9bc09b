//! `tuntcp decode`: packets to packet-log lines. The input is detected: a pcap file
//! (`device::pcap::PcapReader`: every record, with its time relative to the first, as the
//! `-v` log prints it), hex text (`4500 003c ...`, `45:00:00:3c`, tcpdump `-x` lines with
//! their `0x0000:` offsets), or raw IPv4 packets back to back. Pure: bytes in, text out.
//! What it does not do: pcapng, IPv6, or guess which side of a capture is the stack.

use std::fmt::Write as _;
use tuntcp::device::pcap::{self, PcapReader};
use tuntcp::wire::{Ipv4Packet, Ipv6Packet, Packet, Packet6, WireError};

/// What decoding printed, and why it stopped early (if it did).
#[derive(Debug, Default)]
pub struct Decoded {
    pub text: String,
    pub error: Option<String>,
}

/// Decodes whatever `input` holds (see the module doc).
pub fn decode(input: &[u8]) -> Decoded {
    let mut d = Decoded::default();
    if input.is_empty() {
        d.error =
            Some("no input: expected raw IPv4 packets, hex text or a pcap file on stdin".into());
    } else if input.starts_with(&pcap::PCAPNG_MAGIC) {
        d.error = Some(
            "a pcapng file: not supported; convert it with `editcap -F pcap IN OUT` \
             (or capture with `tcpdump -w`, `dumpcap -P`)"
                .into(),
        );
    } else if pcap::is_pcap(input) {
        decode_pcap(input, &mut d);
    } else if is_hex_text(input) {
        match hex_to_bytes(input) {
            Ok(b) => decode_raw(&b, "hex text", &mut d),
            Err(e) => d.error = Some(format!("hex text: {e}")),
        }
    } else {
        decode_raw(input, "input", &mut d);
    }
    d
}

/// One packet as the packet log prints it. Checksum errors still print the packet (a
/// capture on a host with offloads has partial checksums), marked.
pub fn packet_line(b: &[u8]) -> Result<String, WireError> {
    if b.first().is_some_and(|v| v >> 4 == 6) {
        let ip = Ipv6Packet::parse(b)?;
        return Ok(match Packet6::parse(b) {
            Ok(p) => p.to_string(),
            Err(e @ WireError::BadTcpChecksum) => match Packet6::parse_offload(b, true) {
                Ok(p) => format!("{p} [{e}]"),
                Err(e) => format!("{} > {}: {e}", ip.src, ip.dst),
            },
            Err(e) => format!("{} > {}: {e}", ip.src, ip.dst),
        });
    }
    let ip = Ipv4Packet::parse(b)?;
    Ok(match Packet::parse(b) {
        Ok(p) => p.to_string(),
        Err(e @ WireError::BadTcpChecksum) => {
            match Packet::from_ip_offload(&ip, ip.payload, true) {
                Ok(p) => format!("{p} [{e}]"),
                Err(e) => format!("{} > {}: {e}", ip.src, ip.dst),
            }
        }
        Err(e) => format!("{} > {}: {e}", ip.src, ip.dst),
    })
}

/// Raw packets back to back, each as long as its IPv4 total length says.
fn decode_raw(b: &[u8], what: &str, d: &mut Decoded) {
    let mut off = 0;
    let mut n = 0;
    while off < b.len() {
        let rest = &b[off..];
        match Ipv4Packet::parse(rest) {
            Ok(ip) => {
                let len = ip.header_len + ip.payload.len();
                let line = packet_line(&rest[..len]).unwrap_or_else(|e| e.to_string());
                let _ = writeln!(d.text, "{line}");
                off += len;
                n += 1;
            }
            Err(e) if n == 0 => {
                let hint = match rest[0] >> 4 {
                    4 => String::new(),
                    6 => " (IPv6: only IPv4 is decoded)".into(),
                    v => format!(
                        " (first byte {:#04x}, IP version {v}: not a raw IPv4 packet, hex text \
                         or a pcap file)",
                        rest[0]
                    ),
                };
                d.error = Some(format!("{what}: {e}{hint}"));
                return;
            }
            Err(e) => {
                d.error = Some(format!(
                    "{what}: {} trailing bytes after packet {n} (offset {off}) are not an \
                     IPv4 packet: {e}",
                    b.len() - off
                ));
                return;
            }
        }
    }
}

fn decode_pcap(b: &[u8], d: &mut Decoded) {
    let mut reader = match PcapReader::new(b) {
        Ok(r) => r,
        Err(e) => {
            d.error = Some(e);
            return;
        }
    };
    let mut first = None;
    let mut i = 0;
    while let Some(rec) = reader.next_record() {
        i += 1;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                d.error = Some(e);
                return;
            }
        };
        let t0 = *first.get_or_insert(rec.micros);
        // The packet log's time column (`{:>10}` of `0.018s`).
        let t = tuntcp::time::Duration::from_micros(rec.micros.saturating_sub(t0)).to_string();
        let cut = if rec.packet.len() < rec.orig_len {
            format!(" (captured {} of {} bytes)", rec.packet.len(), rec.orig_len)
        } else {
            String::new()
        };
        let line = match packet_line(rec.packet) {
            Ok(l) => l,
            Err(e) => format!("packet {i}: {e}"),
        };
        let _ = writeln!(d.text, "{t:>10} {line}{cut}");
    }
}

/// Only hex digits, whitespace, ':' and 'x' (for `0x`), with at least one digit.
fn is_hex_text(b: &[u8]) -> bool {
    b.iter().all(|&c| {
        c.is_ascii_hexdigit() || c.is_ascii_whitespace() || c == b':' || c == b'x' || c == b'X'
    }) && b.iter().any(u8::is_ascii_hexdigit)
}

fn hex_to_bytes(text: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(text).map_err(|e| e.to_string())?;
    let mut digits = Vec::new();
    for line in text.lines() {
        for (i, tok) in line.split_whitespace().enumerate() {
            // tcpdump -x: `0x0010:  4500 ...`, an offset before the bytes.
            if i == 0 && tok.len() > 3 && tok.starts_with("0x") && tok.ends_with(':') {
                continue;
            }
            let tok = tok
                .strip_prefix("0x")
                .or(tok.strip_prefix("0X"))
                .unwrap_or(tok);
            for c in tok.chars().filter(|&c| c != ':') {
                let v = c
                    .to_digit(16)
                    .ok_or_else(|| format!("{c:?} is not a hex digit (in {tok:?})"))?;
                digits.push(v as u8);
            }
        }
    }
    if digits.len() % 2 == 1 {
        return Err(format!("an odd number of hex digits ({})", digits.len()));
    }
    Ok(digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;
    use tuntcp::device::pcap::PcapWriter;
    use tuntcp::wire::{Segment, TcpFlags};

    /// A SYN and a data segment, as raw IPv4 packets, and their packet-log lines.
    fn packets() -> Vec<(Vec<u8>, String)> {
        let a: SocketAddrV4 = "10.66.0.1:33804".parse().unwrap();
        let b: SocketAddrV4 = "10.66.0.2:80".parse().unwrap();
        let syn = Segment {
            src: a.into(),
            dst: b.into(),
            seq: 100,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 64240,
            urgent: 0,
            options: Default::default(),
            payload: &[],
            ip: Default::default(),
        };
        let data = Segment {
            seq: 101,
            ack: 5001,
            flags: TcpFlags(TcpFlags::ACK.0 | TcpFlags::PSH.0),
            payload: b"GET / HTTP/1.1\r\n\r\n",
            ..syn
        };
        [syn, data]
            .iter()
            .map(|s| {
                let mut buf = vec![0u8; s.buffer_len()];
                let n = s.emit(&mut buf).unwrap();
                buf.truncate(n);
                (buf, s.to_string())
            })
            .collect()
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn one_raw_packet_prints_its_line_as_before() {
        let p = packets();
        let d = decode(&p[0].0);
        assert_eq!(d.text, format!("{}\n", p[0].1));
        assert!(
            d.text
                .contains("10.66.0.1:33804 > 10.66.0.2:80 [S] seq 100"),
            "{}",
            d.text
        );
        assert_eq!(d.error, None);
    }

    #[test]
    fn packets_back_to_back_all_print_and_trailing_junk_is_named() {
        let p = packets();
        let mut two = p[0].0.clone();
        two.extend_from_slice(&p[1].0);
        let d = decode(&two);
        assert_eq!(d.text, format!("{}\n{}\n", p[0].1, p[1].1));
        assert_eq!(d.error, None);
        two.extend_from_slice(b"\n");
        let d = decode(&two);
        assert_eq!(d.text.lines().count(), 2);
        let e = d.error.unwrap();
        assert!(e.contains("1 trailing bytes after packet 2"), "{e}");
    }

    #[test]
    fn hex_text_in_the_usual_spellings_decodes() {
        let p = packets();
        let h = hex(&p[1].0);
        let spaced: String = h
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        let colons: String = h
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        // tcpdump -x: an offset, then 8 groups of 4 digits per line.
        let tcpdump: String = spaced
            .split(' ')
            .collect::<Vec<_>>()
            .chunks(8)
            .enumerate()
            .map(|(i, g)| format!("\t0x{:04x}:  {}\n", i * 16, g.join(" ")))
            .collect();
        for text in [
            h.clone(),
            format!("{spaced}\n"),
            colons,
            tcpdump,
            h.to_uppercase(),
        ] {
            let d = decode(text.as_bytes());
            assert_eq!(d.text, format!("{}\n", p[1].1), "{text}");
            assert_eq!(d.error, None, "{text}");
        }
        let e = decode(b"450").error.unwrap();
        assert!(e.contains("odd number of hex digits"), "{e}");
    }

    #[test]
    fn a_pcap_written_by_the_recorder_decodes_with_relative_times() {
        let p = packets();
        let mut w = PcapWriter::new(Vec::new(), 65535).unwrap();
        let t0 = 1_700_000_000_000_000;
        w.write_packet(t0, &p[0].0).unwrap();
        w.write_packet(t0 + 18_500, &p[1].0).unwrap();
        let d = decode(&w.into_inner());
        assert_eq!(d.error, None);
        assert_eq!(
            d.text,
            format!("{:>10} {}\n{:>10} {}\n", "0.000s", p[0].1, "0.018s", p[1].1)
        );
    }

    #[test]
    fn unsupported_inputs_say_what_they_are() {
        let e = decode(b"").error.unwrap();
        assert!(e.contains("no input"), "{e}");
        let e = decode(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]).error.unwrap();
        assert!(e.contains("pcapng"), "{e}");
        let e = decode(&[0x60, 0, 0, 0, 0, 0, 0x3a, 0xff]).error.unwrap();
        assert!(e.contains("IPv6"), "{e}");
        let e = decode(b"xyz, not a packet").error.unwrap();
        assert!(e.contains("not a raw IPv4 packet"), "{e}");
        // A bad TCP checksum still prints the segment, marked.
        let mut bad = packets()[1].0.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let d = decode(&bad);
        assert!(
            d.text.contains("[P.]") && d.text.contains("checksum"),
            "{}",
            d.text
        );
    }
}
