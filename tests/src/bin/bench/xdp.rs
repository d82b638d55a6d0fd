//! Measurements on the loaded object through BPF_PROG_TEST_RUN: per-packet cost against
//! the parse-only floor program, session-creating vs established packets, and the session
//! table at scale (lookup cost, kernel memory, expiry sweep).
use std::{
    net::{Ipv4Addr, Ipv6Addr},
    os::fd::AsFd,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use aya::{
    maps::IterableMap,
    programs::{Program, SchedClassifier, TestRun, TestRunOptions, Xdp},
};
use nat64_common::maps::{binding_halves, SessionEntry, SessionKey, PROTO_UDP, SESSION_KIND_FLOW};
use nat64_ctl::{
    batch,
    config::{self, Settings},
    expiry::{self, Sweeper},
    loader::{self, TableSizes},
    pool4::{Pool4Group, Pool4Slots},
    tables::Tables,
};
use nat64_tests::{
    bench::{median, Better, Row, Section},
    packet::*,
    Netns,
};

use crate::Opts;

const CLIENT6: &str = "2001:db8:6::2";
const SERVER4: &str = "192.0.2.2";
const SERVER4_IN_POOL6: &str = "64:ff9b::c000:202";
const POOL4: &str = "203.0.113.1";
const FLOOR: &str = "nat64_floor";
/// The step table's programs (nat64-ebpf/src/floor.rs), in pipeline order, with the step
/// each adds to the one before.
const STAGES: [(&str, &str); 4] = [
    (
        "nat64_stage_parse",
        "parse: Ethernet, IPv6 and extension headers, transport header checked",
    ),
    (
        "nat64_stage_bind",
        "bind: pool6 decoded, the binding found, hairpin check",
    ),
    ("nat64_stage_route", "route: IPv4 FIB lookup, size check"),
    (
        "nat64_stage_track",
        "track: session found, timestamp refreshed",
    ),
];
const XDP_PROG: &str = nat64_ctl::XDP_PROGRAM;
const TC_PROG: &str = nat64_ctl::TC_PROGRAM;

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}
fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// A namespace with the routes and neighbours the program's FIB lookups need (as in the
/// fixtures of tests/tests/prog_test_run/main.rs); the calling thread enters it.
fn fib_namespace() -> Result<Netns> {
    nat64_tests::sweep_stale_namespaces();
    let ns = Netns::create(format!(
        "{}{}xbench",
        nat64_tests::NETNS_PREFIX,
        std::process::id()
    ))?;
    ns.sh(&format!(
        "sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1 && \
         ip link add out6 type veth peer name peer6 && ip link add out4 type veth peer name peer4 && \
         for d in out6 peer6 out4 peer4; do ip link set $d up; done && \
         ip -6 addr add 2001:db8:6::1/64 dev out6 nodad && ip addr add 192.0.2.1/24 dev out4 && \
         ip -6 neigh replace {CLIENT6} lladdr 02:00:00:00:06:02 dev out6 nud permanent && \
         ip neigh replace {SERVER4} lladdr 02:00:00:00:04:02 dev out4 nud permanent"
    ))?;
    let f = std::fs::File::open(format!("/run/netns/{}", ns.name))?;
    let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
    if rc != 0 {
        bail!("setns: {}", std::io::Error::last_os_error());
    }
    Ok(ns)
}

/// The object loaded and configured: pool6 64:ff9b::/96, pool4 203.0.113.1 with dynamic
/// ports 10000-65535, static bindings for CLIENT6's UDP 5000, TCP 5001 and ICMP id 1234.
fn load(sizes: TableSizes) -> Result<Obj> {
    let mut ebpf = loader::load_sized(loader::BpfLogLevel::Off, sizes)?;
    let settings = Settings {
        pool6: config::parse_pool6("64:ff9b::/96")?,
        allow_nonglobal: true,
        pool4: Pool4Slots::from_groups(
            &[Pool4Group::parse(
                &[POOL4.into()],
                Some("10000-65535"),
                None,
            )?],
            "--pool4",
        )?,
        secret: 0x5eed,
        static_bib: vec![
            format!("udp {POOL4}#6000 {CLIENT6}#5000").parse()?,
            format!("tcp {POOL4}#6001 {CLIENT6}#5001").parse()?,
            format!("icmp {POOL4}#6002 {CLIENT6}#1234").parse()?,
        ],
        timeouts: nat64_common::timeouts::Timeouts::DEFAULT,
        address_dependent_filtering: false,
        lowest_ipv6_mtu: nat64_common::maps::LOWEST_IPV6_MTU_DEFAULT,
        icmp: config::IcmpSettings {
            source6: Some("2001:db8:6::1".parse()?),
            source4: Some("192.0.2.1".parse()?),
            ..Default::default()
        },
        port_blocks: None,
    };
    config::apply(&mut Tables::from_ebpf(&ebpf)?, &settings)?;
    // The floor lives in the same object; only the benchmark ever loads it.
    let floor: &mut Xdp = ebpf
        .program_mut(FLOOR)
        .context("nat64_floor missing from the object")?
        .try_into()?;
    loader::verify(|| floor.load())?;
    // So do the step table's programs, the translation cut short after each step.
    for (name, _) in STAGES {
        let p: &mut Xdp = ebpf
            .program_mut(name)
            .with_context(|| format!("{name} missing from the object"))?
            .try_into()?;
        loader::verify(|| p.load()).with_context(|| format!("loading {name}"))?;
    }
    // The TC program shares the object's maps, so flows opened through either hook are
    // established for both.
    let tc: &mut SchedClassifier = ebpf
        .program_mut(TC_PROG)
        .context("nat64_tc missing from the object")?
        .try_into()?;
    loader::verify(|| tc.load())?;
    Ok(Obj { ebpf })
}

