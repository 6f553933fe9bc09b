//! A pcap file writer for raw IPv4 packets (LINKTYPE_RAW = 101), readable by tshark and
//! Wireshark. Timestamps are the runtime's microseconds since start plus a wall-clock base
//! the caller passes, so the core stays clock-free.

use std::io::{self, Write};

const LINKTYPE_RAW: u32 = 101;

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

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
