//! All devices at scale: first pages in every order, a deep page, filters, search, counts,
//! device detail. Each measurement repeats one request `samples` times, one at a time.

use admin_api::{Collection, Device};
use admin_server::query::devices::sortable;
use anyhow::Context as _;

use super::{encode, Context};
use crate::measure::{get_ok, Samples};
use crate::report::Section;

/// The page size the SPA asks for.
pub const PAGE: u32 = 50;
const LIST_BUDGET_MS: f64 = 20.0;
const SEARCH_BUDGET_MS: f64 = 50.0;
const COUNT_BUDGET_MS: f64 = 50.0;

async fn measure(ctx: &Context, url: &str) -> anyhow::Result<Samples> {
    // One request first, not counted: the statement is prepared, the pages it reads are cached,
    // as on a server that has been answering for a while.
    get_ok(&ctx.client, url).await?;
    let mut samples = Vec::with_capacity(ctx.preset.samples);
    for _ in 0..ctx.preset.samples {
        samples.push(get_ok(&ctx.client, url).await?.0);
    }
    Ok(Samples::new(samples))
}

async fn page(ctx: &Context, url: &str) -> anyhow::Result<Collection<Device>> {
    let (_, body) = get_ok(&ctx.client, url).await?;
    serde_json::from_slice(&body).context("a page of devices")
}

pub async fn first_pages(ctx: &Context) -> anyhow::Result<Section> {
    let mut section = Section::new("All devices: first pages (no filter)");
    let url = ctx.devices_url(&format!("$top={PAGE}"));
    section.latency(
        "Default order (deviceName asc)",
        measure(ctx, &url).await?,
        Some(LIST_BUDGET_MS),
    );
    for field in sortable() {
        for direction in ["asc", "desc"] {
            let order = format!("{} {direction}", field.name);
            let url = ctx.devices_url(&format!("$top={PAGE}&$orderby={}", encode(&order)));
            section.latency(
                format!("`$orderby={order}`"),
                measure(ctx, &url).await?,
                Some(LIST_BUDGET_MS),
            );
        }
    }
    Ok(section)
}

/// Follows `@odata.nextLink` to page `deep_page`, then measures that page.
pub async fn deep_pages(ctx: &Context) -> anyhow::Result<Section> {
    let mut section = Section::new(&format!(
        "All devices: page {} via `$skiptoken`",
        ctx.preset.deep_page
    ));
    for order in [None, Some("lastSyncDateTime desc"), Some("model desc")] {
        let mut url = match order {
            None => ctx.devices_url(&format!("$top={PAGE}")),
            Some(order) => ctx.devices_url(&format!("$top={PAGE}&$orderby={}", encode(order))),
        };
        for number in 1..ctx.preset.deep_page {
            let next = page(ctx, &url)
                .await?
                .next_link
                .with_context(|| format!("the list ends before page {}", number + 1))?;
            url = format!("{}{next}", ctx.url);
        }
        section.latency(
            format!(
                "Page {} of {}",
                ctx.preset.deep_page,
                order.map_or("the default order".to_owned(), |o| format!("`{o}`"))
            ),
            measure(ctx, &url).await?,
            Some(LIST_BUDGET_MS),
        );
    }
    Ok(section)
}

/// The filters the SPA's Filter panel makes, each alone and combined, in the default order and
/// sorted.
pub async fn filters(ctx: &Context) -> anyhow::Result<Section> {
    let mut section = Section::new("All devices: filters (the Filter panel's `$filter`s)");
    let hierarchy = &ctx.tenant.hierarchies[ctx.tenant.hierarchies.len() / 2];
    let since =
        admin_server::store::timestamp(time::OffsetDateTime::now_utc() - time::Duration::days(7));
    let hierarchy_filter = format!("hierarchyName in ('{}')", hierarchy.name);
    let combined = format!(
        "managedBy in ('coManaged') and complianceState in ('noncompliant') and ownerType in ('personal') and {hierarchy_filter}"
    );
    let filters = [
        (
            "Managed by: co-managed",
            "managedBy in ('coManaged')".to_owned(),
        ),
        (
            "Ownership: personal",
            "ownerType in ('personal')".to_owned(),
        ),
        (
            "Compliance: noncompliant or in grace period",
            "complianceState in ('noncompliant', 'inGracePeriod')".to_owned(),
        ),
        (
            "OS: Windows Server",
            "operatingSystem in ('Windows Server')".to_owned(),
        ),
        (
            "Client health: unhealthy",
            "clientHealthState in ('unhealthy')".to_owned(),
        ),
        ("Hierarchy: one of ten", hierarchy_filter.clone()),
        (
            "Last check-in within 7 days",
            format!("lastSyncDateTime ge {since}"),
        ),
        (
            "Combined: co-managed, noncompliant, personal, one hierarchy",
            combined.clone(),
        ),
    ];
    for (name, filter) in &filters {
        let url = ctx.devices_url(&format!("$top={PAGE}&$filter={}", encode(filter)));
        section.latency(*name, measure(ctx, &url).await?, Some(LIST_BUDGET_MS));
    }
    for (name, filter, order) in [
        (
            "Combined, ordered by `lastSyncDateTime desc`",
            &combined,
            "lastSyncDateTime desc",
        ),
        (
            "Client health: unhealthy, ordered by `model desc`",
            &"clientHealthState in ('unhealthy')".to_owned(),
            "model desc",
        ),
    ] {
        let url = ctx.devices_url(&format!(
            "$top={PAGE}&$filter={}&$orderby={}",
            encode(filter),
            encode(order)
        ));
        section.latency(name, measure(ctx, &url).await?, Some(LIST_BUDGET_MS));
    }
    Ok(section)
}

