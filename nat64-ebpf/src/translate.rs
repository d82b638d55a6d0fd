//! The fast path, written once for both directions and both hooks: parse, bind, route,
//! track, rewrite, forward. The direction is a type parameter (`Side`, on top of
//! `flow::Direction`), the hook another (`Hook`); what a direction supplies is what really
//! differs between RFC 7915 §4 and §5: the header formats it reads and writes, and its
//! policy where a packet is refused (which refusals are answered with an ICMP error,
//! hairpinning on the way out, the gateway's own services on the way in). The steps that
//! are the same on the way out and back (sessions, fragment records, the transport
//! header) are `flow`'s, with the direction as a parameter too.
use aya_ebpf::bindings::xdp_action;
use nat64_common::{frag::Position, maps::SLOW_KIND_FRAGMENT, Counter};

use crate::{
    flow::{self, Direction, Flow},
    fwd,
    hook::Hook,
    stats,
};

/// What a direction's fast path decided. ICMP errors go on to `icmp_err`, called from
/// `finish` in main.rs so that its frames do not stack on top of the fast path's (the
/// 512-byte BPF stack is shared by the whole call chain).
///
/// A struct whose every field each constructor sets, not an enum: an enum's unused
/// payload bytes are undefined, and where LLVM merges two paths' outcomes (the steps'
/// `Step::Stop`s) it stores them from a register no path wrote, which the verifier
/// refuses (`R2 !read_ok`).
#[derive(Clone, Copy)]
pub struct Outcome {
    pub what: What,
    /// `Originate`: the drop it answers.
    pub why: Counter,
    /// `Action`: the XDP action. `IcmpError`: the ICMP header's offset. `Slow`: the
    /// `SLOW_KIND_*`. `Originate`: the `ORIGIN_*` kind.
    pub a: u32,
    /// `Slow`: `SlowPathHeader::mtu` (see each kind). `Originate`: the MTU it reports.
    pub b: u32,
    /// `Slow`: `SlowPathHeader::ident`.
    pub c: u32,
}

#[derive(Clone, Copy)]
pub enum What {
    Action,
    IcmpError,
    /// Queue the frame as it is now for nat64-ctl (`slow`).
    Slow,
    /// The gateway answers the packet with an ICMP error of its own (`origin::send`),
    /// instead of dropping it for `why`.
    Originate,
}

impl Outcome {
    #[inline(always)]
    pub const fn action(action: u32) -> Outcome {
        Outcome::of(What::Action, Counter::DropInternal, action, 0, 0)
    }

    #[inline(always)]
    pub const fn icmp_error(l4_off: u16) -> Outcome {
        Outcome::of(What::IcmpError, Counter::DropInternal, l4_off as u32, 0, 0)
    }

    #[inline(always)]
    pub const fn slow(kind: u32, mtu: u32, ident: u32) -> Outcome {
        Outcome::of(What::Slow, Counter::DropInternal, kind, mtu, ident)
    }

    #[inline(always)]
    pub const fn originate(why: Counter, kind: u8, mtu: u32) -> Outcome {
        Outcome::of(What::Originate, why, kind as u32, mtu, 0)
    }

    #[inline(always)]
    const fn of(what: What, why: Counter, a: u32, b: u32, c: u32) -> Outcome {
        Outcome { what, why, a, b, c }
    }
}

/// How far `try_translate` takes a packet. The attached programs run all of it; the
/// benchmark loads one program per earlier stop (`floor.rs`) and reports each step's cost
/// as the difference to the one before, on an established 6→4 flow's packets.
pub const STAGE_FULL: u8 = 0;
/// Parse: Ethernet, IP and extension headers (options), the transport header checked.
pub const STAGE_PARSE: u8 = 1;
/// ... and bind: the other family's addresses, the flow's binding found (6→4: and the
/// check whether the peer is a pool4 address, i.e. hairpinned).
pub const STAGE_BIND: u8 = 2;
/// ... and route: the FIB lookup and the size check.
pub const STAGE_ROUTE: u8 = 3;
/// ... and track: the session found and its timestamp refreshed.
pub const STAGE_TRACK: u8 = 4;

/// What a direction's parse decided about a packet.
pub enum Parsed {
    NotOurs,
    /// To the gateway's own address, in a protocol the translator does not serve (OSPF,
    /// GRE, ESP, …): the router's (4→6 only).
    Local,
    Translate,
    /// A non-first fragment (`plan.pos` is `Later`): addresses and lengths are set.
    Later,
    /// The hop limit / TTL runs out here.
    HopLimit,
    /// An ICMP error at `plan.l4_off`: icmp_err translates it, with its quoted packet.
    IcmpError,
}

/// A step's verdict: carry on with its result, or stop with an outcome that is not a
/// silent drop (an ICMP error of our own, the slow path, the kernel's stack).
pub enum Step<T> {
    Go(T),
    Stop(Outcome),
}

