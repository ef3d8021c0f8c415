//! Tenant administration › Audit logs: who did what, to which resource, when, with what result.
//! The filters (actor, activity, result, resource, date range) and the page live in the URL, so a
//! link to a filtered view survives a reload and can be shared.

use admin_api::collection::odata_string;
use admin_api::{ActorType, AuditActivity, AuditEvent, AuditResult, Collection, Permission};
use leptos::prelude::*;

use crate::api::query::skiptoken_of;
use crate::api::{self, ApiError};
use crate::components::loaded::{Answer, Fetched, Loaded};
use crate::components::pager::pager;
use crate::components::shell::{set_breadcrumb, Crumb};
use crate::components::table::{Column, Table};
use crate::format;
use crate::paths;
use crate::session::use_session;
use crate::url_state::{use_url_state, UrlState, UrlView};

/// The audit view's state, as the URL holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditView {
    pub actor: String,
    pub activity: Option<AuditActivity>,
    pub result: Option<AuditResult>,
    pub resource: String,
    /// A connector's id: the events about it and those it reported.
    pub connector: String,
    /// `YYYY-MM-DD`, UTC days, both ends included.
    pub from: String,
    pub to: String,
    pub page: Option<String>,
}

impl UrlState for AuditView {
    const PATH: &'static str = paths::AUDIT_LOGS;
    const SCROLL_TO_TOP: bool = true;

    fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let date = |text: &str| {
            text.chars()
                .filter(|c| c.is_ascii_digit() || *c == '-')
                .collect()
        };
        let mut view = Self::default();
        for (name, value) in pairs {
            match name {
                "actor" => view.actor = value.to_owned(),
                "activity" => view.activity = AuditActivity::from_wire(value),
                "result" => view.result = AuditResult::from_wire(value),
                "resource" => view.resource = value.to_owned(),
                "connector" => view.connector = value.to_owned(),
                "from" => view.from = date(value),
                "to" => view.to = date(value),
                "page" => view.page = Some(value.to_owned()),
                _ => {}
            }
        }
        view
    }

    fn to_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let mut push = |key: &str, value: String| {
            if !value.is_empty() {
                pairs.push((key.to_owned(), value));
            }
        };
        push("actor", self.actor.trim().to_owned());
        push(
            "activity",
            self.activity
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default(),
        );
        push(
            "result",
            self.result
                .map(|r| r.as_str().to_owned())
                .unwrap_or_default(),
        );
        push("resource", self.resource.trim().to_owned());
        push("connector", self.connector.trim().to_owned());
        push("from", self.from.clone());
        push("to", self.to.clone());
        push("page", self.page.clone().unwrap_or_default());
        pairs
    }

    fn first_page(self) -> Self {
        Self { page: None, ..self }
    }
}

impl AuditView {
    /// The `$filter` these filters make, if any.
    pub fn filter(&self) -> Option<String> {
        let quoted = |text: &str| odata_string(text.trim());
        let mut terms = Vec::new();
        if !self.actor.trim().is_empty() {
            terms.push(format!("contains(actor, {})", quoted(&self.actor)));
        }
        if let Some(activity) = self.activity {
            terms.push(format!("activity eq '{activity}'"));
        }
        if let Some(result) = self.result {
            terms.push(format!("activityResult eq '{result}'"));
        }
        if !self.resource.trim().is_empty() {
            let value = quoted(&self.resource);
            terms.push(format!(
                "(resourceId eq {value} or contains(resourceName, {value}))"
            ));
        }
        if !self.connector.trim().is_empty() {
            let value = quoted(&self.connector);
            terms.push(format!("(resourceId eq {value} or actor eq {value})"));
        }
        if is_date(&self.from) {
            terms.push(format!("activityDateTime ge {}T00:00:00Z", self.from));
        }
        if is_date(&self.to) {
            terms.push(format!("activityDateTime le {}T23:59:59Z", self.to));
        }
        (!terms.is_empty()).then(|| terms.join(" and "))
    }
}

fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit())
}

