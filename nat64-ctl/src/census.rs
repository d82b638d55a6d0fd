//! What the sweeper's passes find and do: the tables' census at the end of the last pass
//! (counted on the walk the sweeper makes anyway; metrics and the dashboard read it) and
//! what a pass deleted (status records it). A leaf module, so that neither of them depends on the other for the type.
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

/// What the table held at the end of the last finished pass (for metrics): read off the
/// walk the sweeper makes anyway, so a scrape never walks a big table itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// Live flows per protocol, in `POOL4_PROTOS` order.
    pub sessions: [u64; 3],
    pub dynamic_bindings: [u64; 3],
    pub static_bindings: [u64; 3],
    /// Bindings (static and dynamic) per pool4 address and protocol index.
    pub pool4_used: BTreeMap<([u8; 4], usize), u64>,
}

/// The sweeper's last census and how long its pass took, shared with the server.
pub type SharedCensus = Arc<Mutex<(Census, Duration)>>;

/// What a pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Entries of the session table read.
    pub scanned: usize,
    /// Sessions and peer records deleted.
    pub sessions: usize,
    /// Dynamic bindings deleted.
    pub bindings: usize,
}