/// Names and serial numbers of real devices, spread over the tenant, to search for.
async fn sample_devices(ctx: &Context, count: usize) -> anyhow::Result<Vec<Device>> {
    let mut devices = Vec::new();
    for (index, hierarchy) in ctx.tenant.hierarchies.iter().enumerate().take(count) {
        let filter = format!("connectorId eq '{}'", hierarchy.connector_id);
        let order = if index % 2 == 0 {
            "serialNumber asc"
        } else {
            "serialNumber desc"
        };
        let url = ctx.devices_url(&format!(
            "$top=1&$filter={}&$orderby={}",
            encode(&filter),
            encode(order)
        ));
        devices.extend(page(ctx, &url).await?.value);
    }
    Ok(devices)
}

pub async fn search(ctx: &Context) -> anyhow::Result<Section> {
    let mut section = Section::new("All devices: `$search` (name, serial number, UPN; substring)");
    let devices = sample_devices(ctx, 3).await?;
    let one = &devices[0].device_name;
    let several = devices
        .iter()
        .map(|d| d.serial_number.clone().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(",");
    for (name, terms) in [
        (format!("One term, one device (`{one}`)"), one.clone()),
        (format!("{} terms, serial numbers", devices.len()), several),
        (
            "One term, many devices (`gupta`)".to_owned(),
            "gupta".to_owned(),
        ),
    ] {
        let url = ctx.devices_url(&format!(
            "$top={PAGE}&$search={}",
            encode(&format!("\"{terms}\""))
        ));
        section.latency(name, measure(ctx, &url).await?, Some(SEARCH_BUDGET_MS));
    }
    Ok(section)
}

pub async fn counts(ctx: &Context) -> anyhow::Result<Section> {
    let mut section = Section::new("All devices: `$count=true`");
    let hierarchy = &ctx.tenant.hierarchies[0];
    for (name, query) in [
        ("All devices".to_owned(), String::new()),
        (
            "Filtered: co-managed and noncompliant".to_owned(),
            format!(
                "&$filter={}",
                encode("managedBy in ('coManaged') and complianceState in ('noncompliant')")
            ),
        ),
        (
            "Filtered: one hierarchy".to_owned(),
            format!(
                "&$filter={}",
                encode(&format!("hierarchyName in ('{}')", hierarchy.name))
            ),
        ),
        (
            "Searched: `gupta`".to_owned(),
            format!("&$search={}", encode("\"gupta\"")),
        ),
    ] {
        let url = ctx.devices_url(&format!("$top={PAGE}&$count=true{query}"));
        section.latency(name, measure(ctx, &url).await?, Some(COUNT_BUDGET_MS));
    }
    Ok(section)
}

/// One device's overview: `GET /devices/{id}` for devices all over the tenant.
pub async fn detail(ctx: &Context) -> anyhow::Result<Section> {
    let mut section = Section::new("Device detail");
    let mut ids = Vec::new();
    for field in sortable().take(ctx.preset.samples.div_ceil(10)) {
        let url = ctx.devices_url(&format!(
            "$top=10&$orderby={}",
            encode(&format!("{} desc", field.name))
        ));
        ids.extend(page(ctx, &url).await?.value.into_iter().map(|d| d.id));
    }
    let mut samples = Vec::new();
    for id in ids.iter().cycle().take(ctx.preset.samples) {
        samples.push(
            get_ok(&ctx.client, &format!("{}/api/v1/devices/{id}", ctx.url))
                .await?
                .0,
        );
    }
    section.latency(
        "`GET /devices/{id}`",
        Samples::new(samples),
        Some(LIST_BUDGET_MS),
    );
    Ok(section)
}
