//! The Sixfab Connect client and its builder.

use std::fmt;

use simcore::http::{Auth, Method, Response, Transport, TransportBuilder};
use simcore::paging::{Page, PagePosition};
use simcore::secrecy::{ExposeSecret, SecretString};
use simcore::{CallOptions, Error, Updated};

use crate::errors::name_the_asset;
use crate::models::{Asset, IntoAssetId, ListAnswer, update_answer};
use crate::requests::{ListAssets, UpdateAssetBuilder, UpdateAssetRequest};

/// Sixfab Connect's API root.
pub const DEFAULT_BASE_URL: &str = "https://api.sixfab.com/v1";

/// The header that carries the API key.
///
/// **Unconfirmed:** `x-api-key` is what a third-party client sends; Sixfab's own documentation
/// does not name the header. This is the one place that decides it.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The room a listed asset may take in a page's answer (an asset with its two SIMs and device
/// is about 1 KiB), unless the client's own cap is larger.
const LIST_BYTES_PER_ASSET: usize = 16 * 1024;

/// The environment variable [`Client::from_env`] reads the API key from.
pub const ENV_API_KEY: &str = "SIXFAB_API_KEY";

/// The environment variable [`Client::from_env`] reads the base URL from (unset:
/// [`DEFAULT_BASE_URL`]); `simctl sandbox` exports it beside the sandbox's credentials.
pub const ENV_BASE_URL: &str = "SIXFAB_BASE_URL";

/// A Sixfab Connect client. Cheap to clone: clones share one connection pool.
///
/// ```
/// let client = sixfab_client::Client::builder()
///     .api_key("my-api-key")
///     .timeout(std::time::Duration::from_secs(10))
///     .build()?;
/// assert!(!format!("{client:?}").contains("my-api-key"));
/// # Ok::<(), simcore::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    transport: Transport,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.transport.base_url().as_str())
            .field("api_key", &"[redacted]")
            .field("retry", self.transport.retry_policy())
            .finish()
    }
}

