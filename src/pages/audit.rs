//! Tenant administration › Audit logs: who did what, to which resource, when, with what result.
//! The filters (actor, activity, result, resource, date range) and the page live in the URL, so a
//! link to a filtered view survives a reload and can be shared.

use admin_api::{ActorType, AuditActivity, AuditEvent, AuditResult, Permission};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{self, API_BASE};
use crate::components::error_banner::ErrorBanner;
use crate::components::shell::{set_breadcrumb, Crumb};
use crate::format;
use crate::pages::devices::view_state::encode;
use crate::session::use_session;

/// The audit view's state, as the URL holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditView {
    pub actor: String,
    pub activity: Option<AuditActivity>,
    pub result: Option<AuditResult>,
    pub resource: String,
    /// `YYYY-MM-DD`, UTC days, both ends included.
    pub from: String,
    pub to: String,
    pub page: Option<String>,
}

impl AuditView {
    /// Reads the view from URL query pairs; what it does not know it leaves out.
    pub fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
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
                "from" => view.from = date(value),
                "to" => view.to = date(value),
                "page" => view.page = Some(value.to_owned()),
                _ => {}
            }
        }
        view
    }

    /// The URL query pairs of this view, in a stable order.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
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
        push("from", self.from.clone());
        push("to", self.to.clone());
        push("page", self.page.clone().unwrap_or_default());
        pairs
    }

    /// The view's own address.
    pub fn to_url(&self) -> String {
        let pairs = self.to_pairs();
        if pairs.is_empty() {
            AUDIT_PATH.to_owned()
        } else {
            format!("{AUDIT_PATH}?{}", encode(&pairs))
        }
    }

    /// The `$filter` these filters make, if any.
    pub fn filter(&self) -> Option<String> {
        let quoted = |text: &str| format!("'{}'", text.trim().replace('\'', "''"));
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
        if is_date(&self.from) {
            terms.push(format!("activityDateTime ge {}T00:00:00Z", self.from));
        }
        if is_date(&self.to) {
            terms.push(format!("activityDateTime le {}T23:59:59Z", self.to));
        }
        (!terms.is_empty()).then(|| terms.join(" and "))
    }

    /// The API request for this view's page.
    pub fn api_url(&self) -> String {
        let mut query = vec![
            ("$top".to_owned(), "50".to_owned()),
            ("$count".to_owned(), "true".to_owned()),
        ];
        if let Some(filter) = self.filter() {
            query.push(("$filter".to_owned(), filter));
        }
        if let Some(page) = &self.page {
            query.push(("$skiptoken".to_owned(), page.clone()));
        }
        format!("{API_BASE}/auditEvents?{}", encode(&query))
    }
}

const AUDIT_PATH: &str = "/tenant-admin/audit-logs";

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
    }
}

