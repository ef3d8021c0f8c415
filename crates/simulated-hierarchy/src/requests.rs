//! The simulated site's answers to site requests: client details, hardware inventory and the
//! site's scripts read from what it holds of a device; CMPivot queries and scripts run on the
//! device's client (online ones answer after their latency, offline ones fail or never answer).
//! Each device's inventory is drawn from its own seed, so that every reading of it agrees.

use admin_api::protocol::{SiteRequestOutcome, SiteRequestWork};
use admin_api::site_requests::{
    ClientDetails, Inventory, InventoryClass, QueryResult, ScriptOutput, SiteScript, SiteScripts,
    Table,
};
use admin_api::{ClientHealthState, SiteAnswer, SiteRequestKind};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;

use crate::{rfc3339, ClientState, SimulatedDevice, SimulatedHierarchy};

/// The site's approved scripts without parameters: (id, name, author, description).
pub const SCRIPTS: &[(&str, &str, &str, &str)] = &[
    (
        "4C1F6A2E-7D4B-4E8A-9C51-0B3E2D6F8A10",
        "Get free disk space",
        "CONTOSO\\cm-admin",
        "Lists each fixed disk with its size and free space.",
    ),
    (
        "8E2B5D71-3A9C-4F06-B7E4-51C2D8A9F302",
        "Restart the Print Spooler service",
        "CONTOSO\\helpdesk-lead",
        "Stops and starts the Spooler service.",
    ),
    (
        "A9D04C3B-62F1-47E5-8B1D-E7F35A0C9B44",
        "Show pending reboot",
        "CONTOSO\\cm-admin",
        "Says whether Windows, the ConfigMgr client or a file rename waits for a restart.",
    ),
    (
        "D35E8F12-0B7A-4C69-A4E2-9F61B3C7D805",
        "Repair WMI repository",
        "CONTOSO\\cm-admin",
        "Checks and salvages the WMI repository.",
    ),
    (
        "6B2F0E94-1C3D-4A57-9E08-7D41C2B5A913",
        "Show the last print job",
        "CONTOSO\\helpdesk-lead",
        "The Print Service's last event, as XML.",
    ),
];

/// The printer name in the last print job's event: a user may name a printer anything, markup
/// too, and the admin center shows it as text.
pub const PRINTER_NAME: &str = "<img src=x onerror=alert(document.domain)>";

/// The CMPivot entities the simulated clients know, by their lower-case names.
const ENTITIES: &[(&str, &str)] = &[
    ("device", "SMS_G_System_COMPUTER_SYSTEM"),
    ("os", "SMS_G_System_OPERATING_SYSTEM"),
    ("operatingsystem", "SMS_G_System_OPERATING_SYSTEM"),
    ("bios", "SMS_G_System_PC_BIOS"),
    ("processor", "SMS_G_System_PROCESSOR"),
    ("disk", "SMS_G_System_LOGICAL_DISK"),
    ("logicaldisk", "SMS_G_System_LOGICAL_DISK"),
    ("installedsoftware", "SMS_G_System_INSTALLED_SOFTWARE"),
    ("ipconfig", "SMS_G_System_NETWORK_ADAPTER_CONFIGURATION"),
];

