//! Session lifetimes and expiry decisions, with the clock passed in.
//!
//! Times are nanoseconds of a monotonic clock (`bpf_ktime_get_ns` in the data plane,
//! the same CLOCK_MONOTONIC in nat64-ctl's sweeper); lifetimes are configured in seconds.
use crate::maps::{PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};
use crate::tcp::{self, TimeoutClass};

pub const NS_PER_S: u64 = 1_000_000_000;

/// How stale a session's stored timestamp may get: the data plane rewrites it only when
/// it is at least this old (see [`should_refresh`]), and [`expired`] grants this much
/// grace so a session never dies earlier than its lifetime after its real last packet.
pub const REFRESH_GRANULARITY_NS: u64 = NS_PER_S;

/// Session idle lifetimes in seconds. Lives in a BPF config map, hence `repr(C)` and
/// plain integers.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub udp_s: u32,
    /// TCP_EST: ESTABLISHED and single-FIN states.
    pub tcp_est_s: u32,
    /// TCP_TRANS: opening, both-FIN and TRANS states.
    pub tcp_trans_s: u32,
    /// ICMP query (echo) sessions.
    pub icmp_s: u32,
}
const _: () = assert!(core::mem::size_of::<Timeouts>() == 16);
// The largest lifetime in nanoseconds, plus the refresh grace, fits a u64.
const _: () = assert!((u32::MAX as u64) < u64::MAX / NS_PER_S - 1);

impl Timeouts {
    /// RFC 6146 §4 defaults: UDP_DEFAULT 5 min, TCP_EST 2 h 4 min, TCP_TRANS 4 min,
    /// ICMP_DEFAULT 60 s.
    pub const DEFAULT: Timeouts = Timeouts {
        udp_s: 300,
        tcp_est_s: 7440,
        tcp_trans_s: 240,
        icmp_s: 60,
    };

    /// The least each lifetime may be without `--allow-nonstandard-timeouts`:
    /// UDP 2 min (RFC 6146 §3.5.1 / §4 UDP_MIN, RFC 4787 REQ-5), TCP established
    /// 2 h 4 min and transitory 4 min (RFC 6146 §4, RFC 5382 REQ-5). RFC 6146 gives ICMP
    /// only a default (60 s), no minimum; RFC 5508 REQ-2 ("an ICMP Query session timer
    /// MUST NOT expire in less than 60 seconds") supplies it.
    pub const RFC_MIN: Timeouts = Timeouts {
        udp_s: 120,
        tcp_est_s: 7440,
        tcp_trans_s: 240,
        icmp_s: 60,
    };
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::DEFAULT
    }
}

/// Why [`validate`] refused a set of timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeoutError {
    /// "udp", "tcp_est", "tcp_trans" or "icmp".
    pub field: &'static str,
    pub reason: &'static str,
}

impl core::fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} timeout {}", self.field, self.reason)
    }
}

const ZERO: &str = "must be at least 1 s";

/// Checks operator-supplied timeouts, in field order, reporting the first problem. Zero
/// is always refused (every session would die at once); values below [`Timeouts::RFC_MIN`]
/// only without `allow_nonstandard`.
pub const fn validate(t: &Timeouts, allow_nonstandard: bool) -> Result<(), TimeoutError> {
    let m = Timeouts::RFC_MIN;
    let checks: [(&str, u32, u32, &str); 4] = [
        (
            "udp",
            t.udp_s,
            m.udp_s,
            "is below the RFC 6146 minimum of 120 s; --allow-nonstandard-timeouts permits it",
        ),
        (
            "tcp_est",
            t.tcp_est_s,
            m.tcp_est_s,
            "is below the RFC 6146 minimum of 7440 s (2 h 4 min); \
             --allow-nonstandard-timeouts permits it",
        ),
        (
            "tcp_trans",
            t.tcp_trans_s,
            m.tcp_trans_s,
            "is below the RFC 6146 minimum of 240 s; --allow-nonstandard-timeouts permits it",
        ),
        (
            "icmp",
            t.icmp_s,
            m.icmp_s,
            "is below the RFC 5508 minimum of 60 s; --allow-nonstandard-timeouts permits it",
        ),
    ];
    let mut i = 0;
    while i < checks.len() {
        let (field, value, min, below) = checks[i];
        if value == 0 {
            return Err(TimeoutError {
                field,
                reason: ZERO,
            });
        }
        if value < min && !allow_nonstandard {
            return Err(TimeoutError {
                field,
                reason: below,
            });
        }
        i += 1;
    }
    Ok(())
}

