//! A pcap file writer for raw IPv4 packets (LINKTYPE_RAW = 101), readable by tshark and
//! Wireshark. Timestamps are the runtime's microseconds since start plus a wall-clock base
//! the caller passes, so the core stays clock-free.
//!
//! And a reader ([`PcapReader`], over bytes in memory, no I/O) for `tuntcp decode`: both
//! byte orders, micro- and nanosecond timestamps, and the link types a capture of IPv4 is
//! likely to have (raw, Ethernet, Linux cooked v1/v2, BSD loopback); it hands out the IP
//! packet of each record. Not pcapng.

use std::io::{self, Write};

const LINKTYPE_RAW: u32 = 101;

/// Writes packets to a pcap file (LINKTYPE_RAW: each record an IPv4 packet).
pub struct PcapWriter<W: Write> {
    out: W,
    snaplen: u32,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header (pcap 2.4, microsecond timestamps).
    pub fn new(mut out: W, snaplen: u32) -> io::Result<PcapWriter<W>> {
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?; // thiszone
        out.write_all(&0u32.to_le_bytes())?; // sigfigs
        out.write_all(&snaplen.to_le_bytes())?;
        out.write_all(&LINKTYPE_RAW.to_le_bytes())?;
        Ok(PcapWriter { out, snaplen })
    }

    /// Records one packet seen at `micros` since the Unix epoch.
    pub fn write_packet(&mut self, micros: u64, packet: &[u8]) -> io::Result<()> {
        let caplen = packet.len().min(self.snaplen as usize);
        self.out
            .write_all(&((micros / 1_000_000) as u32).to_le_bytes())?;
        self.out
            .write_all(&((micros % 1_000_000) as u32).to_le_bytes())?;
        self.out.write_all(&(caplen as u32).to_le_bytes())?;
        self.out.write_all(&(packet.len() as u32).to_le_bytes())?;
        self.out.write_all(&packet[..caplen])
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The first four bytes of a pcapng file (its section header block type).
pub const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// True when `b` starts with a pcap magic number (either byte order, us or ns).
pub fn is_pcap(b: &[u8]) -> bool {
    b.len() >= 4 && magic(b[..4].try_into().unwrap_or_default()).is_some()
}

/// (little endian, nanosecond timestamps) for a pcap magic number.
fn magic(m: [u8; 4]) -> Option<(bool, bool)> {
    match (u32::from_le_bytes(m), u32::from_be_bytes(m)) {
        (0xa1b2_c3d4, _) => Some((true, false)),
        (_, 0xa1b2_c3d4) => Some((false, false)),
        (0xa1b2_3c4d, _) => Some((true, true)),
        (_, 0xa1b2_3c4d) => Some((false, true)),
        _ => None,
    }
}

/// One record of a pcap file.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Capture time in microseconds since the Unix epoch.
    pub micros: u64,
    /// The IP packet: the captured bytes after the link header.
    pub packet: &'a [u8],
    /// The packet's length on the wire (larger than the capture when cut by the snaplen),
    /// link header excluded.
    pub orig_len: usize,
}

/// Reads a whole pcap file held in memory, record by record.
pub struct PcapReader<'a> {
    rest: &'a [u8],
    le: bool,
    nanos: bool,
    linktype: u32,
    index: usize,
    /// Frames without an IP packet come back empty instead of ending the read.
    skip_other: bool,
}

const LINKTYPE_NULL: u32 = 0;
const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_IPV4: u32 = 228;
const LINKTYPE_LINUX_SLL2: u32 = 276;

impl<'a> PcapReader<'a> {
    /// Checks the global header.
    pub fn new(b: &'a [u8]) -> Result<PcapReader<'a>, String> {
        if b.len() < 24 {
            return Err(format!(
                "pcap: {} bytes, shorter than the 24-byte header",
                b.len()
            ));
        }
        let (le, nanos) = magic(b[..4].try_into().unwrap_or_default()).ok_or("not a pcap file")?;
        let r = PcapReader {
            rest: &b[24..],
            le,
            nanos,
            linktype: 0,
            index: 0,
            skip_other: false,
        };
        let linktype = r.u32_at(&b[20..24]) & 0x0fff_ffff; // high bits: FCS info
        match linktype {
            LINKTYPE_NULL | LINKTYPE_ETHERNET | LINKTYPE_RAW | LINKTYPE_LINUX_SLL
            | LINKTYPE_IPV4 | LINKTYPE_LINUX_SLL2 => Ok(PcapReader { linktype, ..r }),
            t => Err(format!(
                "pcap link type {t} is not supported (raw IP 101/228, Ethernet 1, \
                 Linux cooked 113/276, loopback 0 are)"
            )),
        }
    }

    /// Frames that carry no IP packet, IPv4 or IPv6 (ARP, LLDP, ...), come back as records
    /// with an empty `packet` instead of an error that ends the read.
    pub fn skip_non_ip(self) -> PcapReader<'a> {
        PcapReader {
            skip_other: true,
            ..self
        }
    }