impl SimulatedHierarchy {
    /// The site's answer to a request, and how long the client takes to give it; `None` for a
    /// query or script the device never answers.
    pub(crate) fn answer_request(
        &mut self,
        request: &SiteRequestWork,
    ) -> (Option<SiteRequestOutcome>, std::time::Duration) {
        let latency = self.latency();
        let seen = match self.check_requester(request.requested_by.as_ref()) {
            Ok(seen) => seen,
            Err(reason) => return (Some(SiteRequestOutcome::failed(reason)), latency / 4),
        };
        let Some(device) = self.device(&request.device_id).cloned() else {
            let missing = format!(
                "The site {} has no device with id '{}'.",
                self.config.site_code, request.device_id
            );
            return (Some(SiteRequestOutcome::failed(missing)), latency / 4);
        };
        let answered = |answer| Some(SiteRequestOutcome::answered(answer, seen.clone()));
        match request.kind {
            SiteRequestKind::ClientDetails => (
                answered(SiteAnswer::ClientDetails(self.client_details(&device))),
                latency / 4,
            ),
            SiteRequestKind::Inventory => (
                answered(SiteAnswer::Inventory(self.inventory(&device))),
                latency / 4,
            ),
            SiteRequestKind::Scripts => (answered(SiteAnswer::Scripts(scripts())), latency / 4),
            SiteRequestKind::CmPivot | SiteRequestKind::RunScript => {
                match (device.client, request.kind) {
                    (ClientState::OfflineSilent, _) => (None, latency),
                    (ClientState::OfflineFails, _) => (
                        Some(SiteRequestOutcome::failed(format!(
                            "{} is offline: it was last online at {}. {} runs only on a device that is online now.",
                            device.device.device_name,
                            device.device.last_active_date_time.as_deref().unwrap_or("an unknown time"),
                            request.kind.page()
                        ))),
                        latency / 4,
                    ),
                    (ClientState::Online, SiteRequestKind::CmPivot) => {
                        let query = request.query.as_deref().unwrap_or_default();
                        let outcome = match self.cmpivot(&device, query) {
                            Ok(table) => answered(SiteAnswer::CmPivot(QueryResult { table })),
                            Err(error) => Some(SiteRequestOutcome::failed(error)),
                        };
                        (outcome, latency)
                    }
                    (ClientState::Online, _) => {
                        let script = request.script_id.as_deref().unwrap_or_default();
                        let outcome = match self.run_script(&device, script) {
                            Ok(run) => answered(SiteAnswer::RunScript(run)),
                            Err(error) => Some(SiteRequestOutcome::failed(error)),
                        };
                        (outcome, latency)
                    }
                }
            }
        }
    }

    fn client_details(&self, device: &SimulatedDevice) -> ClientDetails {
        let mut rng = device_rng(self.config.seed, &device.device.id);
        let d = &device.device;
        let last_active = d
            .last_active_date_time
            .as_deref()
            .and_then(parse)
            .unwrap_or_else(OffsetDateTime::now_utc);
        let hardware_scan = last_active - time::Duration::hours(rng.gen_range(1..48));
        let online = device.client == ClientState::Online;
        // Online since it was last active, or offline since then.
        let changed = last_active;
        let mut boundary_groups = vec![format!("{} Default Site Boundary Group", self.config.name)];
        if d.device_name.contains("-LT-") {
            boundary_groups.push(format!("{} VPN clients", self.config.site_code));
        }
        ClientDetails {
            online: Some(online),
            online_changed_date_time: Some(rfc3339(changed)),
            client_version: d
                .configuration_manager_client_information
                .as_ref()
                .and_then(|c| c.client_version.clone()),
            client_active: Some(d.client_health_state == ClientHealthState::Healthy),
            last_active_date_time: d.last_active_date_time.clone(),
            last_policy_request_date_time: d.last_policy_request_date_time.clone(),
            last_hardware_scan_date_time: Some(rfc3339(hardware_scan)),
            last_software_scan_date_time: Some(rfc3339(hardware_scan - time::Duration::hours(2))),
            management_point: Some(format!(
                "{}-MP01.{}",
                self.config.site_code, self.config.domain
            )),
            boundary_groups,
            primary_users: account(d.user_principal_name.as_deref())
                .into_iter()
                .collect(),
            collections: d.collections.clone(),
        }
    }

