//! A demo tenant inserted straight into the store. (The simulated sites of the connector protocol
//! replace this once they exist.)

use admin_api::{
    ClientHealthState, ComplianceState, ConfigurationManagerClientInformation, Device,
    DeviceCollection, ManagedBy, OwnerType,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use time::{Duration, OffsetDateTime};

use crate::store::connectors::NewConnector;
use crate::store::{timestamp, Store};

struct DemoHierarchy {
    name: &'static str,
    site_code: &'static str,
    version: &'static str,
    domain: &'static str,
    devices: usize,
}

const HIERARCHIES: &[DemoHierarchy] = &[
    DemoHierarchy {
        name: "Contoso Headquarters",
        site_code: "CHQ",
        version: "2207",
        domain: "corp.contoso.com",
        devices: 240,
    },
    DemoHierarchy {
        name: "Contoso Europe",
        site_code: "EUR",
        version: "2010",
        domain: "eu.contoso.com",
        devices: 120,
    },
];

const FIRST_NAMES: &[&str] = &[
    "Adele",
    "Alex",
    "Allan",
    "Diego",
    "Grady",
    "Henrietta",
    "Isaiah",
    "Johanna",
    "Joni",
    "Lee",
    "Lidia",
    "Lynne",
    "Megan",
    "Miriam",
    "Nestor",
    "Patti",
    "Pradeep",
    "Emily",
    "Irvin",
    "Sofia",
];
const LAST_NAMES: &[&str] = &[
    "Vance",
    "Wilber",
    "Deyoung",
    "Soto",
    "Archie",
    "Mueller",
    "Langer",
    "Lauer",
    "Sherman",
    "Gu",
    "Holloway",
    "Robbins",
    "Bowen",
    "Graham",
    "Wilke",
    "Fernandez",
    "Gupta",
    "Braun",
];
/// (manufacturer, model, prefix of the device name)
const MODELS: &[(&str, &str, &str)] = &[
    ("Dell Inc.", "Latitude 7440", "LT"),
    ("Dell Inc.", "OptiPlex 7010", "PC"),
    ("HP", "EliteBook 840 G10", "LT"),
    ("HP", "EliteDesk 800 G9", "PC"),
    ("LENOVO", "ThinkPad T14 Gen 4", "LT"),
    ("Microsoft Corporation", "Surface Laptop 5", "LT"),
    ("Microsoft Corporation", "Virtual Machine", "VM"),
    ("VMware, Inc.", "VMware7,1", "SRV"),
];
/// (operating system, OS version, SKU)
const OS_BUILDS: &[(&str, &str, &str)] = &[
    ("Windows", "10.0.19045.4894", "Enterprise"),
    ("Windows", "10.0.22631.4317", "Enterprise"),
    ("Windows", "10.0.22631.4460", "Professional"),
    ("Windows", "10.0.26100.2314", "Enterprise"),
    ("Windows Server", "10.0.20348.2762", "ServerStandard"),
    ("Windows Server", "10.0.17763.6414", "ServerDatacenter"),
];
const CLIENT_VERSIONS: &[&str] = &["5.00.9078.1006", "5.00.9088.1007", "5.00.9096.1000"];

/// Seeds the demo tenant when the store has no connector yet; returns how many devices it added.
pub async fn demo_tenant_if_empty(store: &Store) -> anyhow::Result<usize> {
    if store.connector_count().await? > 0 {
        return Ok(0);
    }
    let mut rng = StdRng::seed_from_u64(0xC0FFEE);
    let now = OffsetDateTime::now_utc();
    let mut added = 0;
    for hierarchy in HIERARCHIES {
        let connector_id = random_id(&mut rng);
        store
            .insert_connector(&NewConnector {
                id: connector_id.clone(),
                hierarchy_id: random_id(&mut rng),
                hierarchy_name: Some(hierarchy.name.to_owned()),
                site_code: Some(hierarchy.site_code.to_owned()),
                site_version: Some(hierarchy.version.to_owned()),
                service_connection_point: Some(format!(
                    "{}-SCP01.{}",
                    hierarchy.site_code, hierarchy.domain
                )),
                cloud: Some("AzurePublicCloud".to_owned()),
                endpoint_analytics_enabled: Some(true),
                last_sync_at: Some(timestamp(now - Duration::minutes(7))),
                onboarded_at: timestamp(now - Duration::days(120)),
            })
            .await?;
        let devices: Vec<Device> = (1..=hierarchy.devices)
            .map(|n| demo_device(&mut rng, hierarchy, &connector_id, n, now))
            .collect();
        store.insert_devices(&devices).await?;
        added += devices.len();
    }
    tracing::info!(devices = added, "seeded the demo tenant");
    Ok(added)
}

fn random_id(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.gen())
        .into_uuid()
        .to_string()
}

