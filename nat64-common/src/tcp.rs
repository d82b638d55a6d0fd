//! The RFC 6146 §3.5.2 TCP state machine, as a pure function of (state, direction, flags).
//!
//! The NAT64 does not follow sequence numbers; it only watches SYN, FIN and RST go by so
//! that it knows how long a session may sit idle: a connection that is opening, closing or
//! was reset gets the short transitory timer (TCP_TRANS, 4 min), an established or
//! half-closed one the long timer (TCP_EST, 2 h 4 min), as RFC 6146 §3.5.2.2 assigns them.
//! The data plane keeps the state in its session map as a `u8`, calls [`next`] for every
//! segment and stores the result.
//!
//! Events follow RFC 6146 §3.5.2.1: "V6 SYN" is a segment from the IPv6 side with the SYN
//! bit set, whatever other bits it carries, and likewise for FIN and RST.

/// No session yet (a fictional state: the data plane has no entry).
pub const TCP_CLOSED: u8 = 0;
/// A SYN came from the IPv4 side; waiting for the IPv6 side's SYN.
pub const TCP_V4_INIT: u8 = 1;
/// A SYN came from the IPv6 side; waiting for the IPv4 side's SYN.
pub const TCP_V6_INIT: u8 = 2;
/// Both sides sent a SYN.
pub const TCP_ESTABLISHED: u8 = 3;
/// The IPv4 side sent a FIN; the IPv6 side may still send data.
pub const TCP_V4_FIN_RCV: u8 = 4;
/// The IPv6 side sent a FIN; the IPv4 side may still send data.
pub const TCP_V6_FIN_RCV: u8 = 5;
/// Both sides sent a FIN; only the timer ends this state.
pub const TCP_V4_FIN_V6_FIN_RCV: u8 = 6;
/// Reset (or the established timer ran out): dies unless traffic resumes.
pub const TCP_TRANS: u8 = 7;
/// Number of states; values at or above it are not states (see [`next`]).
pub const TCP_STATE_COUNT: u8 = 8;

/// TCP header flag bits (byte 13 of the header), so the data plane can pass that byte as
/// it is.
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const ACK: u8 = 0x10;

/// Which idle timer governs a TCP session. Not stored in maps: derived from the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutClass {
    /// TCP_EST (default 2 h 4 min): ESTABLISHED and the two single-FIN states.
    Established,
    /// TCP_TRANS (default 4 min): opening, both-FIN and TRANS states.
    Transitory,
}

/// The timer class of a state, per RFC 6146 §3.5.2.2. CLOSED and unknown values are
/// transitory, so a session holding a corrupt state is collected soon.
#[inline(always)]
pub const fn timeout_class(state: u8) -> TimeoutClass {
    match state {
        TCP_ESTABLISHED | TCP_V4_FIN_RCV | TCP_V6_FIN_RCV => TimeoutClass::Established,
        _ => TimeoutClass::Transitory,
    }
}

/// What a segment does to a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The state to store.
    pub state: u8,
    /// `timeout_class(state)`, for convenience.
    pub timeout: TimeoutClass,
    /// Whether the segment restarts the idle timer ("the lifetime is set to ..." in the
    /// RFC). Where the RFC leaves the lifetime alone (e.g. a retransmitted SYN in V4 INIT,
    /// a FIN in ESTABLISHED, anything in V4 FIN + V6 FIN RCV, a RST in TRANS), the data
    /// plane must not move the session's timestamp, or lingering packets would keep a
    /// dying session alive.
    pub refresh: bool,
}

#[inline(always)]
const fn to(state: u8, refresh: bool) -> Transition {
    Transition {
        state,
        timeout: timeout_class(state),
        refresh,
    }
}