/// Kernel-measured ns per run of `prog` (XDP or sched_cls) over `frame`, repeated
/// `repeat` times in place (the classic mode: the same buffer each time, so only for
/// frames the program does not change), and the program's return code of the last run.
/// Under sched_cls the kernel builds the skb before it starts the clock.
fn cost(ebpf: &mut aya::Ebpf, prog: &str, frame: &[u8], repeat: u32) -> Result<(f64, u32)> {
    let mut out = vec![0u8; frame.len() + 256];
    let opts = TestRunOptions {
        data_in: Some(frame),
        data_out: Some(&mut out),
        repeat,
        ..Default::default()
    };
    let res = match ebpf.program_mut(prog).context(prog.to_string())? {
        Program::Xdp(p) => p.test_run(opts)?,
        Program::SchedClassifier(p) => p.test_run(opts)?,
        _ => bail!("{prog} is neither an XDP nor a sched_cls program"),
    };
    Ok((res.duration.as_nanos() as f64, res.return_value))
}

/// Median over `runs` single runs (repeat 1) of each of `progs` on the same frame,
/// interleaved run by run so that drift and noise hit all of them. Single runs because
/// nat64 rewrites the frame in place: a repeated run (classic mode) would see its own
/// output, and live-frames mode recycles pages without restoring their data. Every run of
/// a program with an expected return code must end with it.
fn interleaved(
    obj: &mut Obj,
    frame: &[u8],
    runs: u32,
    progs: &[(&str, Option<u32>)],
) -> Result<Vec<f64>> {
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(runs as usize); progs.len()];
    for _ in 0..runs {
        for (i, (prog, want)) in progs.iter().enumerate() {
            let (ns, code) = cost(&mut obj.ebpf, prog, frame, 1)?;
            if want.is_some_and(|w| w != code) {
                bail!("{prog} returned {code}, expected {}", want.unwrap());
            }
            times[i].push(ns);
        }
    }
    Ok(times.iter().map(|t| median(t).unwrap()).collect())
}

/// [`interleaved`] of the XDP program (which must return `want`) and the floor.
fn versus_floor(obj: &mut Obj, frame: &[u8], runs: u32, want: u32) -> Result<(f64, f64)> {
    let t = interleaved(obj, frame, runs, &[(XDP_PROG, Some(want)), (FLOOR, None)])?;
    Ok((t[0], t[1]))
}

/// The loaded object.
struct Obj {
    ebpf: aya::Ebpf,
}

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_REDIRECT: u32 = 4;
const TC_ACT_OK: u32 = 0;
const TC_ACT_REDIRECT: u32 = 7;
/// Subject names of the per-packet table.
const S_XDP: &str = "nat64 (XDP)";
const S_TC: &str = "nat64 (TC)";
const S_FLOOR: &str = "floor (XDP, parse only)";

fn udp6_frame(sport: u16, payload: &[u8]) -> Vec<u8> {
    eth_ipv6_udp(v6(CLIENT6), v6(SERVER4_IN_POOL6), sport, 53, 64, payload)
}

fn tcp6_frame(sport: u16, flags: u8) -> Vec<u8> {
    let (s, d) = (v6(CLIENT6), v6(SERVER4_IN_POOL6));
    let l4 = tcp(
        sport,
        80,
        1,
        flags,
        &[0; 18],
        &pseudo_v6(s, d, PROTO_TCP, 38),
    );
    ethernet(0x86dd, &ipv6(s, d, PROTO_TCP, 64, 0, &l4))
}

fn tcp4_frame(dport: u16, flags: u8) -> Vec<u8> {
    let (s, d) = (v4(SERVER4), v4(POOL4));
    let l4 = tcp(
        80,
        dport,
        1,
        flags,
        &[0; 18],
        &pseudo_v4(s, d, PROTO_TCP, 38),
    );
    ethernet(0x0800, &ipv4(s, d, PROTO_TCP, 64, 0, 0, 0x4000, &l4))
}

/// 18 bytes of payload: the smallest 6→4 frame that is a 64-byte Ethernet frame once
/// translated (and 82 bytes as IPv6).
const PAYLOAD: &[u8] = &[0x42; 18];

