//! What the session and binding tables held at the end of the sweeper's last pass: the
//! sweeper (`expiry`) counts it on the walk it makes anyway, metrics and the dashboard
//! read it. A leaf module, so that neither of them depends on the other for the type.
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
