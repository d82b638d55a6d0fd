//! The benchmark's floor program (`nat64_floor`, nat64-ebpf/src/floor.rs) ships in the same
//! object as the gateway: nat64-ctl's loader must pick and load the `nat64` program by
//! name and leave the floor unloaded (so nothing can attach it), and the floor must really
//! parse what it claims to (its verdict depends on the parse).
use aya::programs::{TestRun, TestRunOptions, Xdp};
use nat64_ctl::loader;
use nat64_tests::{lab_available, packet::*};

const XDP_ABORTED: u32 = 0;
const XDP_DROP: u32 = 1;

#[test]
fn the_loader_loads_nat64_only_and_the_floor_parses() {
    if !lab_available("the_loader_loads_nat64_only_and_the_floor_parses") {
        return;
    }
    let mut ebpf = loader::load(loader::BpfLogLevel::Off).expect("the object loads");
    let names: Vec<String> = ebpf.programs().map(|(n, _)| n.to_string()).collect();
    assert!(names.contains(&"nat64".to_string()), "{names:?}");
    assert!(names.contains(&"nat64_floor".to_string()), "{names:?}");
    assert!(
        ebpf.program("nat64_floor").unwrap().fd().is_err(),
        "the loader must not load the floor program"
    );
    let prog = loader::xdp_program(&mut ebpf).unwrap();
    assert!(prog.fd().is_ok(), "the gateway program is loaded");
    assert_eq!(
        prog.info().unwrap().name_as_str(),
        Some("nat64"),
        "the loader picks the gateway program by name"
    );

    // Loaded by hand, as only the benchmark does: drop for a parsable IPv6 or IPv4
    // frame, aborted (also a drop) when the IP header is cut short.
    let floor: &mut Xdp = ebpf.program_mut("nat64_floor").unwrap().try_into().unwrap();
    nat64_ctl::loader::verify(|| floor.load()).unwrap();
    let run = |floor: &mut Xdp, frame: &[u8]| {
        let mut out = vec![0u8; frame.len() + 256];
        floor
            .test_run(TestRunOptions {
                data_in: Some(frame),
                data_out: Some(&mut out),
                ..Default::default()
            })
            .unwrap()
            .return_value
    };
    let v6 = eth_ipv6_udp(
        "2001:db8:6::2".parse().unwrap(),
        "64:ff9b::c000:202".parse().unwrap(),
        5000,
        53,
        64,
        b"floor",
    );
    let v4 = eth_ipv4_udp(
        "192.0.2.2".parse().unwrap(),
        "203.0.113.1".parse().unwrap(),
        53,
        6000,
        64,
        b"floor",
    );
    assert_eq!(run(floor, &v6), XDP_DROP);
    assert_eq!(run(floor, &v4), XDP_DROP);
    assert_eq!(
        run(floor, &v6[..14 + 30]),
        XDP_ABORTED,
        "IPv6 header cut short"
    );
    assert_eq!(
        run(floor, &v4[..14 + 19]),
        XDP_ABORTED,
        "IPv4 header cut short"
    );
    let mut wrong = v6.clone();
    wrong[14] = 0x45; // an IPv4 version nibble under the IPv6 ethertype
    assert_eq!(run(floor, &wrong), XDP_ABORTED);
}