pub fn per_packet(opts: &Opts, sections: &mut Vec<Section>) -> Result<()> {
    let _ns = fib_namespace()?;
    // Room for every binding the new-flow runs below make (three runs of up to 20000 new
    // flows and the step table's 4 × 4000): the default BIB would fill and refuse them.
    let mut obj = load(TableSizes {
        bib: Some(1 << 17),
        ..TableSizes::default()
    })?;
    let ebpf = &mut obj.ebpf;
    let runs = if opts.quick { 30_000 } else { 1_000_000 };

    // Sessions first: one packet of each flow opens it (TCP goes to established through
    // SYN, SYN-ACK, ACK).
    let udp6 = udp6_frame(5000, PAYLOAD);
    let udp4 = eth_ipv4_udp(v4(SERVER4), v4(POOL4), 53, 6000, 64, PAYLOAD);
    let icmp = {
        let (s, d) = (v6(CLIENT6), v6(SERVER4_IN_POOL6));
        let m = icmp6(s, d, 128, 0, echo_rest(1234, 1), &[0x42; 10]);
        ethernet(0x86dd, &ipv6(s, d, PROTO_ICMPV6, 64, 0, &m))
    };
    let (syn, synack, ack6, ack4) = (
        tcp6_frame(5001, 0x02),
        tcp4_frame(6001, 0x12),
        tcp6_frame(5001, 0x10),
        tcp4_frame(6001, 0x10),
    );
    for f in [&udp6, &icmp, &syn, &synack, &ack6] {
        let (_, action) = cost(ebpf, "nat64", f, 1)?;
        if action != XDP_REDIRECT {
            bail!("setting up the flows: XDP action {action}, expected a redirect");
        }
    }
    // The echo reply comes back to the identifier the echo's binding got.
    let icmp_id4 = {
        let bib6: aya::maps::HashMap<
            _,
            nat64_common::maps::Bib6Key,
            nat64_common::maps::Bib6Entry,
        > = aya::maps::HashMap::try_from(
            ebpf.map(nat64_common::maps::MAP_BIB6).context("the BIB")?,
        )?;
        let key = nat64_common::maps::Bib6Key {
            addr6: v6(CLIENT6).octets(),
            port6: 1234,
            proto: nat64_common::maps::PROTO_ICMP,
            _pad: 0,
        };
        bib6.get(&key, 0).context("the echo's binding")?.port4
    };
    let icmp4_reply = {
        let m = icmp4(0, 0, echo_rest(icmp_id4, 1), &[0x42; 10]);
        ethernet(
            0x0800,
            &ipv4(v4(SERVER4), v4(POOL4), PROTO_ICMP, 64, 0, 0, 0x4000, &m),
        )
    };
    let miss = eth_ipv6_udp(v6(CLIENT6), v6("2001:db8:99::1"), 5000, 53, 64, PAYLOAD);
    // (label, frame, XDP action, TC action)
    let cases: [(&str, &[u8], u32, u32); 7] = [
        ("UDP 6→4", &udp6, XDP_REDIRECT, TC_ACT_REDIRECT),
        ("UDP 4→6", &udp4, XDP_REDIRECT, TC_ACT_REDIRECT),
        (
            "TCP 6→4 (established)",
            &ack6,
            XDP_REDIRECT,
            TC_ACT_REDIRECT,
        ),
        (
            "TCP 4→6 (established)",
            &ack4,
            XDP_REDIRECT,
            TC_ACT_REDIRECT,
        ),
        ("ICMP echo 6→4", &icmp, XDP_REDIRECT, TC_ACT_REDIRECT),
        (
            "ICMP echo reply 4→6",
            &icmp4_reply,
            XDP_REDIRECT,
            TC_ACT_REDIRECT,
        ),
        ("miss (not ours)", &miss, XDP_PASS, TC_ACT_OK),
    ];
    let mut rows = Vec::new();
    for (label, frame, xdp_want, tc_want) in cases {
        let t = interleaved(
            &mut obj,
            frame,
            runs,
            &[
                (XDP_PROG, Some(xdp_want)),
                (TC_PROG, Some(tc_want)),
                (FLOOR, None),
            ],
        )
        .with_context(|| label.to_string())?;
        eprintln!(
            "  {label}: XDP {:.1} ns, TC {:.1} ns, floor {:.1} ns",
            t[0], t[1], t[2]
        );
        rows.push(
            Row::new(label)
                .with(S_XDP, Some(t[0]))
                .with(S_TC, Some(t[1]))
                .with(S_FLOOR, Some(t[2])),
        );
    }
    // Where an established UDP 6→4 packet's time goes: each stage program against the one
    // before it, interleaved in the same runs.
    let mut progs: Vec<(&str, Option<u32>)> = vec![(FLOOR, None)];
    progs.extend(STAGES.iter().map(|(p, _)| (*p, Some(XDP_DROP))));
    progs.push((XDP_PROG, Some(XDP_REDIRECT)));
    let t = interleaved(&mut obj, &udp6, runs, &progs).context("the step table")?;
    let established_steps = t.clone();
    let mut step_rows = Vec::new();
    for (i, label) in STEP_LABELS.iter().enumerate() {
        let step = if i == 0 { t[0] } else { t[i] - t[i - 1] };
        eprintln!("  step {label}: {step:.1} ns (through it {:.1} ns)", t[i]);
        step_rows.push(
            Row::new(*label)
                .with("this step", Some(step))
                .with("through this step", Some(t[i]))
                .with(S_FLOOR, Some(t[0])),
        );
    }
    sections.push(Section {
        id: "per_packet_steps".into(),
        title: "Where an established packet's time goes".into(),
        method: format!(
            "BPF_PROG_TEST_RUN of the XDP program cut short after each step of the 6→4 \
             pipeline (`translate::STAGE_*`: one program per stop in the same object, each \
             returning XDP_DROP where it stops, all sharing the maps), median over \
             {runs} single runs each, interleaved, of the established UDP 6→4 flow's packet of \
             the per-packet table. A step's cost is its stage's time less the stage before; \
             the first row is the floor itself. Every stage also pays `run`'s verdict count \
             and the receive counter, as the whole program does."
        ),
        unit: "ns/packet".into(),
        better: Better::Lower,
        subjects: vec![
            "this step".into(),
            "through this step".into(),
            S_FLOOR.into(),
        ],
        baseline: Some(S_FLOOR.into()),
        ours: vec!["this step".into()],
        rows: step_rows,
        notes: vec![
            "Differences of medians: a step near zero (or below) costs less than the run's \
             noise; the sum of the steps is the whole program's time."
                .into(),
            format!(
                "What bounds the ×2.5 target: the parse alone is ×{:.2} of the floor (the \
                 extension-header walk and the transport check the floor does not do), and \
                 with the route step ×{:.2}; the route step ({:.0} ns) is one \
                 `bpf_fib_lookup` per packet, which an established session could carry (its \
                 next hop and MAC addresses, checked against a FIB generation) — not done.",
                t[1] / t[0],
                t[3] / t[0],
                t[3] - t[2]
            ),
        ],
        chart: false,
        inherent_gap: true,
    });
    sections.push(Section {
        id: "per_packet".into(),
        title: "Per-packet cost".into(),
        method: format!(
            "BPF_PROG_TEST_RUN of the real object: median of {runs} single runs each of the XDP \
             program (`nat64`), the TC program (`nat64_tc`, sched_cls: the kernel builds an skb \
             of the same frame before it starts the clock) and the floor, interleaved run by \
             run. The **floor** (`nat64_floor`, same object) is an XDP program that parses \
             Ethernet and the IP header with bounds checks and returns a verdict: the least any \
             XDP translator pays; it is the baseline of both hooks. Flows are established first \
             (sessions exist, shared by both programs; TCP through SYN/SYN-ACK/ACK); frames are \
             64 bytes on the IPv4 side. The kernel times each run (`duration`), which includes \
             its own per-run overhead (a clock read, bottom halves off and on) equally for every \
             program, so the ratio understates what translation adds; the difference of the \
             figures is that cost. Runs are single because nat64 rewrites the frame in place \
             (`repeat` would feed it its own output, and live-frames mode recycles pages \
             without restoring their data). A redirect ends at the verdict: no device transmits."
        ),
        unit: "ns/packet".into(),
        better: Better::Lower,
        subjects: vec![S_XDP.into(), S_TC.into(), S_FLOOR.into()],
        baseline: Some(S_FLOOR.into()),
        ours: vec![S_XDP.into(), S_TC.into()],
        rows,
        notes: vec![
            "nat64 is necessarily behind the floor: the ratio is what translation costs on top of \
             parsing (session lookup and timestamp, header rewrite, incremental checksums, a FIB \
             lookup and the MAC rewrite). A miss pays the pool6 / pool4 check only."
                .into(),
            "The TC program does the same translation through skb helpers \
             (`bpf_skb_pull_data`, `bpf_skb_change_proto`, `bpf_l4_csum_replace`, \
             then `bpf_redirect`), each a call that may reallocate or re-checksum the skb, \
             where XDP moves the packet start (`bpf_xdp_adjust_head`) and writes the buffer \
             directly: the difference between the two columns is that helper cost. In the lab \
             this is offset by what XDP on a veth pays outside the program (a copy into an XDP \
             buffer and a new skb after the redirect), which no test run sees."
                .into(),
        ],
        chart: true,
        inherent_gap: true,
    });

    // Session-creating vs established: one packet per run (repeat 1), each a new flow
    // (new source port: a dynamic binding and a session), against the established UDP flow
    // measured the same way.
    let flows = if opts.quick { 3000 } else { 20000 };
    let mut est = Vec::new();
    // `flows` new flows from source ports `first..`, each packet followed by one of the
    // established flow (into `est`); a refused flow (answered with XDP_TX) stops the run.
    let mut new_flows = |obj: &mut Obj, first: u16, what: &str| -> Result<Vec<f64>> {
        let mut times = Vec::new();
        // Ports from `first` up, at most to 65535 (the third run has fewer above 60000).
        let flows = flows.min(usize::from(u16::MAX - first) + 1);
        for i in 0..flows {
            let f = udp6_frame(first + i as u16, PAYLOAD);
            let (ns, action) = cost(&mut obj.ebpf, XDP_PROG, &f, 1)?;
            if action != XDP_REDIRECT {
                bail!("new flow {i}{what}: XDP action {action}");
            }
            times.push(ns);
            est.push(cost(&mut obj.ebpf, XDP_PROG, &udp6, 1)?.0);
        }
        Ok(times)
    };
    let new = new_flows(&mut obj, 20000, "")?;
    // The same with port blocks (RFC 7422) on: the client is the one subscriber of its
    // /64, and its block is a fresh address's whole dynamic range, so the block fills as
    // pool4 did above and only the block lookup differs. New source ports again (the ones
    // above are bound already).
    set_port_block(&mut obj, [203, 0, 113, 2], 10000, 65535, false)?;
    let blocked = new_flows(&mut obj, 40000, " with port blocks")?;
    // And with the block handed out on first use: the first flow takes it from the free
    // list, every later one finds it by the subscriber's prefix. Source ports from 1: the
    // ones above are bound.
    set_port_block(&mut obj, [203, 0, 113, 4], 10000, 65535, true)?;
    let first_use = new_flows(&mut obj, 1, " with port blocks on first use")?;
    let (n, b, d, e) = (
        median(&new).unwrap(),
        median(&blocked).unwrap(),
        median(&first_use).unwrap(),
        median(&est).unwrap(),
    );
    eprintln!(
        "  session-creating {n:.0} ns, with port blocks {b:.0} ns, on first use {d:.0} ns, \
         established {e:.0} ns"
    );
    // A fresh block of the same size for them: each flow binds four times (bind, route,
    // track and the whole program each claim a binding), and a block as full as the run
    // above left it would start refusing flows (16 random probes, as for pool4).
    set_port_block(&mut obj, [203, 0, 113, 3], 10000, 65535, false)?;
    let creating_steps = creation_steps(&mut obj, if opts.quick { 1000 } else { 4000 })?;

    sections.push(Section {
        id: "setup_cost".into(),
        title: "Session-creating vs established packet".into(),
        method: format!(
            "BPF_PROG_TEST_RUN of the XDP program with repeat 1 (one packet per run, so each new-flow packet really \
             creates state), median over {flows} UDP 6→4 packets from new source ports (each \
             claims a dynamic binding and opens a session) interleaved with the same number of \
             packets of an established flow, measured as in the per-packet table."
        ),
        unit: "ns/packet".into(),
        better: Better::Lower,
        subjects: vec![
            "session-creating".into(),
            "session-creating, port blocks".into(),
            "session-creating, blocks on first use".into(),
            "established".into(),
        ],
        baseline: Some("established".into()),
        ours: vec![
            "session-creating".into(),
            "session-creating, port blocks".into(),
            "session-creating, blocks on first use".into(),
        ],
        rows: vec![Row::new("UDP 6→4")
            .with("session-creating", Some(n))
            .with("session-creating, port blocks", Some(b))
            .with("session-creating, blocks on first use", Some(d))
            .with("established", Some(e))],
        notes: vec![
            format!(
                "Port blocks (RFC 7422) cost a new flow ×{:.2} of one without them (target \
                 ≤ ×1.2): the subscriber number from the source prefix and one array lookup \
                 of its block, in place of the pool4 slot lookup per candidate. Measured in \
                 a second run of {flows} new flows from new source ports into a fresh range \
                 as large as pool4's, so that both runs fill their range alike.",
                b / n
            ),
            format!(
                "Port blocks handed out on first use cost a new flow ×{:.2} of one without \
                 blocks (target ≤ ×1.2): one hash lookup of the subscriber's block by its \
                 prefix in place of the arithmetic; only a subscriber's first flow takes a \
                 block from the free list (a queue pop and two `BPF_NOEXIST` inserts). \
                 Measured in a third run of new flows (source ports from 1) into a fresh \
                 range as large as pool4's.",
                d / n
            ),
            "A new flow hashes its source to a pool4 port, claims the IPv4 side with \
             `BPF_NOEXIST`, writes both binding halves and the session: four hash-map writes \
             that an established packet does not do."
                .into(),
        ],
        chart: true,
        inherent_gap: true,
    });
    let mut rows = Vec::new();
    for (i, label) in STEP_LABELS.iter().enumerate().skip(1) {
        let new = creating_steps[i] - creating_steps[i - 1];
        let est = established_steps[i] - established_steps[i - 1];
        eprintln!("  new-flow step {label}: {new:.1} ns (established {est:.1} ns)");
        rows.push(
            Row::new(*label)
                .with("session-creating", Some(new))
                .with("established", Some(est)),
        );
    }
    let step = |i: usize| creating_steps[i] - creating_steps[i - 1];
    let est_step = |i: usize| established_steps[i] - established_steps[i - 1];
    let extra = (step(2) - est_step(2)) + (step(4) - est_step(4));
    sections.push(Section {
        id: "setup_steps".into(),
        title: "Where a session-creating packet's time goes".into(),
        method: "The step table's programs (`translate::STAGE_*`) run on new UDP 6→4 flows: \
                 each flow's packet goes through one stage program only, with a source port of \
                 its own for every stage, so that each stage meets a new flow (its bind step \
                 claims a binding, its track step opens a session); the stages take turns flow \
                 by flow, so all meet the same table load. Port blocks are on (as in the second \
                 run above), in a fresh block this run fills to a third. A step's cost is its \
                 stage's median less the stage before, beside the same step of the established \
                 flow in the step table above."
            .into(),
        unit: "ns/packet".into(),
        better: Better::Lower,
        subjects: vec!["session-creating".into(), "established".into()],
        baseline: Some("established".into()),
        ours: vec!["session-creating".into()],
        rows,
        notes: vec![format!(
            "What bounds the ×1.5 target: the bind step claims the binding (a `BPF_NOEXIST` \
             insert into the IPv4 half, then one into the IPv6 half) and the track step inserts \
             the session: {extra:.0} ns more than the established flow's two lookups, against \
             an established packet's {:.0} ns in all. Each insert into a preallocated hash map \
             takes the bucket lock, pops an element from the per-CPU free list and writes a \
             cold cache line; fewer writes would need a binding and its session in one entry.",
            established_steps[established_steps.len() - 1]
        )],
        chart: false,
        inherent_gap: true,
    });
    Ok(())
}

