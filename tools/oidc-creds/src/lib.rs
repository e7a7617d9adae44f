//! oidc-creds (being written).
