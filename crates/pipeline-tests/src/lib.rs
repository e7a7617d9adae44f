//! Nothing to link: this package exists for its tests (`tests/*.rs`), which run
//! `scripts/deploy.sh` and `scripts/demo.sh` with the workspace's binaries against the demo's bed.