fn activity_label(activity: AuditActivity) -> &'static str {
    match activity {
        AuditActivity::SignIn => "Sign in",
        AuditActivity::SignOut => "Sign out",
        AuditActivity::RequestConfigurationManagerAction => "ConfigMgr action requested",
        AuditActivity::ConfigurationManagerActionResult => "ConfigMgr action result",
        AuditActivity::CreateOnboardingToken => "Onboarding token created",
        AuditActivity::OnboardConnector => "Hierarchy attached",
        AuditActivity::DeleteConnector => "Connector deleted (offboarding)",
        AuditActivity::CompleteOffboarding => "Offboarding completed",
        AuditActivity::CreateUser => "User created",
        AuditActivity::UpdateUserRoles => "User roles changed",
        AuditActivity::CreateRoleDefinition => "Role created",
        AuditActivity::DeleteRoleDefinition => "Role deleted",
        AuditActivity::UpdateRoleAssignments => "Role assignments changed",
        AuditActivity::ResetPassword => "Password set",
        AuditActivity::RunCmPivotQuery => "CMPivot query run",
        AuditActivity::CmPivotQueryResult => "CMPivot query result",
        AuditActivity::RunScript => "Script run",
        AuditActivity::ScriptResult => "Script result",
        AuditActivity::RemoveAuditEvents => "Old events removed",
        AuditActivity::ShareDeviceView => "Device view shared",
        AuditActivity::DeleteDeviceView => "Device view deleted",
        AuditActivity::RequestBulkAction => "Bulk action requested",
        AuditActivity::CancelBulkAction => "Bulk action canceled",
    }
}

#[component]
pub fn AuditLogs() -> impl IntoView {
    set_breadcrumb(vec![
        Crumb::link("Home", paths::HOME),
        Crumb::here("Audit logs"),
    ]);
    let session = use_session();
    view! {
        <h1>"Audit logs"</h1>
        <h2 class="subtitle">"Tenant administration"</h2>
        {move || match session.missing(Permission::AuditDataRead) {
            Some(reason) => view! { <p class="notice" role="note">{reason} " to see the audit logs."</p> }.into_any(),
            None => view! { <AuditTable /> }.into_any(),
        }}
    }
}

/// A page of events with the hierarchies' names of the connectors among their actors.
type EventsPage = (Collection<AuditEvent>, Vec<(String, String)>);

#[component]
fn AuditTable() -> impl IntoView {
    let url = use_url_state::<AuditView>();
    let refreshes = RwSignal::new(0u32);
    let query = Memo::new(move |_| url.view.with(|v| (v.filter(), v.page.clone())));
    let may_read_connectors = use_session().may(Permission::OrganizationRead);
    let page = Fetched::new(move || {
        refreshes.track();
        let (filter, token) = query.get();
        async move {
            let page = api::audit::page(filter.as_deref(), token.as_deref()).await?;
            let names = connector_names(&page.value, may_read_connectors).await;
            Ok::<EventsPage, ApiError>((page, names))
        }
    });
    let refresh = Callback::new(move |()| refreshes.update(|n| *n += 1));
    view! {
        {audit_filters(url, refresh)}
        <Loaded resource=page loading="Loading the audit log…" on_retry=refresh let:loaded>
            {audit_page(loaded, url)}
        </Loaded>
    }
}

