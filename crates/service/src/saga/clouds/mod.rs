//! Which cloud provider provisions an item: a routing table from region to
//! provider kind, read from Spin variables, in front of one adapter per
//! kind. The saga's steps, idempotency, polling, deadlines and compensation
//! do not change with the provider: each adapter implements [`CloudCalls`]
//! and the table picks one. Adding a provider is a module here (its
//! adapter), a [`CloudKind`] variant, its URL and key variables, and its
//! simulator in `crates/sims`.
//!
//! A resource remembers which kind created it, in the reference the saga
//! stores (`hetzner:<server id>`); our own cloud's references stay bare ids
//! as before, so resources created before the table existed are still
//! found. Polling, deleting and suspending go to the kind that created the
//! resource, whatever the table says today.

mod hetzner;
mod orderflow;

use std::collections::BTreeMap;

use orderflow_core::{OrderItem, Region};

pub use hetzner::HetznerCloud;
pub use orderflow::OrderflowCloud;

use super::outbound::Outbound;
use super::providers::{CallError, CloudCalls, ResourceStatus};

/// The cloud APIs we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CloudKind {
    /// Our own provisioning contract (`docs/cloud-api.openapi.json`),
    /// served by our regions' platform.
    Orderflow,
    /// Hetzner Cloud, API v1.
    Hetzner,
}

impl CloudKind {
    /// Every kind.
    pub const ALL: &'static [CloudKind] = &[CloudKind::Orderflow, CloudKind::Hetzner];

    /// Its name in the routing table and in stored references.
    pub const fn as_str(self) -> &'static str {
        match self {
            CloudKind::Orderflow => "orderflow",
            CloudKind::Hetzner => "hetzner",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL.iter().copied().find(|k| k.as_str() == name).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown cloud provider `{name}` (known: {})", known.join(", "))
        })
    }
}

impl std::fmt::Display for CloudKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The table used when `cloud_routes` is not set: our regions on our own
/// API, Falkenstein on Hetzner's.
pub const DEFAULT_ROUTES: &str = "lj-1=orderflow,mb-1=orderflow,hetzner-fsn1=hetzner";

/// Parses `region=kind[,region=kind…]`; every region must be routed once.
pub fn parse_routes(table: &str) -> Result<BTreeMap<Region, CloudKind>, String> {
    let mut routes = BTreeMap::new();
    for entry in table.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (region, kind) = entry
            .split_once('=')
            .ok_or_else(|| format!("cloud route `{entry}` is not `region=provider`"))?;
        let region: Region = region
            .trim()
            .parse()
            .map_err(|e| format!("cloud route `{entry}`: {e}"))?;
        let kind = CloudKind::parse(kind.trim()).map_err(|e| format!("cloud route `{entry}`: {e}"))?;
        if routes.insert(region, kind).is_some() {
            return Err(format!("cloud route for {region} given twice"));
        }
    }
    if let Some(missing) = Region::ALL.iter().find(|r| !routes.contains_key(r)) {
        return Err(format!("no cloud route for region {missing}"));
    }
    Ok(routes)
}

/// The routing table with the adapters it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudRoutes {
    routes: BTreeMap<Region, CloudKind>,
    orderflow: Option<OrderflowCloud>,
    hetzner: Option<HetznerCloud>,
}

impl CloudRoutes {
    /// A table with its adapters; each kind the table names must have one.
    pub fn new(
        routes: BTreeMap<Region, CloudKind>,
        orderflow: Option<OrderflowCloud>,
        hetzner: Option<HetznerCloud>,
    ) -> Result<Self, String> {
        let table = Self {
            routes,
            orderflow,
            hetzner,
        };
        for kind in table.routes.values() {
            if table.adapter(*kind).is_err() {
                return Err(format!("the cloud provider `{kind}` is routed to but not configured"));
            }
        }
        Ok(table)
    }

    /// Every region on our own API at one endpoint (the decision tests' and
    /// older configurations' shape).
    pub fn only_orderflow(endpoint: super::Endpoint) -> Self {
        Self {
            routes: Region::ALL.iter().map(|r| (*r, CloudKind::Orderflow)).collect(),
            orderflow: Some(OrderflowCloud::new(endpoint)),
            hetzner: None,
        }
    }

    /// The kind `region` is routed to.
    pub fn kind_for(&self, region: Region) -> Option<CloudKind> {
        self.routes.get(&region).copied()
    }

    fn adapter(&self, kind: CloudKind) -> Result<&dyn CloudCalls, CallError> {
        let adapter: Option<&dyn CloudCalls> = match kind {
            CloudKind::Orderflow => self.orderflow.as_ref().map(|a| a as &dyn CloudCalls),
            CloudKind::Hetzner => self.hetzner.as_ref().map(|a| a as &dyn CloudCalls),
        };
        adapter.ok_or_else(|| CallError::Permanent(format!("the cloud provider `{kind}` is not configured here")))
    }

