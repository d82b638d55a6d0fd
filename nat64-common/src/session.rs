//! What a translated packet does to its session (RFC 6146 §3.5), as pure functions of the
//! stored entry, the packet and the time, so that the data plane only looks up and writes.
use crate::{
    maps::{SessionEntry, PROTO_TCP, SESSION_F_FROM_V4},
    tcp, timeouts,
};

/// The parts of a packet that matter to its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub proto: u8,
    /// The packet came from the IPv6 side.
    pub from_v6: bool,
    /// TCP flags byte (0 for other protocols).
    pub tcp_flags: u8,
    /// The packet may start a session: UDP, an ICMP echo request, a TCP SYN.
    pub opens: bool,
}

/// The entry to store for a packet that found no session, or `None` when it may not start
/// one (a TCP segment without SYN, an ICMP echo reply): RFC 6146 §3.5.2.2 drops those in
/// the CLOSED state, and §3.5.3 lets only echo requests create ICMP sessions.
#[inline(always)]
pub const fn open(seen: &Seen, now_ns: u64) -> Option<SessionEntry> {
    if !seen.opens {
        return None;
    }
    let mut tcp_state = 0;
    if seen.proto == PROTO_TCP {
        let t = tcp::next(tcp::TCP_CLOSED, seen.from_v6, seen.tcp_flags);
        if t.state == tcp::TCP_CLOSED {
            return None;
        }
        tcp_state = t.state;
    }
    Some(SessionEntry {
        last_seen_ns: now_ns,
        tcp_state,
        flags: if seen.from_v6 { 0 } else { SESSION_F_FROM_V4 },
        _pad: [0; 6],
    })
}