/// The state after a segment with TCP flags `flags` arrives from the IPv6 side
/// (`from_v6`) or the IPv4 side, in state `state` (RFC 6146 §3.5.2.2):
///
/// | state | segment | next state | timer restarted |
/// |---|---|---|---|
/// | CLOSED | V6 SYN | V6 INIT | yes (TCP_TRANS) |
/// | CLOSED | V4 SYN | V4 INIT | yes (TCP_TRANS) |
/// | CLOSED | other | CLOSED | no |
/// | V4 INIT | V6 SYN | ESTABLISHED | yes (TCP_EST) |
/// | V4 INIT | other | V4 INIT | no |
/// | V6 INIT | V4 SYN | ESTABLISHED | yes (TCP_EST) |
/// | V6 INIT | V6 SYN | V6 INIT | yes (TCP_TRANS) |
/// | V6 INIT | other | V6 INIT | no |
/// | ESTABLISHED | V4 or V6 RST | TRANS | yes (TCP_TRANS) |
/// | ESTABLISHED | V4 FIN | V4 FIN RCV | no |
/// | ESTABLISHED | V6 FIN | V6 FIN RCV | no |
/// | ESTABLISHED | other | ESTABLISHED | yes (TCP_EST) |
/// | V4 FIN RCV | V6 FIN | V4 FIN + V6 FIN RCV | yes (TCP_TRANS) |
/// | V4 FIN RCV | other | V4 FIN RCV | yes (TCP_EST) |
/// | V6 FIN RCV | V4 FIN | V4 FIN + V6 FIN RCV | yes (TCP_TRANS) |
/// | V6 FIN RCV | other | V6 FIN RCV | yes (TCP_EST) |
/// | V4 FIN + V6 FIN RCV | any | unchanged | no |
/// | TRANS | not RST | ESTABLISHED | yes (TCP_EST) |
/// | TRANS | RST | TRANS | no |
///
/// Judgement calls, where the RFC is silent:
/// - In ESTABLISHED a segment with both RST and FIN counts as RST (a reset ends the
///   connection whatever else it says, as TCP endpoints process RST first).
/// - A RST in a single-FIN state is "any other packet" and keeps the long timer, as the
///   RFC reads (Jool offers a non-standard switch to shorten it; we do not).
/// - Whether a V4 SYN in CLOSED may open a session at all (filtering, the 6 s hold for
///   simultaneous open, RFC 5382 REQ-4) is the data plane's decision; this only models
///   the state it leads to.
/// - Timer expiry (deleting, or probing an ESTABLISHED session) is not a segment and is
///   left to the session sweeper.
///
/// State values that are not states (corrupt map data) behave as CLOSED and are replaced
/// by a real state, so they never persist.
#[inline(always)]
pub const fn next(state: u8, from_v6: bool, flags: u8) -> Transition {
    let syn = flags & SYN != 0;
    let fin = flags & FIN != 0;
    let rst = flags & RST != 0;
    match state {
        TCP_V4_INIT => {
            if from_v6 && syn {
                to(TCP_ESTABLISHED, true)
            } else {
                to(TCP_V4_INIT, false)
            }
        }
        TCP_V6_INIT => {
            if syn && !from_v6 {
                to(TCP_ESTABLISHED, true)
            } else if syn {
                to(TCP_V6_INIT, true)
            } else {
                to(TCP_V6_INIT, false)
            }
        }
        TCP_ESTABLISHED => {
            if rst {
                to(TCP_TRANS, true)
            } else if fin && from_v6 {
                to(TCP_V6_FIN_RCV, false)
            } else if fin {
                to(TCP_V4_FIN_RCV, false)
            } else {
                to(TCP_ESTABLISHED, true)
            }
        }
        TCP_V4_FIN_RCV => {
            if fin && from_v6 {
                to(TCP_V4_FIN_V6_FIN_RCV, true)
            } else {
                to(TCP_V4_FIN_RCV, true)
            }
        }
        TCP_V6_FIN_RCV => {
            if fin && !from_v6 {
                to(TCP_V4_FIN_V6_FIN_RCV, true)
            } else {
                to(TCP_V6_FIN_RCV, true)
            }
        }
        TCP_V4_FIN_V6_FIN_RCV => to(TCP_V4_FIN_V6_FIN_RCV, false),
        TCP_TRANS => {
            if rst {
                to(TCP_TRANS, false)
            } else {
                to(TCP_ESTABLISHED, true)
            }
        }
        // CLOSED, and anything that is not a state.
        _ => {
            if syn && from_v6 {
                to(TCP_V6_INIT, true)
            } else if syn {
                to(TCP_V4_INIT, true)
            } else {
                to(TCP_CLOSED, false)
            }
        }
    }
}