/// The step table's row labels: the floor, each stage, the whole program.
const STEP_LABELS: [&str; 6] = [
    "floor: Ethernet and IP header read (nat64_floor)",
    STAGES[0].1,
    STAGES[1].1,
    STAGES[2].1,
    STAGES[3].1,
    "rewrite and forward: headers, checksums, MACs, redirect (all of nat64)",
];

/// Medians of new UDP 6→4 flows through the floor, each stage program and the whole
/// program (`STEP_LABELS` order), `flows` each: for every flow one packet per program, each
/// from a source port of its own (a second address of CLIENT6's /64, so that the
/// subscriber and its port block stay the same), the programs taking turns.
fn creation_steps(obj: &mut Obj, flows: u32) -> Result<Vec<f64>> {
    let src = Ipv6Addr::from(u128::from(v6(CLIENT6)) + 0x100);
    let mut progs: Vec<(&str, u32)> = vec![(FLOOR, XDP_DROP)];
    progs.extend(STAGES.iter().map(|(p, _)| (*p, XDP_DROP)));
    progs.push((XDP_PROG, XDP_REDIRECT));
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(flows as usize); progs.len()];
    let mut sport: u16 = 1024;
    for i in 0..flows {
        for (j, (prog, want)) in progs.iter().enumerate() {
            let f = eth_ipv6_udp(src, v6(SERVER4_IN_POOL6), sport, 53, 64, PAYLOAD);
            sport = sport
                .checked_add(1)
                .context("new-flow steps: out of source ports")?;
            let (ns, code) = cost(&mut obj.ebpf, prog, &f, 1)?;
            if code != *want {
                bail!("new flow {i} through {prog}: XDP action {code}, expected {want}");
            }
            times[j].push(ns);
        }
    }
    Ok(times.iter().map(|t| median(t).unwrap()).collect())
}

