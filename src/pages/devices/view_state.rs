//! The All devices view as the URL holds it (search, filters, sort, page), and the API query it
//! makes. Pure: tested natively.

use admin_api::collection::odata_string;
use admin_api::Device;

use crate::format;
use crate::paths;
use crate::url_state::UrlState;

/// A column of the grid: its sort field (the API's), its label, and how a device fills it.
pub struct Column {
    pub key: &'static str,
    pub label: &'static str,
    pub cell: fn(&Device) -> String,
}

impl Column {
    const fn new(key: &'static str, label: &'static str, cell: fn(&Device) -> String) -> Self {
        Self { key, label, cell }
    }
}

fn text(value: &Option<String>) -> String {
    format::or_dash(value.as_deref())
}

fn time(value: &Option<String>) -> String {
    value
        .as_deref()
        .map(format::timestamp)
        .unwrap_or_else(|| "—".into())
}

pub const COLUMNS: &[Column] = &[
    Column::new("deviceName", "Device name", |d| d.device_name.clone()),
    Column::new("managedBy", "Managed by", |d| {
        format::managed_by(d.managed_by).into()
    }),
    Column::new("ownerType", "Ownership", |d| {
        format::owner_type(d.owner_type).into()
    }),
    Column::new("complianceState", "Compliance", |d| {
        format::compliance(d.compliance_state).into()
    }),
    Column::new("operatingSystem", "OS", |d| text(&d.operating_system)),
    Column::new("osVersion", "OS version", |d| text(&d.os_version)),
    Column::new("userPrincipalName", "Primary user UPN", |d| {
        text(&d.user_principal_name)
    }),
    Column::new("lastSyncDateTime", "Last check-in", |d| {
        time(&d.last_sync_date_time)
    }),
    Column::new("serialNumber", "Serial number", |d| text(&d.serial_number)),
    Column::new("manufacturer", "Manufacturer", |d| text(&d.manufacturer)),
    Column::new("model", "Model", |d| text(&d.model)),
    Column::new("hierarchyName", "Hierarchy", |d| text(&d.hierarchy_name)),
    Column::new("siteCode", "Site code", |d| text(&d.site_code)),
    Column::new(
        "configurationManagerClientInformation/clientVersion",
        "Client version",
        |d| {
            text(
                &d.configuration_manager_client_information
                    .as_ref()
                    .and_then(|c| c.client_version.clone()),
            )
        },
    ),
    Column::new("userDisplayName", "Primary user", |d| {
        text(&d.user_display_name)
    }),
    Column::new("clientHealthState", "Client health", |d| {
        format::client_health(d.client_health_state).into()
    }),
    Column::new("enrolledDateTime", "Enrolled", |d| {
        time(&d.enrolled_date_time)
    }),
    Column::new("lastActiveDateTime", "Last active", |d| {
        time(&d.last_active_date_time)
    }),
];

/// The columns shown until the operator chooses others (the contract's, which the export uses
/// too when it is not told).
pub use admin_api::devices::DEFAULT_COLUMNS;

pub fn column(key: &str) -> Option<&'static Column> {
    COLUMNS.iter().find(|c| c.key == key)
}

/// The export's `$select` name for a column (a nested field exports its parent).
pub fn select_name(key: &str) -> &str {
    key.split('/').next().unwrap_or(key)
}

/// A filter of the Filter panel: the API field (its URL parameter too), and its choices.
pub struct FilterKind {
    pub field: &'static str,
    /// The URL parameter links made before the URL took the API's names, still read.
    pub old_param: Option<&'static str>,
    pub label: &'static str,
    /// (wire value, label)
    pub choices: &'static [(&'static str, &'static str)],
}

pub const FILTERS: &[FilterKind] = &[
    FilterKind {
        field: "managedBy",
        old_param: None,
        label: "Managed by",
        choices: &[
            ("configMgr", "ConfigMgr"),
            ("coManaged", "Co-managed"),
            ("intune", "Intune"),
        ],
    },
    FilterKind {
        field: "operatingSystem",
        old_param: Some("os"),
        label: "OS",
        choices: &[("Windows", "Windows"), ("Windows Server", "Windows Server")],
    },
    FilterKind {
        field: "complianceState",
        old_param: Some("compliance"),
        label: "Compliance",
        choices: &[
            ("compliant", "Compliant"),
            ("noncompliant", "Not compliant"),
            ("inGracePeriod", "In grace period"),
            ("configManager", "See ConfigMgr"),
            ("unknown", "Unknown"),
        ],
    },
    FilterKind {
        field: "ownerType",
        old_param: Some("ownership"),
        label: "Ownership",
        choices: &[
            ("company", "Corporate"),
            ("personal", "Personal"),
            ("unknown", "Unknown"),
        ],
    },
];

/// The hierarchy filter's field, and its URL parameter.
pub const HIERARCHY: &str = "hierarchyName";

