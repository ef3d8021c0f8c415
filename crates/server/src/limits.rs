//! Request rates: per signed-in user and per connector (429 with Retry-After), and sign-in
//! attempts per account and per address.
//!
//! With several instances on PostgreSQL, sign-in and onboarding attempts are counted in the
//! database (`store::shared`), so an attacker gets no more attempts by spreading them
//! over instances; request rates stay per instance (each instance allows a user its rate).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::{AppError, AppResult};
use crate::store::shared::Quota as SharedQuota;
use crate::store::Store;
use crate::Config;

pub struct Limits {
    /// The attempt quotas, for counting in PostgreSQL.
    sign_in_account: SharedQuota,
    sign_in_address: SharedQuota,
    onboard_address: SharedQuota,
    users: DefaultKeyedRateLimiter<String>,
    connectors: DefaultKeyedRateLimiter<String>,
    sign_in_accounts: DefaultKeyedRateLimiter<String>,
    sign_in_addresses: DefaultKeyedRateLimiter<String>,
    onboard_addresses: DefaultKeyedRateLimiter<String>,
}

fn non_zero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("at least one")
}

fn per_second(rate: u32, burst: u32) -> Quota {
    Quota::per_second(non_zero(rate)).allow_burst(non_zero(burst))
}

fn every(interval: Duration, burst: u32) -> Quota {
    Quota::with_period(interval.max(Duration::from_millis(1)))
        .expect("a positive period")
        .allow_burst(non_zero(burst))
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        let quota = |period: Duration, burst: u32| SharedQuota {
            period: period.max(Duration::from_millis(1)),
            burst: burst.max(1),
        };
        Self {
            sign_in_account: quota(
                config.sign_in_account_interval,
                config.sign_in_account_burst,
            ),
            sign_in_address: quota(
                config.sign_in_address_interval,
                config.sign_in_address_burst,
            ),
            onboard_address: quota(
                config.onboard_address_interval,
                config.onboard_address_burst,
            ),
            users: RateLimiter::keyed(per_second(
                config.user_requests_per_second,
                config.user_request_burst,
            )),
            connectors: RateLimiter::keyed(per_second(
                config.connector_requests_per_second,
                config.connector_request_burst,
            )),
            sign_in_accounts: RateLimiter::keyed(every(
                config.sign_in_account_interval,
                config.sign_in_account_burst,
            )),
            sign_in_addresses: RateLimiter::keyed(every(
                config.sign_in_address_interval,
                config.sign_in_address_burst,
            )),
            onboard_addresses: RateLimiter::keyed(every(
                config.onboard_address_interval,
                config.onboard_address_burst,
            )),
        }
    }

    pub fn check_user(&self, user_id: &str) -> AppResult<()> {
        check(
            &self.users,
            user_id,
            "You are sending requests faster than this server allows.",
            "the user's request rate",
        )
    }

    pub fn check_connector(&self, connector_id: &str) -> AppResult<()> {
        check(
            &self.connectors,
            connector_id,
            "This connector is sending requests faster than this server allows.",
            "the connector's request rate",
        )
    }

    /// One sign-in attempt for `account` (case-insensitive) from `address`. The message is the
    /// same whether or not the account exists; the log says which limit refused it.
    /// Counted across instances when the store is shared.
    pub async fn check_sign_in(
        &self,
        store: &Store,
        account: &str,
        address: &str,
    ) -> AppResult<()> {
        const MESSAGE: &str = "Too many sign-in attempts. Wait before trying again.";
        const BY_ADDRESS: &str = "sign-in attempts from the address";
        const BY_ACCOUNT: &str = "sign-in attempts for the account";
        let account = account.to_lowercase();
        if !store.is_shared() {
            check(&self.sign_in_addresses, address, MESSAGE, BY_ADDRESS)?;
            return check(&self.sign_in_accounts, &account, MESSAGE, BY_ACCOUNT);
        }
        let by_address = format!("sign-in address {address}");
        attempt(
            store,
            &by_address,
            self.sign_in_address,
            MESSAGE,
            BY_ADDRESS,
        )
        .await?;
        let by_account = format!("sign-in account {account}");
        attempt(
            store,
            &by_account,
            self.sign_in_account,
            MESSAGE,
            BY_ACCOUNT,
        )
        .await
    }

    /// One onboarding attempt from `address`, valid token or not; counted across instances when
    /// the store is shared.
    pub async fn check_onboard(&self, store: &Store, address: &str) -> AppResult<()> {
        const MESSAGE: &str =
            "Too many onboarding attempts from this address. Wait before trying again.";
        const LIMIT: &str = "onboarding attempts from the address";
        if !store.is_shared() {
            return check(&self.onboard_addresses, address, MESSAGE, LIMIT);
        }
        let key = format!("onboarding address {address}");
        attempt(store, &key, self.onboard_address, MESSAGE, LIMIT).await
    }

    /// Forgets keys whose limits have fully recovered, so that the maps do not grow forever.
    pub fn forget_idle(&self) {
        self.users.retain_recent();
        self.connectors.retain_recent();
        self.sign_in_accounts.retain_recent();
        self.sign_in_addresses.retain_recent();
        self.onboard_addresses.retain_recent();
    }
}

/// One attempt counted in the shared store, across instances.
async fn attempt(
    store: &Store,
    key: &str,
    quota: SharedQuota,
    message: &str,
    limit: &'static str,
) -> AppResult<()> {
    let now = time::OffsetDateTime::now_utc();
    match store.shared_attempt(key, quota, now).await.transpose()? {
        None | Some(Ok(())) => Ok(()),
        Some(Err(wait)) => Err(AppError::TooManyRequests {
            message: message.to_owned(),
            retry_after: wait,
            limit,
        }),
    }
}

fn check(
    limiter: &DefaultKeyedRateLimiter<String>,
    key: &str,
    message: &str,
    limit: &'static str,
) -> AppResult<()> {
    limiter.check_key(&key.to_owned()).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        AppError::TooManyRequests {
            message: message.to_owned(),
            retry_after: wait,
            limit,
        }
    })
}
