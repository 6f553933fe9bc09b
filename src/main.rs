//! The `tuntcp` binary. The TUN runtime and its subcommands (`serve`, `get`) arrive with the
//! "Real connections" issue; until then it decodes packets for inspection.

use std::io::Read;

fn main() {
    env_logger::init();
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("decode") => {
            // Reads one raw IPv4 packet on stdin and prints its one-line form.
            let mut buf = Vec::new();
            if let Err(e) = std::io::stdin().read_to_end(&mut buf) {
                eprintln!("tuntcp: reading stdin: {e}");
                std::process::exit(1);
            }
            match tuntcp::wire::Packet::parse(&buf) {
                Ok(p) => println!("{p}"),
                Err(e) => {
                    eprintln!("tuntcp: {e}");
                    std::process::exit(1);
                }
            }
        }
        _ => {
            eprintln!("usage: tuntcp decode < packet.bin");
            std::process::exit(2);
        }
    }
}
