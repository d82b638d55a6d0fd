//! The slow path: what the XDP program queues on `NAT64_SLOW` because one packet in, one
//! packet out cannot do it.
//!
//! - `SLOW_KIND_FRAGMENT`: an IPv4 packet with DF=0, already translated (hop limit
//!   decremented), larger than `lowest-ipv6-mtu`. Split into IPv6 fragments
//!   (`nat64_common::split`) and sent through a raw IPv6 socket: the kernel routes them and
//!   resolves the neighbour, nothing else (IPPROTO_RAW implies IPV6_HDRINCL).
//! - `SLOW_KIND_HELD_SYN`: an IPv4 SYN to a pool4 port with no binding. RFC 6146
//!   §3.5.2.2: hold it 6 s; if the IPv6 side opens the same flow meanwhile (a simultaneous
//!   open), discard it silently, otherwise answer ICMP port unreachable. A held SYN is never
//!   translated and creates no state in the data plane, so holding opens no door; at most
//!   [`HELD_SYNS_MAX`] are held at once (which also bounds the port unreachables to
//!   `HELD_SYNS_MAX` per 6 s).
//!
//! The data plane queues only while `CONFIG_F_SLOW_PATH` is set, which `attach` sets
//! once this reader runs and clears when nat64-ctl stops.
use std::{
    collections::HashMap,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::wire::{
    ETH_HLEN, IPV4_DST_AT, IPV6_DST_AT, IPV6_HDR_LEN, IPV6_NEXT_HEADER_AT, IPV6_PAYLOAD_LEN_AT,
    IPV6_SRC_AT, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, TCP_CSUM_AT, UDP_CSUM_AT,
};
use anyhow::{Context, Result};
use aya::maps::{MapData, RingBuf};
use nat64_common::{
    csum,
    maps::{
        HeldSynKey, HeldSynTarget, SessionKey, SlowPathHeader, CONFIG_F_SLOW_PATH,
        SESSION_KIND_FLOW, SLOW_KIND_FRAGMENT, SLOW_KIND_HELD_SYN, SLOW_KIND_HELD_SYN6,
    },
    origin,
    rfc6052::Pool6,
    split::Splitter,
    Counter,
};
use tokio::{io::unix::AsyncFd, sync::oneshot};

use crate::{stats, tables::Tables};

/// How long an unsolicited IPv4 SYN waits for the IPv6 side (RFC 6146 §3.5.2.2).
pub const SYN_HOLD: Duration = Duration::from_secs(6);
/// Most SYNs held at once; more are dropped and counted.
pub const HELD_SYNS_MAX: usize = 1024;
/// How often held SYNs are checked against the session table.
const CHECK_EVERY: Duration = Duration::from_millis(200);

/// A held SYN's flow as the IPv4 side names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SynKey {
    pub src4: [u8; 4],
    pub sport: u16,
    pub dst4: [u8; 4],
    pub dport: u16,
}

impl SynKey {
    /// From an IPv4 packet carrying TCP; `None` if it is too short to say.
    pub fn of(ip4: &[u8]) -> Option<SynKey> {
        let ihl = usize::from(*ip4.first()? & 0x0f) * 4;
        let tcp = ip4.get(ihl..ihl + 4)?;
        Some(SynKey {
            src4: ip4.get(12..16)?.try_into().ok()?,
            dst4: ip4.get(16..20)?.try_into().ok()?,
            sport: u16::from_be_bytes([tcp[0], tcp[1]]),
            dport: u16::from_be_bytes([tcp[2], tcp[3]]),
        })
    }

    /// Its `NAT64_HELD_SYNS` key: what an IPv6 SYN to meet it is sent to.
    pub fn held(&self) -> HeldSynKey {
        HeldSynKey {
            remote4: self.src4,
            remote_port: self.sport,
            _pad: 0,
        }
    }