    /// The device's hardware inventory as the site holds it.
    pub fn inventory(&self, device: &SimulatedDevice) -> Inventory {
        let mut rng = device_rng(self.config.seed, &device.device.id);
        let d = &device.device;
        let text = |value: &str| Some(value.to_owned());
        let server = d.device_name.contains("-SRV-");
        let last_active = d
            .last_active_date_time
            .as_deref()
            .and_then(parse)
            .unwrap_or_else(OffsetDateTime::now_utc);
        let scan = last_active - time::Duration::hours(rng.gen_range(1..48));
        let os_version = d.os_version.clone().unwrap_or_default();
        let build = os_version.split('.').nth(2).unwrap_or("0").to_owned();
        let caption = match (server, build.as_str()) {
            (true, "20348") => "Microsoft Windows Server 2022 Standard",
            (true, _) => "Microsoft Windows Server 2019 Datacenter",
            (false, "19045") => "Microsoft Windows 10 Enterprise",
            (false, _) => "Microsoft Windows 11 Enterprise",
        };
        let cores: u32 = *[4, 8, 12, 16].choose(&mut rng).expect("cores");
        let memory_gb: u32 = *[8, 16, 32].choose(&mut rng).expect("memory");
        let disk_gb: u64 = *[256, 512, 1024].choose(&mut rng).expect("disks");
        let free_gb = rng.gen_range(disk_gb / 20..disk_gb / 2);
        let mut disks = vec![vec![
            text("C:"),
            text("NTFS"),
            Some((disk_gb * 1024).to_string()),
            Some((free_gb * 1024).to_string()),
        ]];
        if server {
            disks.push(vec![
                text("D:"),
                text("ReFS"),
                Some((2048u64 * 1024).to_string()),
                Some((rng.gen_range(100..1800u64) * 1024).to_string()),
            ]);
        }
        let mac: Vec<String> = (0..6).map(|_| format!("{:02X}", rng.gen::<u8>())).collect();
        let classes = vec![
            class(
                "SMS_G_System_COMPUTER_SYSTEM",
                "Computer System",
                &[
                    "Name",
                    "Manufacturer",
                    "Model",
                    "Domain",
                    "UserName",
                    "SystemType",
                ],
                vec![vec![
                    Some(d.device_name.clone()),
                    d.manufacturer.clone(),
                    d.model.clone(),
                    d.domain_name.clone(),
                    account(d.user_principal_name.as_deref()),
                    text("x64-based PC"),
                ]],
            ),
            class(
                "SMS_G_System_OPERATING_SYSTEM",
                "Operating System",
                &[
                    "Caption",
                    "Version",
                    "BuildNumber",
                    "InstallDate",
                    "LastBootUpTime",
                ],
                vec![vec![
                    text(caption),
                    Some(os_version.clone()),
                    Some(build),
                    d.enrolled_date_time.clone(),
                    Some(rfc3339(
                        last_active - time::Duration::hours(rng.gen_range(1..200)),
                    )),
                ]],
            ),
            class(
                "SMS_G_System_PC_BIOS",
                "PC BIOS",
                &[
                    "Manufacturer",
                    "SMBIOSBIOSVersion",
                    "SerialNumber",
                    "ReleaseDate",
                ],
                vec![vec![
                    d.manufacturer.clone(),
                    Some(format!(
                        "1.{}.{}",
                        rng.gen_range(2..30),
                        rng.gen_range(0..9)
                    )),
                    d.serial_number.clone(),
                    Some(rfc3339(scan - time::Duration::days(rng.gen_range(60..700)))),
                ]],
            ),
            class(
                "SMS_G_System_PROCESSOR",
                "Processor",
                &[
                    "Name",
                    "NumberOfCores",
                    "NumberOfLogicalProcessors",
                    "MaxClockSpeed",
                ],
                vec![vec![
                    text(if server {
                        "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"
                    } else {
                        "13th Gen Intel(R) Core(TM) i7-1365U"
                    }),
                    Some(cores.to_string()),
                    Some((cores * 2).to_string()),
                    Some(if server { "2000" } else { "1800" }.to_owned()),
                ]],
            ),
            class(
                "SMS_G_System_PHYSICAL_MEMORY",
                "Physical Memory",
                &["BankLabel", "Capacity", "Speed", "Manufacturer"],
                (0..2)
                    .map(|bank| {
                        vec![
                            Some(format!("BANK {bank}")),
                            Some((memory_gb / 2 * 1024).to_string()),
                            text("4800"),
                            text("Samsung"),
                        ]
                    })
                    .collect(),
            ),
            class(
                "SMS_G_System_LOGICAL_DISK",
                "Logical Disk",
                &["DeviceID", "FileSystem", "Size", "FreeSpace"],
                disks,
            ),
            class(
                "SMS_G_System_NETWORK_ADAPTER_CONFIGURATION",
                "Network Adapter Configuration",
                &["Description", "IPAddress", "MACAddress", "DHCPEnabled"],
                vec![vec![
                    text("Intel(R) Ethernet Connection (16) I219-LM"),
                    Some(format!(
                        "10.{}.{}.{}",
                        rng.gen_range(0..255),
                        rng.gen_range(0..255),
                        rng.gen_range(1..255)
                    )),
                    Some(mac.join(":")),
                    text(if server { "False" } else { "True" }),
                ]],
            ),
            class(
                "SMS_G_System_INSTALLED_SOFTWARE",
                "Installed Software",
                &["ProductName", "Publisher", "ProductVersion", "InstallDate"],
                installed_software(&mut rng, scan),
            ),
        ];
        Inventory {
            last_scan_date_time: Some(rfc3339(scan)),
            classes,
        }
    }

