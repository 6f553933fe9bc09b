//! Stack counters, named like Linux's SNMP MIB counters as `nstat` / `netstat -s` print
//! them (`/proc/net/snmp`, `/proc/net/netstat`, `/proc/net/snmp6`): `IpInReceives`,
//! `TcpInSegs`, `TcpExtListenOverflows`, `Ip6InReceives`, `Icmp6OutEchoReplies`, ... so
//! output can be compared with the host kernel's. As Linux, `Ip*` and `Icmp*` count IPv4
//! only and `Ip6*`/`Icmp6*` IPv6 only; `Tcp*` count both families.
//!
//! Each Rust field is the nstat name in snake case (`TcpExtTCPChallengeACK` ->
//! `tcp_ext_tcp_challenge_ack`); a test checks that the two agree. Meanings follow
//! RFC 4293 (IP-MIB, ICMP), RFC 4022 (TCP-MIB) and the Linux sources for `TcpExt`.
//!
//! Every counter here counts what its name says where Linux counts it; a test drives each
//! one above zero (`tests/counters.rs`). Linux counters for events this stack cannot have
//! are left out rather than printed as a constant 0: `IpInDiscards` and `IcmpOutErrors`
//! (no resource shortage on those paths), `TCPAbortOnLinger` (no `TCP_LINGER2`, whose
//! negative value makes Linux reset at close), `Ip6InNoRoutes`/`Ip6Frag*` (no routing, no
//! fragmenting), `Icmp6OutDestUnreachs`/`Icmp6OutPktTooBigs` (never sent: unknown Next
//! Headers get Parameter Problem, RFC 4443 §3.4).
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

            /// (nstat name, value) for every counter, grouped Ip, IpExt, Icmp, Tcp, TcpExt,
            /// Ip6, Icmp6 (nstat's order: /proc/net/snmp6 last).
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
    /// Delivered to TCP or ICMP.
    ip_in_delivers => "IpInDelivers",
    /// Datagrams handed down for sending (ICMP included).
    ip_out_requests => "IpOutRequests",
    /// Valid datagrams not sent for lack of resources: a packet larger than the buffer
    /// the device layer passed to `poll_transmit`.
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
    /// Datagrams shorter than their total length says (not also header errors, as Linux).
    ip_ext_in_truncated_pkts => "IpExtInTruncatedPkts",
    /// IPv4 header checksum errors (also counted in `IpInHdrErrors`, as Linux does).
    ip_ext_in_csum_errors => "IpExtInCsumErrors",
    /// Datagrams killed for overlapping fragments.
    ip_ext_reasm_overlaps => "IpExtReasmOverlaps",
    /// Received to a broadcast address (and dropped: MUST-57).
    ip_ext_in_bcast_pkts => "IpExtInBcastPkts",
    /// Received to a multicast address (and dropped: MUST-57).
    ip_ext_in_mcast_pkts => "IpExtInMcastPkts",
    /// IP bytes received / sent, headers included (a super-segment's headers once, as
    /// Linux adds `skb->len`).
    ip_ext_in_octets => "IpExtInOctets",
    /// `IpExtOutOctets` (see above).
    ip_ext_out_octets => "IpExtOutOctets",
    /// Datagrams received by ECN codepoint (RFC 3168 §5): Not-ECT, ECT(1), ECT(0), CE,
    /// counted as Linux's ip_rcv_core does, once the header's version and length are sane.
    ip_ext_in_no_ect_pkts => "IpExtInNoECTPkts",
    /// ECT(1).
    ip_ext_in_ect1_pkts => "IpExtInECT1Pkts",
    /// ECT(0).
    ip_ext_in_ect0_pkts => "IpExtInECT0Pkts",
    /// CE (Congestion Experienced).
    ip_ext_in_ce_pkts => "IpExtInCEPkts",
    // ---- Icmp (RFC 4293 icmpStats*, icmpMsgStats*) ----
    /// ICMP messages received, errors included.
    icmp_in_msgs => "IcmpInMsgs",
    /// Received but malformed (bad checksum, truncated). The `IcmpIn*` type counters below
    /// count every well-formed message of their type, as Linux's `icmp_rcv`.
    icmp_in_errors => "IcmpInErrors",
    /// ICMP checksum errors (also in `IcmpInErrors`).
    icmp_in_csum_errors => "IcmpInCsumErrors",
    /// Destination Unreachable received.
    icmp_in_dest_unreachs => "IcmpInDestUnreachs",
    /// Time Exceeded received.
    icmp_in_time_excds => "IcmpInTimeExcds",
    /// Parameter Problem received.
    icmp_in_parm_probs => "IcmpInParmProbs",
    /// Received and ignored (MUST-55).
    icmp_in_src_quenchs => "IcmpInSrcQuenchs",
    /// Redirects received (and ignored).
    icmp_in_redirects => "IcmpInRedirects",
    /// Echo Requests received.
    icmp_in_echos => "IcmpInEchos",
    /// Echo Replies received.
    icmp_in_echo_reps => "IcmpInEchoReps",
    /// ICMP messages sent.
    icmp_out_msgs => "IcmpOutMsgs",
    /// Protocol unreachable for a protocol we do not run, UDP included (RFC 1122 §3.2.2.1).
    icmp_out_dest_unreachs => "IcmpOutDestUnreachs",
    /// Time Exceeded sent (fragment reassembly timeout).
    icmp_out_time_excds => "IcmpOutTimeExcds",
    /// Echo Replies sent.
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
    /// Segments sent, retransmissions excluded, GSO pieces counted (as Linux).
    tcp_out_segs => "TcpOutSegs",
    /// Segments retransmitted, SYNs included.
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
    /// SYN cookies accepted (see above).
    tcp_ext_syncookies_recv => "TcpExtSyncookiesRecv",
    /// SYN cookies rejected (see above).
    tcp_ext_syncookies_failed => "TcpExtSyncookiesFailed",
    /// Passive opens in SYN-RECEIVED ended by a RST or a SYN (Linux `tcp_check_req`).
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
    /// Duplicate ACKs for invalid segments skipped by `tcp_invalid_ratelimit`: outside the
    /// window / failing PAWS.
    tcp_ext_tcp_ack_skipped_seq => "TcpExtTCPACKSkippedSeq",
    /// Duplicate ACKs not sent for segments failing PAWS (see above).
    tcp_ext_tcp_ack_skipped_paws => "TcpExtTCPACKSkippedPAWS",
    /// ACKs sent because the delayed-ACK timer fired.
    tcp_ext_delayed_acks => "TcpExtDelayedACKs",
    /// Challenge ACKs sent (RFC 5961 §3, §4, §5).
    tcp_ext_tcp_challenge_ack => "TcpExtTCPChallengeACK",
    /// SYNs received in a synchronized state (RFC 5961 §4), before the challenge ACK's
    /// rate limit.
    tcp_ext_tcp_syn_challenge => "TcpExtTCPSYNChallenge",
    /// Retransmission timeouts (RFC 6298 §5.4), SYN states included; not the ones that
    /// only meet a zero window (Linux `tcp_retransmit_timer`).
    tcp_ext_tcp_timeouts => "TcpExtTCPTimeouts",
    /// SYN or SYN-ACK retransmissions.
    tcp_ext_tcp_syn_retrans => "TcpExtTCPSynRetrans",
    /// Segments retransmitted in fast recovery (RFC 5681 §3.2, RFC 6675), not after a
    /// timeout.
    tcp_ext_tcp_fast_retrans => "TcpExtTCPFastRetrans",
    /// Fast recoveries entered without SACK (RFC 6582) / with SACK (RFC 6675).
    tcp_ext_tcp_reno_recovery => "TcpExtTCPRenoRecovery",
    /// Fast recoveries entered with SACK (see above).
    tcp_ext_tcp_sack_recovery => "TcpExtTCPSackRecovery",
    /// Tail loss probes sent (RFC 8985 §7.3).
    tcp_ext_tcp_loss_probes => "TcpExtTCPLossProbes",
    /// Losses repaired by a tail loss probe (RFC 8985 §7.4.2), each with a cwnd reduction.
    tcp_ext_tcp_loss_probe_recovery => "TcpExtTCPLossProbeRecovery",
    /// Retransmissions RACK found lost (RFC 8985 §6.2), resent without waiting for the RTO.
    tcp_ext_tcp_lost_retransmit => "TcpExtTCPLostRetransmit",
    /// Retransmission timeouts during fast recovery with / without SACK, the first of a
    /// run (Linux `tcp_retransmit_timer`).
    tcp_ext_tcp_sack_recovery_fail => "TcpExtTCPSackRecoveryFail",
    /// Retransmission timeouts during fast recovery without SACK (see above).
    tcp_ext_tcp_reno_recovery_fail => "TcpExtTCPRenoRecoveryFail",
    /// Congestion responses undone: every retransmission D-SACKed (RFC 3708), at the end
    /// of fast recovery by D-SACK or timestamps (RFC 3522), after a timeout; timeouts F-RTO
    /// found spurious (RFC 5682).
    tcp_ext_tcp_dsack_undo => "TcpExtTCPDSACKUndo",
    /// Congestion responses undone at the end of fast recovery (see above).
    tcp_ext_tcp_full_undo => "TcpExtTCPFullUndo",
    /// Congestion responses undone after a timeout (see above).
    tcp_ext_tcp_loss_undo => "TcpExtTCPLossUndo",
    /// Timeouts F-RTO found spurious (RFC 5682), also counted in `TcpExtTCPLossUndo`.
    tcp_ext_tcp_spurious_rtos => "TcpExtTCPSpuriousRTOs",
    /// D-SACKs sent (RFC 2883) for data received twice below RCV.NXT / for data already
    /// held out of order; counted when set, as Linux (`tcp_dsack_set`).
    tcp_ext_tcp_dsack_old_sent => "TcpExtTCPDSACKOldSent",
    /// D-SACKs set for data already held out of order (see above).
    tcp_ext_tcp_dsack_ofo_sent => "TcpExtTCPDSACKOfoSent",
    /// Resets sent because data arrived after the application closed (RFC 2525 §2.17).
    tcp_ext_tcp_abort_on_data => "TcpExtTCPAbortOnData",
    /// Resets sent because the application closed with unread data (RFC 9293 §3.6.1).
    tcp_ext_tcp_abort_on_close => "TcpExtTCPAbortOnClose",
    /// Connections aborted after too many retransmissions (R2, RFC 9293 §3.8.3).
    tcp_ext_tcp_abort_on_timeout => "TcpExtTCPAbortOnTimeout",
    /// Data segments placed beyond RCV.NXT (out of order).
    tcp_ext_tcp_ofo_queue => "TcpExtTCPOFOQueue",
    /// ACKs for out-of-order data merged by SACK compression (`tcp_comp_sack_nr`).
    tcp_ext_tcp_ack_compressed => "TcpExtTCPAckCompressed",
    /// In-order segments appended to unread data already queued (Linux: merged into the
    /// last skb of the receive queue).
    tcp_ext_tcp_rcv_coalesce => "TcpExtTCPRcvCoalesce",
    /// Segments sent with new data (retransmissions excluded), GSO pieces counted.
    tcp_ext_tcp_orig_data_sent => "TcpExtTCPOrigDataSent",
    /// Keep-alive probes sent (RFC 9293 §3.8.4).
    tcp_ext_tcp_keep_alive => "TcpExtTCPKeepAlive",
    /// Data segments at RCV.NXT dropped because the receive window was zero.
    tcp_ext_tcp_zero_window_drop => "TcpExtTCPZeroWindowDrop",
    /// A segment would take a receive buffer past its charge limit (Linux `sk_rcvbuf`) or
    /// came above the hard memory limit: pruning was tried (`tcp_prune_queue`).
    tcp_ext_prune_called => "TcpExtPruneCalled",
    /// Out-of-order queues pruned, from the highest sequence down (`tcp_prune_ofo_queue`).
    tcp_ext_ofo_pruned => "TcpExtOfoPruned",
    /// Out-of-order segments dropped: no room in the receive buffer's limit, or above the
    /// hard memory limit (`tcp_data_queue_ofo`).
    tcp_ext_tcp_ofo_drop => "TcpExtTCPOFODrop",
    /// In-order segments dropped above the hard memory limit (`tcp_data_queue`).
    tcp_ext_tcp_rcv_q_drop => "TcpExtTCPRcvQDrop",
    /// Orphans reset for too many orphans (`max_orphans`) or for memory past the hard
    /// limit, at close or on a retransmission timer (`tcp_check_oom`).
    tcp_ext_tcp_abort_on_memory => "TcpExtTCPAbortOnMemory",
    /// Times the stack entered memory pressure (`tcp_mem[1]` passed).
    tcp_ext_tcp_memory_pressures => "TcpExtTCPMemoryPressures",
    /// ICMP errors naming a connection but quoting a sequence number outside
    /// SND.UNA..SND.NXT, ignored (RFC 5927 §4.1).
    tcp_ext_out_of_window_icmps => "TcpExtOutOfWindowIcmps",
    /// PLPMTUD probes that were lost / acknowledged (RFC 4821, `tcp_mtu_probing`).
    tcp_ext_tcp_mtup_fail => "TcpExtTCPMTUPFail",
    /// PLPMTUD probes acknowledged (see above).
    tcp_ext_tcp_mtup_success => "TcpExtTCPMTUPSuccess",
    /// Segments delivered (newly acknowledged or SACKed) by ACKs with ECE (RFC 3168).
    tcp_ext_tcp_delivered_ce => "TcpExtTCPDeliveredCE",
    /// Timeouts that found the receiver reneging on SACKed data (RFC 2018 §8).
    tcp_ext_tcp_sack_reneging => "TcpExtTCPSACKReneging",
    // ---- Ip6 (RFC 4293 ipSystemStats* for IPv6, Linux /proc/net/snmp6) ----
    /// IPv6 datagrams received from the device, errors included.
    ip6_in_receives => "Ip6InReceives",
    /// Discarded for header errors: version, a header shorter than 40 bytes, an
    /// extension header refused (RFC 8200 §4), a multicast or loopback source (as Linux's
    /// `ip6_rcv_core`).
    ip6_in_hdr_errors => "Ip6InHdrErrors",
    /// Discarded for the destination address: not ours (we do not forward).
    ip6_in_addr_errors => "Ip6InAddrErrors",
    /// Addressed to us with a Next Header we do not run (answered with Parameter Problem).
    ip6_in_unknown_protos => "Ip6InUnknownProtos",
    /// Shorter than their Payload Length says.
    ip6_in_truncated_pkts => "Ip6InTruncatedPkts",
    /// Received while the stack has no IPv6 address (as Linux with `disable_ipv6`).
    ip6_in_discards => "Ip6InDiscards",
    /// Delivered to TCP, ICMPv6 or No Next Header.
    ip6_in_delivers => "Ip6InDelivers",
    /// IPv6 datagrams handed down for sending (ICMPv6 included).
    ip6_out_requests => "Ip6OutRequests",
    /// Valid datagrams not sent: larger than the buffer the device layer passed.
    ip6_out_discards => "Ip6OutDiscards",
    /// Reassemblies given up on timeout (RFC 8200 §4.5: 60 s).
    ip6_reasm_timeout => "Ip6ReasmTimeout",
    /// Fragments received needing reassembly.
    ip6_reasm_reqds => "Ip6ReasmReqds",
    /// Datagrams reassembled.
    ip6_reasm_oks => "Ip6ReasmOKs",
    /// Reassembly failures of any kind, timeouts and overlaps (RFC 5722) included.
    ip6_reasm_fails => "Ip6ReasmFails",
    /// Received to a multicast address (and dropped: no MLD or ND on a TUN).
    ip6_in_mcast_pkts => "Ip6InMcastPkts",
    /// IPv6 bytes received / sent, headers included (a super-segment's headers once).
    ip6_in_octets => "Ip6InOctets",
    /// `Ip6OutOctets` (see above).
    ip6_out_octets => "Ip6OutOctets",
    /// Datagrams received by ECN codepoint (the Traffic Class's low bits, RFC 3168 §5).
    ip6_in_no_ect_pkts => "Ip6InNoECTPkts",
    /// ECT(1).
    ip6_in_ect1_pkts => "Ip6InECT1Pkts",
    /// ECT(0).
    ip6_in_ect0_pkts => "Ip6InECT0Pkts",
    /// CE (Congestion Experienced).
    ip6_in_ce_pkts => "Ip6InCEPkts",
    // ---- Icmp6 (RFC 4293 icmpStats*/icmpMsgStats* for IPv6, Linux /proc/net/snmp6) ----
    /// ICMPv6 messages received, errors included.
    icmp6_in_msgs => "Icmp6InMsgs",
    /// Received but malformed (bad checksum, truncated).
    icmp6_in_errors => "Icmp6InErrors",
    /// ICMPv6 checksum errors (also in `Icmp6InErrors`).
    icmp6_in_csum_errors => "Icmp6InCsumErrors",
    /// Destination Unreachable received.
    icmp6_in_dest_unreachs => "Icmp6InDestUnreachs",
    /// Packet Too Big received.
    icmp6_in_pkt_too_bigs => "Icmp6InPktTooBigs",
    /// Time Exceeded received.
    icmp6_in_time_excds => "Icmp6InTimeExcds",
    /// Parameter Problem received.
    icmp6_in_parm_problems => "Icmp6InParmProblems",
    /// Echo Requests received.
    icmp6_in_echos => "Icmp6InEchos",
    /// Echo Replies received.
    icmp6_in_echo_replies => "Icmp6InEchoReplies",
    /// ICMPv6 messages sent.
    icmp6_out_msgs => "Icmp6OutMsgs",
    /// Time Exceeded sent (fragment reassembly timeout, code 1).
    icmp6_out_time_excds => "Icmp6OutTimeExcds",
    /// Parameter Problem sent (RFC 4443 §3.4).
    icmp6_out_parm_problems => "Icmp6OutParmProblems",
    /// Echo Replies sent.
    icmp6_out_echo_replies => "Icmp6OutEchoReplies",
}