fn demo_device(
    rng: &mut StdRng,
    hierarchy: &DemoHierarchy,
    connector_id: &str,
    n: usize,
    now: OffsetDateTime,
) -> Device {
    let &(manufacturer, model, prefix) = MODELS.choose(rng).expect("models are listed");
    let server = prefix == "SRV";
    let os = if server {
        OS_BUILDS[4 + rng.gen_range(0..2)]
    } else {
        OS_BUILDS[rng.gen_range(0..4)]
    };
    let first = FIRST_NAMES.choose(rng).expect("names are listed");
    let last = LAST_NAMES.choose(rng).expect("names are listed");
    let user = (!server).then(|| {
        (
            format!(
                "{}.{}@contoso.com",
                first.to_lowercase(),
                last.to_lowercase()
            ),
            format!("{first} {last}"),
        )
    });
    let managed_by = match rng.gen_range(0..10) {
        0..=5 => ManagedBy::CoManaged,
        6..=8 => ManagedBy::ConfigMgr,
        _ => ManagedBy::Intune,
    };
    let compliance_state = match (managed_by, rng.gen_range(0..10)) {
        (ManagedBy::ConfigMgr, _) => ComplianceState::ConfigManager,
        (_, 0) => ComplianceState::Noncompliant,
        (_, 1) => ComplianceState::InGracePeriod,
        (_, 2) => ComplianceState::Unknown,
        _ => ComplianceState::Compliant,
    };
    let last_active = now - Duration::minutes(rng.gen_range(5..60 * 24 * 20));
    let serial: String = (0..8)
        .map(|_| {
            *b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
                .choose(rng)
                .expect("alphabet") as char
        })
        .collect();
    let mut collections = vec![DeviceCollection {
        id: "SMS00001".into(),
        name: "All Systems".into(),
    }];
    if !server {
        collections.push(DeviceCollection {
            id: format!("{}00012", hierarchy.site_code),
            name: "All Windows Workstations".into(),
        });
        if os.1.starts_with("10.0.26100") {
            collections.push(DeviceCollection {
                id: format!("{}00031", hierarchy.site_code),
                name: "Windows 11 24H2 Pilot".into(),
            });
        }
    }
    Device {
        id: random_id(rng),
        device_name: format!("{}-{prefix}-{n:04}", hierarchy.site_code),
        managed_by,
        owner_type: if server || rng.gen_bool(0.9) {
            OwnerType::Company
        } else {
            OwnerType::Personal
        },
        compliance_state,
        operating_system: Some(os.0.into()),
        os_version: Some(os.1.into()),
        user_principal_name: user.as_ref().map(|u| u.0.clone()),
        user_display_name: user.map(|u| u.1),
        last_sync_date_time: Some(timestamp(last_active + Duration::minutes(3))),
        enrolled_date_time: Some(timestamp(now - Duration::days(rng.gen_range(30..900)))),
        serial_number: Some(serial),
        manufacturer: Some(manufacturer.into()),
        model: Some(model.into()),
        azure_ad_device_id: (managed_by != ManagedBy::ConfigMgr).then(|| random_id(rng)),
        domain_name: Some(hierarchy.domain.into()),
        sku: Some(os.2.into()),
        connector_id: connector_id.to_owned(),
        hierarchy_name: Some(hierarchy.name.into()),
        site_code: Some(hierarchy.site_code.into()),
        configuration_manager_client_information: Some(ConfigurationManagerClientInformation {
            client_identifier: format!("GUID:{}", random_id(rng).to_uppercase()),
            client_version: Some((*CLIENT_VERSIONS.choose(rng).expect("versions")).into()),
            is_blocked: false,
        }),
        client_health_state: if rng.gen_bool(0.9) {
            ClientHealthState::Healthy
        } else {
            ClientHealthState::Unhealthy
        },
        last_policy_request_date_time: Some(timestamp(last_active - Duration::minutes(2))),
        last_active_date_time: Some(timestamp(last_active)),
        collections,
    }
}