    /// The session an IPv6-side open of this flow creates.
    pub fn session(&self) -> SessionKey {
        SessionKey {
            addr4: self.dst4,
            remote4: self.src4,
            port4: self.dport,
            remote_port: self.sport,
            proto: PROTO_TCP,
            kind: SESSION_KIND_FLOW,
            _pad: [0; 2],
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Hold {
    Held,
    /// A retransmission of a SYN already held: its clock is not restarted.
    Duplicate,
    Overflow,
}

/// SYNs waiting for their IPv6 side, with the IPv4 packet each ICMP error would quote.
#[derive(Default)]
pub struct HeldSyns {
    held: HashMap<SynKey, (Instant, Vec<u8>)>,
}

/// What one check of the held SYNs decided.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdicts {
    /// Discarded: the IPv6 side opened the flow.
    pub matched: u64,
    /// Held for [`SYN_HOLD`] without an IPv6 open: the IPv4 packets to refuse.
    pub refuse: Vec<Vec<u8>>,
    /// Every SYN settled (matched or refused): its `NAT64_HELD_SYNS` entry goes.
    pub settled: Vec<SynKey>,
}

impl HeldSyns {
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    pub fn hold(&mut self, ip4: &[u8], now: Instant) -> Option<Hold> {
        Some(self.hold_key(SynKey::of(ip4)?, ip4, now))
    }

    /// Holds `packet` (an IPv4 SYN, or an IPv6 one hairpinned) as the flow `key` names it.
    pub fn hold_key(&mut self, key: SynKey, packet: &[u8], now: Instant) -> Hold {
        if self.held.contains_key(&key) {
            return Hold::Duplicate;
        }
        if self.held.len() >= HELD_SYNS_MAX {
            return Hold::Overflow;
        }
        self.held.insert(key, (now, packet.to_vec()));
        Hold::Held
    }

    /// Settles every held SYN whose flow now has a session (`opened`) or whose time is up.
    pub fn check(&mut self, now: Instant, opened: impl Fn(&SessionKey) -> bool) -> Verdicts {
        let mut v = Verdicts::default();
        self.held.retain(|key, (since, packet)| {
            if opened(&key.session()) {
                v.matched += 1;
                v.settled.push(*key);
                false
            } else if now.duration_since(*since) >= SYN_HOLD {
                v.refuse.push(std::mem::take(packet));
                v.settled.push(*key);
                false
            } else {
                true
            }
        });
        v
    }
}

/// ICMPv4 Destination Unreachable, Port Unreachable (type 3, code 3) answering `ip4` from
/// the address it was sent to (the pool4 address: as the host behind it would answer),
/// quoting as much of it as fits 576 bytes (RFC 1812 §4.3.2.3).
pub fn port_unreachable(ip4: &[u8]) -> Option<Vec<u8>> {
    let key = SynKey::of(ip4)?;
    let total = usize::from(u16::from_be_bytes([*ip4.get(2)?, *ip4.get(3)?]));
    let quoted = &ip4[..total.min(ip4.len()).min(576 - 28)];
    let len = 28 + quoted.len();
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 1;
    p[12..16].copy_from_slice(&key.dst4);
    p[16..20].copy_from_slice(&key.src4);
    let hc = csum::checksum(&p[..20], 0);
    p[10..12].copy_from_slice(&hc.to_be_bytes());
    p[20] = 3;
    p[21] = 3;
    p[28..].copy_from_slice(quoted);
    let ic = csum::checksum(&p[20..], 0);
    p[22..24].copy_from_slice(&ic.to_be_bytes());
    Some(p)
}

/// ICMPv6 Destination Unreachable, Port Unreachable (type 1, code 4) answering a
/// hairpinned IPv6 SYN `ip6` from the address it was sent to (pool6 + the pool4 address),
/// quoting as much of it as fits 1280 bytes (RFC 4443 §2.4 c).
pub fn port_unreachable6(ip6: &[u8]) -> Option<Vec<u8>> {
    let src: [u8; 16] = ip6.get(8..24)?.try_into().ok()?;
    let dst: [u8; 16] = ip6.get(24..40)?.try_into().ok()?;
    let quoted = &ip6[..ip6.len().min(IPV6_MIN_MTU - IPV6_HDR_LEN - ICMP_HLEN)];
    let icmp_len = ICMP_HLEN + quoted.len();
    let mut p = vec![0u8; IPV6_HDR_LEN + icmp_len];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(icmp_len as u16).to_be_bytes());
    p[6] = PROTO_ICMPV6;
    p[7] = 64;
    p[8..24].copy_from_slice(&dst);
    p[24..40].copy_from_slice(&src);
    p[40] = 1;
    p[41] = 4;
    p[48..].copy_from_slice(quoted);
    let pseudo = csum::pseudo_v6(&dst, &src, PROTO_ICMPV6, icmp_len as u32);
    let c = csum::checksum(&p[40..], pseudo);
    p[42..44].copy_from_slice(&c.to_be_bytes());
    Some(p)
}

const ICMP_HLEN: usize = 8;
const IPV6_MIN_MTU: usize = 1280;

/// The flow a hairpinned IPv6 SYN names, as the IPv4 side of its target sees it: from the
/// sender's binding (`src4`:`sport`, from the record) to the pool4 address under the
/// SYN's destination (`pool6` takes it out) and its port.
pub fn held6_key(ip6: &[u8], src4: [u8; 4], sport: u16, pool6: &Pool6) -> Option<SynKey> {
    let dst6: [u8; 16] = ip6.get(24..40)?.try_into().ok()?;
    let tcp = ip6.get(IPV6_HDR_LEN..IPV6_HDR_LEN + 4)?;
    Some(SynKey {
        src4,
        sport,
        dst4: pool6.extract(&dst6)?,
        dport: u16::from_be_bytes([tcp[2], tcp[3]]),
    })
}

/// No ICMP error to a source that is not a unicast host (0/8, 127/8, multicast,
/// broadcast: RFC 1812 §4.3.2.7; for IPv6 unspecified, loopback, multicast…), as for the
/// data plane's own errors.
fn may_answer(ip: &[u8]) -> bool {
    if ip.first().is_some_and(|b| b >> 4 == 6) {
        return ip
            .get(8..24)
            .and_then(|s| <[u8; 16]>::try_from(s).ok())
            .is_some_and(|s| origin::may_answer_v6(&s));
    }
    SynKey::of(ip).is_some_and(|k| origin::may_answer_v4(k.src4))
}

/// Raw sockets that hand complete IP packets to the kernel's routing.
pub struct RawSender {
    v6: OwnedFd,
    v4: OwnedFd,
}

impl RawSender {
    pub fn new() -> Result<RawSender> {
        let open = |family: i32| -> Result<OwnedFd> {
            // IPPROTO_RAW: send-only, the header is ours (IPV6_HDRINCL / IP_HDRINCL implied).
            let fd = unsafe {
                libc::socket(
                    family,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    libc::IPPROTO_RAW,
                )
            };
            if fd < 0 {
                return Err(std::io::Error::last_os_error())
                    .context("opening a raw socket for the slow path (needs CAP_NET_RAW)");
            }
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        };
        Ok(RawSender {
            v6: open(libc::AF_INET6)?,
            v4: open(libc::AF_INET)?,
        })
    }