    /// A small part of CMPivot's language, enough for the demo and the tests: an entity, then
    /// `| where Column == 'value'` (or `contains`), `| project A, B`, `| take N`.
    fn cmpivot(&self, device: &SimulatedDevice, query: &str) -> Result<Table, String> {
        let mut stages = query.split('|').map(str::trim);
        let entity = stages.next().unwrap_or_default();
        let Some(&(_, class_name)) = ENTITIES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(entity))
        else {
            return Err(format!(
                "CMPivot could not resolve the entity '{entity}'. Known here: Device, OS, Bios, \
                 Processor, Disk, InstalledSoftware, IPConfig."
            ));
        };
        let inventory = self.inventory(device);
        let mut table = inventory
            .classes
            .into_iter()
            .find(|class| class.class_name == class_name)
            .map(|class| class.table)
            .unwrap_or_default();
        table.columns.insert(0, "Device".into());
        for row in &mut table.rows {
            row.insert(0, Some(device.device.device_name.clone()));
        }
        for stage in stages {
            let (operator, rest) = stage.split_once(' ').unwrap_or((stage, ""));
            let rest = rest.trim();
            match operator {
                "take" | "limit" => {
                    let n: usize = rest
                        .parse()
                        .map_err(|_| format!("'{operator}' needs a number of rows, not '{rest}'."))?;
                    table.rows.truncate(n);
                }
                "project" => {
                    let mut picked = Vec::new();
                    for name in rest.split(',').map(str::trim) {
                        let index = column(&table, name)?;
                        picked.push(index);
                    }
                    table.columns = picked.iter().map(|&i| table.columns[i].clone()).collect();
                    table.rows = table
                        .rows
                        .iter()
                        .map(|row| picked.iter().map(|&i| row[i].clone()).collect())
                        .collect();
                }
                "where" => {
                    let (name, op, value) = condition(rest)?;
                    let index = column(&table, name)?;
                    table.rows.retain(|row| {
                        let cell = row[index].as_deref().unwrap_or_default();
                        match op {
                            "==" => cell == value,
                            _ => cell.to_lowercase().contains(&value.to_lowercase()),
                        }
                    });
                }
                other => {
                    return Err(format!(
                        "CMPivot does not know the operator '{other}' here (known: where, project, take)."
                    ))
                }
            }
        }
        table.row_count = table.rows.len() as u64;
        Ok(table)
    }

    fn run_script(&self, device: &SimulatedDevice, id: &str) -> Result<ScriptOutput, String> {
        let Some(&(_, name, _, _)) = SCRIPTS
            .iter()
            .find(|(script, ..)| script.eq_ignore_ascii_case(id))
        else {
            return Err(format!(
                "The site has no approved script with id '{id}' (it may have been deleted or its approval withdrawn)."
            ));
        };
        let (exit_code, output) = match name {
            "Get free disk space" => {
                let disks = self
                    .inventory(device)
                    .classes
                    .into_iter()
                    .find(|class| class.class_name == "SMS_G_System_LOGICAL_DISK")
                    .map(|class| class.table.rows)
                    .unwrap_or_default();
                let lines: Vec<String> = disks
                    .iter()
                    .map(|row| {
                        let mb = |i: usize| {
                            row[i]
                                .as_deref()
                                .and_then(|v| v.parse::<u64>().ok())
                                .unwrap_or(0)
                        };
                        format!(
                            "{}  {} GB free of {} GB",
                            row[0].as_deref().unwrap_or("?"),
                            mb(3) / 1024,
                            mb(2) / 1024
                        )
                    })
                    .collect();
                (0, lines.join("\n"))
            }
            "Restart the Print Spooler service" => (
                0,
                "Stopping Print Spooler... stopped.\nStarting Print Spooler... running.".into(),
            ),
            "Show pending reboot" => (0, "No restart is pending.".into()),
            "Show the last print job" => (
                0,
                format!(
                    "<Event><System><Provider Name=\"Microsoft-Windows-PrintService\"/><EventID>307</EventID></System>\n<UserData><DocumentPrinted><Param2>Quarterly report.docx</Param2><Param5>{PRINTER_NAME}</Param5></DocumentPrinted></UserData></Event>"
                ),
            ),
            _ => (
                1,
                "winmgmt /verifyrepository: WMI repository is INCONSISTENT\nwinmgmt /salvagerepository failed: 0x80041002".into(),
            ),
        };
        Ok(ScriptOutput {
            script_name: name.to_owned(),
            exit_code: Some(exit_code),
            output,
            truncated: false,
        })
    }
}

