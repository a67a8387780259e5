//! The HTTP client for URLs a tenant chose (webhooks, Slack): every name is
//! resolved here, each address checked against the [`AddressPolicy`], and
//! only addresses that passed are handed to the connector, so the
//! connection goes to an address that was checked (a second lookup, which
//! could answer differently, never happens). Addresses written in the URL
//! are checked before the request. Redirects are never followed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use signalops_notify_store::address_policy::AddressPolicy;
use url::{Host, Url};

/// Why an address was not connected to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} resolves to {address}, which is refused ({why}); allow its network in notifier.allowed_networks to send there")]
pub struct Refused {
    pub host: String,
    pub address: IpAddr,
    pub why: &'static str,
}

struct CheckingResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for CheckingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut allowed = Vec::with_capacity(found.len());
            for address in found {
                // Every address must pass: a name answering with one public
                // and one private address is refused, not half-used.
                if let Some(why) = policy.refusal(address.ip()) {
                    return Err(Box::new(Refused { host, address: address.ip(), why }) as Box<dyn std::error::Error + Send + Sync>);
                }
                allowed.push(address);
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// A client whose connections pass the policy.
#[derive(Clone)]
pub struct GuardedClient {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

impl GuardedClient {
    pub fn new(policy: AddressPolicy, timeout: Duration) -> reqwest::Result<Self> {
        let policy = Arc::new(policy);
        let client = crate::http_client::builder(timeout).dns_resolver(Arc::new(CheckingResolver { policy: policy.clone() })).build()?;
        Ok(Self { client, policy })
    }

    /// The client, once `url`'s host (when it is an address) passed the policy.
    pub fn for_url(&self, url: &Url) -> Result<&reqwest::Client, Refused> {
        let address = match url.host() {
            Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(Host::Domain(_)) | None => None,
        };
        if let Some(address) = address
            && let Some(why) = self.policy.refusal(address)
        {
            return Err(Refused { host: url.host_str().unwrap_or_default().to_owned(), address, why });
        }
        Ok(&self.client)
    }
}

/// The refusal inside a failed request, if that is why it failed.
pub fn refusal_in(error: &reqwest::Error) -> Option<Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<Refused>() {
            return Some(refused.clone());
        }
        source = current.source();
    }
    None
}