    pub fn send_v6(&self, packet: &[u8]) -> std::io::Result<()> {
        let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        sa.sin6_family = libc::AF_INET6 as u16;
        sa.sin6_addr
            .s6_addr
            .copy_from_slice(&packet[IPV6_DST_AT..IPV6_DST_AT + 16]);
        self.send(
            &self.v6,
            packet,
            (&sa as *const libc::sockaddr_in6).cast(),
            size_of_val(&sa),
        )
    }

    pub fn send_v4(&self, packet: &[u8]) -> std::io::Result<()> {
        let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sa.sin_family = libc::AF_INET as u16;
        let dst: [u8; 4] = packet[IPV4_DST_AT..IPV4_DST_AT + 4].try_into().unwrap();
        sa.sin_addr.s_addr = u32::from_ne_bytes(dst);
        self.send(
            &self.v4,
            packet,
            (&sa as *const libc::sockaddr_in).cast(),
            size_of_val(&sa),
        )
    }

    fn send(
        &self,
        fd: &OwnedFd,
        packet: &[u8],
        sa: *const libc::sockaddr,
        sa_len: usize,
    ) -> std::io::Result<()> {
        let n = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                sa,
                sa_len as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Completes the transport checksum of a whole translated IPv6 packet whose sender left it
/// partial: TC translates skbs whose senders offload the checksum (CHECKSUM_PARTIAL), whose
/// field holds only the pseudo-header sum until a NIC or the kernel adds the rest on egress,
/// and the slow path's fragments never pass either. Such a field equals the folded
/// pseudo-header sum (the kernel may write it as 0 or 0xffff); a complete checksum equals it
/// only by a 1 in 65,535 chance, and is then recomputed over the same bytes. Returns whether
/// it completed one.
pub fn complete_partial_checksum(packet: &mut [u8]) -> bool {
    if packet.len() < IPV6_HDR_LEN || packet[0] >> 4 != 6 {
        return false;
    }
    // IPv6 next-header values whose checksum a sender may leave partial.
    let (nh, at) = match packet[IPV6_NEXT_HEADER_AT] {
        PROTO_TCP => (PROTO_TCP, TCP_CSUM_AT),
        PROTO_UDP => (PROTO_UDP, UDP_CSUM_AT),
        // A fragment (Fragment header) or anything else: its sender computed it whole.
        _ => return false,
    };
    let l4_len = usize::from(u16::from_be_bytes([
        packet[IPV6_PAYLOAD_LEN_AT],
        packet[IPV6_PAYLOAD_LEN_AT + 1],
    ]));
    let Some(l4) = packet.get(IPV6_HDR_LEN..IPV6_HDR_LEN + l4_len) else {
        return false;
    };
    if l4.len() < at + 2 {
        return false;
    }
    let src: [u8; 16] = packet[IPV6_SRC_AT..IPV6_DST_AT].try_into().unwrap();
    let dst: [u8; 16] = packet[IPV6_DST_AT..IPV6_HDR_LEN].try_into().unwrap();
    let pseudo = csum::pseudo_v6(&src, &dst, nh, l4_len as u32);
    let field = u16::from_be_bytes([l4[at], l4[at + 1]]);
    let folded = csum::fold(pseudo);
    let same = |a: u16, b: u16| a == b || (a == 0 && b == 0xffff) || (a == 0xffff && b == 0);
    if !same(field, folded) {
        return false;
    }
    let l4 = &mut packet[IPV6_HDR_LEN..IPV6_HDR_LEN + l4_len];
    l4[at] = 0;
    l4[at + 1] = 0;
    let mut c = csum::checksum(l4, pseudo);
    if nh == PROTO_UDP && c == 0 {
        c = 0xffff;
    }
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// Splits a queued translated packet and sends the pieces; returns how many went out.
pub fn send_fragments(sender: &RawSender, h: &SlowPathHeader, frame: &[u8]) -> Result<u64> {
    let mut packet = frame
        .get(ETH_HLEN..)
        .context("frame shorter than Ethernet")?
        .to_vec();
    complete_partial_checksum(&mut packet);
    let packet = &packet[..];
    let mut split =
        Splitter::new(packet, h.mtu, h.ident).map_err(|e| anyhow::anyhow!("{}", e.reason()))?;
    let mut buf = vec![0u8; split.max_len()];
    let mut sent = 0;
    while let Some(n) = split.next_into(&mut buf) {
        sender
            .send_v6(&buf[..n])
            .context("sending an IPv6 fragment")?;
        sent += 1;
    }
    Ok(sent)
}

/// Counts what the slow path did (userspace-owned counters only).
struct Counts {
    map: aya::maps::PerCpuArray<MapData, u64>,
}

impl Counts {
    fn add(&mut self, c: Counter, n: u64) {
        if let Err(e) = stats::add_userspace(&mut self.map, c, n) {
            tracing::warn!("slow path: {e:#}");
        }
    }
}

/// Drains `NAT64_SLOW` until the task is dropped. The data plane queues only while
/// `CONFIG_F_SLOW_PATH` is set: `serve` sets it once it can drain the ring, and it is
/// cleared here if the reader fails (at start, e.g. without CAP_NET_RAW, or later), so
/// that nothing is queued for nobody. (A nat64-ctl killed outright leaves it set; the
/// data plane stops queuing when half the ring waits unread, see nat64-ebpf's slow.rs.)
pub async fn run(ring: RingBuf<MapData>, dir: PathBuf, ready: oneshot::Sender<()>) {
    if let Err(e) = serve(ring, &dir, ready).await {
        tracing::error!("slow path stopped: {e:#}");
        if let Err(e) =
            Tables::open(&dir).and_then(|mut t| t.set_config_flag(CONFIG_F_SLOW_PATH, false))
        {
            tracing::error!("slow path: could not turn it off in the data plane: {e:#}");
        }
    }
}

async fn serve(ring: RingBuf<MapData>, dir: &Path, ready: oneshot::Sender<()>) -> Result<()> {
    let sender = RawSender::new()?;
    let mut tables = Tables::open(dir)?;
    let mut counts = Counts {
        map: stats::open_pinned(&crate::bpffs::pin_path(dir, stats::STATS_MAP))?,
    };
    // SAFETY: the ring buffer owns its fd for its whole life; the AsyncFd owns the ring.
    let mut fd = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
        .context("watching the slow-path ring buffer")?;
    tables.set_config_flag(CONFIG_F_SLOW_PATH, true)?;
    let _ = ready.send(());
    let mut held = HeldSyns::default();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            guard = fd.readable_mut() => {
                let mut guard = guard.context("slow-path ring buffer")?;
                let ring = guard.get_inner_mut();
                while let Some(item) = ring.next() {
                    handle(&item, &sender, &mut held, &mut tables, &mut counts);
                }
                guard.clear_ready();
            }
            _ = tick.tick(), if !held.is_empty() => {
                let v = held.check(Instant::now(), |k| tables.sessions.get(k, 0).is_ok());
                counts.add(Counter::HeldSynMatched, v.matched);
                for key in &v.settled {
                    // Gone already when the data plane never saw it in a TCP range.
                    let _ = tables.held_syns.remove(&key.held());
                }
                // The gateway's ICMP errors are off with a rate of 0, this one included.
                let icmp_on = tables.gateway_config().map_or(true, |c| c.icmp_rate > 0);
                for syn in &v.refuse {
                    if !icmp_on || !may_answer(syn) {
                        counts.add(Counter::HeldSynDropped, 1);
                        continue;
                    }
                    let sent = if syn.first().is_some_and(|b| b >> 4 == 6) {
                        port_unreachable6(syn).map(|p| sender.send_v6(&p))
                    } else {
                        port_unreachable(syn).map(|p| sender.send_v4(&p))
                    };
                    match sent {
                        Some(Ok(())) => counts.add(Counter::HeldSynRefused, 1),
                        _ => counts.add(Counter::DropSlowPathSendFailed, 1),
                    }
                }
            }
        }
    }
}

fn handle(
    item: &[u8],
    sender: &RawSender,
    held: &mut HeldSyns,
    tables: &mut Tables,
    counts: &mut Counts,
) {
    let hlen = size_of::<SlowPathHeader>();
    let Some(head) = item.get(..hlen) else {
        counts.add(Counter::DropSlowPathSendFailed, 1);
        return;
    };
    // SAFETY: SlowPathHeader is plain data and `head` holds all of its bytes.
    let h: SlowPathHeader = unsafe { std::ptr::read_unaligned(head.as_ptr().cast()) };
    let Some(frame) = item.get(hlen..hlen + h.len as usize) else {
        counts.add(Counter::DropSlowPathSendFailed, 1);
        return;
    };
    match h.kind {
        SLOW_KIND_FRAGMENT => match send_fragments(sender, &h, frame) {
            Ok(n) => counts.add(Counter::SlowPathFragmentsSent, n),
            Err(e) => {
                tracing::debug!("slow path: {e:#}");
                counts.add(Counter::DropSlowPathSendFailed, 1);
            }
        },
        SLOW_KIND_HELD_SYN | SLOW_KIND_HELD_SYN6 => {
            let ip = frame.get(ETH_HLEN..).unwrap_or(&[]);
            let key = if h.kind == SLOW_KIND_HELD_SYN {
                SynKey::of(ip)
            } else {
                let pool6 = tables.gateway_config().map(|c| c.pool6);
                let sport = h.ident as u16;
                pool6
                    .ok()
                    .and_then(|p| held6_key(ip, h.mtu.to_ne_bytes(), sport, &p))
            };
            let Some(key) = key else {
                counts.add(Counter::DropSlowPathSendFailed, 1);
                return;
            };
            match held.hold_key(key, ip, Instant::now()) {
                Hold::Held => {
                    // A new TCP binding to the SYN's source may take its target port, so
                    // that the two SYNs meet: only a port pool4 lends TCP on that address.
                    if tables.lends_tcp(key.dst4, key.dport) {
                        let target = HeldSynTarget {
                            addr4: key.dst4,
                            port4: key.dport,
                            _pad: 0,
                        };
                        if let Err(e) = tables.held_syns.insert(key.held(), target, 0) {
                            tracing::debug!("slow path: recording a held SYN: {e}");
                        }
                    }
                }
                Hold::Duplicate => {}
                Hold::Overflow => counts.add(Counter::DropHeldSynOverflow, 1),
            }
        }
        _ => counts.add(Counter::DropSlowPathSendFailed, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_udp_checksum_is_completed_and_a_complete_one_left_alone() {
        let src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let dst = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let payload = [0x5au8; 1400];
        let l4_len = 8 + payload.len();
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(l4_len as u16).to_be_bytes());
        p.extend_from_slice(&[PROTO_UDP, 64]);
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&[0x12, 0x34, 0x00, 0x35]);
        p.extend_from_slice(&(l4_len as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&payload);
        let pseudo = csum::pseudo_v6(&src, &dst, PROTO_UDP, l4_len as u32);
        let full = csum::checksum(&p[40..], pseudo);
        // As a sender with checksum offload leaves it: the pseudo-header sum only.
        let mut partial = p.clone();
        partial[46..48].copy_from_slice(&csum::fold(pseudo).to_be_bytes());
        assert!(complete_partial_checksum(&mut partial));
        assert_eq!(&partial[46..48], &full.to_be_bytes());
        assert_eq!(csum::checksum(&partial[40..], pseudo), 0);
        // A complete one (right or wrong) is not touched.
        let mut complete = p.clone();
        complete[46..48].copy_from_slice(&full.to_be_bytes());
        assert!(!complete_partial_checksum(&mut complete));
        assert_eq!(complete, {
            let mut c = p.clone();
            c[46..48].copy_from_slice(&full.to_be_bytes());
            c
        });
        let mut wrong = complete.clone();
        wrong[46] ^= 0x40;
        let before = wrong.clone();
        assert!(!complete_partial_checksum(&mut wrong));
        assert_eq!(wrong, before);
    }

    /// An IPv4 SYN 198.51.100.2:40000 → 203.0.113.1:61001 with a 20-byte TCP header.
    fn syn() -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&40u16.to_be_bytes());
        p[8] = 63;
        p[9] = 6;
        p[12..16].copy_from_slice(&[198, 51, 100, 2]);
        p[16..20].copy_from_slice(&[203, 0, 113, 1]);
        let c = csum::checksum(&p[..20], 0);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p[20..22].copy_from_slice(&40000u16.to_be_bytes());
        p[22..24].copy_from_slice(&61001u16.to_be_bytes());
        p[24..28].copy_from_slice(&[1, 2, 3, 4]);
        p[32] = 0x50;
        p[33] = 0x02;
        p
    }