/// Last check-in windows: (URL value, label, days).
pub const CHECKIN_WINDOWS: &[(&str, &str, u32)] = &[
    ("1d", "Within 24 hours", 1),
    ("7d", "Within 7 days", 7),
    ("30d", "Within 30 days", 30),
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListView {
    pub search: String,
    /// (column key, descending); `None` is the default order.
    pub sort: Option<(String, bool)>,
    /// (field, chosen values), the field also the URL parameter
    pub filters: Vec<(String, Vec<String>)>,
    /// The chosen hierarchies' names.
    pub hierarchies: Vec<String>,
    pub checkin: Option<String>,
    /// The `$skiptoken` of the page shown; `None` is the first page.
    pub page: Option<String>,
    /// The position (from 1) of the page's first device, when not the first page.
    pub from: Option<u64>,
    /// Devices per page when not the default.
    pub size: Option<u32>,
}

/// The page sizes an operator may choose; the first is the default.
pub const PAGE_SIZES: &[u32] = &[50, 100, 250];

impl UrlState for ListView {
    const PATH: &'static str = paths::DEVICES;

    fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let mut view = Self::default();
        for (name, value) in pairs {
            let values = || {
                value
                    .split(',')
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            };
            match name {
                "search" => view.search = value.to_owned(),
                "sort" => {
                    let (key, descending) = match value.strip_suffix(" desc") {
                        Some(key) => (key, true),
                        None => (value.strip_suffix(" asc").unwrap_or(value), false),
                    };
                    if column(key).is_some() {
                        view.sort = Some((key.to_owned(), descending));
                    }
                }
                // `hierarchy` is how links named it before the URL took the API's names.
                HIERARCHY | "hierarchy" => {
                    for value in values() {
                        if !view.hierarchies.contains(&value) {
                            view.hierarchies.push(value);
                        }
                    }
                }
                "checkin" if CHECKIN_WINDOWS.iter().any(|w| w.0 == value) => {
                    view.checkin = Some(value.to_owned())
                }
                "page" => view.page = Some(value.to_owned()),
                "from" => view.from = value.parse().ok().filter(|from| *from > 1),
                "size" => {
                    view.size = value
                        .parse()
                        .ok()
                        .filter(|size| PAGE_SIZES[1..].contains(size))
                }
                other => {
                    if let Some(kind) = FILTERS
                        .iter()
                        .find(|f| f.field == other || f.old_param == Some(other))
                    {
                        let chosen = values()
                            .into_iter()
                            .filter(|v| kind.choices.iter().any(|c| c.0 == v));
                        let at = match view.filters.iter().position(|(p, _)| p == kind.field) {
                            Some(at) => at,
                            None => {
                                view.filters.push((kind.field.to_owned(), Vec::new()));
                                view.filters.len() - 1
                            }
                        };
                        for value in chosen {
                            if !view.filters[at].1.contains(&value) {
                                view.filters[at].1.push(value);
                            }
                        }
                        if view.filters[at].1.is_empty() {
                            view.filters.remove(at);
                        }
                    }
                }
            }
        }
        view
    }

    fn to_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        if !self.search.is_empty() {
            pairs.push(("search".into(), self.search.clone()));
        }
        for kind in FILTERS {
            if let Some((_, values)) = self.filters.iter().find(|(p, _)| p == kind.field) {
                pairs.push((kind.field.into(), values.join(",")));
            }
        }
        if !self.hierarchies.is_empty() {
            pairs.push((HIERARCHY.into(), self.hierarchies.join(",")));
        }
        if let Some(window) = &self.checkin {
            pairs.push(("checkin".into(), window.clone()));
        }
        if let Some((key, descending)) = &self.sort {
            pairs.push((
                "sort".into(),
                format!("{key} {}", if *descending { "desc" } else { "asc" }),
            ));
        }
        if let Some(size) = self.size {
            pairs.push(("size".into(), size.to_string()));
        }
        if let Some(page) = &self.page {
            pairs.push(("page".into(), page.clone()));
            if let Some(from) = self.from {
                pairs.push(("from".into(), from.to_string()));
            }
        }
        pairs
    }

    fn first_page(mut self) -> Self {
        self.page = None;
        self.from = None;
        self
    }
}

impl ListView {
    /// Devices per page.
    pub fn page_size(&self) -> u32 {
        self.size.unwrap_or(PAGE_SIZES[0])
    }

    /// The view without its place in the pages: what a trail of pages belongs to.
    pub fn without_page(&self) -> Self {
        self.clone().first_page()
    }

    /// The `$filter` these filters make; `since` is the start of the check-in window, when one is set.
    pub fn filter_expression(&self, since: Option<&str>) -> Option<String> {
        let mut parts = Vec::new();
        for (field, values) in &self.filters {
            if let Some(kind) = FILTERS.iter().find(|f| f.field == field) {
                let list: Vec<String> = values.iter().map(|v| odata_string(v)).collect();
                parts.push(format!("{} in ({})", kind.field, list.join(", ")));
            }
        }
        if !self.hierarchies.is_empty() {
            let list: Vec<String> = self.hierarchies.iter().map(|v| odata_string(v)).collect();
            parts.push(format!("{HIERARCHY} in ({})", list.join(", ")));
        }
        if let Some(since) = since.filter(|_| self.checkin.is_some()) {
            parts.push(format!("lastSyncDateTime ge {since}"));
        }
        (!parts.is_empty()).then(|| parts.join(" and "))
    }