/// How long a session may stay idle, in nanoseconds: by protocol (the BIB key protocol
/// numbers of maps.rs; ICMPv6 is accepted as ICMP), and for TCP by the state's timer
/// class. Other protocols have no sessions; they get 0 so a stray entry is collected at
/// once.
#[inline(always)]
pub const fn lifetime_ns(t: &Timeouts, proto: u8, tcp_state: u8) -> u64 {
    let s = match proto {
        PROTO_TCP => match tcp::timeout_class(tcp_state) {
            TimeoutClass::Established => t.tcp_est_s,
            TimeoutClass::Transitory => t.tcp_trans_s,
        },
        PROTO_UDP => t.udp_s,
        PROTO_ICMP | PROTO_ICMPV6 => t.icmp_s,
        _ => 0,
    };
    // At most (2^32 − 1) · 10^9 < 2^63: cannot overflow.
    s as u64 * NS_PER_S
}

/// Whether a session last seen at `last_seen_ns` is dead at `now_ns`: idle for longer than
/// its lifetime plus [`REFRESH_GRANULARITY_NS`]. The grace makes up for the stored
/// timestamp lagging the real last packet by up to that much, so a session lives at
/// least its full lifetime (the RFC minimums are "MUST NOT expire in less than") and at
/// most one second more. A `last_seen_ns` after `now_ns` (stamped by another CPU a moment
/// later than this clock read) counts as just seen: not expired.
#[inline(always)]
pub const fn expired(
    t: &Timeouts,
    proto: u8,
    tcp_state: u8,
    last_seen_ns: u64,
    now_ns: u64,
) -> bool {
    let idle = now_ns.saturating_sub(last_seen_ns);
    idle > lifetime_ns(t, proto, tcp_state).saturating_add(REFRESH_GRANULARITY_NS)
}