    /// The adapter that created `reference`, and the provider's own id.
    fn owner<'a>(&self, reference: &'a str) -> Result<(&dyn CloudCalls, &'a str), CallError> {
        let (kind, id) = split_reference(reference)?;
        Ok((self.adapter(kind)?, id))
    }

    /// Suspends or resumes a resource at the provider that created it.
    pub fn set_suspended(&self, out: &dyn Outbound, reference: &str, suspend: bool) -> Result<(), CallError> {
        let (kind, id) = split_reference(reference)?;
        match kind {
            CloudKind::Orderflow => self.orderflow()?.set_suspended(out, id, suspend),
            CloudKind::Hetzner => self.hetzner()?.set_suspended(out, id, suspend),
        }
    }

    fn orderflow(&self) -> Result<&OrderflowCloud, CallError> {
        self.orderflow
            .as_ref()
            .ok_or_else(|| CallError::Permanent("the cloud provider `orderflow` is not configured here".into()))
    }

    fn hetzner(&self) -> Result<&HetznerCloud, CallError> {
        self.hetzner
            .as_ref()
            .ok_or_else(|| CallError::Permanent("the cloud provider `hetzner` is not configured here".into()))
    }
}

/// The stored reference of a resource `kind` created as `id`.
pub fn reference(kind: CloudKind, id: &str) -> String {
    match kind {
        CloudKind::Orderflow => id.to_owned(),
        other => format!("{other}:{id}"),
    }
}

/// Which kind created a stored reference, and the provider's own id.
pub fn split_reference(reference: &str) -> Result<(CloudKind, &str), CallError> {
    match reference.split_once(':') {
        None => Ok((CloudKind::Orderflow, reference)),
        Some((kind, id)) => CloudKind::parse(kind)
            .map(|k| (k, id))
            .map_err(|e| CallError::Permanent(format!("resource reference `{reference}`: {e}"))),
    }
}

impl CloudCalls for CloudRoutes {
    fn create_resource(&self, out: &dyn Outbound, item: &OrderItem) -> Result<String, CallError> {
        let region = item.spec.config.region();
        let kind = self
            .kind_for(region)
            .ok_or_else(|| CallError::Permanent(format!("no cloud provider is routed for {region}")))?;
        let id = self.adapter(kind)?.create_resource(out, item)?;
        Ok(reference(kind, &id))
    }

    fn resource_status(&self, out: &dyn Outbound, reference: &str) -> Result<ResourceStatus, CallError> {
        let (adapter, id) = self.owner(reference)?;
        adapter.resource_status(out, id)
    }

    fn delete_resource(&self, out: &dyn Outbound, reference: &str) -> Result<(), CallError> {
        let (adapter, id) = self.owner(reference)?;
        adapter.delete_resource(out, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_routes_our_regions_to_us_and_falkenstein_to_hetzner() {
        let routes = parse_routes(DEFAULT_ROUTES).unwrap();
        assert_eq!(routes[&Region::Lj1], CloudKind::Orderflow);
        assert_eq!(routes[&Region::Mb1], CloudKind::Orderflow);
        assert_eq!(routes[&Region::HetznerFsn1], CloudKind::Hetzner);
    }

    #[test]
    fn a_table_that_misses_a_region_or_names_an_unknown_provider_is_refused() {
        assert!(parse_routes("lj-1=orderflow,mb-1=orderflow")
            .unwrap_err()
            .contains("hetzner-fsn1"));
        assert!(parse_routes("lj-1=orderflow,mb-1=aws,hetzner-fsn1=hetzner")
            .unwrap_err()
            .contains("aws"));
        assert!(
            parse_routes("lj-1=orderflow,lj-1=hetzner,mb-1=orderflow,hetzner-fsn1=hetzner")
                .unwrap_err()
                .contains("twice")
        );
    }

    #[test]
    fn a_routed_provider_without_its_adapter_is_a_configuration_error() {
        let routes = parse_routes(DEFAULT_ROUTES).unwrap();
        let ours = OrderflowCloud::new(super::super::Endpoint {
            url: "http://127.0.0.1:1".into(),
            key: "ck_x".into(),
        });
        assert!(CloudRoutes::new(routes, Some(ours), None)
            .unwrap_err()
            .contains("hetzner"));
    }

    #[test]
    fn references_name_their_provider_except_our_own_bare_ids() {
        assert_eq!(reference(CloudKind::Hetzner, "42"), "hetzner:42");
        assert_eq!(reference(CloudKind::Orderflow, "res_1"), "res_1");
        assert_eq!(split_reference("hetzner:42").unwrap(), (CloudKind::Hetzner, "42"));
        assert_eq!(split_reference("res_1").unwrap(), (CloudKind::Orderflow, "res_1"));
        assert!(split_reference("aws:i-1").is_err());
    }
}