/// What each direction supplies to `try_translate`; every method is one step, returning
/// the counter of a silent drop as its error.
pub trait Side: Direction {
    /// The counter of packets not addressed to the translator (left to the kernel).
    const PASS_NOT_OURS: Counter;
    /// The counter of translated fragments.
    const FRAGMENTS: Counter;
    /// Checks the packet and finds its transport header, filling in `plan`.
    fn parse(ctx: &impl Hook, plan: &mut Flow) -> Result<Parsed, Counter>;
    /// The hop limit / TTL runs out: what answers it.
    fn hop_limit(plan: &Flow) -> Outcome;
    /// A later fragment follows its first fragment's translation.
    fn follow(plan: &mut Flow) -> Result<Step<()>, Counter>;
    /// The other family's addresses and the binding (created if the packet may open one).
    fn bind(ctx: &impl Hook, plan: &mut Flow) -> Result<Step<()>, Counter>;
    /// Length of the translated packet from its IP header on.
    fn out_len(plan: &Flow) -> u32;
    /// The route of the translated packet; `leaving`: the length of each packet that
    /// leaves (the whole translation, or one segment of a GSO packet), which the lookup
    /// holds against the route's MTU.
    fn lookup(ctx: &impl Hook, plan: &Flow, leaving: u32) -> fwd::Next;
    /// The size check on the route found, which it may change (to the kernel, to the slow
    /// path); `len`: the translation's length, `segment`: a GSO packet's segment length
    /// (`fwd::segment_len`). Returns, for `fwd::Next::Slow`, the size of the fragments
    /// nat64-ctl cuts the packet into. `next` is changed in place rather than returned
    /// with the step: a `fwd::Next` moved by value through a step is stored with its
    /// unused bytes, from registers no path wrote, which the verifier refuses.
    fn size_check(
        plan: &Flow,
        len: u32,
        segment: Option<u32>,
        next: &mut fwd::Next,
    ) -> Result<Step<u32>, Counter>;
    /// The session, created or refreshed.
    fn track(plan: &Flow) -> Result<Step<()>, Counter>;
    /// Rewrites the packet in place. Every check that can refuse it has passed: what can
    /// still fail (the kernel refusing to move the head) drops it.
    fn rewrite(ctx: &impl Hook, plan: &Flow, next: &fwd::Next) -> Result<(), Counter>;
}

/// Carries on with a step's result, or returns its outcome.
macro_rules! go {
    ($step:expr) => {
        match $step {
            Step::Go(v) => v,
            Step::Stop(outcome) => return Ok(outcome),
        }
    };
}

/// The fast path of direction `D`. Its own frame (a BPF-to-BPF call): the 512-byte BPF
/// stack is shared by the whole call chain, and parsing, binding and rewriting each get
/// a frame of their own below this one so that their temporaries never coexist.
#[inline(never)]
pub fn try_translate<D: Side, const STAGE: u8>(ctx: &impl Hook) -> Result<Outcome, Counter> {
    crate::parse::pin(ctx);
    let mut plan = Flow::new(if D::FROM_V6 {
        Counter::Xlat6to4Udp
    } else {
        Counter::Xlat4to6Udp
    });
    match D::parse(ctx, &mut plan)? {
        Parsed::NotOurs => {
            stats::count(D::PASS_NOT_OURS);
            return Ok(Outcome::action(xdp_action::XDP_PASS));
        }
        Parsed::Local => return Ok(local_pass()),
        Parsed::IcmpError => return Ok(Outcome::icmp_error(plan.l4_off)),
        Parsed::HopLimit => return Ok(D::hop_limit(&plan)),
        // parse() checked the transport header (l4::check, both directions).
        Parsed::Translate => {}
        // A later fragment: no ports, it follows its first fragment's translation.
        Parsed::Later => go!(D::follow(&mut plan)?),
    }
    if STAGE == STAGE_PARSE {
        return Ok(stage_end());
    }
    if plan.pos != Position::Later {
        go!(D::bind(ctx, &mut plan)?);
    }
    if STAGE == STAGE_BIND {
        return Ok(stage_end());
    }
    let len = D::out_len(&plan);
    // A GSO packet (TC) leaves as its segments: read once for the route and the size check.
    let headers = len - u32::from(plan.l4_len);
    let segment = fwd::segment_len(ctx, plan.l4_off as usize, headers, plan.kind);
    let mut next = D::lookup(ctx, &plan, segment.unwrap_or(len));
    let fragment_mtu = go!(D::size_check(&plan, len, segment, &mut next)?);
    if STAGE == STAGE_ROUTE {
        return Ok(stage_end());
    }
    // After the size check: a packet answered as too big opens no session.
    if plan.pos != Position::Later {
        go!(D::track(&plan)?);
        if plan.pos == Position::First {
            flow::remember::<D>(&plan);
        }
    }
    if STAGE == STAGE_TRACK {
        return Ok(stage_end());
    }
    D::rewrite(ctx, &plan, &next)?;
    stats::count_bytes(plan.counter, len as usize);
    if plan.pos.is_fragmented() {
        stats::count(D::FRAGMENTS);
    }
    if let fwd::Next::Slow = next {
        return Ok(Outcome::slow(
            SLOW_KIND_FRAGMENT,
            fragment_mtu,
            u32::from(plan.ident),
        ));
    }
    Ok(Outcome::action(next.action()))
}

/// What a stage program returns where it stops: a drop, the cheapest verdict, as the floor.
#[inline(always)]
fn stage_end() -> Outcome {
    Outcome::action(xdp_action::XDP_DROP)
}

/// A packet to the gateway's own address that is the router's, not the translator's.
#[inline(always)]
pub fn local_pass() -> Outcome {
    stats::count(Counter::PassPool4Local);
    Outcome::action(xdp_action::XDP_PASS)
}