#[component]
pub fn AuditLogs() -> impl IntoView {
    set_breadcrumb(vec![Crumb::link("Home", "/"), Crumb::here("Audit logs")]);
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

#[component]
fn AuditTable() -> impl IntoView {
    let query = use_query_map();
    let navigate = use_navigate();
    let view_state = Memo::new(move |_| {
        query.with(|q| {
            let pairs: Vec<(String, String)> = q
                .clone()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            AuditView::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        })
    });
    let refreshes = RwSignal::new(0u32);
    let api_url = Memo::new(move |_| view_state.with(AuditView::api_url));
    let may_read_connectors = use_session().may(Permission::OrganizationRead);
    let page = LocalResource::new(move || {
        refreshes.track();
        let url = api_url.get();
        async move {
            let page = api::audit::page(&url).await?;
            let names = connector_names(&page.value, may_read_connectors).await;
            Ok::<_, api::ApiError>((page, names))
        }
    });
    let go = {
        let navigate = navigate.clone();
        move |next: AuditView| navigate(&next.to_url(), Default::default())
    };
    // The form edits a draft; Apply (or Enter) puts it in the URL.
    let draft = RwSignal::new(view_state.get_untracked());
    Effect::new(move |_| draft.set(view_state.get()));
    let apply = {
        let go = go.clone();
        move |event: leptos::ev::SubmitEvent| {
            event.prevent_default();
            go(AuditView {
                page: None,
                ..draft.get_untracked()
            });
        }
    };
    let clear = {
        let go = go.clone();
        move |_| go(AuditView::default())
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
    view! {
        <form class="card audit-filters" on:submit=apply aria-label="Filter the audit log">
            {input("audit-actor", "Actor", "search", |v| v.actor.clone(), |v, t| v.actor = t)}
            <div class="field">
                <label for="audit-activity">"Activity"</label>
                <select
                    id="audit-activity"
                    on:change=move |e| {
                        let value = event_target_value(&e);
                        draft.update(|d| d.activity = AuditActivity::from_wire(&value));
                    }
                    prop:value=move || draft.with(|d| d.activity.map(|a| a.as_str()).unwrap_or_default().to_owned())
                >
                    <option value="">"Any"</option>
                    {AuditActivity::ALL
                        .iter()
                        .map(|a| view! { <option value=a.as_str()>{activity_label(*a)}</option> })
                        .collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="audit-result">"Result"</label>
                <select
                    id="audit-result"
                    on:change=move |e| {
                        let value = event_target_value(&e);
                        draft.update(|d| d.result = AuditResult::from_wire(&value));
                    }
                    prop:value=move || draft.with(|d| d.result.map(|r| r.as_str()).unwrap_or_default().to_owned())
                >
                    <option value="">"Any"</option>
                    <option value="success">"Success"</option>
                    <option value="failure">"Failure"</option>
                </select>
            </div>
            {input("audit-resource", "Resource (id or name)", "search", |v| v.resource.clone(), |v, t| v.resource = t)}
            {input("audit-from", "From (UTC)", "date", |v| v.from.clone(), |v, t| v.from = t)}
            {input("audit-to", "To (UTC)", "date", |v| v.to.clone(), |v, t| v.to = t)}
            <div class="field actions">
                <button class="button primary" type="submit">"Apply"</button>
                <button class="button" type="button" on:click=clear>"Clear"</button>
                <button class="button" type="button" on:click=move |_| refreshes.update(|n| *n += 1)>
                    <span aria-hidden="true">"↻ "</span>
                    "Refresh"
                </button>
            </div>
        </form>
        <Transition fallback=|| view! { <p class="muted" role="status">"Loading the audit log…"</p> }>
            {move || {
                let go = go.clone();
                Suspend::new(async move {
                    match page.await {
                        Ok((page, names)) => {
                            let next = page
                                .next_link
                                .as_deref()
                                .and_then(skiptoken_of)
                                .map(|token| AuditView {
                                    page: Some(token),
                                    ..view_state.get_untracked()
                                });
                            let on_first = view_state.with_untracked(|v| v.page.is_none());
                            let count = page.count.unwrap_or(page.value.len() as u64);
                            view! {
                                <p class="result-count" role="status">
                                    {format!("{count} event{}", if count == 1 { "" } else { "s" })}
                                </p>
                                <AuditRows events=page.value names />
                                <div class="pager">
                                    <button
                                        class="button"
                                        disabled=on_first
                                        on:click={
                                            let go = go.clone();
                                            move |_| go(AuditView { page: None, ..view_state.get_untracked() })
                                        }
                                    >
                                        "First page"
                                    </button>
                                    <button
                                        class="button"
                                        disabled=next.is_none()
                                        on:click=move |_| {
                                            if let Some(next) = next.clone() {
                                                go(next);
                                            }
                                        }
                                    >
                                        "Next page"
                                    </button>
                                </div>
                            }
                                .into_any()
                        }
                        Err(error) => {
                            view! { <ErrorBanner error on_retry=move |_| refreshes.update(|n| *n += 1) /> }
                                .into_any()
                        }
                    }
                })
            }}
        </Transition>
    }
}

/// The `$skiptoken` of a nextLink.
fn skiptoken_of(link: &str) -> Option<String> {
    let query = link.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let value = pair.strip_prefix("$skiptoken=")?;
        js_sys::decode_uri_component(value).ok().map(String::from)
    })
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

#[component]
fn AuditRows(events: Vec<AuditEvent>, names: Vec<(String, String)>) -> impl IntoView {
    if events.is_empty() {
        return view! { <p class="empty-state">"No audit events match these filters."</p> }
            .into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="grid wrap" aria-label="Audit events">
                <thead>
                    <tr>
                        <th scope="col">"Date (UTC)"</th>
                        <th scope="col">"Activity"</th>
                        <th scope="col">"Result"</th>
                        <th scope="col">"Actor"</th>
                        <th scope="col">"Resource"</th>
                        <th scope="col">"Details"</th>
                        <th scope="col">"Request id"</th>
                    </tr>
                </thead>
                <tbody>
                    {events
                        .into_iter()
                        .map(|event| {
                            let resource = match (&event.resource_name, &event.resource_id) {
                                (Some(name), Some(id)) => format!("{name} ({id})"),
                                (Some(name), None) => name.clone(),
                                (None, Some(id)) => id.clone(),
                                (None, None) => String::new(),
                            };
                            view! {
                                <tr data-audit-id=event.id.clone()>
                                    <td>{format::timestamp(&event.activity_date_time)}</td>
                                    <td>{activity_label(event.activity)}</td>
                                    <td>
                                        <span class=format!("badge audit-{}", event.activity_result.as_str())>
                                            {match event.activity_result {
                                                AuditResult::Success => "Success",
                                                AuditResult::Failure => "Failure",
                                            }}
                                        </span>
                                    </td>
                                    {
                                        // A connector reads as its hierarchy's name, its id in the tooltip.
                                        let named = (event.actor_type == ActorType::Connector)
                                            .then(|| names.iter().find(|(id, _)| *id == event.actor))
                                            .flatten();
                                        let title = named.map(|(id, _)| format!("Connector {id}"));
                                        let actor = named.map_or_else(|| event.actor.clone(), |(_, name)| name.clone());
                                        view! { <td class="breakable" title=title>{actor}</td> }
                                    }
                                    <td>
                                        <span class="muted">{event.resource_type.clone()}</span>
                                        " "
                                        {format::or_dash(Some(resource.as_str()).filter(|r| !r.is_empty()))}
                                    </td>
                                    <td class="details">{format::or_dash(event.details.as_deref().map(format::readable_times).as_deref())}</td>
                                    <td class="breakable"><code>{format::or_dash(event.request_id.as_deref())}</code></td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
        .into_any()
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
            page: None,
        };
        assert_eq!(
            view.filter().unwrap(),
            "contains(actor, 'o''brien') and activity eq 'signIn' and activityResult eq 'failure' \
             and (resourceId eq 'PC-001' or contains(resourceName, 'PC-001')) \
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
        assert!(AuditView::default()
            .api_url()
            .ends_with("?$top=50&$count=true"));
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
