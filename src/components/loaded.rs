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

type Erased = Result<Arc<dyn Any + Send + Sync>, ApiError>;
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
                Box::pin(async move { Ok(Arc::new(fetching.await?) as Arc<dyn Any + Send + Sync>) })
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

fn typed<T: Clone + 'static>(value: Arc<dyn Any + Send + Sync>) -> T {
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

/// What a page shows of a fetch, once its answer is there. One copy of its drawing code serves
/// every fetch (the value reaches `children` through [`typed`]).
#[component]
pub fn Loaded<T, V, F>(
    resource: Fetched<T>,
    /// The status line while loading, e.g. "Loading devices…".
    loading: &'static str,
    /// Fetches again.
    on_retry: Callback<()>,
    /// The view of what was fetched.
    children: F,
    /// The status line's class.
    #[prop(default = "muted")]
    class: &'static str,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
    F: Fn(T) -> V + Send + Sync + 'static,
{
    let children: ErasedChildren = Arc::new(move |value| children(typed(value)).into_any());
    loaded(resource.resource, loading, on_retry, children, class)
}

type ErasedChildren = Arc<dyn Fn(Arc<dyn Any + Send + Sync>) -> AnyView + Send + Sync>;

fn loaded(
    resource: LocalResource<Erased>,
    loading: &'static str,
    on_retry: Callback<()>,
    children: ErasedChildren,
    class: &'static str,
) -> impl IntoView {
    view! {
        <Transition fallback=move || view! { <p class=class role="status">{loading}</p> }>
            {move || {
                let children = children.clone();
                Suspend::new(async move {
                    match resource.await {
                        Ok(value) => children(value),
                        Err(error) => view! { <ErrorBanner error on_retry /> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}