    pub fn checkin_days(&self) -> Option<u32> {
        let window = self.checkin.as_deref()?;
        CHECKIN_WINDOWS.iter().find(|w| w.0 == window).map(|w| w.2)
    }

    /// The query options for the API (without `$top`, `$count` and `$skiptoken`).
    pub fn api_pairs(&self, since: Option<&str>) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        if let Some((key, descending)) = &self.sort {
            pairs.push((
                "$orderby".into(),
                format!("{key} {}", if *descending { "desc" } else { "asc" }),
            ));
        }
        if let Some(filter) = self.filter_expression(since) {
            pairs.push(("$filter".into(), filter));
        }
        let terms: Vec<&str> = self
            .search
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        if !terms.is_empty() {
            pairs.push(("$search".into(), format!("\"{}\"", terms.join(","))));
        }
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column of the grid is a field the contract says can be ordered, each once.
    #[test]
    fn the_columns_are_sortable_fields_of_the_contract() {
        for (index, column) in COLUMNS.iter().enumerate() {
            let field = admin_api::fields::find(admin_api::devices::DEVICE_FIELDS, column.key);
            assert!(field.is_some_and(|f| f.sortable), "{}", column.key);
            assert!(
                COLUMNS[..index].iter().all(|c| c.key != column.key),
                "{} is there twice",
                column.key
            );
        }
        for key in DEFAULT_COLUMNS {
            assert!(column(key).is_some(), "{key}");
        }
    }

    #[test]
    fn the_view_round_trips_through_the_url() {
        let view = ListView {
            search: "PC-001,PC-002".into(),
            sort: Some(("lastSyncDateTime".into(), true)),
            filters: vec![(
                "managedBy".into(),
                vec!["coManaged".into(), "intune".into()],
            )],
            hierarchies: vec!["Contoso HQ".into()],
            checkin: Some("7d".into()),
            page: Some("tok".into()),
            from: Some(101),
            size: Some(100),
        };
        let pairs = view.to_pairs();
        let back = ListView::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        assert_eq!(back, view);
    }

    /// The URL names a filter as the API does; a link made with the names before still opens
    /// the same view.
    #[test]
    fn filters_take_the_apis_names_and_old_links_still_read() {
        let view = ListView {
            filters: vec![
                ("operatingSystem".into(), vec!["Windows Server".into()]),
                ("complianceState".into(), vec!["compliant".into()]),
                ("ownerType".into(), vec!["company".into()]),
            ],
            hierarchies: vec!["Contoso HQ".into()],
            ..ListView::default()
        };
        let names: Vec<String> = view.to_pairs().into_iter().map(|(name, _)| name).collect();
        assert_eq!(
            names,
            [
                "operatingSystem",
                "complianceState",
                "ownerType",
                "hierarchyName"
            ]
        );
        let old = ListView::from_pairs(
            [
                ("os", "Windows Server"),
                ("compliance", "compliant"),
                ("ownership", "company"),
                ("hierarchy", "Contoso HQ"),
            ]
            .into_iter(),
        );
        assert_eq!(old, view);
        let both = ListView::from_pairs(
            [
                ("os", "Windows"),
                ("operatingSystem", "Windows,Windows Server"),
            ]
            .into_iter(),
        );
        assert_eq!(
            both.filters,
            [(
                "operatingSystem".to_owned(),
                vec!["Windows".to_owned(), "Windows Server".to_owned()]
            )]
        );
    }

    #[test]
    fn unknown_url_values_are_left_out() {
        let view = ListView::from_pairs(
            [
                ("sort", "color desc"),
                ("managedBy", "martian"),
                ("checkin", "99y"),
                ("size", "7"),
                ("size", "50"),
                ("from", "0"),
                ("x", "y"),
            ]
            .into_iter(),
        );
        assert_eq!(view, ListView::default());
    }

    #[test]
    fn filters_become_an_odata_filter() {
        let view = ListView {
            filters: vec![
                ("managedBy".into(), vec!["coManaged".into()]),
                (
                    "complianceState".into(),
                    vec!["noncompliant".into(), "inGracePeriod".into()],
                ),
            ],
            hierarchies: vec!["O'Brien Site".into()],
            checkin: Some("1d".into()),
            ..ListView::default()
        };
        assert_eq!(
            view.filter_expression(Some("2026-11-20T10:00:00.000Z")).unwrap(),
            "managedBy in ('coManaged') and complianceState in ('noncompliant', 'inGracePeriod') \
             and hierarchyName in ('O''Brien Site') and lastSyncDateTime ge 2026-11-20T10:00:00.000Z"
        );
        let search = ListView {
            search: " a , b ,".into(),
            ..ListView::default()
        };
        assert_eq!(
            search.api_pairs(None),
            vec![("$search".into(), "\"a,b\"".into())]
        );
    }
}
