//! Sixfab's error answers, as [`simcore::Error`].
//!
//! **Unconfirmed:** Sixfab does not document its error body. The API looks FastAPI-based, so the
//! shapes expected are `{"detail": "text"}`, `{"detail": [{"loc", "msg", "type"}]}` and
//! `{"message": "text"}`. The shared transport already reads all three (and HTML, text or empty
//! bodies) into [`ApiError::message`](simcore::ApiError::message), keeping the status; a
//! FastAPI list is also kept in [`ApiError::details`](simcore::ApiError::details).
//!
//! What this crate adds: a `404` from an asset call names the asset, as in
//! `sixfab: HTTP 404: asset "SN123" not found: Asset not found; retrying will not help`.

use simcore::Error;
use simcore::validate::quote;

simcore::error_codes! {
    /// Sixfab documents no error codes: `Code::of(&err)` (the same name in every provider crate)
    /// names the HTTP status of its answer.
    ///
    /// ```
    /// use simcore::{ApiError, Error};
    /// use sixfab_client::errors::Code;
    /// assert_eq!(Code::of(&Error::from(ApiError::new("sixfab", 404))), Some(Code::NotFound));
    /// assert_eq!(Code::of(&Error::Config("no key".into())), None);
    /// ```
    from status;
    /// 401: the API key was refused.
    Unauthorized = 401,
    /// 403: the key may not do this.
    Forbidden = 403,
    /// 404: the asset was not found.
    NotFound = 404,
    /// 422: a value was refused (FastAPI's validation error, with its details).
    Unprocessable = 422,
    /// 429: too many requests.
    TooManyRequests = 429,
}

use crate::models::AssetId;

/// Makes a `404` answer to a call about `asset` say which asset was not found; every other
/// result passes through unchanged.
pub(crate) fn name_the_asset<T>(result: simcore::Result<T>, asset: &AssetId) -> simcore::Result<T> {
    match result {
        Err(Error::Api(mut api)) if api.status == 404 => {
            api.message = format!("asset {} not found: {}", quote(asset.as_str()), api.message);
            Err(Error::Api(api))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simcore::ApiError;

    #[test]
    fn a_404_names_the_asset_and_nothing_else_changes() {
        let id = AssetId::parse("SN123").unwrap();
        let err = name_the_asset::<()>(
            Err(ApiError::new("sixfab", 404)
                .with_message("Asset not found")
                .into()),
            &id,
        )
        .unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(
            err.to_string(),
            "sixfab: HTTP 404: asset \"SN123\" not found: Asset not found; retrying will not help"
        );

        let err = name_the_asset::<()>(
            Err(ApiError::new("sixfab", 500).with_message("boom").into()),
            &id,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "sixfab: HTTP 500: boom; retrying will not help"
        );
        assert_eq!(name_the_asset(Ok(7), &id).unwrap(), 7);
    }
}