/// Whether the data plane should rewrite a session's stored timestamp: only once `now_ns`
/// is at least 1 s past `stored_ns`. A busy flow then writes its session entry about once
/// a second instead of on every packet, so CPUs handling the same flow do not bounce the
/// entry's cache line between them; [`expired`] allows for the staleness. A stored time
/// in the future (another CPU's later clock read) is fresh enough.
#[inline(always)]
pub const fn should_refresh(stored_ns: u64, now_ns: u64) -> bool {
    now_ns.saturating_sub(stored_ns) >= REFRESH_GRANULARITY_NS
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain old data — repr(C), four u32 and no padding (size asserted), any byte
    // pattern is a valid value.
    unsafe impl aya::Pod for super::Timeouts {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::*;

    const S: u64 = NS_PER_S;

    #[test]
    fn rfc_values() {
        // RFC 6146 §4 / RFC 5382: 2 h 4 min and 4 min; RFC 4787 REQ-5: 2 min.
        assert_eq!(Timeouts::DEFAULT.tcp_est_s, 2 * 3600 + 4 * 60);
        assert_eq!(Timeouts::DEFAULT.tcp_trans_s, 4 * 60);
        assert_eq!(Timeouts::DEFAULT.udp_s, 5 * 60);
        assert_eq!(Timeouts::DEFAULT.icmp_s, 60);
        assert_eq!(Timeouts::RFC_MIN.udp_s, 2 * 60);
        assert_eq!(Timeouts::default(), Timeouts::DEFAULT);
        assert_eq!(validate(&Timeouts::DEFAULT, false), Ok(()));
        assert_eq!(validate(&Timeouts::RFC_MIN, false), Ok(()));
    }

    #[test]
    fn lifetimes_by_protocol_and_tcp_state() {
        let t = Timeouts {
            udp_s: 301,
            tcp_est_s: 7441,
            tcp_trans_s: 241,
            icmp_s: 61,
        };
        assert_eq!(lifetime_ns(&t, 17, TCP_ESTABLISHED), 301 * S);
        assert_eq!(lifetime_ns(&t, 1, TCP_CLOSED), 61 * S);
        assert_eq!(lifetime_ns(&t, 58, TCP_CLOSED), 61 * S);
        for st in [TCP_ESTABLISHED, TCP_V4_FIN_RCV, TCP_V6_FIN_RCV] {
            assert_eq!(lifetime_ns(&t, 6, st), 7441 * S, "{}", state_name(st));
        }
        for st in [
            TCP_CLOSED,
            TCP_V4_INIT,
            TCP_V6_INIT,
            TCP_V4_FIN_V6_FIN_RCV,
            TCP_TRANS,
            200,
        ] {
            assert_eq!(lifetime_ns(&t, 6, st), 241 * S, "{}", state_name(st));
        }
        assert_eq!(lifetime_ns(&t, 47, TCP_ESTABLISHED), 0);
        let max = Timeouts {
            udp_s: u32::MAX,
            ..t
        };
        assert_eq!(lifetime_ns(&max, 17, 0), 4_294_967_295_000_000_000);
    }

    /// Just before and just after expiry, with an injected clock: alive through lifetime
    /// + 1 s of idleness, dead one nanosecond later.
    #[test]
    fn expiry_edges() {
        let t = Timeouts::DEFAULT;
        let last = 1_000_000 * S + 123;
        let cases = [
            (17, TCP_CLOSED, 300 * S),
            (1, TCP_CLOSED, 60 * S),
            (6, TCP_ESTABLISHED, 7440 * S),
            (6, TCP_V6_FIN_RCV, 7440 * S),
            (6, TCP_V6_INIT, 240 * S),
            (6, TCP_TRANS, 240 * S),
            (6, TCP_V4_FIN_V6_FIN_RCV, 240 * S),
        ];
        for (proto, st, life) in cases {
            let edge = last + life + S;
            assert!(!expired(&t, proto, st, last, last), "{proto} {st}");
            assert!(!expired(&t, proto, st, last, edge), "{proto} {st}");
            assert!(expired(&t, proto, st, last, edge + 1), "{proto} {st}");
        }
        // An RST turns a two-hour session into a four-minute one.
        let after_rst = next(TCP_ESTABLISHED, true, RST).state;
        assert!(!expired(&t, 6, TCP_ESTABLISHED, last, last + 241 * S + 1));
        assert!(expired(&t, 6, after_rst, last, last + 241 * S + 1));
        // Unknown protocols go after the grace second.
        assert!(!expired(&t, 47, 0, last, last + S));
        assert!(expired(&t, 47, 0, last, last + S + 1));
    }

    #[test]
    fn last_seen_in_the_future_is_not_expired() {
        let t = Timeouts::DEFAULT;
        let now = 5 * S;
        for proto in [1, 6, 17, 47] {
            assert!(!expired(&t, proto, TCP_TRANS, now + 1, now));
            assert!(!expired(&t, proto, TCP_TRANS, u64::MAX, now));
            assert!(!expired(&t, proto, TCP_TRANS, u64::MAX, 0));
        }
        // And at the far end of the clock nothing overflows.
        assert!(expired(&t, 17, 0, 0, u64::MAX));
        let max = Timeouts {
            udp_s: u32::MAX,
            tcp_est_s: u32::MAX,
            tcp_trans_s: u32::MAX,
            icmp_s: u32::MAX,
        };
        assert!(!expired(&max, 17, 0, 0, u64::from(u32::MAX) * S + S));
        assert!(expired(&max, 17, 0, 0, u64::from(u32::MAX) * S + S + 1));
    }

    #[test]
    fn refresh_once_a_second() {
        let stored = 42 * S + 7;
        assert!(!should_refresh(stored, stored));
        assert!(!should_refresh(stored, stored + S - 1));
        assert!(should_refresh(stored, stored + S));
        assert!(should_refresh(stored, stored + 3600 * S));
        assert!(!should_refresh(stored + 1, stored), "stored later than now");
        assert!(!should_refresh(u64::MAX, 0));
        assert!(should_refresh(0, u64::MAX));
        // A packet every 0.3 s for a minute: one write per 1.2 s, and the stored stamp
        // never lags the real last packet by a full second.
        let (mut stamp, mut writes) = (0u64, 0);
        for k in 1..=200u64 {
            let now = k * 300_000_000;
            if should_refresh(stamp, now) {
                stamp = now;
                writes += 1;
            }
            assert!(now - stamp < S);
        }
        assert_eq!(
            writes, 50,
            "every 4th packet (1.2 s apart) rewrites the stamp"
        );
    }

    /// With lazy refresh a UDP session at the RFC minimum still outlives 120 s of real
    /// idleness, whatever the stamp's lag.
    #[test]
    fn lazy_refresh_never_shortens_a_session() {
        let t = Timeouts::RFC_MIN;
        for lag in [0, 1, S / 2, S - 1] {
            let last_packet = 1000 * S;
            let stamp = last_packet - lag;
            assert!(!expired(&t, 17, 0, stamp, last_packet + 120 * S));
        }
    }

    #[test]
    fn validate_each_field_and_reason() {
        let d = Timeouts::DEFAULT;
        type Field = fn(&mut Timeouts) -> &mut u32;
        let fields: [(&str, Field, u32); 4] = [
            ("udp", |t| &mut t.udp_s, 120),
            ("tcp_est", |t| &mut t.tcp_est_s, 7440),
            ("tcp_trans", |t| &mut t.tcp_trans_s, 240),
            ("icmp", |t| &mut t.icmp_s, 60),
        ];
        for (name, field, min) in fields {
            let mut t = d;
            *field(&mut t) = 0;
            for allow in [false, true] {
                assert_eq!(
                    validate(&t, allow),
                    Err(TimeoutError {
                        field: name,
                        reason: "must be at least 1 s"
                    })
                );
            }
            *field(&mut t) = min - 1;
            let e = validate(&t, false).unwrap_err();
            assert_eq!(e.field, name);
            assert!(e.reason.contains(&format!(" {min} s")), "{e}");
            assert!(e.reason.contains("--allow-nonstandard-timeouts"), "{e}");
            assert_eq!(validate(&t, true), Ok(()), "{name} below minimum, allowed");
            *field(&mut t) = 1;
            assert_eq!(validate(&t, true), Ok(()));
            *field(&mut t) = min;
            assert_eq!(validate(&t, false), Ok(()));
            *field(&mut t) = u32::MAX;
            assert_eq!(validate(&t, false), Ok(()));
        }
        // The first bad field is reported.
        let t = Timeouts {
            udp_s: 10,
            tcp_est_s: 0,
            tcp_trans_s: 1,
            icmp_s: 1,
        };
        assert_eq!(validate(&t, false).unwrap_err().field, "udp");
        assert_eq!(validate(&t, true).unwrap_err().field, "tcp_est");
        assert_eq!(
            TimeoutError {
                field: "icmp",
                reason: "must be at least 1 s"
            }
            .to_string(),
            "icmp timeout must be at least 1 s"
        );
    }
}