/// The filters as a form: it edits a draft, and Apply (or Enter) puts it in the URL.
fn audit_filters(url: UrlView<AuditView>, refresh: Callback<()>) -> impl IntoView {
    let draft = RwSignal::new(url.view.get_untracked());
    Effect::new(move |_| draft.set(url.view.get()));
    let apply = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        url.go(&draft.get_untracked().first_page(), false);
    };
    let input = move |id: &'static str,
                      label: &'static str,
                      kind: &'static str,
                      get: fn(&AuditView) -> String,
                      set: fn(&mut AuditView, String)| {
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <input
                    id=id
                    type=kind
                    prop:value=move || draft.with(get)
                    on:input=move |e| draft.update(|d| set(d, event_target_value(&e)))
                />
            </div>
        }
    };
    let export_href = Signal::derive(move || {
        url.view
            .with(|v| api::audit::export_url(v.filter().as_deref()))
    });
    let activities = AuditActivity::ALL
        .iter()
        .map(|a| (a.as_str(), activity_label(*a)))
        .collect();
    view! {
        <form class="card audit-filters" on:submit=apply aria-label="Filter the audit log">
            {input("audit-actor", "Actor", "search", |v| v.actor.clone(), |v, t| v.actor = t)}
            {choice(draft, "audit-activity", "Activity", activities,
                |d| d.activity.map(|a| a.as_str()), |d, value| d.activity = AuditActivity::from_wire(value))}
            {choice(draft, "audit-result", "Result", vec![("success", "Success"), ("failure", "Failure")],
                |d| d.result.map(|r| r.as_str()), |d, value| d.result = AuditResult::from_wire(value))}
            {input("audit-resource", "Resource (id or name)", "search", |v| v.resource.clone(), |v, t| v.resource = t)}
            {input("audit-connector", "Connector id", "search", |v| v.connector.clone(), |v, t| v.connector = t)}
            {input("audit-from", "From (UTC)", "date", |v| v.from.clone(), |v, t| v.from = t)}
            {input("audit-to", "To (UTC)", "date", |v| v.to.clone(), |v, t| v.to = t)}
            <div class="field actions">
                <button class="button primary" type="submit">"Apply"</button>
                <button class="button" type="button" on:click=move |_| url.go(&AuditView::default(), false)>"Clear"</button>
                <button class="button" type="button" on:click=move |_| refresh.run(())>
                    <span aria-hidden="true">"↻ "</span>
                    "Refresh"
                </button>
                <a class="button" href=export_href download="audit-log.csv">
                    "Export"
                </a>
            </div>
        </form>
    }
}

/// A drop-down of the draft: "Any", then `options` (wire value, label).
fn choice(
    draft: RwSignal<AuditView>,
    id: &'static str,
    label: &'static str,
    options: Vec<(&'static str, &'static str)>,
    get: fn(&AuditView) -> Option<&'static str>,
    set: fn(&mut AuditView, &str),
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <select
                id=id
                on:change=move |e| {
                    let value = event_target_value(&e);
                    draft.update(|d| set(d, &value));
                }
                prop:value=move || draft.with(|d| get(d).unwrap_or_default().to_owned())
            >
                <option value="">"Any"</option>
                {options
                    .into_iter()
                    .map(|(value, label)| view! { <option value=value>{label}</option> })
                    .collect_view()}
            </select>
        </div>
    }
}

/// The count, the events, and the pager.
fn audit_page(answer: Answer<EventsPage>, url: UrlView<AuditView>) -> impl IntoView {
    let view_state = url.view;
    let count = move || {
        answer.with(|(page, _)| {
            let count = page.count.unwrap_or(page.value.len() as u64);
            format!("{count} event{}", if count == 1 { "" } else { "s" })
        })
    };
    let pages = move || {
        let next = answer.with(|(page, _)| page.next_link.as_deref().and_then(skiptoken_of));
        let next = next.map(|token| {
            let next = AuditView {
                page: Some(token),
                ..view_state.get_untracked()
            };
            Callback::new(move |()| url.go(&next, false))
        });
        let first = view_state.with_untracked(|v| v.page.is_some()).then(|| {
            Callback::new(move |()| url.go(&view_state.get_untracked().first_page(), false))
        });
        pager(("First page", first), ("Next page", next), ().into_any())
    };
    let names = Memo::new(move |_| answer.with(|(_, names)| names.clone()));
    view! {
        <p class="result-count" role="status">{count}</p>
        <Table
            label="Audit events"
            rows=move || answer.with(|(page, _)| page.value.clone())
            columns=Signal::derive(move || audit_columns(names.get()))
            key=|e: &AuditEvent| e.id.clone()
            wrap=true
            empty=|| view! { <p class="empty-state">"No audit events match these filters."</p> }
        />
        {pages}
    }
}

