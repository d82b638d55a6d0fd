use std::path::Path;

use anyhow::Result;

use crate::{run_cmd, step};

include!("../../nat64-ctl/ebpf_build_command.rs");

pub fn build(root: &Path) -> Result<()> {
    step(&format!(
        "building the eBPF object (nat64-ebpf → {EBPF_OBJECT_REL})"
    ));
    run_cmd(&mut ebpf_build_command(root))
}
