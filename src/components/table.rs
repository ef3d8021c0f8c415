//! One table for every list (devices, connectors, connectivity checks, the audit log, a device's
//! actions): the header, sortable where a column sorts, an optional column of checkboxes for bulk
//! actions, the row whose details are open, and the empty state. The table stays on screen while
//! its rows change: rows are keyed (`<For>`), so a row whose content is unchanged keeps its DOM
//! (focus, hover, a selection of text) across the next page or a live refresh; a row that changed
//! is drawn again; a change of columns or of the rows chosen redraws only the cells it touches.
//!
//! Only the typed front is generic: rows and cells are drawn by one copy of the code for every
//! row type, which keeps the wasm bundle from carrying a table per list.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use leptos::prelude::*;

/// A row of any list, as the table draws it.
type AnyRow = Arc<dyn Any + Send + Sync>;
/// How a row fills a cell.
type Cell = Arc<dyn Fn(&dyn Any) -> AnyView + Send + Sync>;
/// A cell's tooltip, where it has one.
type Title = Arc<dyn Fn(&dyn Any) -> Option<String> + Send + Sync>;

/// A column: its header, the field it sorts by when it sorts, and how a row fills it. Made for
/// rows of one type (`Column::text::<Device>`), drawn by the table of those rows.
#[derive(Clone)]
pub struct Column {
    label: &'static str,
    sort: Option<&'static str>,
    class: &'static str,
    cell: Cell,
    title: Option<Title>,
}

/// The row of this table: a table draws rows of its columns' type only.
fn typed<T: 'static>(row: &dyn Any) -> &T {
    row.downcast_ref::<T>()
        .expect("a row of the type the column was made for")
}

impl Column {
    /// A column whose cell is `cell`'s text.
    pub fn text<T: 'static>(label: &'static str, cell: fn(&T) -> String) -> Self {
        Self::view(label, move |row: &T| cell(row).into_any())
    }

    /// A column whose cell is a badge: `cell` gives its class and text.
    pub fn badge<T: 'static>(label: &'static str, cell: fn(&T) -> (String, String)) -> Self {
        Self::view(label, move |row: &T| {
            let (class, text) = cell(row);
            view! { <span class=class>{text}</span> }.into_any()
        })
    }

    /// A column whose cell is code (an id, say).
    pub fn code<T: 'static>(label: &'static str, cell: fn(&T) -> String) -> Self {
        Self::view(label, move |row: &T| {
            view! { <code>{cell(row)}</code> }.into_any()
        })
    }

    /// A column whose cell is any view of the row.
    pub fn view<T: 'static>(
        label: &'static str,
        cell: impl Fn(&T) -> AnyView + Send + Sync + 'static,
    ) -> Self {
        Self {
            label,
            sort: None,
            class: "",
            cell: Arc::new(move |row| cell(typed(row))),
            title: None,
        }
    }

    /// Its cells have `class`.
    pub fn class(mut self, class: &'static str) -> Self {
        self.class = class;
        self
    }

    /// Its cells have a tooltip where `title` gives one.
    pub fn titled<T: 'static>(
        mut self,
        title: impl Fn(&T) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.title = Some(Arc::new(move |row| title(typed(row))));
        self
    }

    /// It sorts by `field`.
    pub fn sorts_by(mut self, field: &'static str) -> Self {
        self.sort = Some(field);
        self
    }
}

/// The order shown, and what choosing a column's header does.
#[derive(Clone, Copy)]
pub struct Sorting {
    /// A field's `aria-sort` value: `ascending`, `descending` or `none`.
    pub state: Callback<&'static str, &'static str>,
    /// Sorts by the field, descending or not.
    pub sort_by: Callback<(&'static str, bool)>,
}

/// The `aria-sort` value of `field` when the list is sorted by `sort` (field, descending), or in
/// its default order by `default` when `sort` is `None`.
pub fn sort_state(sort: Option<&(String, bool)>, default: &str, field: &str) -> &'static str {
    match sort {
        Some((f, true)) if f == field => "descending",
        Some((f, false)) if f == field => "ascending",
        None if field == default => "ascending",
        _ => "none",
    }
}

/// A checkbox per row, for bulk actions.
pub struct Choosing<T> {
    /// The rows chosen: each row's key with its name.
    pub chosen: RwSignal<BTreeMap<String, String>>,
    /// A row's name, for its checkbox's label.
    pub name: fn(&T) -> String,
    /// The label of the checkbox that chooses every row shown.
    pub all_label: &'static str,
}

impl<T> Clone for Choosing<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Choosing<T> {}

/// A row with its key, and its name when rows can be chosen.
#[derive(Clone)]
struct Row {
    key: String,
    name: String,
    value: AnyRow,
}

/// Whether two rows (of the same type) have the same content.
type Same = fn(&dyn Any, &dyn Any) -> bool;
/// Reads the rows (reactively).
type RowsFn = Arc<dyn Fn() -> Vec<Row> + Send + Sync>;