/// Port blocks on, as nat64-ctl writes them: CLIENT6's /64 is the one subscriber, and its
/// UDP block is `addr4`:`lo`-`hi`; `first_use`: handed out on first use (block 0 queued
/// as the free one).
fn set_port_block(obj: &mut Obj, addr4: [u8; 4], lo: u16, hi: u16, first_use: bool) -> Result<()> {
    use nat64_common::{block::PortBlockConfig, maps::Pool4Slot};
    let mut blocks: aya::maps::Array<_, Pool4Slot> = aya::maps::Array::try_from(
        obj.ebpf
            .map_mut(nat64_common::maps::MAP_BLOCKS)
            .context("the port-block table")?,
    )?;
    let udp = nat64_common::maps::pool4_proto_index(nat64_common::maps::PROTO_UDP).unwrap();
    blocks.set(
        nat64_common::block::block_index(udp, 1, 0),
        Pool4Slot {
            addr4,
            port_lo: lo,
            port_hi: hi,
        },
        0,
    )?;
    let mut cfg: aya::maps::Array<_, PortBlockConfig> = aya::maps::Array::try_from(
        obj.ebpf
            .map_mut(nat64_common::maps::MAP_BLOCK_CONFIG)
            .context("the port-block config")?,
    )?;
    cfg.set(
        0,
        PortBlockConfig {
            range6: v6(CLIENT6).octets(),
            range_len: 64,
            subscriber_len: 64,
            block_size: u32::from(hi - lo) + 1,
            subscribers: 1,
            allocation: if first_use {
                nat64_common::block::ALLOCATION_DYNAMIC
            } else {
                nat64_common::block::ALLOCATION_DETERMINISTIC
            },
            ..Default::default()
        },
        0,
    )?;
    if first_use {
        let mut free: aya::maps::Queue<_, u32> = aya::maps::Queue::try_from(
            obj.ebpf
                .map_mut(nat64_common::maps::MAP_FREE_BLOCKS)
                .context("the free port blocks")?,
        )?;
        free.push(0, 0)?;
    }
    Ok(())
}