impl Client {
    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            transport: Transport::builder(crate::PROVIDER, DEFAULT_BASE_URL),
            api_key: None,
        }
    }

    /// A client with an API key and every other setting at its default.
    pub fn new(api_key: impl Into<SecretString>) -> simcore::Result<Self> {
        Self::builder().api_key(api_key).build()
    }

    /// A client with the API key from `SIXFAB_API_KEY`, sending to `SIXFAB_BASE_URL` when it is
    /// set (else [`DEFAULT_BASE_URL`]). [`base_url`](Self::base_url) says where it connects.
    ///
    /// A missing or empty key is an [`Error::Config`] naming the variable. A credential a
    /// sandbox issued (`simctl sandbox` exports them) is refused unless the base URL is loopback:
    /// a shell set up for a sandbox never sends its throwaway credentials to Sixfab.
    pub fn from_env() -> simcore::Result<Self> {
        Self::from_lookup(simcore::env::process)
    }

    /// [`from_env`](Self::from_env) over any lookup of variables (a configuration map, a test).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> simcore::Result<Self> {
        let mut builder = Self::builder().api_key(simcore::env::require(
            &lookup,
            ENV_API_KEY,
            " (a Sixfab API key)",
        )?);
        if let Some(url) = simcore::env::optional(&lookup, ENV_BASE_URL) {
            builder = builder.base_url(url);
        }
        builder.build()
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        self.transport.base_url().as_str()
    }

    /// Starts an update of an asset, by serial number, UUID, SIM SID or SIM ICCID.
    ///
    /// Text is parsed with [`AssetId::parse`](crate::AssetId::parse) when the update is sent.
    pub fn update_asset(&self, asset_id: impl IntoAssetId) -> UpdateAssetBuilder {
        UpdateAssetBuilder::new(self.clone(), asset_id)
    }

    /// Sends an update given as plain data (`PATCH /assets/{asset_id}`), after checking it
    /// ([`UpdateAssetBuilder::into_request`] makes one; [`UpdateAssetBuilder::send`] is the
    /// usual way in). An update that sets nothing is refused with nothing sent.
    ///
    /// The answer is [`Updated::Done`]: with the asset when Sixfab answers with it, `None` for
    /// no body or a confirmation (a JSON object with a `message`). Anything else is not
    /// Sixfab's answer and is an [`Error::Decode`], never a success (one place decides it:
    /// [`models::update_answer`](crate::models::update_answer)).
    ///
    /// ```no_run
    /// use sixfab_client::SettableStatus;
    /// # async fn run(client: sixfab_client::Client) -> simcore::Result<()> {
    /// let request = client
    ///     .update_asset("SN-ALPON-0042")
    ///     .status(SettableStatus::Inactive)
    ///     .into_request()?;
    /// client.send(&request).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// The request's [`options`](UpdateAssetRequest::options) (those of the builder it came
    /// from) are this call's.
    pub async fn send(&self, request: &UpdateAssetRequest) -> simcore::Result<Updated<Asset>> {
        request.options.check()?;
        self.send_answer(request, request.options.started())
            .await
            .map(|(updated, _)| updated)
    }

    /// [`send`](Self::send) with this call's options, keeping the answer (for the decode error
    /// of an answer that does not show the change).
    pub(crate) async fn send_answer(
        &self,
        request: &UpdateAssetRequest,
        options: CallOptions,
    ) -> simcore::Result<(Updated<Asset>, Response)> {
        request.validate()?;
        let id = &request.asset_id;
        let http = self
            .transport
            .request(Method::PATCH, &["assets", id.as_str()])?
            .operation("update_asset", "/assets/{asset_id}", Some(id.as_str()))
            .options(options)
            .json(&request.wire_body())?;
        let response = name_the_asset(self.transport.send(&http).await, id)?;
        let asset = update_answer(response.body()).map_err(|e| response.decode_error(e))?;
        Ok((Updated::Done(asset), response))
    }

    /// Reads an asset (`GET /assets/{asset_id}`), by serial number, UUID, SIM SID or SIM ICCID.
    pub async fn get_asset(&self, asset_id: impl IntoAssetId) -> simcore::Result<Asset> {
        self.get_asset_with(asset_id, CallOptions::new()).await
    }

    /// [`get_asset`](Self::get_asset) with this call's options.
    pub(crate) async fn get_asset_with(
        &self,
        asset_id: impl IntoAssetId,
        options: CallOptions,
    ) -> simcore::Result<Asset> {
        let id = asset_id.into_asset_id()?;
        let http = self
            .transport
            .request(Method::GET, &["assets", id.as_str()])?
            .operation("get_asset", "/assets/{asset_id}", Some(id.as_str()))
            .options(options);
        let response = name_the_asset(self.transport.send(&http).await, &id)?;
        let value: serde_json::Value = response.json()?;
        let asset =
            Asset::from_json_ref(&value).map_err(|e| response.decode_error(e.to_string()))?;
        if !asset.is_asset() {
            return Err(response.decode_error(
                "not a sixfab asset: it has no id, uuid, serial_number, iccid or status",
            ));
        }
        Ok(asset)
    }

    /// Starts a list of assets (`GET /assets`); see [`ListAssets`] (its paging is
    /// **unconfirmed**: [`list_keys`](crate::models::list_keys)).
    ///
    /// ```no_run
    /// # async fn run(client: sixfab_client::Client) -> simcore::Result<()> {
    /// for asset in client.list_assets().collect_all().await? {
    ///     println!("{:?}: {:?}", asset.serial_number, asset.status);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_assets(&self) -> ListAssets {
        ListAssets::new(self.clone())
    }

    /// Fetches one page of the list, page `page` asked with `per_page`: the assets, the page
    /// after it as the answer's paging decides ([`ListAnswer::next_page`]), and the total.
    /// [`ListAssets`] is the usual way in.
    pub(crate) async fn asset_page(
        &self,
        query: &[(&'static str, String)],
        page: u32,
        per_page: u32,
        snapshot_only: bool,
        options: CallOptions,
    ) -> simcore::Result<Page<Asset>> {
        let cap = (per_page as usize).saturating_mul(LIST_BYTES_PER_ASSET);
        let http = self
            .transport
            .request(Method::GET, &["assets"])?
            .operation("list_assets", "/assets", None)
            .query(query.iter().map(|(k, v)| (*k, v.as_str())))
            .body_limit(self.transport.body_limit().max(cap))
            .options(options);
        let response = self.transport.send(&http).await?;
        let read = if snapshot_only {
            ListAnswer::from_slice_for_snapshots
        } else {
            ListAnswer::from_slice
        };
        let page = read(response.body(), page, per_page).map_err(|e| response.decode_error(e))?;
        if page.assets.iter().any(|a| a.address().is_none()) {
            return Err(response.decode_error(
                "not a list of sixfab assets: a listed asset has no uuid, serial_number, id, \
                 SIM SID or ICCID",
            ));
        }
        let next = page.next_page().map(PagePosition::Number);
        Ok(Page::new(page.assets, next).with_total(page.total))
    }
}

/// Builds a [`Client`]: the API key, and optionally the base URL, timeouts, retry policy and
/// body cap. (The charge preview's prices and account facts are a price book, passed with each
/// preview: see [`crate::pricing`].)
pub struct ClientBuilder {
    transport: TransportBuilder,
    api_key: Option<SecretString>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("transport", &self.transport)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl ClientBuilder {
    /// Sets the API key (sent in the [`API_KEY_HEADER`] header, never printed).
    pub fn api_key(mut self, key: impl Into<SecretString>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    simcore::transport_builder_methods!();

    /// Checks the configuration and builds the client. A missing or empty API key, a bad base
    /// URL or a zero timeout is an [`Error::Config`].
    pub fn build(self) -> simcore::Result<Client> {
        let key = match &self.api_key {
            Some(k) if !k.expose_secret().is_empty() => k,
            _ => {
                return Err(Error::Config(format!(
                    "an API key is required: call ClientBuilder::api_key or set {ENV_API_KEY}"
                )));
            }
        };
        let transport = self
            .transport
            .auth(Auth::header(API_KEY_HEADER, key)?)
            .user_agent(concat!(
                env!("CARGO_PKG_NAME"),
                "/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        Ok(Client { transport })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_env_names_the_variable() {
        let err = Client::from_lookup(|_| None).unwrap_err();
        assert!(matches!(err, Error::Config(_)));
        assert!(err.to_string().contains("SIXFAB_API_KEY"), "{err}");
        let err = Client::from_lookup(|_| Some(String::new())).unwrap_err();
        assert!(err.to_string().contains("SIXFAB_API_KEY"), "{err}");
        let client =
            Client::from_lookup(|name| (name == ENV_API_KEY).then(|| "k".to_owned())).unwrap();
        assert_eq!(client.base_url(), "https://api.sixfab.com/v1");
    }

    #[test]
    fn build_needs_a_key_and_a_good_base_url() {
        let err = Client::builder().build().unwrap_err();
        assert!(err.to_string().contains("API key is required"), "{err}");
        let err = Client::builder().api_key("").build().unwrap_err();
        assert!(matches!(err, Error::Config(_)));
        let err = Client::builder()
            .api_key("k")
            .base_url("http://api.sixfab.com/v1")
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)));
        let err = Client::builder()
            .api_key("line\nbreak")
            .build()
            .unwrap_err();
        assert!(!err.to_string().contains("line"), "{err}");
    }
}