    #[test]
    fn the_session_an_ipv6_open_creates_matches_the_held_syn() {
        let k = SynKey::of(&syn()).unwrap();
        assert_eq!(
            k.session(),
            SessionKey {
                addr4: [203, 0, 113, 1],
                remote4: [198, 51, 100, 2],
                port4: 61001,
                remote_port: 40000,
                proto: PROTO_TCP,
                kind: SESSION_KIND_FLOW,
                _pad: [0; 2],
            }
        );
    }

    #[test]
    fn held_syns_are_matched_refused_after_six_seconds_or_bounded() {
        let t0 = Instant::now();
        let mut h = HeldSyns::default();
        assert_eq!(h.hold(&syn(), t0), Some(Hold::Held));
        // A retransmission one second later does not restart the clock.
        assert_eq!(
            h.hold(&syn(), t0 + Duration::from_secs(1)),
            Some(Hold::Duplicate)
        );
        let none = |_: &SessionKey| false;
        assert_eq!(
            h.check(t0 + Duration::from_millis(5999), none),
            Verdicts::default()
        );
        let v = h.check(t0 + SYN_HOLD, none);
        assert_eq!(v.matched, 0);
        assert_eq!(v.refuse, vec![syn()]);
        assert!(h.is_empty());

        // The IPv6 side opens the flow: discarded silently, before or after 6 s alike.
        h.hold(&syn(), t0);
        let want = SynKey::of(&syn()).unwrap().session();
        let v = h.check(t0 + Duration::from_secs(2), |k| *k == want);
        assert_eq!((v.matched, v.refuse.len()), (1, 0));

        for port in 0..HELD_SYNS_MAX as u16 {
            let mut s = syn();
            s[20..22].copy_from_slice(&port.to_be_bytes());
            assert_eq!(h.hold(&s, t0), Some(Hold::Held));
        }
        assert_eq!(h.hold(&syn(), t0), Some(Hold::Overflow));
        assert_eq!(h.len(), HELD_SYNS_MAX);
        assert_eq!(h.hold(&[0x45, 0, 0], t0), None, "too short to name a flow");
    }