/// Memory the kernel charges for a map (its fdinfo `memlock`).
fn memlock(fd: std::os::fd::BorrowedFd<'_>) -> Option<u64> {
    let fdinfo = std::fs::read_to_string(format!(
        "/proc/self/fdinfo/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))
    .ok()?;
    fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("memlock:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Size of the kernel's own per-connection state, an `nf_conntrack` slab object (what
/// Linux's NAT keeps per flow, before extensions and hash buckets), from /proc/slabinfo.
fn conntrack_object_size() -> Option<f64> {
    let slabinfo = std::fs::read_to_string("/proc/slabinfo").ok()?;
    slabinfo.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        (f.next()? == "nf_conntrack").then_some(())?;
        // name active_objs num_objs objsize …
        f.nth(2)?.parse().ok()
    })
}

/// Wall and CPU time of reading every entry of the map in `chunk`-entry batches and
/// nothing else: the least any userspace walk of the table pays.
fn bare_read(fd: std::os::fd::BorrowedFd<'_>, chunk: u32) -> Result<(Duration, Duration, usize)> {
    let (wall, cpu) = (Instant::now(), thread_cpu());
    let mut cursor = batch::Cursor::default();
    let mut part: Vec<(SessionKey, SessionEntry)> = Vec::new();
    let mut n = 0;
    while !cursor.done() {
        n += batch::lookup(fd, &mut cursor, &mut part, chunk)?;
    }
    Ok((wall.elapsed(), thread_cpu() - cpu, n))
}

fn thread_cpu() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(us(ru.ru_utime) + us(ru.ru_stime))
}

fn label(n: u32) -> String {
    match n {
        n if n >= 1_000_000 => format!("{} M", n / 1_000_000),
        n => format!("{} k", n / 1000),
    }
}

/// Chunk of the bare batch read (the baseline): what the userspace sweeper read per syscall.
const READ_CHUNK: u32 = 8192;
/// The daemon's pass interval (nat64-ctl's `SWEEP_INTERVAL`).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// Dynamic bindings the scale fill's sessions belong to (their ports 10000..60000).
const SWEEP_BINDINGS: u32 = 50_000;

/// The bindings of the scale fill's sessions (`addr4` 203.0.113.1, ports from 10000).
fn fill_bindings(tables: &mut Tables, n: u32) -> Result<()> {
    let mut k6 = Vec::new();
    let mut v6 = Vec::new();
    let mut k4 = Vec::new();
    let mut v4 = Vec::new();
    for i in 0..n {
        let port4 = 10000 + i as u16;
        let mut addr6 = [0x20, 1, 0xd, 0xb8, 0, 0xbe, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        addr6[12..].copy_from_slice(&i.to_be_bytes());
        let (a, b, c, d) = binding_halves((addr6, 5000), ([203, 0, 113, 1], port4), PROTO_UDP, 0);
        k6.push(a);
        v6.push(b);
        k4.push(c);
        v4.push(d);
    }
    batch::update(tables.bib6.map().fd().as_fd(), &k6, &v6, 0).context("filling the BIB")?;
    batch::update(tables.bib4.map().fd().as_fd(), &k4, &v4, 0).context("filling the BIB")?;
    Ok(())
}

pub fn scale(opts: &Opts, sections: &mut Vec<Section>, skipped: &mut Vec<String>) -> Result<()> {
    let _ns = fib_namespace()?;
    let sizes: &[u32] = if opts.quick {
        &[10_000, 100_000]
    } else {
        &[10_000, 100_000, 1_000_000, 10_000_000]
    };
    let sweep_at: &[u32] = if opts.quick {
        &[100_000]
    } else {
        &[1_000_000, 10_000_000]
    };
    if opts.quick {
        skipped.push(
            "Scale: 1 M and 10 M sessions (and the expiry sweep at those sizes) run only in \
             the full `cargo xtask bench`; --quick stops at 100 k."
                .into(),
        );
    }
    let runs = if opts.quick { 30_000 } else { 300_000 };
    let (mut cost_rows, mut mem_rows, mut sweep_rows) = (Vec::new(), Vec::new(), Vec::new());
    let mut sweep_cpu_rows = Vec::new();
    let conntrack = conntrack_object_size();
    let mut sweep_notes: Vec<String> = Vec::new();
    let mut biggest: Option<(u32, f64)> = None;
    for &n in sizes {
        let started = Instant::now();
        let mut obj = load(TableSizes {
            sessions: Some(n + 16),
            bib: None,
            blocks: None,
            first_use_blocks: None,
        })
        .with_context(|| format!("loading with a {n}-entry session table"))?;
        let udp6 = udp6_frame(5000, PAYLOAD);
        // The measured flow's session first, then fake ones up to n (other peers, as
        // expiry_scale does), all fresh.
        let (_, action) = cost(&mut obj.ebpf, "nat64", &udp6, 1)?;
        if action != XDP_REDIRECT {
            bail!("opening the measured flow: action {action}");
        }
        let tables = Tables::from_ebpf(&obj.ebpf)?;
        let fd = tables.sessions.map().fd().as_fd();
        let now = expiry::monotonic_ns();
        const CHUNK: u32 = 1 << 20;
        let mut filled = 1u32;
        while filled < n {
            let count = (n - filled).min(CHUNK);
            let (keys, values): (Vec<SessionKey>, Vec<SessionEntry>) = (filled..filled + count)
                .map(|i| {
                    (
                        SessionKey {
                            addr4: [203, 0, 113, 1],
                            remote4: [198, 51, (i >> 16) as u8, (i >> 8) as u8],
                            port4: 10000 + (i % 50000) as u16,
                            remote_port: (i & 0xff) as u16 + 1,
                            proto: PROTO_UDP,
                            kind: SESSION_KIND_FLOW,
                            _pad: [0; 2],
                        },
                        SessionEntry {
                            last_seen_ns: now,
                            tcp_state: 0,
                            flags: 0,
                            _pad: [0; 6],
                        },
                    )
                })
                .unzip();
            batch::update(fd, &keys, &values, 0).context("filling the session table")?;
            filled += count;
        }
        let fill = started.elapsed();
        let (c, f) = versus_floor(&mut obj, &udp6, runs, XDP_REDIRECT)?;
        eprintln!(
            "  {} sessions (filled in {fill:.1?}): nat64 {c:.1} ns, floor {f:.1} ns",
            label(n)
        );
        cost_rows.push(
            Row::new(format!("{} sessions", label(n)))
                .with("nat64", Some(c))
                .with("floor", Some(f)),
        );
        if let Some(bytes) = memlock(fd) {
            biggest = Some((n, bytes as f64));
            mem_rows.push(
                Row::new(format!("{} sessions", label(n)))
                    .with("nat64", Some(bytes as f64 / f64::from(n + 16)))
                    .with("nf_conntrack entry", conntrack),
            );
        }
        if sweep_at.contains(&n) {
            let (read_wall, read_cpu, read) = bare_read(fd, READ_CHUNK)?;
            if read != n as usize {
                bail!("the bare read found {read} of {n} sessions");
            }
            // The fake sessions' bindings (ports 10000..60000), so that the pass does the
            // work of a real table: each live flow stamps its binding, the BIB walk reads
            // them all.
            let bindings = n.min(SWEEP_BINDINGS);
            let mut tables = tables;
            fill_bindings(&mut tables, bindings)?;
            let mut sweeper = Sweeper::load(&obj.ebpf)?;
            let (walk_wall, walk_cpu) = (Instant::now(), thread_cpu());
            let walked = sweeper.bare_walk()?;
            let (walk_wall, walk_cpu) = (walk_wall.elapsed(), thread_cpu() - walk_cpu);
            if walked != u64::from(n) {
                bail!("the bare kernel walk visited {walked} of {n} sessions");
            }
            let (wall, cpu) = (Instant::now(), thread_cpu());
            let swept = expiry::sweep(&mut tables, &mut sweeper, expiry::monotonic_ns())?;
            let (wall, cpu) = (wall.elapsed(), thread_cpu() - cpu);
            if swept.scanned != n as usize || swept.sessions != 0 {
                bail!(
                    "the sweep scanned {} of {n} sessions and deleted {}",
                    swept.scanned,
                    swept.sessions
                );
            }
            let counted = sweeper.census.dynamic_bindings.iter().sum::<u64>();
            if counted < u64::from(bindings) {
                bail!("the sweep counted {counted} of {bindings} bindings");
            }
            eprintln!(
                "  sweep over {} ({bindings} bindings): {wall:.2?} wall, {cpu:.2?} CPU; bare \
                 kernel walk {walk_wall:.2?} wall, {walk_cpu:.2?} CPU",
                label(n)
            );
            let late = SWEEP_INTERVAL + wall;
            sweep_notes.push(format!(
                "At {}: with a pass a second (the daemon's interval) and this pass's {:.0} ms, a session is deleted at most {:.2} s after its lifetime{}.",
                label(n),
                wall.as_secs_f64() * 1000.0,
                late.as_secs_f64(),
                if late > Duration::from_secs(2) {
                    " — **behind the 2 s target**"
                } else {
                    ""
                }
            ));
            if cpu > Duration::from_millis(500) {
                sweep_notes.push(format!(
                    "**nat64 is behind at {} sessions:** a pass takes {:.2} s of CPU, more than the 0.5 s target.",
                    label(n),
                    cpu.as_secs_f64()
                ));
            }
            let ms = |d: Duration| Some(d.as_secs_f64() * 1000.0);
            sweep_rows.push(
                Row::new(format!("{} sessions", label(n)))
                    .with("sweep", ms(wall))
                    .with("bare kernel walk", ms(walk_wall))
                    .with("bare batch read", ms(read_wall)),
            );
            sweep_cpu_rows.push(
                Row::new(format!("{} sessions", label(n)))
                    .with("sweep", ms(cpu))
                    .with("bare kernel walk", ms(walk_cpu))
                    .with("bare batch read", ms(read_cpu)),
            );
        }
    }
    sections.push(Section {
        id: "scale_cost".into(),
        title: "Established lookup cost vs session table size".into(),
        method: format!(
            "The session table sized to N (preallocated hash map) and filled with N fresh \
             sessions (`BPF_MAP_UPDATE_BATCH`); then BPF_PROG_TEST_RUN of the XDP program on an established UDP 6→4 \
             packet as above: median of {runs} single runs, interleaved with the floor."
        ),
        unit: "ns/packet".into(),
        better: Better::Lower,
        subjects: vec!["nat64".into(), "floor".into()],
        baseline: Some("floor".into()),
        ours: vec!["nat64".into()],
        rows: cost_rows,
        notes: vec![
            "A hash lookup is O(1), but a bigger table misses the CPU caches more often: the \
             growth with N is cache misses, not the algorithm. The same flow is looked up every \
             time, so its entry stays hot: this is the best case of each size."
                .into(),
        ],
        chart: true,
        inherent_gap: true,
    });
    sections.push(Section {
        id: "scale_memory".into(),
        title: "Kernel memory per session".into(),
        method: "The session map's `memlock` (from `/proc/self/fdinfo`), which the kernel \
                 preallocates at the table's full size, divided by its entries. Baseline: the \
                 kernel's own per-connection state, the size of one `nf_conntrack` slab object \
                 (what Linux's NAT keeps per flow, before its extensions and hash buckets), read \
                 from /proc/slabinfo in the same run."
            .into(),
        unit: "bytes".into(),
        better: Better::Lower,
        subjects: vec!["nat64".into(), "nf_conntrack entry".into()],
        baseline: Some("nf_conntrack entry".into()),
        ours: vec!["nat64".into()],
        rows: mem_rows,
        notes: {
            let mut n = vec![
                "Bindings are extra: about two binding entries per dynamic binding \
                 (IPv6 and IPv4 side), shared by all sessions of that binding."
                    .to_string(),
                "The baseline flatters the kernel: an `nf_conntrack` entry also carries \
                 extensions (NAT, accounting…) allocated apart and a hash bucket, left out \
                 here."
                    .to_string(),
                "**Behind the ≤ 96-byte target, which counts the bindings' share.** The \
                 figures follow the kernel's hash-map layout: every element is a 48-byte \
                 header (`struct htab_elem`) before its key and value rounded to 8 bytes (16 + \
                 16 for a session), and every table has one 16-byte bucket per entry, the \
                 entry count rounded up to a power of two: 80 + 16 × 2^⌈log2 N⌉ / N bytes \
                 (96.8 at 1 M = 2^20, 107 at 10 M). A dynamic binding is two more elements of \
                 80 bytes with their buckets, shared by the sessions of that binding; with \
                 endpoint-independent mapping most bindings carry one or a few sessions, so a \
                 session with its share takes about 150-290 bytes. Only fewer kernel elements \
                 per flow (the binding kept in its session's entry) would reach the target; \
                 not done."
                    .to_string(),
            ];
            if let Some((entries, bytes)) = biggest {
                n.push(format!(
                    "The whole table is preallocated when nat64-ctl attaches: {:.2} GiB of \
                     kernel memory for {} sessions, whether used or not (`--max-sessions`).",
                    bytes / f64::from(1u32 << 30),
                    label(entries)
                ));
            }
            n
        },
        chart: false,
        inherent_gap: false,
    });
    let sweep_method = format!(
        "One pass of nat64-ctl's sweeper (`expiry::sweep`, the code the daemon runs once a \
         second: the object's sweep program walks the session table and then the BIB in the \
         kernel with `bpf_for_each_map_elem`, deleting in place what has expired) over a full table of fresh sessions and \
         up to {SWEEP_BINDINGS} dynamic bindings they belong to (nothing to delete: the scan \
         is the cost). Baseline: a bare read of the same session table with \
         `BPF_MAP_LOOKUP_BATCH` in chunks of {READ_CHUNK} that does nothing with the \
         entries, the least a walk from userspace (the sweeper before this one) pays. Also \
         shown: the bare kernel walk, the same program over the same tables visiting and \
         counting every entry and deciding nothing, the least any walk in the kernel pays."
    );
    sections.push(Section {
        id: "expiry".into(),
        title: "Expiry sweep".into(),
        method: format!("{sweep_method} Wall time."),
        unit: "ms".into(),
        better: Better::Lower,
        subjects: vec![
            "sweep".into(),
            "bare kernel walk".into(),
            "bare batch read".into(),
        ],
        baseline: Some("bare batch read".into()),
        ours: vec!["sweep".into()],
        notes: {
            let mut n = vec![
                "The kernel walks the tables in place: the time is the walk itself and one \
                 lookup of its binding per live flow, not a copy of the table to userspace, \
                 which is what the baseline pays. The program is a sleepable syscall-type \
                 program: it runs in process context with bottom halves on, so the data plane \
                 never waits for it."
                    .to_string(),
            ];
            if let Some(r) = sweep_rows.last() {
                if let (Some(sweep), Some(walk)) = (r.get("sweep"), r.get("bare kernel walk")) {
                    n.push(format!(
                        "At {} the bare kernel walk is {:.0} % of a pass: a hash map is walked \
                         in bucket order, and its preallocated entries lie in another order in \
                         memory, so a big table costs a cache (and TLB) miss per entry; the \
                         rest is the pass's own work (timestamps, a binding lookup per live \
                         flow, the census). That walk bounds what any expiry that visits every \
                         session each pass can reach; going below it takes a table that does \
                         not have to be walked whole (sessions filed by when they expire).",
                        r.label,
                        100.0 * walk / sweep
                    ));
                }
            }
            n.extend(sweep_notes);
            n
        },
        rows: sweep_rows,
        chart: true,
        inherent_gap: true,
    });
    sections.push(Section {
        id: "expiry_cpu".into(),
        title: "Expiry sweep, CPU time".into(),
        method: format!("{sweep_method} The thread's CPU time (user + system)."),
        unit: "ms CPU".into(),
        better: Better::Lower,
        subjects: vec![
            "sweep".into(),
            "bare kernel walk".into(),
            "bare batch read".into(),
        ],
        baseline: Some("bare batch read".into()),
        ours: vec!["sweep".into()],
        rows: sweep_cpu_rows,
        notes: vec![],
        chart: false,
        inherent_gap: true,
    });
    Ok(())
}