#[component]
pub fn Table<T>(
    /// The table's accessible name.
    label: &'static str,
    /// The rows, read reactively: the table follows them.
    rows: impl Fn() -> Vec<T> + Send + Sync + 'static,
    /// Columns made for rows of type `T`.
    columns: Signal<Vec<Column>>,
    /// A row's key.
    key: fn(&T) -> String,
    /// What shows when there are no rows (nothing unless given).
    #[prop(optional, into)]
    empty: Option<ViewFn>,
    /// Long text wraps in its cell.
    #[prop(optional)]
    wrap: bool,
    #[prop(optional)] sorting: Option<Sorting>,
    #[prop(optional)] choosing: Option<Choosing<T>>,
    /// The key of the row whose details are open.
    #[prop(optional, into)]
    current: Option<Signal<Option<String>>>,
) -> impl IntoView
where
    T: PartialEq + Send + Sync + 'static,
{
    let rows: RowsFn = Arc::new(move || {
        rows()
            .into_iter()
            .map(|row| Row {
                key: key(&row),
                name: choosing.map(|c| (c.name)(&row)).unwrap_or_default(),
                value: Arc::new(row),
            })
            .collect()
    });
    let same: Same = |a, b| typed::<T>(a) == typed::<T>(b);
    let chosen = choosing.map(|c| (c.chosen, c.all_label));
    any_table(
        label, rows, same, columns, empty, wrap, sorting, chosen, current,
    )
}

type Chosen = Option<(RwSignal<BTreeMap<String, String>>, &'static str)>;

#[allow(clippy::too_many_arguments)]
fn any_table(
    label: &'static str,
    rows: RowsFn,
    same: Same,
    columns: Signal<Vec<Column>>,
    empty: Option<ViewFn>,
    wrap: bool,
    sorting: Option<Sorting>,
    chosen: Chosen,
    current: Option<Signal<Option<String>>>,
) -> AnyView {
    // Each row with its version: the same key with other content is a new version, drawn again.
    let versioned = Memo::new_with_compare(
        move |last: Option<&Vec<(Row, u32)>>| {
            let last = last.map_or(&[][..], Vec::as_slice);
            rows()
                .into_iter()
                .map(|row| {
                    // A page of rows at most: a search is as quick as a map here, and smaller.
                    let version = match last.iter().find(|(old, _)| old.key == row.key) {
                        Some((old, version)) if same(&*old.value, &*row.value) => *version,
                        Some((_, version)) => version + 1,
                        None => 0,
                    };
                    (row, version)
                })
                .collect()
        },
        |_, _| true,
    );
    let no_rows = Memo::new(move |_| versioned.with(Vec::is_empty));
    let select_all = move || {
        chosen.map(|(chosen, all_label)| {
            let all = move || {
                versioned.with(|rows| chosen.with(|c| rows.iter().all(|(r, _)| c.contains_key(&r.key))))
            };
            view! {
                <th scope="col" class="select">
                    <input
                        type="checkbox"
                        aria-label=all_label
                        prop:checked=all
                        on:change=move |_| {
                            let select = !all();
                            versioned.with_untracked(|rows| chosen.update(|c| for (row, _) in rows {
                                if select { c.insert(row.key.clone(), row.name.clone()); } else { c.remove(&row.key); }
                            }));
                        }
                    />
                </th>
            }
        })
    };
    let chosen = chosen.map(|(chosen, _)| chosen);
    let table = move || {
        view! {
            <div class="table-wrap">
                <table class="grid" class:wrap=wrap aria-label=label>
                    <thead>
                        <tr>
                            {select_all()}
                            {move || columns.get().into_iter().map(|c| header(c, sorting)).collect_view()}
                        </tr>
                    </thead>
                    <tbody>
                        <For
                            each=move || versioned.get()
                            key=|(row, version)| (row.key.clone(), *version)
                            children=move |(row, _)| table_row(row, columns, chosen, current)
                        />
                    </tbody>
                </table>
            </div>
        }
    };
    (move || match (no_rows.get(), &empty) {
        (false, _) => table().into_any(),
        (true, Some(empty)) => empty.run(),
        (true, None) => ().into_any(),
    })
    .into_any()
}

fn header(column: Column, sorting: Option<Sorting>) -> AnyView {
    let (Some(field), Some(sorting)) = (column.sort, sorting) else {
        return view! { <th scope="col">{column.label}</th> }.into_any();
    };
    let state = move || sorting.state.run(field);
    view! {
        <th scope="col" aria-sort=state>
            <button class="sort" on:click=move |_| sorting.sort_by.run((field, state() == "ascending"))>
                {column.label}
                <span aria-hidden="true">
                    {move || match state() {
                        "ascending" => " ▲",
                        "descending" => " ▼",
                        _ => "",
                    }}
                </span>
            </button>
        </th>
    }
    .into_any()
}

fn table_row(
    row: Row,
    columns: Signal<Vec<Column>>,
    chosen: Option<RwSignal<BTreeMap<String, String>>>,
    current: Option<Signal<Option<String>>>,
) -> AnyView {
    let Row { key, name, value } = row;
    let is_current = {
        let key = key.clone();
        move || current.is_some_and(|c| c.with(|c| c.as_deref() == Some(key.as_str())))
    };
    let checkbox = chosen.map(|chosen| {
        let checked = key.clone();
        view! {
            <td class="select">
                <input
                    type="checkbox"
                    aria-label=format!("Select {name}")
                    prop:checked=move || chosen.with(|c| c.contains_key(&checked))
                    on:change=move |_| chosen.update(|c| {
                        if c.remove(&key).is_none() {
                            c.insert(key.clone(), name.clone());
                        }
                    })
                />
            </td>
        }
    });
    view! {
        <tr class:selected=is_current>
            {checkbox}
            {move || columns.get().into_iter().map(|c| cell(&c, &*value)).collect_view()}
        </tr>
    }
    .into_any()
}

fn cell(column: &Column, row: &dyn Any) -> AnyView {
    let class = (!column.class.is_empty()).then_some(column.class);
    let title = column.title.as_ref().and_then(|title| title(row));
    view! { <td class=class title=title>{(column.cell)(row)}</td> }.into_any()
}
