//! A page's view (search, filters, sort, page) kept in its address, so that links, reloads and
//! back/forward restore it. The devices and audit pages both read and change theirs here.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;

use crate::api::query::encode;

/// A view that its page's query string holds.
pub trait UrlState: Clone + PartialEq + Send + Sync + 'static {
    /// The page's path.
    const PATH: &'static str;

    /// Whether going to another view scrolls to the top (otherwise the page stays where it is).
    const SCROLL_TO_TOP: bool = false;

    /// Reads the view from query pairs; what it does not know it leaves out.
    fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Self;

    /// The query pairs of this view, in a stable order.
    fn to_pairs(&self) -> Vec<(String, String)>;

    /// The same view on its first page (a change of search, filter or sort starts over).
    fn first_page(self) -> Self;

    /// The view's own address.
    fn to_url(&self) -> String {
        let pairs = self.to_pairs();
        if pairs.is_empty() {
            Self::PATH.to_owned()
        } else {
            format!("{}?{}", Self::PATH, encode(&pairs))
        }
    }
}

type Navigate = Box<dyn Fn(&str, NavigateOptions)>;

/// The view in the address, and the way to another.
pub struct UrlView<V: UrlState> {
    pub view: Memo<V>,
    navigate: StoredValue<Navigate, LocalStorage>,
}

impl<V: UrlState> Clone for UrlView<V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V: UrlState> Copy for UrlView<V> {}

impl<V: UrlState> UrlView<V> {
    /// Shows `next`: a new history entry, or in place of this one when `replace`.
    pub fn go(&self, next: &V, replace: bool) {
        go_to(self.navigate, &next.to_url(), replace, V::SCROLL_TO_TOP);
    }

    /// Shows this view changed by `edit`, from its first page.
    pub fn change(&self, edit: &dyn Fn(&mut V)) {
        let mut next = self.view.get_untracked().first_page();
        edit(&mut next);
        self.go(&next, false);
    }
}

fn go_to(navigate: StoredValue<Navigate, LocalStorage>, url: &str, replace: bool, scroll: bool) {
    navigate.with_value(|navigate| {
        navigate(
            url,
            NavigateOptions {
                replace,
                scroll,
                ..Default::default()
            },
        )
    });
}

/// The current page's view, read from its query string.
pub fn use_url_state<V: UrlState>() -> UrlView<V> {
    let query = use_query_map();
    let view = Memo::new(move |_| {
        query.with(|q| {
            let pairs: Vec<(String, String)> = q
                .clone()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            V::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        })
    });
    let navigate = use_navigate();
    UrlView {
        view,
        navigate: StoredValue::new_local(Box::new(move |url: &str, options: NavigateOptions| {
            navigate(url, options)
        }) as Navigate),
    }
}