    #[test]
    fn no_port_unreachable_to_a_source_that_is_not_a_unicast_host() {
        assert!(may_answer(&syn()));
        for src in [
            [0, 0, 0, 0],
            [127, 0, 0, 1],
            [224, 0, 0, 1],
            [255, 255, 255, 255],
        ] {
            let mut s = syn();
            s[12..16].copy_from_slice(&src);
            assert!(!may_answer(&s), "{src:?}");
        }
    }

    #[test]
    fn port_unreachable_bytes() {
        let s = syn();
        let p = port_unreachable(&s).unwrap();
        let mut want = vec![
            0x45, 0, 0, 68, 0, 0, 0, 0, 64, 1, 0, 0, 203, 0, 113, 1, 198, 51, 100, 2,
        ];
        let hc = csum::checksum(&want, 0);
        want[10..12].copy_from_slice(&hc.to_be_bytes());
        want.extend_from_slice(&[3, 3, 0, 0, 0, 0, 0, 0]);
        want.extend_from_slice(&s);
        let ic = csum::checksum(&want[20..], 0);
        want[22..24].copy_from_slice(&ic.to_be_bytes());
        assert_eq!(p, want);
        // Both checksums verify.
        assert_eq!(csum::checksum(&p[..20], 0), 0);
        assert_eq!(csum::checksum(&p[20..], 0), 0);

        // A long packet is quoted only up to the 576-byte limit.
        let mut big = vec![0u8; 1500];
        big[..40].copy_from_slice(&s);
        big[2..4].copy_from_slice(&1500u16.to_be_bytes());
        assert_eq!(port_unreachable(&big).unwrap().len(), 576);
    }