    /// The capture's link type (101 for raw IP).
    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    fn u32_at(&self, b: &[u8]) -> u32 {
        let a: [u8; 4] = b[..4].try_into().unwrap_or_default();
        if self.le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    }

    /// The next record, `None` at the end; an error for a truncated record, a frame that
    /// carries neither IPv4 nor IPv6, or a link header that does not fit (the reader then
    /// stops).
    pub fn next_record(&mut self) -> Option<Result<Record<'a>, String>> {
        if self.rest.is_empty() {
            return None;
        }
        self.index += 1;
        let n = self.index;
        let r = self
            .read_record()
            .map_err(|e| format!("pcap record {n}: {e}"));
        if r.is_err() {
            self.rest = &[];
        }
        Some(r)
    }

    fn read_record(&mut self) -> Result<Record<'a>, String> {
        let b = self.rest;
        if b.len() < 16 {
            return Err(format!(
                "{} bytes left, the record header needs 16",
                b.len()
            ));
        }
        let (sec, frac) = (
            u64::from(self.u32_at(&b[0..])),
            u64::from(self.u32_at(&b[4..])),
        );
        let incl = self.u32_at(&b[8..]) as usize;
        let orig = self.u32_at(&b[12..]) as usize;
        if incl > b.len() - 16 {
            return Err(format!(
                "{incl} bytes captured but the file has {} left (truncated file?)",
                b.len() - 16
            ));
        }
        let frame = &b[16..16 + incl];
        self.rest = &b[16 + incl..];
        let micros = sec * 1_000_000 + if self.nanos { frac / 1000 } else { frac };
        let link = match self.link_header_len(frame) {
            Ok(n) => n,
            Err(_) if self.skip_other => 0,
            Err(e) => return Err(e),
        };
        if link == 0 && self.skip_other && !matches!(self.linktype, LINKTYPE_RAW | LINKTYPE_IPV4) {
            return Ok(Record {
                micros,
                packet: &[],
                orig_len: 0,
            });
        }
        Ok(Record {
            micros,
            packet: &frame[link..],
            orig_len: orig.saturating_sub(link),
        })
    }

    /// The length of the link header before the IP packet (IPv4 or IPv6) in `frame`.
    fn link_header_len(&self, frame: &[u8]) -> Result<usize, String> {
        let be16 = |i: usize| {
            frame
                .get(i..i + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
        };
        let (len, ethertype) = match self.linktype {
            LINKTYPE_RAW | LINKTYPE_IPV4 => return Ok(0),
            LINKTYPE_NULL => {
                // The address family in the capturing host's byte order: AF_INET is 2,
                // AF_INET6 is 24, 28 or 30 (the BSDs, macOS) or 10 (Linux), as libpcap's
                // DLT_NULL lists them.
                let fam = frame.get(..4).map(|b| self.u32_at(b));
                return match fam {
                    Some(2 | 10 | 24 | 28 | 30) => Ok(4),
                    Some(f) => Err(format!("loopback frame of address family {f}, not IP")),
                    None => Err("loopback frame shorter than its 4-byte header".into()),
                };
            }
            LINKTYPE_ETHERNET => match be16(12) {
                // One 802.1Q tag.
                Some(0x8100) => (18, be16(16)),
                t => (14, t),
            },
            LINKTYPE_LINUX_SLL => (16, be16(14)),
            _ => (20, be16(0)), // LINUX_SLL2
        };
        match ethertype {
            Some(0x0800 | 0x86dd) if frame.len() >= len => Ok(len),
            Some(t) if frame.len() >= len => Err(format!("ethertype {t:#06x}, not IP")),
            _ => Err(format!(
                "frame of {} bytes, shorter than its link header",
                frame.len()
            )),
        }
    }
}