/// The entry to store after a packet of an existing session, or `None` when nothing
/// changed (the common case: no write, so CPUs sharing a flow do not bounce its cache line).
///
/// Packets in either direction keep a session alive (RFC 6146 §3.5.1 and §3.5.2); the stored
/// time moves only when it is a second stale (`timeouts::should_refresh`), and for TCP only
/// when the state machine restarts the timer.
#[inline(always)]
pub const fn update(entry: &SessionEntry, seen: &Seen, now_ns: u64) -> Option<SessionEntry> {
    let mut next = *entry;
    let refresh = if seen.proto == PROTO_TCP {
        let t = tcp::next(entry.tcp_state, seen.from_v6, seen.tcp_flags);
        next.tcp_state = t.state;
        t.refresh
    } else {
        true
    };
    if refresh && timeouts::should_refresh(entry.last_seen_ns, now_ns) {
        next.last_seen_ns = now_ns;
    }
    if next.tcp_state == entry.tcp_state && next.last_seen_ns == entry.last_seen_ns {
        None
    } else {
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::{PROTO_ICMP, PROTO_UDP};
    use crate::tcp::*;

    const S: u64 = timeouts::NS_PER_S;

    fn seen(proto: u8, from_v6: bool, tcp_flags: u8, opens: bool) -> Seen {
        Seen {
            proto,
            from_v6,
            tcp_flags,
            opens,
        }
    }

    #[test]
    fn what_may_open_a_session() {
        let udp6 = open(&seen(PROTO_UDP, true, 0, true), 5 * S).unwrap();
        assert_eq!(
            (udp6.last_seen_ns, udp6.flags, udp6.tcp_state),
            (5 * S, 0, 0)
        );
        let udp4 = open(&seen(PROTO_UDP, false, 0, true), 5 * S).unwrap();
        assert_eq!(udp4.flags, SESSION_F_FROM_V4);
        // An echo reply, or a TCP segment that parse() did not mark as opening.
        assert_eq!(open(&seen(PROTO_ICMP, true, 0, false), 0), None);
        assert_eq!(open(&seen(PROTO_TCP, true, ACK, false), 0), None);
        // A SYN opens in the state of its side.
        assert_eq!(
            open(&seen(PROTO_TCP, true, SYN, true), 0)
                .unwrap()
                .tcp_state,
            TCP_V6_INIT
        );
        assert_eq!(
            open(&seen(PROTO_TCP, false, SYN, true), 0)
                .unwrap()
                .tcp_state,
            TCP_V4_INIT
        );
        // "opens" without SYN (a caller bug) still does not open a TCP session.
        assert_eq!(open(&seen(PROTO_TCP, true, ACK, true), 0), None);
    }

    #[test]
    fn refresh_at_most_once_a_second() {
        let e = open(&seen(PROTO_UDP, true, 0, true), 10 * S).unwrap();
        let back = seen(PROTO_UDP, false, 0, true);
        assert_eq!(
            update(&e, &back, 10 * S + S / 2),
            None,
            "half a second: no write"
        );
        let later = update(&e, &back, 11 * S).expect("a second later: write");
        assert_eq!(later.last_seen_ns, 11 * S);
        assert_eq!(later.flags, e.flags, "who opened it does not change");
        // A clock read from another CPU slightly behind the stored time.
        assert_eq!(update(&later, &back, 11 * S - 1), None);
    }

    #[test]
    fn tcp_state_and_timer_follow_the_segments() {
        let t0 = 100 * S;
        let mut e = open(&seen(PROTO_TCP, true, SYN, true), t0).unwrap();
        // SYN-ACK from IPv4 within the same second: state changes, timestamp does not.
        e = update(&e, &seen(PROTO_TCP, false, SYN | ACK, true), t0 + 1).unwrap();
        assert_eq!((e.tcp_state, e.last_seen_ns), (TCP_ESTABLISHED, t0));
        // Data a minute later refreshes; data in the same second changes nothing.
        e = update(&e, &seen(PROTO_TCP, true, ACK, false), t0 + 60 * S).unwrap();
        assert_eq!(e.last_seen_ns, t0 + 60 * S);
        assert_eq!(
            update(&e, &seen(PROTO_TCP, false, ACK, false), t0 + 60 * S + 5),
            None
        );
        // A FIN changes the state but, per RFC 6146, not the timer.
        let fin = update(&e, &seen(PROTO_TCP, true, FIN | ACK, false), t0 + 200 * S).unwrap();
        assert_eq!(
            (fin.tcp_state, fin.last_seen_ns),
            (TCP_V6_FIN_RCV, t0 + 60 * S)
        );
        // Both FINs: the transitory timer starts now.
        let both = update(
            &fin,
            &seen(PROTO_TCP, false, FIN | ACK, false),
            t0 + 300 * S,
        )
        .unwrap();
        assert_eq!(
            (both.tcp_state, both.last_seen_ns),
            (TCP_V4_FIN_V6_FIN_RCV, t0 + 300 * S)
        );
        // Lingering ACKs no longer keep it alive.
        assert_eq!(
            update(&both, &seen(PROTO_TCP, true, ACK, false), t0 + 400 * S),
            None
        );
    }

    /// With the sweeper's rule: a session refreshed by a steady trickle never expires, one
    /// left alone expires after its lifetime (plus the refresh grace), whatever the clock.
    #[test]
    fn expiry_with_an_injected_clock() {
        let t = timeouts::Timeouts {
            udp_s: 2,
            ..timeouts::Timeouts::DEFAULT
        };
        let s = seen(PROTO_UDP, true, 0, true);
        let mut e = open(&s, 0).unwrap();
        let mut now = 0;
        while now < 60 * S {
            now += S / 3;
            if let Some(n) = update(&e, &s, now) {
                e = n;
            }
            assert!(
                !timeouts::expired(&t, PROTO_UDP, 0, e.last_seen_ns, now),
                "at {now}"
            );
        }
        let last = e.last_seen_ns;
        assert!(!timeouts::expired(&t, PROTO_UDP, 0, last, now + 2 * S));
        assert!(timeouts::expired(&t, PROTO_UDP, 0, last, now + 3 * S + 1));
    }
}
