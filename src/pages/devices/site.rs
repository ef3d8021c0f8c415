//! The device's pages read live from its site (client details, resource explorer, the site's
//! scripts) and run on it (CMPivot, a script): each asks the site through a site request, follows
//! it on the event stream, and shows the answer, or says in words why there is none.

use admin_api::site_requests::{ClientDetails, Inventory, InventoryClass, SiteScript, Table};
use admin_api::{
    NewSiteRequest, Permission, SiteAnswer, SiteRequest, SiteRequestKind, SiteRequestState,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{site_requests, ApiError};
use crate::components::dialog::ConfirmDialog;
use crate::components::pager::pager;
use crate::components::permission::RequiresNote;
use crate::format;
use crate::live::use_live;
use crate::paths;
use crate::session::use_session;

/// The device's pages: (address segment, name). The overview has none.
pub const PAGES: [(&str, &str); 5] = [
    ("", "Overview"),
    ("clientDetails", "Client details"),
    ("resourceExplorer", "Resource explorer"),
    ("cmpivot", "CMPivot"),
    ("scripts", "Scripts"),
];

/// The pages as tabs: links, so that a reload or a shared address opens the same page.
pub fn device_tabs(id: String, page: Memo<String>) -> impl IntoView {
    view! {
        <nav class="tabs" aria-label="Device pages">
            {PAGES
                .iter()
                .map(|&(segment, name)| {
                    let href = if segment.is_empty() {
                        paths::device(&id)
                    } else {
                        paths::device_page(&id, segment)
                    };
                    let current = move || (page.get() == segment).then_some("page");
                    // A plain link: the router takes same-origin clicks on it.
                    view! { <a href=href class="tab" aria-current=current>{name}</a> }
                })
                .collect_view()}
        </nav>
    }
}

/// The page the address names.
pub fn site_page(device_id: String, page: &str) -> AnyView {
    match page {
        "clientDetails" => reading_page(device_id, SiteRequestKind::ClientDetails).into_any(),
        "resourceExplorer" => reading_page(device_id, SiteRequestKind::Inventory).into_any(),
        "cmpivot" => cmpivot(device_id).into_any(),
        "scripts" => reading_page(device_id, SiteRequestKind::Scripts).into_any(),
        _ => view! {
            <section class="empty-state">
                <h2>"No such page"</h2>
                <p>"A device has an overview, client details, resource explorer, CMPivot and scripts."</p>
            </section>
        }
        .into_any(),
    }
}

/// One request to the site: what the server said of it (kept up to date from the event stream,
/// read again with its answer when it ends), or why it could not be made.
#[derive(Clone, Copy)]
struct Asked {
    request: RwSignal<Option<SiteRequest>>,
    error: RwSignal<Option<ApiError>>,
    sending: RwSignal<bool>,
}

impl Asked {
    fn new() -> Self {
        let asked = Self {
            request: RwSignal::new(None),
            error: RwSignal::new(None),
            sending: RwSignal::new(false),
        };
        let live = use_live();
        Effect::new(move |_| {
            let Some(current) = asked.request.get() else {
                return;
            };
            if !current.state.is_open() {
                return;
            }
            let seen = live
                .site_requests
                .with(|all| all.iter().find(|r| r.id == current.id).cloned());
            match seen {
                Some(seen) if seen.state.is_open() && seen.state != current.state => {
                    asked.request.set(Some(seen));
                }
                Some(seen) if seen.state.is_open() => {}
                Some(_) => spawn_local(async move {
                    match site_requests::one(&current.id).await {
                        Ok(full) => asked.request.set(Some(full)),
                        Err(error) => asked.error.set(Some(error)),
                    }
                }),
                None => {}
            }
        });
        asked
    }

    fn ask(self, device_id: String, body: NewSiteRequest) {
        self.sending.set(true);
        self.error.set(None);
        spawn_local(async move {
            match site_requests::ask(&device_id, &body).await {
                Ok(request) => self.request.set(Some(request)),
                Err(error) => {
                    self.request.set(None);
                    self.error.set(Some(error));
                }
            }
            self.sending.set(false);
        });
    }

    /// Where the request stands, in words (a refusal or a failure as an alert); nothing once
    /// answered.
    fn status(self) -> impl IntoView {
        move || {
            let (text, waiting) = if let Some(error) = self.error.get() {
                // The server's words: an offline connector, an older site, no client, a bound.
                (error.to_string(), false)
            } else if let Some(request) = self.request.get() {
                let on_device = matches!(
                    request.kind,
                    SiteRequestKind::CmPivot | SiteRequestKind::RunScript
                );
                let ended = request.failure_message.unwrap_or_default();
                match request.state {
                    SiteRequestState::Answered => return None,
                    SiteRequestState::Queued => (
                        "Waiting for the site's connector to take the request…".into(),
                        true,
                    ),
                    SiteRequestState::Running if on_device => {
                        ("Running on the device…".into(), true)
                    }
                    SiteRequestState::Running => ("The site is reading it…".into(), true),
                    SiteRequestState::TimedOut => (format!("No answer in time. {ended}"), false),
                    _ => (ended, false),
                }
            } else if self.sending.get() {
                ("Asking the site…".into(), true)
            } else {
                return None;
            };
            Some(view! {
                <p class=if waiting { "muted progress" } else { "notice refusal" }
                    role=if waiting { "status" } else { "alert" }>{text}</p>
            })
        }
    }

    fn answer(self) -> Option<(SiteAnswer, String)> {
        self.request.with(|request| {
            request.as_ref().and_then(|r| {
                r.answer
                    .clone()
                    .map(|answer| (answer, r.last_updated_date_time.clone()))
            })
        })
    }
}

fn reading(kind: SiteRequestKind, refresh: bool) -> NewSiteRequest {
    NewSiteRequest {
        kind,
        query: None,
        script_id: None,
        refresh,
    }
}

/// A reading of what the site holds: asked when the page opens (a reading of the last few
/// minutes is shown with its time), again on Refresh.
fn reading_page(device_id: String, kind: SiteRequestKind) -> impl IntoView {
    let asked = Asked::new();
    asked.ask(device_id.clone(), reading(kind, false));
    let refresh = move |_| asked.ask(device_id.clone(), reading(kind, true));
    let busy = move || {
        asked.sending.get()
            || asked
                .request
                .with(|r| r.as_ref().is_some_and(|r| r.state.is_open()))
    };
    let read_at = move || {
        asked.answer().map(|(_, at)| {
            let now = (js_sys::Date::now() / 1000.0) as i64;
            let ago = format::relative(&at, now).unwrap_or_default();
            format!(
                "Read from the site at {} ({ago})",
                format::timestamp_seconds(&at)
            )
        })
    };
    view! {
        <section class="card site-page" aria-labelledby="site-page-title" aria-busy=move || busy().to_string()>
            <div class="card-header">
                <h2 id="site-page-title">{kind.page()}</h2>
                <span class="muted">{read_at}</span>
                <button class="button" disabled=busy on:click=refresh>"Refresh"</button>
            </div>
            {asked.status()}
            {move || asked.answer().map(|(answer, _)| match answer {
                SiteAnswer::ClientDetails(details) => client_details(details).into_any(),
                SiteAnswer::Inventory(inventory) => resource_explorer(inventory).into_any(),
                SiteAnswer::Scripts(scripts) => site_scripts(device_id_of(asked), scripts.scripts).into_any(),
                _ => ().into_any(),
            })}
        </section>
    }
}

fn device_id_of(asked: Asked) -> String {
    asked
        .request
        .with(|r| r.as_ref().map(|r| r.device_id.clone()))
        .unwrap_or_default()
}

fn client_details(details: ClientDetails) -> impl IntoView {
    let time = |value: Option<String>| {
        value
            .as_deref()
            .map(format::timestamp_seconds)
            .unwrap_or_else(|| "—".into())
    };
    let yes_no = |value: Option<bool>, yes: &str, no: &str| match value {
        Some(true) => yes.to_owned(),
        Some(false) => no.to_owned(),
        None => "—".to_owned(),
    };
    let online = match (details.online, details.online_changed_date_time.as_deref()) {
        (Some(true), Some(since)) => format!("Online since {}", format::timestamp_seconds(since)),
        (Some(false), Some(since)) => format!("Offline since {}", format::timestamp_seconds(since)),
        (online, _) => yes_no(online, "Online", "Offline"),
    };
    let fields = [
        ("Online now", online),
        (
            "Client version",
            format::or_dash(details.client_version.as_deref()),
        ),
        (
            "Client activity",
            yes_no(details.client_active, "Active", "Inactive"),
        ),
        ("Last active", time(details.last_active_date_time)),
        (
            "Last policy request",
            time(details.last_policy_request_date_time),
        ),
        (
            "Last hardware scan",
            time(details.last_hardware_scan_date_time),
        ),
        (
            "Last software scan",
            time(details.last_software_scan_date_time),
        ),
        (
            "Management point",
            format::or_dash(details.management_point.as_deref()),
        ),
        ("Boundary groups", list(&details.boundary_groups)),
        ("Primary users", list(&details.primary_users)),
    ];
    view! {
        <dl class="essentials-list">
            {fields
                .into_iter()
                .map(|(label, value)| view! { <div class="field"><dt>{label}</dt><dd>{value}</dd></div> })
                .collect_view()}
        </dl>
        <h3>"Collections"</h3>
        {if details.collections.is_empty() {
            view! { <p class="muted">"The site lists the device in no collection."</p> }.into_any()
        } else {
            view! {
                <ul class="plain">
                    {details
                        .collections
                        .into_iter()
                        .map(|c| view! { <li>{c.name} " " <span class="muted">"(" {c.id} ")"</span></li> })
                        .collect_view()}
                </ul>
            }
            .into_any()
        }}
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "—".into()
    } else {
        names.join(", ")
    }
}

/// Rows a table page shows.
const PAGE_ROWS: usize = 25;

/// The rows of `table` containing `filter` (any cell, any case).
fn matching(table: &Table, filter: &str) -> Vec<Vec<Option<String>>> {
    let filter = filter.trim().to_lowercase();
    table
        .rows
        .iter()
        .filter(|row| {
            filter.is_empty()
                || row
                    .iter()
                    .flatten()
                    .any(|cell| cell.to_lowercase().contains(&filter))
        })
        .cloned()
        .collect()
}

/// A table of text, a page at a time, saying how many rows there are and, when the site had more
/// than its answer could carry, how many were left out.
fn paged_table(label: String, table: Table, filter: Signal<String>) -> impl IntoView {
    let start = RwSignal::new(0usize);
    let columns = table.columns.clone();
    let truncated = table.is_truncated().then(|| {
        format!(
            "The site had {} rows; its answer carries the first {} (an answer is at most 1 MB).",
            table.row_count,
            table.rows.len()
        )
    });
    let rows = Memo::new(move |_| {
        start.set(0);
        matching(&table, &filter.get())
    });
    let page = move || {
        rows.with(|rows| {
            rows.iter()
                .skip(start.get())
                .take(PAGE_ROWS)
                .map(|row| {
                    view! {
                        <tr>{row.iter().map(|cell| view! { <td>{format::or_dash(cell.as_deref())}</td> }).collect_view()}</tr>
                    }
                })
                .collect_view()
        })
    };
    let count = move || {
        let total = rows.with(Vec::len);
        let first = start.get();
        match total {
            0 => "No rows".to_owned(),
            _ => format!(
                "Rows {}–{} of {total}",
                first + 1,
                (first + PAGE_ROWS).min(total)
            ),
        }
    };
    view! {
        <div class="table-wrap">
            <table class="grid" aria-label=label>
                <thead><tr>{columns.into_iter().map(|c| view! { <th scope="col">{c}</th> }).collect_view()}</tr></thead>
                <tbody>{page}</tbody>
            </table>
        </div>
        {move || {
            let first = start.get();
            let total = rows.with(Vec::len);
            if total <= PAGE_ROWS {
                return view! { <p class="muted">{count}</p> }.into_any();
            }
            let back = (first > 0).then(|| Callback::new(move |()| start.set(first.saturating_sub(PAGE_ROWS))));
            let on = (first + PAGE_ROWS < total)
                .then(|| Callback::new(move |()| start.set(first + PAGE_ROWS)));
            pager(("Previous", back), ("Next", on), view! { <span class="muted">{count}</span> }.into_any())
                .into_any()
        }}
        {truncated.map(|text| view! { <p class="notice" role="note">{text}</p> })}
    }
}

fn resource_explorer(inventory: Inventory) -> impl IntoView {
    let filter = RwSignal::new(String::new());
    let scan = inventory
        .last_scan_date_time
        .as_deref()
        .map(|at| {
            format!(
                "Last hardware inventory scan: {}",
                format::timestamp_seconds(at)
            )
        })
        .unwrap_or_else(|| "The site holds no hardware inventory scan of this device.".into());
    view! {
        <p class="muted">{scan}</p>
        <label class="filter">
            "Filter rows "
            <input type="search" placeholder="Text in any cell" prop:value=filter
                on:input=move |event| filter.set(event_target_value(&event)) />
        </label>
        {inventory.classes.into_iter().map(|class| inventory_class(class, filter)).collect_view()}
    }
}

fn inventory_class(class: InventoryClass, filter: RwSignal<String>) -> impl IntoView {
    let title = class.display_name;
    view! {
        <section class="inventory-class" aria-label=title.clone()>
            <h3>{title.clone()} " " <span class="muted">"(" {class.class_name} ")"</span></h3>
            {paged_table(title.clone(), class.table, filter.into())}
        </section>
    }
}

/// The site's approved scripts without parameters; each runs on the device after a confirmation.
fn site_scripts(device_id: String, scripts: Vec<SiteScript>) -> impl IntoView {
    let session = use_session();
    let allowed = move || session.may(Permission::RemoteTasksRunScript);
    let run = Asked::new();
    let confirming = RwSignal::new(None::<SiteScript>);
    if scripts.is_empty() {
        return view! { <p class="muted">"The site has no approved script without parameters."</p> }.into_any();
    }
    let device = StoredValue::new(device_id);
    let rows = scripts
        .into_iter()
        .map(|script| {
            let chosen = script.clone();
            view! {
                <tr>
                    <td>{script.name}</td>
                    <td>{format::or_dash(script.author.as_deref())}</td>
                    <td>{format::or_dash(script.description.as_deref())}</td>
                    <td>
                        <button class="button" aria-describedby="scripts-not-allowed"
                            disabled=move || !allowed() || run.sending.get()
                                || run.request.with(|r| r.as_ref().is_some_and(|r| r.state.is_open()))
                            on:click=move |_| confirming.set(Some(chosen.clone()))>"Run"</button>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class="grid" aria-label="Scripts">
                <thead><tr><th scope="col">"Name"</th><th scope="col">"Author"</th><th scope="col">"Description"</th><th scope="col"><span class="visually-hidden">"Run"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <RequiresNote permission=Permission::RemoteTasksRunScript id="scripts-not-allowed" />
        {move || confirming.get().map(|script| {
            let id = script.id.clone();
            view! {
                <ConfirmDialog
                    title=format!("Run {}?", script.name)
                    confirm_label="Run"
                    on_confirm=move |_| {
                        confirming.set(None);
                        run.ask(device.get_value(), NewSiteRequest {
                            kind: SiteRequestKind::RunScript,
                            query: None,
                            script_id: Some(id.clone()),
                            refresh: false,
                        });
                    }
                    on_cancel=move |_| confirming.set(None)
                >
                    <p>"The site runs the script on the device now, as approved; its output is shown here."</p>
                </ConfirmDialog>
            }
        })}
        <div aria-live="polite">
            {run.status()}
            {move || run.answer().and_then(|(answer, _)| match answer {
                SiteAnswer::RunScript(output) => Some(view! {
                    <section class="script-output" aria-label="Script output">
                        <h3>{output.script_name} " · exit code "
                            {output.exit_code.map_or_else(|| "unknown".to_owned(), |c| c.to_string())}</h3>
                        <pre>{output.output}</pre>
                        {output.truncated.then(|| view! { <p class="notice" role="note">"The output was longer; the first 64 KB are shown."</p> })}
                    </section>
                }),
                _ => None,
            })}
        </div>
    }
    .into_any()
}

/// A CMPivot query run on the device, the user's recent queries to run again.
fn cmpivot(device_id: String) -> impl IntoView {
    let session = use_session();
    let allowed = move || session.may(Permission::RemoteTasksRunCmPivot);
    let query = RwSignal::new(String::new());
    let run = Asked::new();
    let recent = RwSignal::new(Vec::<String>::new());
    let load_recent = move || {
        if allowed() {
            spawn_local(async move {
                if let Ok(queries) = site_requests::recent_queries().await {
                    recent.set(queries.value);
                }
            });
        }
    };
    load_recent();
    let device = StoredValue::new(device_id);
    let start = move || {
        let text = query.get_untracked();
        if text.trim().is_empty() || !allowed() {
            return;
        }
        run.ask(
            device.get_value(),
            NewSiteRequest {
                kind: SiteRequestKind::CmPivot,
                query: Some(text),
                script_id: None,
                refresh: false,
            },
        );
    };
    // The list of recent queries follows each run the server accepted.
    Effect::new(move |_| {
        if run.request.with(|r| {
            r.as_ref()
                .is_some_and(|r| r.state == SiteRequestState::Queued)
        }) {
            load_recent();
        }
    });
    let busy = move || {
        run.sending.get()
            || run
                .request
                .with(|r| r.as_ref().is_some_and(|r| r.state.is_open()))
    };
    view! {
        <section class="card site-page" aria-labelledby="site-page-title">
            <h2 id="site-page-title">"CMPivot"</h2>
            <p class="muted">"A query in CMPivot's language runs on the device while it is online, e.g. "
                <code>"OS"</code> ", " <code>"Disk | project DeviceID, FreeSpace"</code> "."</p>
            <label for="cmpivot-query">"Query"</label>
            <textarea id="cmpivot-query" class="query" rows="4" maxlength="4000" spellcheck="false"
                prop:value=query disabled=move || !allowed() aria-describedby="cmpivot-not-allowed"
                on:input=move |event| query.set(event_target_value(&event))
                on:keydown=move |event: web_sys::KeyboardEvent| {
                    if event.key() == "Enter" && (event.ctrl_key() || event.meta_key()) {
                        event.prevent_default();
                        start();
                    }
                }
            ></textarea>
            <div class="toolbar">
                <button class="button primary" disabled=move || busy() || !allowed() || query.with(|q| q.trim().is_empty())
                    on:click=move |_| start()>"Run"</button>
                <span class="muted">"Ctrl+Enter runs the query."</span>
            </div>
            <RequiresNote permission=Permission::RemoteTasksRunCmPivot id="cmpivot-not-allowed" />
            <div aria-live="polite">
                {run.status()}
                {move || run.answer().and_then(|(answer, _)| match answer {
                    SiteAnswer::CmPivot(result) => Some(paged_table("Query result".into(), result.table, Signal::stored(String::new()))),
                    _ => None,
                })}
            </div>
            {move || Some(recent.get()).filter(|q| !q.is_empty()).map(|queries| view! {
                <h3>"Your recent queries"</h3>
                <ul class="plain recent-queries">
                    {queries.into_iter().map(|text| {
                        let chosen = text.clone();
                        view! {
                            <li>
                                <button class="button link" title="Put this query in the box"
                                    on:click=move |_| query.set(chosen.clone())><code>{text}</code></button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
}
