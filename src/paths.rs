//! The admin center's addresses: the routes the router matches and the links that lead there.

use leptos_router::{ParamSegment, StaticSegment};

use crate::api::query::encode_component;

pub const HOME: &str = "/";
pub const DEVICES: &str = "/devices";
pub const CONNECTORS: &str = "/tenant-admin/connectors";
pub const AUDIT_LOGS: &str = "/tenant-admin/audit-logs";
pub const ROLES: &str = "/tenant-admin/roles";
pub const SIGN_IN: &str = "/signin";

/// A device's overview.
pub fn device(id: &str) -> String {
    format!("{DEVICES}/{id}")
}

/// One of a device's pages beside its overview (`clientDetails`, `resourceExplorer`, `cmpivot`,
/// `scripts`), named in the query (a route of its own would cost the bundle a router match).
pub fn device_page(id: &str, page: &str) -> String {
    format!("{DEVICES}/{id}?page={page}")
}

/// The connectors page with one hierarchy's details open.
pub fn connector(id: &str) -> String {
    format!("{CONNECTORS}?id={}", encode_component(id))
}

/// The roles page with one role's details open.
pub fn role(id: &str) -> String {
    format!("{ROLES}?id={}", encode_component(id))
}

type Segment = StaticSegment<&'static str>;

/// `/a` as the router matches it.
pub fn route(path: &'static str) -> (Segment,) {
    (StaticSegment(segments(path).0),)
}

/// `/a/b` as the router matches it.
pub fn route2(path: &'static str) -> (Segment, Segment) {
    let (first, second) = segments(path);
    (StaticSegment(first), StaticSegment(second))
}

/// `/a/:name` as the router matches it.
pub fn route_with(path: &'static str, name: &'static str) -> (Segment, ParamSegment) {
    (StaticSegment(segments(path).0), ParamSegment(name))
}

fn segments(path: &'static str) -> (&'static str, &'static str) {
    let path = path.strip_prefix('/').unwrap_or(path);
    path.split_once('/').unwrap_or((path, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_made_of_the_paths_segments() {
        assert_eq!(route(DEVICES).0 .0, "devices");
        let (first, second) = route2(CONNECTORS);
        assert_eq!((first.0, second.0), ("tenant-admin", "connectors"));
        assert_eq!(route_with(DEVICES, "id").0 .0, "devices");
        assert_eq!(device("PC-1"), "/devices/PC-1");
        assert_eq!(device_page("PC-1", "cmpivot"), "/devices/PC-1?page=cmpivot");
        assert_eq!(connector("a&b"), "/tenant-admin/connectors?id=a%26b");
    }
}
