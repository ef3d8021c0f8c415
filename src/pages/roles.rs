//! Tenant administration › Roles: the built-in and custom roles with their permissions, making
//! and deleting a custom role, and each role's assignments: values of the provider's roles claim
//! and local accounts. The server decides (nobody grants what they lack, the last full
//! administrator keeps the role); a refusal is shown in its words.

use admin_api::identity::{NewRoleDefinition, RoleAssignments, RoleDefinition, User, UserRoles};
use admin_api::{Collection, Permission};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos::Params;
use leptos_router::hooks::use_query;
use leptos_router::params::Params;

use crate::api::roles;
use crate::components::dialog::ConfirmDialog;
use crate::components::loaded::{Answer, Fetched, Loaded};
use crate::components::permission::RequiresNote;
use crate::components::shell::{set_breadcrumb, Crumb};
use crate::components::table::{Column, Table};
use crate::components::toast::use_toasts;
use crate::paths;
use crate::session::use_session;

/// The page's query: the role whose details are open.
#[derive(Params, Clone, PartialEq)]
struct RoleQuery {
    id: Option<String>,
}

#[component]
pub fn Roles() -> impl IntoView {
    set_breadcrumb(vec![Crumb::link("Home", paths::HOME), Crumb::here("Roles")]);
    let refreshes = RwSignal::new(0u32);
    let list = Fetched::new(move || {
        refreshes.track();
        roles::list()
    });
    let query = use_query::<RoleQuery>();
    let selected = Memo::new(move |_| query.with(|q| q.as_ref().ok().and_then(|q| q.id.clone())));
    let refresh = Callback::new(move |()| refreshes.update(|n| *n += 1));
    view! {
        <h1>"Roles"</h1>
        <h2 class="subtitle">"Who may do what in Attach Center"</h2>
        <div class="toolbar">
            <button class="button" on:click=move |_| refresh.run(())>
                <span aria-hidden="true">"↻ "</span>
                "Refresh"
            </button>
        </div>
        <Loaded resource=list loading="Loading roles…" on_retry=refresh let:page>
            <RoleTable roles=page selected refresh />
        </Loaded>
        <NewRole refresh />
    }
}

#[component]
fn RoleTable(
    roles: Answer<Collection<RoleDefinition>>,
    selected: Memo<Option<String>>,
    refresh: Callback<()>,
) -> impl IntoView {
    let rows = move || roles.with(|page| page.value.clone());
    let chosen = Memo::new(move |_| {
        let id = selected.get()?;
        roles.with(|page| page.value.iter().find(|r| r.id == id).cloned())
    });
    view! {
        <Table
            label="Roles"
            rows=rows
            columns=Signal::stored(role_columns(selected))
            key=|r: &RoleDefinition| r.id.clone()
            current=selected
            wrap=true
        />
        {move || chosen.get().map(|role| view! { <RoleDetails role refresh /> })}
    }
}

fn role_columns(selected: Memo<Option<String>>) -> Vec<Column> {
    vec![
        Column::view("Role", move |r: &RoleDefinition| {
            let id = r.id.clone();
            let current = move || {
                selected
                    .with(|s| s.as_deref() == Some(id.as_str()))
                    .then_some("true")
            };
            view! { <a href=paths::role(&r.id) aria-current=current>{r.display_name.clone()}</a> }
                .into_any()
        }),
        Column::text("Type", |r: &RoleDefinition| {
            if r.is_built_in { "Built-in" } else { "Custom" }.to_owned()
        }),
        Column::text("Permissions", |r: &RoleDefinition| {
            r.permissions.len().to_string()
        }),
        Column::text("Description", |r: &RoleDefinition| r.description.clone()),
    ]
}

/// A role's permissions and assignments, and Delete for a custom one.
#[component]
fn RoleDetails(role: RoleDefinition, refresh: Callback<()>) -> impl IntoView {
    let id = StoredValue::new(role.id.clone());
    let name = StoredValue::new(role.display_name.clone());
    view! {
        <section class="card" aria-labelledby="role-details">
            <h2 id="role-details">
                {role.display_name.clone()}
                <span class="badge">{if role.is_built_in { "Built-in" } else { "Custom" }}</span>
            </h2>
            {(!role.description.is_empty()).then(|| view! { <p>{role.description.clone()}</p> })}
            <h3>"Permissions"</h3>
            <ul class="permission-list">
                {role
                    .permissions
                    .iter()
                    .map(|p| view! { <li>{p.label()}</li> })
                    .collect_view()}
            </ul>
            <ClaimValues id=id.get_value() name=name.get_value() />
            <LocalAccounts name=name.get_value() />
            {(!role.is_built_in).then(|| delete_role(id.get_value(), name.get_value(), refresh))}
        </section>
    }
}