    /// An IPv6 SYN from 2001:db8:6::2#5001 to 64:ff9b::cb00:7101#6998 (pool6 + 203.0.113.1).
    fn syn6() -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(&[0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 203, 0, 113, 1]);
        p.extend_from_slice(&[0x13, 0x89, 0x1b, 0x56, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02]);
        p.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        p
    }

    #[test]
    fn a_hairpinned_syn_is_held_as_the_target_sees_it_and_refused_in_icmpv6() {
        let s = syn6();
        let pool6 = Pool6::new(
            "64:ff9b::".parse::<std::net::Ipv6Addr>().unwrap().octets(),
            96,
        )
        .unwrap();
        // The sender's binding (from the record) is the source; the destination is the
        // pool4 address under pool6 and the SYN's port.
        let k = held6_key(&s, [203, 0, 113, 1], 6001, &pool6).unwrap();
        assert_eq!(
            k,
            SynKey {
                src4: [203, 0, 113, 1],
                sport: 6001,
                dst4: [203, 0, 113, 1],
                dport: 6998
            }
        );
        // Port unreachable from the address it was sent to, back to the sender, quoting it.
        let p = port_unreachable6(&s).unwrap();
        assert_eq!(p.len(), 40 + 8 + s.len());
        assert_eq!((p[0] >> 4, p[6], p[7]), (6, 58, 64));
        assert_eq!(&p[8..24], &s[24..40]);
        assert_eq!(&p[24..40], &s[8..24]);
        assert_eq!((p[40], p[41]), (1, 4));
        assert_eq!(&p[48..], &s[..]);
        let src: [u8; 16] = p[8..24].try_into().unwrap();
        let dst: [u8; 16] = p[24..40].try_into().unwrap();
        let pseudo = csum::pseudo_v6(&src, &dst, 58, (p.len() - 40) as u32);
        assert_eq!(
            csum::checksum(&p[40..], pseudo),
            0,
            "the ICMPv6 checksum verifies"
        );
        // Quoted up to 1280 bytes in all.
        let mut big = s.clone();
        big.resize(1500, 0);
        assert_eq!(port_unreachable6(&big).unwrap().len(), 1280);
        assert!(may_answer(&s));
    }
}