impl Counters {
    /// The value of the counter with this nstat name.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Adds the counters that connections keep (see [`crate::tcp::ConnStats`]) from their sum.
    pub fn add_connections(&mut self, t: &crate::tcp::ConnStats) {
        self.tcp_retrans_segs += t.retrans_segs;
        // The stack counts every piece it sends; a retransmission is always one piece.
        self.tcp_out_segs = self.tcp_out_segs.saturating_sub(t.retrans_segs);
        // Linux counts an embryonic reset in AttemptFails too (tcp_check_req).
        self.tcp_attempt_fails += t.embryonic_rsts;
        self.tcp_ext_embryonic_rsts += t.embryonic_rsts;
        self.tcp_ext_paws_estab += t.paws_estab;
        self.tcp_ext_tcp_ack_skipped_seq += t.ack_skipped_seq;
        self.tcp_ext_tcp_ack_skipped_paws += t.ack_skipped_paws;
        self.tcp_ext_delayed_acks += t.delayed_acks;
        self.tcp_ext_tcp_challenge_ack += t.challenge_acks;
        self.tcp_ext_tcp_syn_challenge += t.syn_challenges;
        self.tcp_ext_tcp_timeouts += t.timeouts;
        self.tcp_ext_tcp_syn_retrans += t.syn_retrans;
        self.tcp_ext_tcp_fast_retrans += t.fast_retrans;
        self.tcp_ext_tcp_reno_recovery += t.reno_recovery;
        self.tcp_ext_tcp_sack_recovery += t.sack_recovery;
        self.tcp_ext_tcp_loss_probes += t.loss_probes;
        self.tcp_ext_tcp_loss_probe_recovery += t.loss_probe_recovery;
        self.tcp_ext_tcp_mtup_fail += t.mtup_fail;
        self.tcp_ext_tcp_mtup_success += t.mtup_success;
        self.tcp_ext_tcp_delivered_ce += t.delivered_ce;
        self.tcp_ext_tcp_sack_reneging += t.sack_reneging;
        self.tcp_ext_tcp_lost_retransmit += t.lost_retransmit;
        self.tcp_ext_tcp_sack_recovery_fail += t.sack_recovery_fail;
        self.tcp_ext_tcp_reno_recovery_fail += t.reno_recovery_fail;
        self.tcp_ext_tcp_dsack_undo += t.dsack_undo;
        self.tcp_ext_tcp_full_undo += t.full_undo;
        self.tcp_ext_tcp_loss_undo += t.loss_undo;
        self.tcp_ext_tcp_spurious_rtos += t.spurious_rtos;
        self.tcp_ext_tcp_dsack_old_sent += t.dsack_old_sent;
        self.tcp_ext_tcp_dsack_ofo_sent += t.dsack_ofo_sent;
        self.tcp_ext_tcp_abort_on_data += t.abort_on_data;
        self.tcp_ext_tcp_ofo_queue += t.ofo_queue;
        self.tcp_ext_tcp_ack_compressed += t.ack_compressed;
        self.tcp_ext_tcp_rcv_coalesce += t.rcv_coalesce;
        self.tcp_ext_tcp_orig_data_sent += t.orig_data_sent;
        self.tcp_ext_tcp_keep_alive += t.keepalive_probes;
        self.tcp_ext_tcp_zero_window_drop += t.zero_window_drop;
        self.tcp_ext_prune_called += t.prune_called;
        self.tcp_ext_ofo_pruned += t.ofo_pruned;
        self.tcp_ext_tcp_ofo_drop += t.ofo_drop;
        self.tcp_ext_tcp_rcv_q_drop += t.rcvq_drop;
    }