fn scripts() -> SiteScripts {
    SiteScripts {
        scripts: SCRIPTS
            .iter()
            .map(|&(id, name, author, description)| SiteScript {
                id: id.to_owned(),
                name: name.to_owned(),
                author: Some(author.to_owned()),
                description: Some(description.to_owned()),
                last_updated_date_time: Some("2026-10-14T08:30:00Z".into()),
            })
            .collect(),
    }
}

fn class(
    class_name: &str,
    display_name: &str,
    columns: &[&str],
    rows: Vec<Vec<Option<String>>>,
) -> InventoryClass {
    InventoryClass {
        class_name: class_name.to_owned(),
        display_name: display_name.to_owned(),
        table: Table {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            row_count: rows.len() as u64,
            rows,
        },
    }
}

fn column(table: &Table, name: &str) -> Result<usize, String> {
    table
        .columns
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            format!(
                "There is no column '{name}' (columns: {}).",
                table.columns.join(", ")
            )
        })
}

/// `Column == 'value'` or `Column contains 'value'`.
fn condition(text: &str) -> Result<(&str, &str, &str), String> {
    let refused = || {
        format!("CMPivot could not read the condition '{text}' (write Column == 'value' or Column contains 'value').")
    };
    let (name, op, rest) = if let Some((name, rest)) = text.split_once("==") {
        (name, "==", rest)
    } else if let Some((name, rest)) = text.split_once(" contains ") {
        (name, "contains", rest)
    } else {
        return Err(refused());
    };
    let value = rest
        .trim()
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .ok_or_else(refused)?;
    Ok((name.trim(), op, value))
}

/// A user principal name as the site's accounts name them (`CONTOSO\megan.bowen`).
fn account(user_principal_name: Option<&str>) -> Option<String> {
    let name = user_principal_name?.split('@').next()?;
    Some(format!("CONTOSO\\{name}"))
}

