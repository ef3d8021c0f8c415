//! What a page fetched: the fetch itself ([`Fetched`]) and its view once it is there ([`Loaded`]): a
//! status line while it loads (a page already shown stays while the next one loads), the error with
//! Retry when it failed.

use std::any::Any;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use leptos::prelude::*;

use crate::api::ApiError;
use crate::components::error_banner::ErrorBanner;

/// A fetch a page makes: a `LocalResource` that runs again when a signal it read changes. Every
/// fetch in the app shares one resource type underneath (its value is type-erased): each distinct
/// resource type would cost the wasm module its own copy of leptos's async machinery (see
/// docs/performance.md). The type parameter keeps the call sites typed.
pub struct Fetched<T> {
    resource: LocalResource<Erased>,
    value: PhantomData<fn() -> T>,
}

type Erased = Result<AnyValue, ApiError>;
type AnyValue = Arc<dyn Any + Send + Sync>;
type ErasedFuture = Pin<Box<dyn Future<Output = Erased>>>;

impl<T> Clone for Fetched<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Fetched<T> {}

impl<T: Clone + Send + Sync + 'static> Fetched<T> {
    /// Fetches with `fetch` now and again whenever a signal `fetch` read changes.
    pub fn new<F>(fetch: impl Fn() -> F + 'static) -> Self
    where
        F: Future<Output = Result<T, ApiError>> + 'static,
    {
        Self {
            resource: erased(Box::new(move || {
                let fetching = fetch();
                Box::pin(async move { Ok(Arc::new(fetching.await?) as AnyValue) })
            })),
            value: PhantomData,
        }
    }

    /// The last answer, if one came (reactive).
    pub fn get(&self) -> Option<Result<T, ApiError>> {
        self.resource.get().map(|answer| answer.map(typed))
    }

    /// Fetches again.
    pub fn refetch(&self) {
        self.resource.refetch();
    }
}

fn erased(fetch: Box<dyn Fn() -> ErasedFuture>) -> LocalResource<Erased> {
    LocalResource::new(fetch)
}

fn typed<T: Clone + 'static>(value: AnyValue) -> T {
    match value.downcast_ref::<T>() {
        Some(value) => value.clone(),
        None => unreachable!("a fetch's value has the type it was made with"),
    }
}

/// Waits for the answer (inside `Suspend`, which then shows the `Transition`'s fallback).
impl<T: Clone + Send + Sync + 'static> IntoFuture for Fetched<T> {
    type Output = Result<T, ApiError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let answer = self.resource.into_future();
        Box::pin(async move { answer.await.map(typed) })
    }
}

/// The last answer of a fetch, as the view that shows it reads it: the view is drawn once, and
/// each new answer reaches only what reads it (the rows of a table that changed, a count), so what
/// the user is doing in it (focus, a selection of text) survives the next page or a live refresh.
pub struct Answer<T> {
    value: Memo<Option<AnyValue>>,
    of: PhantomData<fn() -> T>,
}

impl<T> Clone for Answer<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Answer<T> {}

impl<T: 'static> Answer<T> {
    /// Applies `f` to the answer (reactive).
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        self.value.with(
            |value| match value.as_deref().and_then(|v| v.downcast_ref::<T>()) {
                Some(value) => f(value),
                None => unreachable!("an answer is shown once there is one, of its fetch's type"),
            },
        )
    }
}

/// What a page shows of a fetch: a status line until the first answer, the error with Retry when
/// a fetch failed, otherwise `children`, drawn once and kept while the next answer loads (they
/// read each answer through [`Answer`]). One copy of this code serves every fetch.
#[component]
pub fn Loaded<T, V, F>(
    resource: Fetched<T>,
    /// The status line while loading, e.g. "Loading devices…".
    loading: &'static str,
    /// Fetches again.
    on_retry: Callback<()>,
    /// The view of the answers.
    children: F,
    /// The status line's class.
    #[prop(default = "muted")]
    class: &'static str,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
    F: Fn(Answer<T>) -> V + Send + Sync + 'static,
{
    let children: ErasedChildren = Arc::new(move |value| {
        children(Answer {
            value,
            of: PhantomData,
        })
        .into_any()
    });
    loaded(resource.resource, loading, on_retry, children, class)
}

type ErasedChildren = Arc<dyn Fn(Memo<Option<AnyValue>>) -> AnyView + Send + Sync>;

fn loaded(
    resource: LocalResource<Erased>,
    loading: &'static str,
    on_retry: Callback<()>,
    children: ErasedChildren,
    class: &'static str,
) -> impl IntoView {
    // Each answer is a new value: compared by identity, not content.
    let answer = Memo::new_with_compare(
        move |last: Option<&Option<AnyValue>>| match resource.get() {
            Some(Ok(value)) => Some(value),
            _ => last.cloned().flatten(),
        },
        |last, next| match (last, next) {
            (Some(Some(last)), Some(Some(next))) => !Arc::ptr_eq(last, next),
            _ => true,
        },
    );
    let answered = Memo::new(move |_| matches!(resource.get(), Some(Ok(_))));
    view! {
        {move || match resource.get() {
            None => view! { <p class=class role="status">{loading}</p> }.into_any(),
            Some(Err(error)) => view! { <ErrorBanner error on_retry /> }.into_any(),
            Some(Ok(_)) => ().into_any(),
        }}
        {move || answered.get().then(|| children(answer))}
    }
}
