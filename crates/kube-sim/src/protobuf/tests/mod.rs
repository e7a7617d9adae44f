//! Tests of the codec on bytes real clients sent (fixtures captured from kubectl and helm) and
//! round trips through the `k8s-pb` prost types.

mod captured;
mod round_trip;