    /// A datagram arrived with the ECN field `ecn` (RFC 3168 §5).
    pub fn count_ecn(&mut self, ecn: u8) {
        let c = match ecn & 3 {
            0 => &mut self.ip_ext_in_no_ect_pkts,
            1 => &mut self.ip_ext_in_ect1_pkts,
            2 => &mut self.ip_ext_in_ect0_pkts,
            _ => &mut self.ip_ext_in_ce_pkts,
        };
        *c += 1;
    }

    /// [`Counters::count_ecn`] for IPv6.
    pub fn count_ecn6(&mut self, ecn: u8) {
        let c = match ecn & 3 {
            0 => &mut self.ip6_in_no_ect_pkts,
            1 => &mut self.ip6_in_ect1_pkts,
            2 => &mut self.ip6_in_ect0_pkts,
            _ => &mut self.ip6_in_ce_pkts,
        };
        *c += 1;
    }

    /// Copies the IPv6 reassembler's counters (kept there, cumulative).
    pub fn set_reassembly6(&mut self, f: &FragStats) {
        self.ip6_reasm_reqds = f.reasm_reqds;
        self.ip6_reasm_oks = f.reasm_oks;
        self.ip6_reasm_fails = f.reasm_fails;
        self.ip6_reasm_timeout = f.reasm_timeout;
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

    const PREFIXES: [&str; 7] = ["IpExt", "Ip", "Icmp", "TcpExt", "Tcp", "Ip6", "Icmp6"];

    /// The group prefix of an nstat name: the longest of PREFIXES followed by an
    /// upper-case letter (so `IcmpInMsgs` is `Icmp`, not `Ip`; `Ip6InReceives` is `Ip6`).
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
        assert_eq!(
            groups,
            ["Ip", "IpExt", "Icmp", "Tcp", "TcpExt", "Ip6", "Icmp6"]
        );
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
            "TcpExtTCPAckCompressed",
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
