//! BPF_PROG_TEST_RUN fixtures: the real XDP object, loaded into the kernel, run against
//! synthetic frames. Each row: input frame → expected XDP action, output bytes, counters.
use aya::programs::{TestRun, TestRunOptions};
use nat64_common::Counter;
use nat64_ctl::{loader, stats};
use nat64_tests::{lab_available, packet::*};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

struct Harness {
    ebpf: aya::Ebpf,
    stats: aya::maps::PerCpuArray<aya::maps::MapData, u64>,
}

impl Harness {
    fn load() -> Harness {
        let mut ebpf =
            loader::load(loader::BpfLogLevel::Off).expect("the kernel loads the XDP object");
        let stats = stats::take(&mut ebpf).unwrap();
        Harness { ebpf, stats }
    }

    /// Runs one frame; returns the action and the output frame.
    fn run(&mut self, frame: &[u8]) -> (u32, Vec<u8>) {
        let prog = loader::xdp_program(&mut self.ebpf).unwrap();
        let mut out = vec![0u8; frame.len() + 256];
        let opts = TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ..Default::default()
        };
        let res = prog.test_run(opts).expect("BPF_PROG_TEST_RUN");
        out.truncate(res.data_size_out as usize);
        (res.return_value, out)
    }

    fn counter(&self, c: Counter) -> u64 {
        stats::read(&self.stats)
            .unwrap()
            .into_iter()
            .find(|(k, _)| *k == c)
            .unwrap()
            .1
    }
}

struct Row {
    name: &'static str,
    frame: Vec<u8>,
    action: u32,
    /// None: the frame must leave unchanged.
    output: Option<Vec<u8>>,
    counters: &'static [Counter],
}

#[test]
fn parse_and_count_fixtures() {
    if !lab_available("parse_and_count_fixtures") {
        return;
    }
    let mut h = Harness::load();
    let v6 = eth_ipv6_udp(
        "2001:db8:6::2".parse().unwrap(),
        "2001:db8:6::1".parse().unwrap(),
        4000,
        53,
        64,
        b"q",
    );
    let v4 = eth_ipv4_udp(
        "192.0.2.2".parse().unwrap(),
        "192.0.2.1".parse().unwrap(),
        4000,
        53,
        64,
        b"q",
    );
    let arp = ethernet(0x0806, &[0u8; 28]);
    // (Frames shorter than an Ethernet header cannot be fed in: the kernel's test_run
    // refuses them with EINVAL, as real drivers never deliver them.)
    let rows = vec![
        Row {
            name: "ipv6 not ours passes",
            frame: v6,
            action: XDP_PASS,
            output: None,
            counters: &[Counter::RxIpv6, Counter::VerdictPass],
        },
        Row {
            name: "ipv4 not ours passes",
            frame: v4,
            action: XDP_PASS,
            output: None,
            counters: &[Counter::RxIpv4, Counter::VerdictPass],
        },
        Row {
            name: "arp passes",
            frame: arp,
            action: XDP_PASS,
            output: None,
            counters: &[Counter::RxOther, Counter::VerdictPass],
        },
    ];
    for row in rows {
        let before: Vec<u64> = Counter::ALL.iter().map(|&c| h.counter(c)).collect();
        let (action, out) = h.run(&row.frame);
        assert_eq!(action, row.action, "{}: action", row.name);
        if action != XDP_DROP {
            assert_eq!(
                out,
                row.output.clone().unwrap_or(row.frame.clone()),
                "{}: output bytes",
                row.name
            );
        }
        for (i, &c) in Counter::ALL.iter().enumerate() {
            let delta = h.counter(c) - before[i];
            let expected = u64::from(row.counters.contains(&c));
            assert_eq!(
                delta,
                expected,
                "{}: counter {} moved by {delta}",
                row.name,
                c.name()
            );
        }
        eprintln!("ok: {} (BPF_PROG_TEST_RUN action {action})", row.name);
    }
}