impl<'a> Iterator for PcapReader<'a> {
    type Item = Result<Record<'a>, String>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_record()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_reads_back_what_the_writer_wrote() {
        let mut w = PcapWriter::new(Vec::new(), 8).unwrap();
        w.write_packet(1_500_000, &[0x45, 0, 0, 20]).unwrap();
        w.write_packet(2_000_007, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
            .unwrap();
        let b = w.into_inner();
        assert!(is_pcap(&b));
        let r = PcapReader::new(&b).unwrap();
        assert_eq!(r.linktype(), 101);
        let recs: Vec<_> = r.map(Result::unwrap).collect();
        assert_eq!(
            recs,
            [
                Record {
                    micros: 1_500_000,
                    packet: &[0x45, 0, 0, 20][..],
                    orig_len: 4
                },
                // Cut at the snaplen of 8.
                Record {
                    micros: 2_000_007,
                    packet: &[1, 2, 3, 4, 5, 6, 7, 8][..],
                    orig_len: 10
                },
            ]
        );
    }

    /// A big-endian, nanosecond pcap of Ethernet frames, one with a VLAN tag, one IPv6,
    /// one ARP.
    #[test]
    fn big_endian_nanoseconds_and_ethernet_headers_are_read() {
        let mut b = Vec::new();
        b.extend_from_slice(&0xa1b2_3c4du32.to_be_bytes());
        b.extend_from_slice(&[0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
        b.extend_from_slice(&1u32.to_be_bytes());
        let frame = |ethertype: &[u8], tail: &[u8]| {
            let mut f = vec![0u8; 12];
            f.extend_from_slice(ethertype);
            f.extend_from_slice(tail);
            f
        };
        for (ns, f) in [
            (5_000_000_999u64, frame(&[8, 0], &[0x45, 9])),
            (6_000_000_000, frame(&[0x81, 0, 0, 1, 8, 0], &[0x45, 8])),
            (7_000_000_000, frame(&[0x86, 0xdd], &[0x60])),
            (8_000_000_000, frame(&[0x08, 0x06], &[0, 1])),
        ] {
            b.extend_from_slice(&((ns / 1_000_000_000) as u32).to_be_bytes());
            b.extend_from_slice(&((ns % 1_000_000_000) as u32).to_be_bytes());
            b.extend_from_slice(&(f.len() as u32).to_be_bytes());
            b.extend_from_slice(&(f.len() as u32).to_be_bytes());
            b.extend_from_slice(&f);
        }
        let mut r = PcapReader::new(&b).unwrap();
        let a = r.next().unwrap().unwrap();
        assert_eq!((a.micros, a.packet), (5_000_000, &[0x45, 9][..]));
        let v = r.next().unwrap().unwrap();
        assert_eq!((v.micros, v.packet), (6_000_000, &[0x45, 8][..]));
        let six = r.next().unwrap().unwrap();
        assert_eq!((six.micros, six.packet), (7_000_000, &[0x60][..]));
        let e = r.next().unwrap().unwrap_err();
        assert!(e.contains("record 4") && e.contains("0x0806"), "{e}");
        assert!(r.next().is_none());
    }

    #[test]
    fn truncated_files_and_unknown_link_types_are_errors_not_panics() {
        let mut w = PcapWriter::new(Vec::new(), 65535).unwrap();
        w.write_packet(0, &[0x45; 30]).unwrap();
        let b = w.into_inner();
        for cut in 0..b.len() {
            match PcapReader::new(&b[..cut]) {
                Err(e) => assert!(cut < 24, "{cut}: {e}"),
                Ok(r) => {
                    let all: Vec<_> = r.collect();
                    assert!(cut == 24 || all.iter().any(Result::is_err), "{cut}");
                }
            }
        }
        let mut other = b.clone();
        other[20] = 105; // 802.11
        let e = PcapReader::new(&other).err().unwrap();
        assert!(e.contains("link type 105"), "{e}");
    }

    #[test]
    fn header_and_record_layout() {
        let mut w = PcapWriter::new(Vec::new(), 65535).unwrap();
        w.write_packet(1_500_000, &[0x45, 0, 0, 20]).unwrap();
        let b = w.into_inner();
        assert_eq!(b.len(), 24 + 16 + 4);
        assert_eq!(&b[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes(b[20..24].try_into().unwrap()), 101);
        assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), 1); // seconds
        assert_eq!(u32::from_le_bytes(b[28..32].try_into().unwrap()), 500_000); // micros
        assert_eq!(&b[40..], &[0x45, 0, 0, 20]);
    }
}
