//! Stack counters, named like Linux's SNMP MIB counters as `nstat` / `netstat -s` print
//! them (`/proc/net/snmp`, `/proc/net/netstat`): `IpInReceives`, `TcpInSegs`,
//! `TcpExtListenOverflows`, ... so output can be compared with the host kernel's.
//!
//! Each Rust field is the nstat name in snake case (`TcpExtTCPChallengeACK` ->
//! `tcp_ext_tcp_challenge_ack`); a test checks that the two agree. Meanings follow
//! RFC 4293 (IP-MIB, ICMP), RFC 4022 (TCP-MIB) and the Linux sources for `TcpExt`.
//!
//! What this module does not do: increment anything (the stack does, where the event
//! happens), keep per-connection statistics (`ss -i`-like data lives in `tcp`), or
//! print; [`Counters::iter`] gives the names and values to whoever prints.

use super::frag::FragStats;

macro_rules! counters {
    ($( $(#[$doc:meta])* $field:ident => $name:literal, )*) => {
        /// Cumulative counters of one stack (`CurrEstab` is a gauge, as in the MIB).
        #[derive(Default, Clone, Debug, PartialEq, Eq)]
        pub struct Counters {
            $( $(#[$doc])* pub $field: u64, )*
        }

        impl Counters {
            /// The nstat names, in the order [`Counters::iter`] gives them.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// (nstat name, value) for every counter, grouped Ip, IpExt, Icmp, Tcp, TcpExt.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
                [$(($name, self.$field)),*].into_iter()
            }

            /// `self - earlier`, per counter, saturating at zero (what `nstat` shows by
            /// default: the change since the last look).
            pub fn delta(&self, earlier: &Counters) -> Counters {
                Counters {
                    $( $field: self.$field.saturating_sub(earlier.$field), )*
                }
            }

            #[cfg(test)]
            const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];
        }
    };
}

counters! {
    // ---- Ip (RFC 4293 ipSystemStats*) ----
    /// Datagrams received from the device, errors included.
    ip_in_receives => "IpInReceives",
    /// Discarded for header errors: version, IHL, length, checksum, TTL.
    ip_in_hdr_errors => "IpInHdrErrors",
    /// Discarded for the destination address: not ours (we do not forward).
    ip_in_addr_errors => "IpInAddrErrors",
    /// Addressed to us with a protocol we do not run.
    ip_in_unknown_protos => "IpInUnknownProtos",
    /// Discarded for lack of resources although valid.
    ip_in_discards => "IpInDiscards",
    /// Delivered to TCP or ICMP.
    ip_in_delivers => "IpInDelivers",
    /// Datagrams handed down for sending (ICMP included).
    ip_out_requests => "IpOutRequests",
    /// Valid datagrams not sent for lack of resources.
    ip_out_discards => "IpOutDiscards",
    /// Fragments received needing reassembly.
    ip_reasm_reqds => "IpReasmReqds",
    /// Datagrams reassembled.
    ip_reasm_oks => "IpReasmOKs",
    /// Reassembly failures of any kind, timeouts included.
    ip_reasm_fails => "IpReasmFails",
    /// Reassemblies given up on timeout (Linux counts these in `Ip`, not `IpExt`).
    ip_reasm_timeout => "IpReasmTimeout",
    // ---- IpExt (Linux) ----
    /// Datagrams shorter than their headers claim.
    ip_ext_in_truncated_pkts => "IpExtInTruncatedPkts",
    /// IPv4 header checksum errors (also counted in `IpInHdrErrors`, as Linux does).
    ip_ext_in_csum_errors => "IpExtInCsumErrors",
    /// Datagrams killed for overlapping fragments.
    ip_ext_reasm_overlaps => "IpExtReasmOverlaps",
    /// Received to a broadcast address (and dropped: MUST-57).
    ip_ext_in_bcast_pkts => "IpExtInBcastPkts",
    /// Received to a multicast address (and dropped: MUST-57).
    ip_ext_in_mcast_pkts => "IpExtInMcastPkts",
    /// IP bytes received / sent, headers included.
    ip_ext_in_octets => "IpExtInOctets",
    ip_ext_out_octets => "IpExtOutOctets",
    // ---- Icmp (RFC 4293 icmpStats*, icmpMsgStats*) ----
    /// ICMP messages received, errors included.
    icmp_in_msgs => "IcmpInMsgs",
    /// Received but malformed (bad checksum, truncated).
    icmp_in_errors => "IcmpInErrors",
    /// ICMP checksum errors (also in `IcmpInErrors`).
    icmp_in_csum_errors => "IcmpInCsumErrors",
    icmp_in_dest_unreachs => "IcmpInDestUnreachs",
    icmp_in_time_excds => "IcmpInTimeExcds",
    icmp_in_parm_probs => "IcmpInParmProbs",
    /// Received and ignored (MUST-55).
    icmp_in_src_quenchs => "IcmpInSrcQuenchs",
    icmp_in_redirects => "IcmpInRedirects",
    icmp_in_echos => "IcmpInEchos",
    icmp_in_echo_reps => "IcmpInEchoReps",
    /// ICMP messages sent.
    icmp_out_msgs => "IcmpOutMsgs",
    /// ICMP messages not sent because of an error (buffer, rate limit).
    icmp_out_errors => "IcmpOutErrors",
    icmp_out_dest_unreachs => "IcmpOutDestUnreachs",
    icmp_out_time_excds => "IcmpOutTimeExcds",
    icmp_out_echo_reps => "IcmpOutEchoReps",
    // ---- Tcp (RFC 4022 tcp*) ----
    /// CLOSED -> SYN-SENT transitions.
    tcp_active_opens => "TcpActiveOpens",
    /// LISTEN -> SYN-RECEIVED transitions.
    tcp_passive_opens => "TcpPassiveOpens",
    /// SYN-SENT/SYN-RECEIVED -> CLOSED, plus SYN-RECEIVED -> LISTEN.
    tcp_attempt_fails => "TcpAttemptFails",
    /// ESTABLISHED/CLOSE-WAIT -> CLOSED by a reset.
    tcp_estab_resets => "TcpEstabResets",
    /// Connections now in ESTABLISHED or CLOSE-WAIT (a gauge).
    tcp_curr_estab => "TcpCurrEstab",
    /// Segments received, errors included.
    tcp_in_segs => "TcpInSegs",
    /// Segments sent, retransmissions excluded.
    tcp_out_segs => "TcpOutSegs",
    /// Segments retransmitted.
    tcp_retrans_segs => "TcpRetransSegs",
    /// Segments received in error (bad checksum, bad header).
    tcp_in_errs => "TcpInErrs",
    /// Segments sent with RST set.
    tcp_out_rsts => "TcpOutRsts",
    /// TCP checksum errors (also in `TcpInErrs`).
    tcp_in_csum_errors => "TcpInCsumErrors",
    // ---- TcpExt (Linux /proc/net/netstat) ----
    /// SYN cookies sent / accepted / rejected (RFC 4987 §3.6).
    tcp_ext_syncookies_sent => "TcpExtSyncookiesSent",
    tcp_ext_syncookies_recv => "TcpExtSyncookiesRecv",
    tcp_ext_syncookies_failed => "TcpExtSyncookiesFailed",
    /// Resets received in SYN-RECEIVED.
    tcp_ext_embryonic_rsts => "TcpExtEmbryonicRsts",
    /// Handshakes completed while the accept queue was full.
    tcp_ext_listen_overflows => "TcpExtListenOverflows",
    /// SYNs or handshake ACKs dropped at a listener, overflows included.
    tcp_ext_listen_drops => "TcpExtListenDrops",
    /// TIME-WAIT entries that ran their 2*MSL and finished.
    tcp_ext_tw => "TcpExtTW",
    /// TIME-WAIT entries ended early by a new SYN (RFC 6191).
    tcp_ext_tw_recycled => "TcpExtTWRecycled",
    /// TIME-WAIT entries ended at once because `max_tw_buckets` were in use.
    tcp_ext_tcp_time_wait_overflow => "TcpExtTCPTimeWaitOverflow",
    /// Segments dropped by the PAWS check in a synchronized state (RFC 7323 §5).
    tcp_ext_paws_estab => "TcpExtPAWSEstab",
    /// Delayed ACKs sent by the delayed-ACK timer.
    tcp_ext_delayed_acks => "TcpExtDelayedACKs",
    /// Challenge ACKs sent (RFC 5961 §3, §4, §5).
    tcp_ext_tcp_challenge_ack => "TcpExtTCPChallengeACK",
    /// Challenge ACKs sent for a SYN in a synchronized state (RFC 5961 §4).
    tcp_ext_tcp_syn_challenge => "TcpExtTCPSYNChallenge",
    /// Retransmission timeouts (RFC 6298 §5.4).
    tcp_ext_tcp_timeouts => "TcpExtTCPTimeouts",
    /// SYN or SYN-ACK retransmissions.
    tcp_ext_tcp_syn_retrans => "TcpExtTCPSynRetrans",
    /// Fast retransmits (RFC 5681 §3.2).
    tcp_ext_tcp_fast_retrans => "TcpExtTCPFastRetrans",
    /// Entries into NewReno / SACK loss recovery.
    tcp_ext_tcp_reno_recovery => "TcpExtTCPRenoRecovery",
    tcp_ext_tcp_sack_recovery => "TcpExtTCPSackRecovery",
    /// Tail loss probes sent (RFC 8985 §7).
    tcp_ext_tcp_loss_probes => "TcpExtTCPLossProbes",
    /// Resets sent because data arrived after the application closed.
    tcp_ext_tcp_abort_on_data => "TcpExtTCPAbortOnData",
    /// Resets sent because the application closed with unread data (RFC 9293 §3.6.1).
    tcp_ext_tcp_abort_on_close => "TcpExtTCPAbortOnClose",
    /// Connections aborted for lack of memory.
    tcp_ext_tcp_abort_on_memory => "TcpExtTCPAbortOnMemory",
    /// Connections aborted after too many retransmissions (R2, RFC 9293 §3.8.3).
    tcp_ext_tcp_abort_on_timeout => "TcpExtTCPAbortOnTimeout",
    /// Connections aborted by SO_LINGER with a zero timeout or a FIN-WAIT-2 timeout.
    tcp_ext_tcp_abort_on_linger => "TcpExtTCPAbortOnLinger",
    /// Segments queued out of order.
    tcp_ext_tcp_ofo_queue => "TcpExtTCPOFOQueue",
    /// Out-of-order segments dropped (queue full).
    tcp_ext_tcp_ofo_drop => "TcpExtTCPOFODrop",
    /// In-order segments merged into the previous receive-queue entry.
    tcp_ext_tcp_rcv_coalesce => "TcpExtTCPRcvCoalesce",
    /// Segments sent with new data (retransmissions excluded).
    tcp_ext_tcp_orig_data_sent => "TcpExtTCPOrigDataSent",
    /// Keep-alive probes sent (RFC 9293 §3.8.4).
    tcp_ext_tcp_keep_alive => "TcpExtTCPKeepAlive",
    /// Segments dropped because the receive window was zero.
    tcp_ext_tcp_zero_window_drop => "TcpExtTCPZeroWindowDrop",
}

impl Counters {
    /// The value of the counter with this nstat name.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Copies the reassembler's counters (they are kept there, cumulative).
    pub fn set_reassembly(&mut self, f: &FragStats) {
        self.ip_reasm_reqds = f.reasm_reqds;
        self.ip_reasm_oks = f.reasm_oks;
        self.ip_reasm_fails = f.reasm_fails;
        self.ip_reasm_timeout = f.reasm_timeout;
        self.ip_ext_reasm_overlaps = f.reasm_overlaps;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const PREFIXES: [&str; 5] = ["IpExt", "Ip", "Icmp", "TcpExt", "Tcp"];

    /// The group prefix of an nstat name: the longest of PREFIXES followed by an
    /// upper-case letter (so `IcmpInMsgs` is `Icmp`, not `Ip`...).
    fn prefix(name: &str) -> Option<&'static str> {
        PREFIXES
            .iter()
            .filter(|p| {
                name.strip_prefix(**p)
                    .and_then(|rest| rest.chars().next())
                    .is_some_and(|c| c.is_ascii_uppercase())
            })
            .max_by_key(|p| p.len())
            .copied()
    }

    #[test]
    fn names_are_unique() {
        let set: HashSet<_> = Counters::NAMES.iter().collect();
        assert_eq!(set.len(), Counters::NAMES.len());
        assert_eq!(Counters::default().iter().count(), Counters::NAMES.len());
    }

    #[test]
    fn names_carry_nstat_prefixes_in_group_order() {
        let order: Vec<&str> = Counters::NAMES
            .iter()
            .map(|n| prefix(n).unwrap_or_else(|| panic!("{n}: no nstat prefix")))
            .collect();
        let mut groups = order.clone();
        groups.dedup();
        assert_eq!(groups, ["Ip", "IpExt", "Icmp", "Tcp", "TcpExt"]);
        for n in Counters::NAMES {
            assert!(n.chars().all(|c| c.is_ascii_alphanumeric()), "{n}");
        }
    }

    #[test]
    fn field_names_are_snake_case_nstat_names() {
        for (field, name) in Counters::FIELDS.iter().zip(Counters::NAMES) {
            assert!(
                field
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{field}"
            );
            assert!(
                field.replace('_', "").eq_ignore_ascii_case(name),
                "{field} does not spell {name}"
            );
            let p = prefix(name).unwrap();
            let snake_prefix = match p {
                "IpExt" => "ip_ext_".to_string(),
                "TcpExt" => "tcp_ext_".to_string(),
                other => format!("{}_", other.to_ascii_lowercase()),
            };
            assert!(field.starts_with(&snake_prefix), "{field} vs {name}");
        }
    }

    #[test]
    fn brief_minimum_set_present() {
        for n in [
            "IpInReceives",
            "IpInHdrErrors",
            "IpInAddrErrors",
            "IpInDelivers",
            "IpOutRequests",
            "IpReasmReqds",
            "IpReasmOKs",
            "IpReasmFails",
            "IpReasmTimeout",
            "IcmpInMsgs",
            "IcmpInErrors",
            "IcmpInEchos",
            "IcmpOutEchoReps",
            "IcmpOutMsgs",
            "IcmpInDestUnreachs",
            "IcmpInTimeExcds",
            "IcmpInSrcQuenchs",
            "TcpActiveOpens",
            "TcpPassiveOpens",
            "TcpAttemptFails",
            "TcpEstabResets",
            "TcpCurrEstab",
            "TcpInSegs",
            "TcpOutSegs",
            "TcpRetransSegs",
            "TcpInErrs",
            "TcpOutRsts",
            "TcpInCsumErrors",
            "TcpExtListenOverflows",
            "TcpExtListenDrops",
            "TcpExtTCPChallengeACK",
            "TcpExtTCPSYNChallenge",
            "TcpExtTW",
            "TcpExtTCPTimeouts",
            "TcpExtTCPAbortOnData",
            "TcpExtTCPAbortOnClose",
            "TcpExtTCPAbortOnTimeout",
            "TcpExtTCPOFOQueue",
            "TcpExtTCPRcvCoalesce",
        ] {
            assert_eq!(Counters::default().get(n), Some(0), "{n} missing");
        }
        assert_eq!(Counters::default().get("TcpNoSuchThing"), None);
    }

    #[test]
    fn iter_reports_values_under_their_names() {
        let c = Counters {
            tcp_in_segs: 7,
            tcp_ext_listen_overflows: 2,
            ip_in_receives: 9,
            ..Counters::default()
        };
        assert_eq!(c.get("TcpInSegs"), Some(7));
        assert_eq!(c.get("TcpExtListenOverflows"), Some(2));
        assert_eq!(c.get("IpInReceives"), Some(9));
        assert_eq!(c.iter().map(|(_, v)| v).sum::<u64>(), 18);
    }

    #[test]
    fn delta_saturates() {
        let later = Counters {
            tcp_in_segs: 10,
            tcp_curr_estab: 1,
            ..Counters::default()
        };
        let earlier = Counters {
            tcp_in_segs: 4,
            tcp_curr_estab: 3,
            ..Counters::default()
        };
        let d = later.delta(&earlier);
        assert_eq!(d.tcp_in_segs, 6);
        assert_eq!(d.tcp_curr_estab, 0);
    }

    #[test]
    fn reassembly_counters_copied() {
        let mut c = Counters::default();
        c.set_reassembly(&FragStats {
            reasm_reqds: 5,
            reasm_oks: 2,
            reasm_fails: 1,
            reasm_timeout: 1,
            reasm_overlaps: 0,
        });
        assert_eq!(c.get("IpReasmReqds"), Some(5));
        assert_eq!(c.get("IpReasmOKs"), Some(2));
        assert_eq!(c.get("IpReasmFails"), Some(1));
        assert_eq!(c.get("IpReasmTimeout"), Some(1));
    }
}