/// The audit log's columns; a connector reads as its hierarchy's name (`names`: connector id,
/// name), its id in the tooltip.
fn audit_columns(names: Vec<(String, String)>) -> Vec<Column> {
    let names = std::sync::Arc::new(names);
    let named = {
        let names = names.clone();
        move |event: &AuditEvent| {
            (event.actor_type == ActorType::Connector)
                .then(|| names.iter().find(|(id, _)| *id == event.actor).cloned())
                .flatten()
        }
    };
    let named_too = named.clone();
    vec![
        Column::text("Date (UTC)", |e: &AuditEvent| {
            format::timestamp(&e.activity_date_time)
        }),
        Column::text("Activity", |e: &AuditEvent| {
            activity_label(e.activity).to_owned()
        }),
        Column::badge("Result", |e: &AuditEvent| {
            let text = match e.activity_result {
                AuditResult::Success => "Success",
                AuditResult::Failure => "Failure",
            };
            (
                format!("badge audit-{}", e.activity_result.as_str()),
                text.to_owned(),
            )
        }),
        Column::view("Actor", move |e: &AuditEvent| {
            named(e)
                .map_or_else(|| e.actor.clone(), |(_, name)| name)
                .into_any()
        })
        .class("breakable")
        .titled(move |e: &AuditEvent| named_too(e).map(|(id, _)| format!("Connector {id}"))),
        Column::view("Resource", |e: &AuditEvent| {
            let resource = match (&e.resource_name, &e.resource_id) {
                (Some(name), Some(id)) => format!("{name} ({id})"),
                (Some(name), None) => name.clone(),
                (None, Some(id)) => id.clone(),
                (None, None) => String::new(),
            };
            view! {
                <span class="muted">{e.resource_type.clone()}</span>
                " "
                {format::or_dash(Some(resource.as_str()).filter(|r| !r.is_empty()))}
            }
            .into_any()
        }),
        Column::text("Details", |e: &AuditEvent| {
            format::or_dash(e.details.as_deref().map(format::readable_times).as_deref())
        })
        .class("details"),
        Column::code("Request id", |e: &AuditEvent| {
            format::or_dash(e.request_id.as_deref())
        })
        .class("breakable"),
        Column::text("Source", |e: &AuditEvent| {
            format::or_dash(e.source_address.as_deref())
        })
        .class("breakable")
        .titled(|e: &AuditEvent| e.user_agent.clone()),
    ]
}

/// The hierarchies' names of the connectors among these events' actors, by connector id, for the
/// Actor column. Read when the user may read connectors; an offboarded connector is no longer
/// listed, and reads as its id.
async fn connector_names(
    events: &[AuditEvent],
    may_read_connectors: bool,
) -> Vec<(String, String)> {
    if !may_read_connectors || !events.iter().any(|e| e.actor_type == ActorType::Connector) {
        return Vec::new();
    }
    api::connectors::list()
        .await
        .map(|page| {
            page.value
                .into_iter()
                .map(|c| {
                    let name = c
                        .hierarchy_name
                        .unwrap_or_else(|| "Unknown hierarchy".into());
                    (c.id, name)
                })
                .collect()
        })
        .unwrap_or_default()
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_make_one_bound_filter_and_the_url_round_trips() {
        let view = AuditView {
            actor: " o'brien ".into(),
            activity: Some(AuditActivity::SignIn),
            result: Some(AuditResult::Failure),
            resource: "PC-001".into(),
            from: "2026-11-01".into(),
            to: "2026-11-21".into(),
            connector: "c-1".into(),
            page: None,
        };
        assert_eq!(
            view.filter().unwrap(),
            "contains(actor, 'o''brien') and activity eq 'signIn' and activityResult eq 'failure' \
             and (resourceId eq 'PC-001' or contains(resourceName, 'PC-001')) \
             and (resourceId eq 'c-1' or actor eq 'c-1') \
             and activityDateTime ge 2026-11-01T00:00:00Z and activityDateTime le 2026-11-21T23:59:59Z"
        );
        let pairs = view.to_pairs();
        let back = AuditView::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        assert_eq!(back.actor, "o'brien");
        assert_eq!(
            AuditView {
                actor: "o'brien".into(),
                ..view.clone()
            },
            back
        );
        assert_eq!(AuditView::default().filter(), None);
        assert_eq!(AuditView::default().to_url(), "/tenant-admin/audit-logs");
    }

    #[test]
    fn half_typed_dates_are_left_out() {
        let view = AuditView {
            from: "2026-11".into(),
            ..AuditView::default()
        };
        assert_eq!(view.filter(), None);
    }
}
