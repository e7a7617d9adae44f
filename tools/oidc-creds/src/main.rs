//! oidc-creds (being written).

fn main() {}
