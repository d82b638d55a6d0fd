//! `nat64-ctl detach`.
use anyhow::{bail, Result};
use nat64_ctl::bpffs;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "default")]
    instance: String,
}

pub fn run(Args { instance }: Args) -> Result<()> {
    bpffs::validate_instance(&instance)?;
    super::require_root()?;
    let _lock = nat64_ctl::instance::lock(&instance)?;
    let dir = bpffs::instance_dir(&instance);
    if !nat64_ctl::instance::has_state(&dir)
        && nat64_ctl::instance::foreign_layouts(&instance).is_empty()
    {
        nat64_ctl::instance::remove_lock(&instance);
        bail!(
            "no gateway instance {instance:?} to detach ({} does not exist)",
            dir.display()
        );
    }
    let r = nat64_ctl::instance::remove_state(&instance)?;
    nat64_ctl::run_state::remove(&instance);
    nat64_ctl::instance::remove_lock(&instance);
    println!(
        "detached instance {instance:?} from {} interfaces ({}) and removed {} pins",
        r.links.len(),
        r.links.join(", "),
        r.pins
    );
    Ok(())
}