/// The values of the provider's roles claim the role is assigned to: added and removed here.
#[component]
fn ClaimValues(id: String, name: String) -> impl IntoView {
    let (toasts, session) = (use_toasts(), use_session());
    let id = StoredValue::new(id);
    let name = StoredValue::new(name);
    let changes = RwSignal::new(0u32);
    let values = Fetched::new(move || {
        changes.track();
        let id = id.get_value();
        async move { roles::assignments(&id).await }
    });
    let retry = Callback::new(move |()| changes.update(|n| *n += 1));
    let saving = RwSignal::new(false);
    let draft = RwSignal::new(String::new());
    let save = move |next: Vec<String>, done: String| {
        saving.set(true);
        spawn_local(async move {
            let body = RoleAssignments { claim_values: next };
            match roles::set_assignments(&id.get_value(), &body).await {
                Ok(_) => {
                    toasts.show(done);
                    draft.set(String::new());
                    changes.update(|n| *n += 1);
                }
                Err(error) => toasts.error(format!("The assignments were not changed: {error}")),
            }
            saving.set(false);
        });
    };
    let may = move || session.may(Permission::RolesUpdate);
    view! {
        <h3>"Provider claim values"</h3>
        <p class="muted">
            "Users who sign in through the organization's provider hold this role from their next sign-in when their roles claim carries one of these values (app roles, or group ids)."
        </p>
        <Loaded resource=values loading="Loading assignments…" on_retry=retry let:assigned>
            {move || {
                let current = assigned.with(|a| a.claim_values.clone());
                if current.is_empty() {
                    return view! { <p class="empty-note">"Not assigned to any claim value."</p> }.into_any();
                }
                view! {
                    <ul class="assignment-list" aria-label="Claim values">
                        {current
                            .clone()
                            .into_iter()
                            .map(|value| {
                                let rest: Vec<String> = current.iter().filter(|v| **v != value).cloned().collect();
                                let done = format!("{} is no longer assigned to {value}", name.get_value());
                                let label = format!("Remove {value}");
                                view! {
                                    <li>
                                        <code>{value.clone()}</code>
                                        <button
                                            class="button"
                                            aria-label=label
                                            disabled=move || saving.get() || !may()
                                            on:click=move |_| save(rest.clone(), done.clone())
                                        >
                                            "Remove"
                                        </button>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                .into_any()
            }}
            <form
                class="inline-form"
                on:submit=move |event| {
                    event.prevent_default();
                    let value = draft.get_untracked().trim().to_owned();
                    if value.is_empty() {
                        return;
                    }
                    let mut next = assigned.with(|a| a.claim_values.clone());
                    if !next.contains(&value) {
                        next.push(value.clone());
                    }
                    save(next, format!("{} is assigned to {value}", name.get_value()));
                }
            >
                <label for="claim-value">"Claim value"</label>
                <input
                    id="claim-value"
                    maxlength="256"
                    placeholder="e.g. AttachCenter.HelpDesk"
                    prop:value=move || draft.get()
                    on:input=move |event| draft.set(event_target_value(&event))
                    disabled=move || !may()
                    aria-describedby="assign-not-allowed"
                />
                <button class="button" type="submit" disabled=move || saving.get() || !may()>
                    "Assign"
                </button>
            </form>
        </Loaded>
        <RequiresNote permission=Permission::RolesUpdate id="assign-not-allowed" />
    }
}

/// The local accounts holding the role: given it or relieved of it here. Provider users are
/// listed for reading; their roles come from their claim.
#[component]
fn LocalAccounts(name: String) -> impl IntoView {
    let (toasts, session) = (use_toasts(), use_session());
    let name = StoredValue::new(name);
    let changes = RwSignal::new(0u32);
    let users = Fetched::new(move || {
        changes.track();
        roles::users()
    });
    let retry = Callback::new(move |()| changes.update(|n| *n += 1));
    let saving = RwSignal::new(false);
    let chosen = RwSignal::new(String::new());
    let change = move |user: User, roles_now: Vec<String>, done: String| {
        saving.set(true);
        spawn_local(async move {
            match roles::set_user_roles(&user.id, &UserRoles { roles: roles_now }).await {
                Ok(_) => {
                    toasts.show(done);
                    chosen.set(String::new());
                    changes.update(|n| *n += 1);
                }
                Err(error) => toasts.error(format!(
                    "{}'s roles were not changed: {error}",
                    user.user_principal_name
                )),
            }
            saving.set(false);
        });
    };
    let may = move || session.may(Permission::RolesUpdate);
    view! {
        <h3>"Accounts"</h3>
        <Loaded resource=users loading="Loading accounts…" on_retry=retry let:all>
            {move || {
                let role = name.get_value();
                let holders: Vec<User> = all.with(|page| {
                    page.value.iter().filter(|u| u.roles.contains(&role)).cloned().collect()
                });
                if holders.is_empty() {
                    return view! { <p class="empty-note">"No account holds this role now."</p> }.into_any();
                }
                view! {
                    <ul class="assignment-list" aria-label="Accounts holding the role">
                        {holders
                            .into_iter()
                            .map(|user| {
                                let role = role.clone();
                                let label = format!("Remove {} from {role}", user.user_principal_name);
                                let from_provider = user.from_provider;
                                let remaining: Vec<String> = user.roles.iter().filter(|r| **r != role).cloned().collect();
                                let done = format!("{} no longer holds {role}", user.user_principal_name);
                                let shown = format!("{} ({})", user.display_name, user.user_principal_name);
                                view! {
                                    <li>
                                        <span>{shown}</span>
                                        {if from_provider {
                                            view! { <span class="muted">" · through the provider's claim"</span> }.into_any()
                                        } else {
                                            let user = user.clone();
                                            view! {
                                                <button
                                                    class="button"
                                                    aria-label=label
                                                    disabled=move || saving.get() || !may()
                                                    on:click=move |_| change(user.clone(), remaining.clone(), done.clone())
                                                >
                                                    "Remove"
                                                </button>
                                            }.into_any()
                                        }}
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                .into_any()
            }}
            {move || {
                let role = name.get_value();
                let others: Vec<User> = all.with(|page| {
                    page.value
                        .iter()
                        .filter(|u| !u.from_provider && !u.roles.contains(&role))
                        .cloned()
                        .collect()
                });
                let choices = others.clone();
                (!others.is_empty()).then(|| view! {
                    <form
                        class="inline-form"
                        on:submit=move |event| {
                            event.prevent_default();
                            let id = chosen.get_untracked();
                            let Some(user) = others.iter().find(|u| u.id == id).cloned() else {
                                return;
                            };
                            let mut next = user.roles.clone();
                            next.push(role.clone());
                            let done = format!("{} now holds {role}", user.user_principal_name);
                            change(user, next, done);
                        }
                    >
                        <label for="local-account">"Local account"</label>
                        <select
                            id="local-account"
                            prop:value=move || chosen.get()
                            on:change=move |event| chosen.set(event_target_value(&event))
                            disabled=move || !may()
                        >
                            <option value="">"Choose an account…"</option>
                            {choices
                                .into_iter()
                                .map(|u| view! { <option value=u.id.clone()>{u.user_principal_name.clone()}</option> })
                                .collect_view()}
                        </select>
                        <button
                            class="button"
                            type="submit"
                            disabled=move || saving.get() || !may() || chosen.get().is_empty()
                        >
                            "Give the role"
                        </button>
                    </form>
                })
            }}
        </Loaded>
    }
}

/// Delete, with its confirmation, for a custom role.
fn delete_role(id: String, name: String, refresh: Callback<()>) -> impl IntoView {
    let (toasts, session) = (use_toasts(), use_session());
    let confirming = RwSignal::new(false);
    let deleting = RwSignal::new(false);
    let navigate = leptos_router::hooks::use_navigate();
    let (id, name) = (StoredValue::new(id), StoredValue::new(name));
    let delete = move || {
        confirming.set(false);
        deleting.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            match roles::delete(&id.get_value()).await {
                Ok(()) => {
                    toasts.show(format!("{} was deleted", name.get_value()));
                    navigate(paths::ROLES, Default::default());
                    refresh.run(());
                }
                Err(error) => {
                    toasts.error(format!("{} was not deleted: {error}", name.get_value()))
                }
            }
            deleting.set(false);
        });
    };
    view! {
        <div class="toolbar">
            <button
                class="button danger"
                disabled=move || deleting.get() || !session.may(Permission::RolesUpdate)
                aria-describedby="delete-role-not-allowed"
                on:click=move |_| confirming.set(true)
            >
                "Delete role"
            </button>
            <RequiresNote permission=Permission::RolesUpdate id="delete-role-not-allowed" />
        </div>
        {move || confirming.get().then(|| {
            let delete = delete.clone();
            view! {
                <ConfirmDialog
                    title=format!("Delete {}?", name.get_value())
                    confirm_label="Delete"
                    danger=true
                    on_confirm=move |_| delete()
                    on_cancel=move |_| confirming.set(false)
                >
                    <p>"The role is deleted for good. A role that is still assigned cannot be deleted: remove its assignments first."</p>
                </ConfirmDialog>
            }
        })}
    }
}

/// Making a custom role from permissions the user holds.
#[component]
fn NewRole(refresh: Callback<()>) -> impl IntoView {
    let (toasts, session) = (use_toasts(), use_session());
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let chosen = RwSignal::new(Vec::<Permission>::new());
    let creating = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let navigate = leptos_router::hooks::use_navigate();
    let may = move || session.may(Permission::RolesUpdate);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let role = NewRoleDefinition {
            display_name: name.get_untracked().trim().to_owned(),
            description: description.get_untracked().trim().to_owned(),
            permissions: chosen.get_untracked(),
        };
        if role.display_name.is_empty() || role.permissions.is_empty() {
            error.set(Some(
                "Give the role a name and at least one permission.".into(),
            ));
            return;
        }
        creating.set(true);
        error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match roles::create(&role).await {
                Ok(made) => {
                    toasts.show(format!("{} was created", made.display_name));
                    name.set(String::new());
                    description.set(String::new());
                    chosen.set(Vec::new());
                    refresh.run(());
                    navigate(&paths::role(&made.id), Default::default());
                }
                Err(refused) => error.set(Some(format!("The role was not created: {refused}"))),
            }
            creating.set(false);
        });
    };
    view! {
        <section class="card" aria-labelledby="new-role">
            <h2 id="new-role">"Create a custom role"</h2>
            <form class="new-role" on:submit=submit>
                <label for="role-name">"Name"</label>
                <input
                    id="role-name"
                    maxlength="128"
                    prop:value=move || name.get()
                    on:input=move |event| name.set(event_target_value(&event))
                    disabled=move || !may()
                />
                <label for="role-description">"Description"</label>
                <input
                    id="role-description"
                    prop:value=move || description.get()
                    on:input=move |event| description.set(event_target_value(&event))
                    disabled=move || !may()
                />
                <fieldset>
                    <legend>"Permissions"</legend>
                    <p class="muted">"You can grant only the permissions you hold."</p>
                    {Permission::ALL
                        .iter()
                        .map(|&permission| {
                            let id = format!("permission-{}", permission.as_str());
                            let checked = move || chosen.with(|c| c.contains(&permission));
                            view! {
                                <div class="check">
                                    <input
                                        type="checkbox"
                                        id=id.clone()
                                        prop:checked=checked
                                        disabled=move || !may() || !session.may(permission)
                                        on:change=move |event| {
                                            let on = event_target_checked(&event);
                                            chosen.update(|c| {
                                                c.retain(|p| *p != permission);
                                                if on {
                                                    c.push(permission);
                                                }
                                            });
                                        }
                                    />
                                    <label for=id>{permission.label()}</label>
                                </div>
                            }
                        })
                        .collect_view()}
                </fieldset>
                {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                <button
                    class="button primary"
                    type="submit"
                    disabled=move || creating.get() || !may()
                    aria-describedby="create-role-not-allowed"
                >
                    {move || if creating.get() { "Creating…" } else { "Create role" }}
                </button>
                <RequiresNote permission=Permission::RolesUpdate id="create-role-not-allowed" />
            </form>
        </section>
    }
}