/// The RFC's name of a state, for nat64-ctl and logs.
pub const fn state_name(state: u8) -> &'static str {
    match state {
        TCP_CLOSED => "CLOSED",
        TCP_V4_INIT => "V4 INIT",
        TCP_V6_INIT => "V6 INIT",
        TCP_ESTABLISHED => "ESTABLISHED",
        TCP_V4_FIN_RCV => "V4 FIN RCV",
        TCP_V6_FIN_RCV => "V6 FIN RCV",
        TCP_V4_FIN_V6_FIN_RCV => "V4 FIN + V6 FIN RCV",
        TCP_TRANS => "TRANS",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TimeoutClass::{Established as Est, Transitory as Trans};

    const V6: bool = true;
    const V4: bool = false;

    fn t(state: u8, timeout: TimeoutClass, refresh: bool) -> Transition {
        Transition {
            state,
            timeout,
            refresh,
        }
    }

    #[test]
    fn flag_bits_match_the_tcp_header() {
        // RFC 9293 §3.1: byte 13 is CWR ECE URG ACK PSH RST SYN FIN, most significant first.
        let syn_ack_byte = 0b0001_0010u8;
        assert_eq!(syn_ack_byte, SYN | ACK);
        assert_eq!(0b0000_0001, FIN);
        assert_eq!(0b0000_0100, RST);
    }

    /// Every transition RFC 6146 §3.5.2.2 lists, with its timer.
    #[test]
    fn rfc_6146_transitions() {
        let rows: &[(u8, bool, u8, Transition)] = &[
            // CLOSED
            (TCP_CLOSED, V6, SYN, t(TCP_V6_INIT, Trans, true)),
            (TCP_CLOSED, V4, SYN, t(TCP_V4_INIT, Trans, true)),
            (TCP_CLOSED, V6, ACK, t(TCP_CLOSED, Trans, false)),
            (TCP_CLOSED, V4, FIN | ACK, t(TCP_CLOSED, Trans, false)),
            (TCP_CLOSED, V4, RST, t(TCP_CLOSED, Trans, false)),
            // V4 INIT
            (TCP_V4_INIT, V6, SYN, t(TCP_ESTABLISHED, Est, true)),
            (TCP_V4_INIT, V6, SYN | ACK, t(TCP_ESTABLISHED, Est, true)),
            (TCP_V4_INIT, V4, SYN, t(TCP_V4_INIT, Trans, false)),
            (TCP_V4_INIT, V6, ACK, t(TCP_V4_INIT, Trans, false)),
            (TCP_V4_INIT, V4, RST, t(TCP_V4_INIT, Trans, false)),
            // V6 INIT
            (TCP_V6_INIT, V4, SYN | ACK, t(TCP_ESTABLISHED, Est, true)),
            (TCP_V6_INIT, V4, SYN, t(TCP_ESTABLISHED, Est, true)),
            (TCP_V6_INIT, V6, SYN, t(TCP_V6_INIT, Trans, true)),
            (TCP_V6_INIT, V6, ACK, t(TCP_V6_INIT, Trans, false)),
            (TCP_V6_INIT, V4, RST | ACK, t(TCP_V6_INIT, Trans, false)),
            // ESTABLISHED
            (
                TCP_ESTABLISHED,
                V4,
                FIN | ACK,
                t(TCP_V4_FIN_RCV, Est, false),
            ),
            (
                TCP_ESTABLISHED,
                V6,
                FIN | ACK,
                t(TCP_V6_FIN_RCV, Est, false),
            ),
            (TCP_ESTABLISHED, V4, RST, t(TCP_TRANS, Trans, true)),
            (TCP_ESTABLISHED, V6, RST | ACK, t(TCP_TRANS, Trans, true)),
            (TCP_ESTABLISHED, V6, RST | FIN, t(TCP_TRANS, Trans, true)),
            (TCP_ESTABLISHED, V4, ACK, t(TCP_ESTABLISHED, Est, true)),
            (TCP_ESTABLISHED, V6, 0, t(TCP_ESTABLISHED, Est, true)),
            (TCP_ESTABLISHED, V6, SYN, t(TCP_ESTABLISHED, Est, true)),
            // V4 FIN RCV
            (
                TCP_V4_FIN_RCV,
                V6,
                FIN | ACK,
                t(TCP_V4_FIN_V6_FIN_RCV, Trans, true),
            ),
            (TCP_V4_FIN_RCV, V4, FIN | ACK, t(TCP_V4_FIN_RCV, Est, true)),
            (TCP_V4_FIN_RCV, V6, ACK, t(TCP_V4_FIN_RCV, Est, true)),
            (TCP_V4_FIN_RCV, V6, RST, t(TCP_V4_FIN_RCV, Est, true)),
            // V6 FIN RCV
            (
                TCP_V6_FIN_RCV,
                V4,
                FIN | ACK,
                t(TCP_V4_FIN_V6_FIN_RCV, Trans, true),
            ),
            (TCP_V6_FIN_RCV, V6, FIN | ACK, t(TCP_V6_FIN_RCV, Est, true)),
            (TCP_V6_FIN_RCV, V4, ACK, t(TCP_V6_FIN_RCV, Est, true)),
            (TCP_V6_FIN_RCV, V4, RST, t(TCP_V6_FIN_RCV, Est, true)),
            // V4 FIN + V6 FIN RCV: only the timer ends it.
            (
                TCP_V4_FIN_V6_FIN_RCV,
                V4,
                ACK,
                t(TCP_V4_FIN_V6_FIN_RCV, Trans, false),
            ),
            (
                TCP_V4_FIN_V6_FIN_RCV,
                V6,
                SYN,
                t(TCP_V4_FIN_V6_FIN_RCV, Trans, false),
            ),
            (
                TCP_V4_FIN_V6_FIN_RCV,
                V6,
                RST,
                t(TCP_V4_FIN_V6_FIN_RCV, Trans, false),
            ),
            // TRANS
            (TCP_TRANS, V4, ACK, t(TCP_ESTABLISHED, Est, true)),
            (TCP_TRANS, V6, FIN, t(TCP_ESTABLISHED, Est, true)),
            (TCP_TRANS, V6, RST, t(TCP_TRANS, Trans, false)),
            (TCP_TRANS, V4, RST | ACK, t(TCP_TRANS, Trans, false)),
        ];
        for &(state, from_v6, flags, want) in rows {
            assert_eq!(
                next(state, from_v6, flags),
                want,
                "{} + {} flags {flags:#04x}",
                state_name(state),
                if from_v6 { "V6" } else { "V4" }
            );
        }
    }

    fn run(steps: &[(bool, u8)]) -> Vec<u8> {
        let mut s = TCP_CLOSED;
        steps
            .iter()
            .map(|&(from_v6, flags)| {
                s = next(s, from_v6, flags).state;
                s
            })
            .collect()
    }

    #[test]
    fn open_and_close_from_the_ipv6_side() {
        let states = run(&[
            (V6, SYN),
            (V4, SYN | ACK),
            (V6, ACK),
            (V4, ACK), // data
            (V6, FIN | ACK),
            (V4, ACK),
            (V4, FIN | ACK),
            (V6, ACK),
        ]);
        assert_eq!(
            states,
            [
                TCP_V6_INIT,
                TCP_ESTABLISHED,
                TCP_ESTABLISHED,
                TCP_ESTABLISHED,
                TCP_V6_FIN_RCV,
                TCP_V6_FIN_RCV,
                TCP_V4_FIN_V6_FIN_RCV,
                TCP_V4_FIN_V6_FIN_RCV,
            ]
        );
    }

    #[test]
    fn open_and_close_from_the_ipv4_side() {
        let states = run(&[
            (V4, SYN),
            (V6, SYN | ACK),
            (V4, ACK),
            (V4, FIN | ACK),
            (V6, ACK),
            (V6, FIN | ACK),
            (V4, ACK),
        ]);
        assert_eq!(
            states,
            [
                TCP_V4_INIT,
                TCP_ESTABLISHED,
                TCP_ESTABLISHED,
                TCP_V4_FIN_RCV,
                TCP_V4_FIN_RCV,
                TCP_V4_FIN_V6_FIN_RCV,
                TCP_V4_FIN_V6_FIN_RCV,
            ]
        );
        assert_eq!(timeout_class(TCP_V4_FIN_V6_FIN_RCV), Trans);
    }

    /// RFC 9293 simultaneous open: both sides send a bare SYN. Whichever reaches the NAT64
    /// first, the other side's SYN establishes the session.
    #[test]
    fn simultaneous_open() {
        assert_eq!(
            run(&[(V6, SYN), (V4, SYN), (V6, SYN | ACK), (V4, SYN | ACK)]),
            [
                TCP_V6_INIT,
                TCP_ESTABLISHED,
                TCP_ESTABLISHED,
                TCP_ESTABLISHED
            ]
        );
        assert_eq!(
            run(&[(V4, SYN), (V6, SYN), (V4, SYN | ACK), (V6, SYN | ACK)]),
            [
                TCP_V4_INIT,
                TCP_ESTABLISHED,
                TCP_ESTABLISHED,
                TCP_ESTABLISHED
            ]
        );
        // Retransmitted SYNs from the same side do not establish anything.
        assert_eq!(run(&[(V6, SYN), (V6, SYN)]), [TCP_V6_INIT, TCP_V6_INIT]);
        assert_eq!(run(&[(V4, SYN), (V4, SYN)]), [TCP_V4_INIT, TCP_V4_INIT]);
    }

    #[test]
    fn reset_then_traffic_resumes_or_dies() {
        // A RST moves ESTABLISHED to TRANS; a later non-RST segment (the reset was
        // spoofed or lost) brings it back, further RSTs leave it dying.
        assert_eq!(
            run(&[(V6, SYN), (V4, SYN | ACK), (V4, RST), (V6, ACK)]),
            [TCP_V6_INIT, TCP_ESTABLISHED, TCP_TRANS, TCP_ESTABLISHED]
        );
        assert_eq!(
            run(&[
                (V6, SYN),
                (V4, SYN | ACK),
                (V6, RST),
                (V4, RST),
                (V6, RST | ACK)
            ]),
            [
                TCP_V6_INIT,
                TCP_ESTABLISHED,
                TCP_TRANS,
                TCP_TRANS,
                TCP_TRANS
            ]
        );
    }

    #[test]
    fn timer_classes() {
        let est = [TCP_ESTABLISHED, TCP_V4_FIN_RCV, TCP_V6_FIN_RCV];
        for s in 0..=u8::MAX {
            let want = if est.contains(&s) { Est } else { Trans };
            assert_eq!(timeout_class(s), want, "{}", state_name(s));
        }
    }

    /// Every byte value as state and flags, both directions: no panic, the result is a
    /// real state and its timer class is the state's.
    #[test]
    fn total_over_every_input() {
        for s in 0..=u8::MAX {
            for flags in 0..=u8::MAX {
                for from_v6 in [V4, V6] {
                    let tr = next(s, from_v6, flags);
                    assert!(tr.state < TCP_STATE_COUNT);
                    assert_eq!(tr.timeout, timeout_class(tr.state));
                    if s >= TCP_STATE_COUNT {
                        assert_eq!(tr, next(TCP_CLOSED, from_v6, flags));
                    }
                }
            }
        }
    }

    #[test]
    fn names_are_distinct() {
        let names: std::collections::HashSet<_> = (0..TCP_STATE_COUNT).map(state_name).collect();
        assert_eq!(names.len(), usize::from(TCP_STATE_COUNT));
        assert!(!names.contains("unknown"));
        assert_eq!(state_name(TCP_STATE_COUNT), "unknown");
        assert_eq!(state_name(TCP_V4_FIN_V6_FIN_RCV), "V4 FIN + V6 FIN RCV");
    }
}