fn parse(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// The same generator for the same device every time.
fn device_rng(seed: u64, device_id: &str) -> StdRng {
    let hash = device_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    StdRng::seed_from_u64(seed ^ hash)
}

const SOFTWARE: &[(&str, &str)] = &[
    (
        "Microsoft 365 Apps for enterprise - en-us",
        "Microsoft Corporation",
    ),
    ("Microsoft Edge", "Microsoft Corporation"),
    ("Microsoft Teams", "Microsoft Corporation"),
    ("Microsoft OneDrive", "Microsoft Corporation"),
    ("Configuration Manager Client", "Microsoft Corporation"),
    (
        "Microsoft Visual C++ 2015-2022 Redistributable (x64)",
        "Microsoft Corporation",
    ),
    (
        "Microsoft Visual C++ 2015-2022 Redistributable (x86)",
        "Microsoft Corporation",
    ),
    (".NET Framework 4.8.1", "Microsoft Corporation"),
    ("Microsoft .NET Runtime - 8.0", "Microsoft Corporation"),
    ("Google Chrome", "Google LLC"),
    ("Mozilla Firefox (x64 en-US)", "Mozilla"),
    ("Adobe Acrobat Reader", "Adobe"),
    ("7-Zip 23.01 (x64)", "Igor Pavlov"),
    ("Notepad++ (64-bit x64)", "Notepad++ Team"),
    ("Zoom Workplace", "Zoom Video Communications, Inc."),
    (
        "Cisco Secure Client - AnyConnect VPN",
        "Cisco Systems, Inc.",
    ),
    ("Intel(R) Graphics Driver", "Intel Corporation"),
    ("Realtek Audio Driver", "Realtek Semiconductor Corp."),
    ("Dell Command | Update", "Dell Inc."),
    ("HP Support Assistant", "HP Inc."),
    ("Lenovo Vantage Service", "Lenovo Group Ltd."),
    ("Git", "The Git Development Community"),
    ("Python 3.12.4 (64-bit)", "Python Software Foundation"),
    ("Microsoft Visual Studio Code", "Microsoft Corporation"),
    ("Windows PC Health Check", "Microsoft Corporation"),
    (
        "Local Administrator Password Solution",
        "Microsoft Corporation",
    ),
];

/// Some of the catalog, and updates: up to a few hundred rows, enough to need paging.
fn installed_software(rng: &mut StdRng, scan: OffsetDateTime) -> Vec<Vec<Option<String>>> {
    let mut rows: Vec<Vec<Option<String>>> = Vec::new();
    for &(name, publisher) in SOFTWARE {
        if rng.gen_bool(0.8) {
            rows.push(vec![
                Some(name.to_owned()),
                Some(publisher.to_owned()),
                Some(format!(
                    "{}.{}.{}",
                    rng.gen_range(1..130),
                    rng.gen_range(0..10),
                    rng.gen_range(0..9000)
                )),
                Some(rfc3339(scan - time::Duration::days(rng.gen_range(1..600)))),
            ]);
        }
    }
    for _ in 0..rng.gen_range(40..160) {
        let kb = rng.gen_range(5_000_000..5_060_000);
        rows.push(vec![
            Some(format!("Security Update for Microsoft Windows (KB{kb})")),
            Some("Microsoft Corporation".into()),
            None,
            Some(rfc3339(scan - time::Duration::days(rng.gen_range(1..900)))),
        ]);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HierarchyConfig;
    use admin_api::protocol::Requester;

    fn work(kind: SiteRequestKind, device_id: &str, query: Option<&str>) -> SiteRequestWork {
        SiteRequestWork {
            id: "r".into(),
            device_id: device_id.into(),
            kind,
            query: query.map(str::to_owned),
            script_id: None,
            requested_by: Some(Requester {
                display_name: "Ada".into(),
                user_principal_name: "ada@contoso.com".into(),
                object_id: None,
                onprem_sid: None,
            }),
        }
    }

    fn answer_of(site: &mut SimulatedHierarchy, request: &SiteRequestWork) -> SiteRequestOutcome {
        site.answer_request(request).0.expect("an answer")
    }

    /// A device's readings agree with what was uploaded and with each other, every time.
    #[test]
    fn readings_agree_with_the_upload_and_with_each_other() {
        let mut config = HierarchyConfig::new("HQ", "CHQ", 2207, 20, 5);
        config.offline_share = 0.0;
        let mut site = SimulatedHierarchy::new(config);
        let device = site.devices[0].device.clone();
        let inventory = |site: &mut SimulatedHierarchy| match answer_of(
            site,
            &work(SiteRequestKind::Inventory, &device.id, None),
        )
        .answer
        {
            Some(SiteAnswer::Inventory(inventory)) => inventory,
            other => panic!("{other:?}"),
        };
        let first = inventory(&mut site);
        assert_eq!(
            first,
            inventory(&mut site),
            "the same device reads the same"
        );
        let system = &first.classes[0].table;
        assert_eq!(
            system.rows[0][0].as_deref(),
            Some(device.device_name.as_str())
        );
        let bios = first
            .classes
            .iter()
            .find(|c| c.display_name == "PC BIOS")
            .unwrap();
        assert_eq!(bios.table.rows[0][2], device.serial_number);

        let Some(SiteAnswer::ClientDetails(details)) = answer_of(
            &mut site,
            &work(SiteRequestKind::ClientDetails, &device.id, None),
        )
        .answer
        else {
            panic!()
        };
        assert_eq!(details.collections, device.collections);
        assert_eq!(
            details.last_hardware_scan_date_time,
            first.last_scan_date_time
        );
    }

    #[test]
    fn cmpivot_knows_a_few_entities_and_operators_and_says_what_it_does_not() {
        let mut config = HierarchyConfig::new("HQ", "CHQ", 2207, 5, 6);
        config.offline_share = 0.0;
        let mut site = SimulatedHierarchy::new(config);
        let id = site.devices[0].device.id.clone();
        let table = |site: &mut SimulatedHierarchy, query: &str| match answer_of(
            site,
            &work(SiteRequestKind::CmPivot, &id, Some(query)),
        ) {
            SiteRequestOutcome {
                answer: Some(SiteAnswer::CmPivot(result)),
                ..
            } => Ok(result.table),
            outcome => Err(outcome.failure.unwrap()),
        };
        let disks = table(&mut site, "Disk | project DeviceID, FreeSpace").unwrap();
        assert_eq!(disks.columns, ["DeviceID", "FreeSpace"]);
        assert_eq!(disks.rows[0][0].as_deref(), Some("C:"));
        let one = table(&mut site, "InstalledSoftware | take 1").unwrap();
        assert_eq!((one.rows.len(), one.row_count), (1, 1));
        let edge = table(
            &mut site,
            "InstalledSoftware | where ProductName == 'No Such Product'",
        )
        .unwrap();
        assert!(edge.rows.is_empty());
        assert!(table(&mut site, "Registry")
            .unwrap_err()
            .contains("could not resolve the entity 'Registry'"));
        assert!(table(&mut site, "OS | summarize count()")
            .unwrap_err()
            .contains("operator 'summarize'"));
        assert!(table(&mut site, "OS | project Nope")
            .unwrap_err()
            .contains("no column 'Nope'"));
    }
}
